"""A small manifest with a "mixers" section, shaped like salac's (a sparse-like
decode mixer over a paged KV cache with an intermediate, workspaces and every
kind of size; a linear-like mixer of one RMSNorm, in decode and prefill), and
inputs for it made of conftest.FakeTensor. Used by test_mixers.py and
test_step.py."""

import copy

from conftest import FakeTensor, manifest_data, rms_kernel

BATCH = ("cu_seqlens_q", "seq_lens")


def _ptr(name, dtype, shape, meaning=""):
    return {"name": name, "kind": "ptr", "dtype": dtype, "shape": shape, "meaning": meaning}


def _size(name, meaning=""):
    return {"name": name, "kind": "i64", "meaning": meaning}


def _kernel(name, op, params, grid_param="tokens"):
    return {"name": name, "op": op, "attributes": {}, "params": params,
            "block": [128, 1, 1], "grid": [{"param": grid_param, "mul": 1, "div": 1}, 1, 1],
            "shared_bytes": 0}


POOL = ["pages", 4, 2, 8]
BATCH_PARAMS = [_ptr("page_table", "i32", ["batch", "max_pages"]),
                _ptr("cu_seqlens_q", "i32", ["batch+1"]), _ptr("seq_lens", "i32", ["batch"])]

APPEND = _kernel("k_append", "sala.kv_append", [
    _ptr("key", "bf16", ["tokens", 2, 8]), _ptr("value", "bf16", ["tokens", 2, 8]),
    _ptr("k_cache", "bf16", POOL), _ptr("v_cache", "bf16", POOL), *BATCH_PARAMS,
    _size("tokens"), _size("batch"), _size("max_pages"), _size("pages")])
SCORES = _kernel("k_scores", "sala.block_scores", [
    _ptr("query", "bf16", ["tokens", 4, 8]), *BATCH_PARAMS,
    _ptr("scores", "f32", ["tokens", 2, "max_blocks"]),
    _size("tokens"), _size("batch"), _size("max_pages"), _size("max_blocks")])
ATTN = _kernel("k_attn", "sala.sparse_attention", [
    _ptr("query", "bf16", ["tokens", 4, 8]), _ptr("k_cache", "bf16", POOL),
    _ptr("v_cache", "bf16", POOL), _ptr("scores", "f32", ["tokens", 2, "max_blocks"]),
    *BATCH_PARAMS, _ptr("output", "bf16", ["tokens", 4, 8]),
    _ptr("partial", "f32", ["split_slots", 8], "[split_slots, 8] workspace"),
    _ptr("counters", "i32", ["tokens"],
         "[tokens] workspace: zero before the first launch; every launch leaves it zero"),
    _size("tokens"), _size("batch"), _size("max_pages"), _size("pages"),
    _size("max_blocks"), _size("splits", "blocks per token"), _size("split_slots")])
RMS = rms_kernel()


def _buf(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def _arg(name, dtype, shape, type_="tensor", written=False, buffers=None):
    return {"name": name, "type": type_, "mlir_type": "", "written": written,
            "buffers": buffers or [_buf(name, dtype, shape)]}


def _bind(kernel, **names):
    """args of a launch of `kernel`: param -> {kind: name}; a param not named
    binds to the buffer of its own name, a scalar to the size of its name."""
    out = []
    for p in kernel["params"]:
        kind, name = names.get(p["name"], ("size" if p["kind"] != "ptr" else "buffer",
                                           p["name"]))
        out.append({"param": p["name"], kind: name})
    return {"kernel": kernel["name"], "op": kernel["op"], "args": out}


SPARSE = {
    "name": "layer_00_sparse_decode", "layer": 0, "kind": "sparse", "mode": "decode",
    "arguments": [
        _arg("query", "bf16", ["tokens", 4, 8]),
        _arg("key", "bf16", ["tokens", 2, 8]),
        _arg("value", "bf16", ["tokens", 2, 8]),
        {"name": "cache", "type": "kv_cache", "mlir_type": "!sala.kv_cache<...>",
         "written": True, "parameters": {"page_size": 4, "kv_heads": 2, "head_dim": 8},
         "buffers": [_buf("k_cache", "bf16", POOL), _buf("v_cache", "bf16", POOL)]},
        _arg("page_table", "i32", ["batch", "max_pages"]),
        _arg("cu_seqlens_q", "i32", ["batch+1"]),
        _arg("seq_lens", "i32", ["batch"]),
    ],
    "sizes": [
        {"name": "tokens", "meaning": "tokens", "from": {"buffer": "query", "dim": 0}},
        {"name": "batch", "from": {"buffer": "page_table", "dim": 0}},
        {"name": "max_pages", "from": {"buffer": "page_table", "dim": 1}},
        {"name": "pages", "from": {"buffer": "k_cache", "dim": 0}},
        {"name": "max_blocks", "meaning": "last dimension of scores",
         "bound": {"size": "max_pages", "mul": 4, "div": 8}},
        {"name": "splits", "meaning": "blocks per token", "default": 1},
        {"name": "split_slots", "product": {"sizes": ["tokens", "splits"], "mul": 2}},
    ],
    "intermediates": [
        {"name": "block_scores_0", "op": "sala.block_scores", "dtype": "f32",
         "shape": ["tokens", 2, "max_blocks"]},
        {"name": "output", "op": "sala.sparse_attention", "dtype": "bf16",
         "shape": ["tokens", 4, 8]},
    ],
    "workspaces": [
        {"name": "partial", "dtype": "f32", "shape": ["split_slots", 8], "kernel": "k_attn",
         "param": "partial", "init": "none", "meaning": ""},
        {"name": "counters", "dtype": "i32", "shape": ["tokens"], "kernel": "k_attn",
         "param": "counters", "init": "zero", "meaning": "zero before the first launch"},
    ],
    "outputs": ["output"],
    "launches": [
        _bind(APPEND),
        _bind(SCORES, scores=("intermediate", "block_scores_0")),
        _bind(ATTN, scores=("intermediate", "block_scores_0"),
              output=("intermediate", "output"), partial=("workspace", "partial"),
              counters=("workspace", "counters")),
    ],
}


def _linear(mode):
    return {
        "name": f"layer_01_linear_{mode}", "layer": 1, "kind": "linear", "mode": mode,
        "arguments": [_arg("query", "bf16", ["tokens", 4, 8]),
                      _arg("q_norm_weight", "bf16", [8])],
        "sizes": [{"name": "tokens", "from": {"buffer": "query", "dim": 0}}],
        "intermediates": [{"name": "output", "op": "sala.rms_norm", "dtype": "bf16",
                           "shape": ["tokens", 4, 8]}],
        "workspaces": [],
        "outputs": ["output"],
        "launches": [_bind(RMS, input=("buffer", "query"),
                           weight=("buffer", "q_norm_weight"),
                           output=("intermediate", "output"))],
    }


def mixer_manifest(*mixers):
    """Manifest data with the four kernels and the given mixers (default: the
    sparse decode mixer and the linear one in decode and prefill)."""
    data = manifest_data(APPEND, SCORES, ATTN, RMS)
    data["mixers"] = copy.deepcopy(list(mixers) if mixers else
                                   [SPARSE, _linear("decode"), _linear("prefill")])
    return data


class Ptrs:
    """Distinct fake device addresses."""

    def __init__(self):
        self.next = 0x7F0000000000

    def __call__(self):
        self.next += 0x10000
        return self.next


def layer_inputs(ptr, tokens=2, batch=2, max_pages=3, pages=7):
    """{layer: {name: FakeTensor}} for the default mixers."""
    bf16, i32 = "torch.bfloat16", "torch.int32"
    sparse = {
        "query": FakeTensor((tokens, 4, 8), bf16, ptr=ptr()),
        "key": FakeTensor((tokens, 2, 8), bf16, ptr=ptr()),
        "value": FakeTensor((tokens, 2, 8), bf16, ptr=ptr()),
        "k_cache": FakeTensor((pages, 4, 2, 8), bf16, ptr=ptr()),
        "v_cache": FakeTensor((pages, 4, 2, 8), bf16, ptr=ptr()),
        "page_table": FakeTensor((batch, max_pages), i32, ptr=ptr()),
        "cu_seqlens_q": FakeTensor((batch + 1,), i32, ptr=ptr()),
        "seq_lens": FakeTensor((batch,), i32, ptr=ptr()),
    }
    linear = {"query": FakeTensor((tokens, 4, 8), bf16, ptr=ptr()),
              "q_norm_weight": FakeTensor((8,), bf16, ptr=ptr())}
    return {0: sparse, 1: linear}


class Allocator:
    """allocate(shape, dtype, zero) for DecodeStep: FakeTensors, recorded."""

    TORCH = {"bf16": "torch.bfloat16", "f32": "torch.float32", "i32": "torch.int32",
             "f16": "torch.float16"}

    def __init__(self, ptr):
        self.ptr, self.made = ptr, []

    def __call__(self, shape, dtype, zero):
        t = FakeTensor(shape, self.TORCH[dtype], ptr=self.ptr())
        t.zeroed = zero
        self.made.append((tuple(shape), dtype, zero))
        return t
