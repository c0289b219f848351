"""salac.DecodeStep without a GPU: what it checks (with errors naming the layer
and the argument), what it allocates and binds, what run() launches in which
order, and capture() into a salac.Graph -- against a fake libsalart. The real
thing runs in bench/harness.py --step."""

import ctypes
import threading

import pytest

import salac
from conftest import FakeTensor, write_manifest
from mixer_manifest import Allocator, Ptrs, layer_inputs, mixer_manifest


class FakeRuntime:
    """libsalart's graph entry points, for one context."""

    def __init__(self):
        self.capturing, self.recorded, self.next, self.replays = False, 0, 0x100, []

    def call(self, name, *args):
        if name == "salart_graph_begin":
            self.capturing, self.recorded = True, 0
            self.thread = threading.get_ident()
        elif name == "salart_graph_end":
            self.capturing = False
            args[1]._obj.value = self.next
        elif name == "salart_graph_abort":
            self.capturing = False
        elif name == "salart_graph_launch":
            self.replays.append(args[0].value)
        elif name == "salart_graph_num_nodes":
            args[1]._obj.value = self.recorded
        return 0


class FakeContext:
    def __init__(self, runtime):
        self.runtime, self.device, self.handle = runtime, 0, ctypes.c_void_p(1)


class FakeNative:
    """Records launches: (kernel, values, stream), or counts them as recorded
    while the runtime captures."""

    def __init__(self, context):
        self.context, self.launches = context, []

    def launch(self, spec, values, stream=None):
        rt = self.context.runtime
        if rt.capturing and stream is None:
            rt.recorded += 1
        else:
            self.launches.append((spec.name, list(values), stream))

    def close(self):
        pass


@pytest.fixture(autouse=True)
def no_capture_left():
    yield
    salac.graph._tls.graph = None


@pytest.fixture
def pkg(tmp_path):
    p = salac.Package(write_manifest(tmp_path, mixer_manifest()))
    p._native, p.device = FakeNative(FakeContext(FakeRuntime())), 0
    return p


@pytest.fixture
def ptr():
    return Ptrs()


def make(pkg, layers, ptr, **kw):
    alloc = Allocator(ptr)
    return salac.DecodeStep(pkg, layers, allocate=alloc, **kw), alloc


def test_binds_allocates_and_runs_in_layer_order(pkg, ptr):
    layers = layer_inputs(ptr, tokens=2, batch=2, max_pages=3, pages=7)
    step, alloc = make(pkg, layers, ptr, batch=2)
    assert step.layers == [0, 1] and step.batch == 2 and step.tokens == 2
    assert step.num_launches == 4
    assert step.sizes(0) == {"tokens": 2, "batch": 2, "max_pages": 3, "pages": 7,
                             "max_blocks": 2,       # ceil(3 * 4 / 8): the bound
                             "splits": 1,           # the default
                             "split_slots": 4}      # tokens * splits * 2
    assert step.sizes(1) == {"tokens": 2}
    # Intermediates and workspaces, once; counters zeroed.
    assert alloc.made == [((2, 2, 2), "f32", False), ((2, 4, 8), "bf16", False),
                          ((4, 8), "f32", False), ((2,), "i32", True),
                          ((2, 4, 8), "bf16", False)]
    assert set(step.intermediates(0)) == {"block_scores_0", "output"}
    assert step.workspaces(0)["counters"].zeroed
    out0 = step.output(0)
    assert step.outputs == {0: out0, 1: step.output(1)}
    assert step.tensors(0)["k_cache"] is layers[0]["k_cache"]
    assert [(lay, n) for lay, n, _ in step.written()] == [(0, "k_cache"), (0, "v_cache")]

    step.run()
    launched = pkg._native.launches
    assert [name for name, _, _ in launched] == ["k_append", "k_scores", "k_attn",
                                                  "sala_rms_norm_head_h4_d8_bf16"]
    # None without torch; with torch (a GPU machine) its current stream, 0 by default.
    assert all(stream in (None, 0) for _, _, stream in launched)
    # Raw values in parameter order: pointers, then sizes.
    attn = dict(zip(pkg.kernel("k_attn").spec.param_names, launched[2][1]))
    assert attn["query"] == layers[0]["query"].data_ptr()
    assert attn["scores"] == step.intermediates(0)["block_scores_0"].data_ptr()
    assert attn["output"] == out0.data_ptr()
    assert attn["counters"] == step.workspaces(0)["counters"].data_ptr()
    assert (attn["max_blocks"], attn["splits"], attn["split_slots"]) == (2, 1, 4)
    rms = dict(zip(pkg.kernel("sala_rms_norm_head_h4_d8_bf16").spec.param_names,
                   launched[3][1]))
    assert rms["weight"] == layers[1]["q_norm_weight"].data_ptr()
    step.run(stream=0x55)
    assert {s for _, _, s in launched[4:]} == {0x55}
    assert "4 launches" in repr(step)


def test_capture_records_the_whole_step(pkg, ptr):
    step, _ = make(pkg, layer_inputs(ptr), ptr)
    g = step.capture()
    assert g.state == "ready" and g.launches == 4 and g.num_nodes == 4
    assert pkg._native.launches == []                     # recorded, not run
    assert any(v is step for v in g._keep)                # keeps every tensor alive
    g.replay()
    assert pkg._native.context.runtime.replays == [0x100]
    g.close()


def test_sizes_override_and_output_buffer(pkg, ptr):
    layers = layer_inputs(ptr)
    mine = FakeTensor((2, 4, 8), ptr=ptr())
    layers[1]["output"] = mine
    step, alloc = make(pkg, layers, ptr, sizes={"max_blocks": 5, "splits": 3})
    assert step.sizes(0)["max_blocks"] == 5 and step.sizes(0)["split_slots"] == 12
    assert step.intermediates(0)["block_scores_0"].shape == (2, 2, 5)
    assert step.output(1) is mine
    assert ((2, 4, 8), "bf16", False) in alloc.made  # layer 0's output only
    assert len([m for m in alloc.made if m == ((2, 4, 8), "bf16", False)]) == 1


def test_a_kv_cache_may_come_as_a_pair(pkg, ptr):
    layers = layer_inputs(ptr)
    k, v = layers[0].pop("k_cache"), layers[0].pop("v_cache")
    layers[0]["cache"] = (k, v)
    step, _ = make(pkg, layers, ptr)
    assert step.tensors(0)["k_cache"] is k and step.tensors(0)["v_cache"] is v
    layers[0]["cache"] = (k,)
    with pytest.raises(salac.ArgumentError, match=r"layer 0 \(layer_00_sparse_decode\): "
                       r"argument 'cache' \(kv_cache\) is 2 buffers: pass \(k_cache, v_cache\)"):
        make(pkg, layers, ptr)


def test_layers_as_a_list(pkg, ptr):
    layers = layer_inputs(ptr)
    step, _ = make(pkg, [layers[0], layers[1]], ptr)
    assert step.layers == [0, 1]


def err(pkg, layers, ptr, match, **kw):
    with pytest.raises(salac.ArgumentError, match=match):
        make(pkg, layers, ptr, **kw)


def test_missing_and_extra_layers(pkg, ptr):
    layers = layer_inputs(ptr)
    del layers[1]
    err(pkg, layers, ptr, r"DecodeStep: no inputs for layer 1 \(layer_01_linear_decode\); "
        r"layer 1 needs query, q_norm_weight")
    layers = layer_inputs(ptr)
    layers[5] = {}
    err(pkg, layers, ptr, r"the package has no decode mixer for layer\(s\) 5 \(its layers: 0, 1\)")
    err(pkg, "nope", ptr, r"layers must be a dict")


def test_missing_and_unknown_inputs_name_layer_and_argument(pkg, ptr):
    layers = layer_inputs(ptr)
    del layers[0]["v_cache"]
    err(pkg, layers, ptr, r"layer 0 \(layer_00_sparse_decode\): missing input\(s\) 'v_cache' "
        r"\(of argument 'cache', kv_cache\)")
    layers = layer_inputs(ptr)
    del layers[1]["q_norm_weight"]
    err(pkg, layers, ptr, r"layer 1 \(layer_01_linear_decode\): missing input\(s\) "
        r"'q_norm_weight'$")
    layers = layer_inputs(ptr)
    layers[1]["q_weight"] = layers[1]["q_norm_weight"]
    err(pkg, layers, ptr, r"layer 1 \(layer_01_linear_decode\): unknown input\(s\) 'q_weight'; "
        r"this mixer takes query, q_norm_weight \(and optionally its output buffer output\)")
    layers = layer_inputs(ptr)
    layers[1]["query"] = [1, 2]
    err(pkg, layers, ptr, r"layer 1 \(layer_01_linear_decode\): 'query' must be a tensor "
        r"\(bf16 \['tokens', 4, 8\]\), got list")


def test_wrong_dtype_shape_device_contiguity(pkg, ptr):
    layers = layer_inputs(ptr)
    layers[0]["page_table"] = FakeTensor((2, 3), "torch.int64", ptr=ptr())
    err(pkg, layers, ptr, r"layer 0 \(layer_00_sparse_decode\): 'page_table' has dtype int64, "
        r"expected i32 \(int32\)")
    layers = layer_inputs(ptr)
    layers[1]["query"] = FakeTensor((2, 4, 16), ptr=ptr())
    err(pkg, layers, ptr, r"layer 1 \(layer_01_linear_decode\): 'query' has shape \[2, 4, 16\], "
        r"expected \[tokens=2, 4, 8\] \(dim 2 is 16, expected 8\)")
    layers = layer_inputs(ptr)
    layers[0]["v_cache"] = FakeTensor((6, 4, 2, 8), ptr=ptr())
    err(pkg, layers, ptr, r"layer 0 \(layer_00_sparse_decode\): 'v_cache' \(of argument "
        r"'cache', kv_cache\) has shape \[6, 4, 2, 8\], expected \[pages=7, 4, 2, 8\] "
        r"\(dim 0 is 6, expected 7 = 'pages'\)")
    layers = layer_inputs(ptr)
    layers[0]["cu_seqlens_q"] = FakeTensor((2,), "torch.int32", ptr=ptr())
    err(pkg, layers, ptr, r"'cu_seqlens_q' has shape \[2\], expected \[batch\+1=3\] "
        r"\(dim 0 is 2, expected 3 = 'batch\+1'\)")
    layers = layer_inputs(ptr)
    layers[0]["key"] = FakeTensor((2, 2, 8, 1), ptr=ptr())
    err(pkg, layers, ptr, r"'key' has shape \[2, 2, 8, 1\], expected \[tokens=2, 2, 8\] "
        r"\(rank 4, expected 3\)")
    layers = layer_inputs(ptr)
    layers[1]["q_norm_weight"] = FakeTensor((8,), device=("cpu", None), ptr=ptr())
    err(pkg, layers, ptr, r"layer 1 .*'q_norm_weight' is on cpu, expected cuda:0")
    layers = layer_inputs(ptr)
    layers[1]["q_norm_weight"] = FakeTensor((8,), device=("cuda", 1), ptr=ptr())
    err(pkg, layers, ptr, r"'q_norm_weight' is on cuda:1, expected cuda:0 \(the package's")
    layers = layer_inputs(ptr)
    layers[1]["query"] = FakeTensor((2, 4, 8), contiguous=False, ptr=ptr())
    err(pkg, layers, ptr, r"layer 1 .*'query' is not contiguous")
    layers = layer_inputs(ptr)
    layers[1]["output"] = FakeTensor((3, 4, 8), ptr=ptr())
    err(pkg, layers, ptr, r"layer 1 .*'output' has shape \[3, 4, 8\], expected \[tokens=2, 4, 8\]")


def test_batch_and_tokens_are_checked_on_every_layer(pkg, ptr):
    layers = layer_inputs(ptr, tokens=2, batch=2)
    err(pkg, layers, ptr, r"layer 0 \(layer_00_sparse_decode\): 'page_table' has 2 in dim 0 "
        r"\('batch'\), but the step's batch is 4", batch=4)
    err(pkg, layers, ptr, r"layer 0 .*'query' has 2 in dim 0 \('tokens'\), but the step's "
        r"tokens is 3$", batch=2, tokens=3)
    err(pkg, layer_inputs(ptr, tokens=3, batch=2), ptr, r"layer 0 .*'query' has 3 in dim 0 "
        r"\('tokens'\), but the step's tokens is 2 \(in decode, tokens defaults to batch",
        batch=2)
    # The linear layer's tokens disagree with the sparse one's.
    layers[1] = layer_inputs(ptr, tokens=3)[1]
    err(pkg, layers, ptr, r"layer 1 \(layer_01_linear_decode\): 'query' has 3 in dim 0 "
        r"\('tokens'\), but the step's tokens is 2")


def test_sizes_argument_errors(pkg, ptr):
    layers = layer_inputs(ptr)
    err(pkg, layers, ptr, r"sizes=\{'tokens': \.\.\.\}: no mixer has such a size to choose "
        r"\(sizes chosen per step: max_blocks, splits; the others follow from the tensors\)",
        sizes={"tokens": 3})
    err(pkg, layers, ptr, r"sizes\['splits'\] must be an int >= 0, got -1", sizes={"splits": -1})


def test_a_chosen_size_without_bound_or_default_must_be_given(tmp_path, ptr):
    data = mixer_manifest()
    del data["mixers"][0]["sizes"][5]["default"]
    p = salac.Package(write_manifest(tmp_path, data))
    p._native, p.device = FakeNative(FakeContext(FakeRuntime())), 0
    err(p, layer_inputs(ptr), ptr, r"layer 0 .*size 'splits' \(blocks per token\) is not shown "
        r"by any argument and the manifest gives no bound or default: pass "
        r"sizes=\{'splits': n\}")
    step, _ = make(p, layer_inputs(ptr), ptr, sizes={"splits": 2})
    assert step.sizes(0)["split_slots"] == 8


def test_package_state_and_manifest_errors(tmp_path, ptr):
    from conftest import manifest_data
    bare = salac.Package(write_manifest(tmp_path / "bare", manifest_data()))
    bare.device = 0
    with pytest.raises(salac.ManifestError, match=r"has no decode mixers: the package was "
                       r"written without a \"mixers\" section"):
        salac.DecodeStep(bare, {}, allocate=Allocator(ptr))
    unloaded = salac.Package(write_manifest(tmp_path / "u", mixer_manifest()))
    with pytest.raises(salac.SalacError, match=r"is not loaded: call .load\(device\)"):
        salac.DecodeStep(unloaded, layer_inputs(ptr), allocate=Allocator(ptr))
    data = mixer_manifest()
    data["mixers"][2]["mode"] = "decode"     # two decode mixers for layer 1
    two = salac.Package(write_manifest(tmp_path / "two", data))
    two.device = 0
    with pytest.raises(salac.ManifestError, match=r"layer 1 has two decode mixers"):
        salac.DecodeStep(two, layer_inputs(ptr), allocate=Allocator(ptr))


def test_prefill_mode_selects_the_prefill_mixers(pkg, ptr):
    step, _ = make(pkg, {1: layer_inputs(ptr)[1]}, ptr, mode="prefill")
    assert step.layers == [1] and step.plans[1].name == "layer_01_linear_prefill"


def test_reset_workspaces_zeroes_counters_only(pkg, ptr):
    step, _ = make(pkg, layer_inputs(ptr), ptr)
    zeroed = []
    for name, t in step.workspaces(0).items():
        t.zero_ = (lambda n: lambda: zeroed.append(n))(name)
    step.reset_workspaces()
    assert zeroed == ["counters"]


def test_real_package_binds_every_decode_mixer(package_dir, ptr):
    """The compiler's own mixers: inputs shaped as the manifest says, every
    launch bound and launched (by the fake), in layer order."""
    pkg = salac.Package(package_dir)
    plans = pkg.manifest.mixers_for("decode")
    if not plans:
        pytest.skip(f"{package_dir} was made without a mixers section")
    pkg._native, pkg.device = FakeNative(FakeContext(FakeRuntime())), 0
    values = {"tokens": 4, "batch": 4, "max_pages": 130, "pages": 600,
              "max_key_pages": 9, "key_pages": 40, "slots": 7}
    torch_names = Allocator.TORCH
    layers = {}
    for p in plans:
        sizes = {s.name: values.get(s.name, 5) for s in p.sizes if s.buffer is not None}
        layers[p.layer] = {
            n: FakeTensor(b.resolve_shape(sizes), torch_names[b.dtype], ptr=ptr())
            for n, b in p.buffers.items()}
    step, alloc = make(pkg, layers, ptr, batch=4)
    assert step.layers == list(range(32))
    assert step.num_launches == sum(len(p.launches) for p in plans)
    step.run()
    launched = [name for name, _, _ in pkg._native.launches]
    assert launched == [launch.kernel for p in plans for launch in p.launches]
    for p in plans:
        assert step.output(p.layer).shape == (4,) + tuple(p.temp("output").buffer.shape[1:])
        sizes = step.sizes(p.layer)
        if "max_blocks" in sizes:  # the bound: what 130 pages of the cache hold
            ps = next(a for a in p.arguments if a.type == "kv_cache").parameters["page_size"]
            assert sizes["max_blocks"] == -(-130 * ps // 64)
        if "max_q_len" in sizes:
            assert sizes["max_q_len"] == 4
    # Workspaces that must start at zero were allocated zeroed.
    zero = [w for p in plans for w in p.workspaces if w.init == "zero"]
    assert len([m for m in alloc.made if m[2]]) == len(zero)


def test_segmented_prefill_sizes_its_chain_from_the_manifest(salac_bin, tmp_path, ptr):
    """A package whose chunked linear kernel walks 128-token segments: the
    prefill step sizes the chain's workspace from the manifest's rules
    (segment_rows = ceil(tokens / 128); max_q_len bounded by tokens), and
    allocates the flags and the ticket counter zeroed."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", salac.CompileWarning)
        pkg = salac.compile(out_dir=tmp_path / "pkg", layers=[1], mode="prefill",
                            linear_segment=128)
    (plan,) = pkg.manifest.mixers_for("prefill")
    pkg._native, pkg.device = FakeNative(FakeContext(FakeRuntime())), 0
    tokens = 300
    sizes = {s.name: {"tokens": tokens, "batch": 2, "slots": 3}.get(s.name, 5)
             for s in plan.sizes if s.buffer is not None}
    layer = {n: FakeTensor(b.resolve_shape(sizes), Allocator.TORCH[b.dtype], ptr=ptr())
             for n, b in plan.buffers.items()}
    step, alloc = make(pkg, {1: layer}, ptr, batch=2, mode="prefill")
    got = step.sizes(1)
    assert got["segment_rows"] == 3 and got["max_q_len"] == tokens
    work = step.workspaces(1)
    assert tuple(work["segment_states"].shape) == (3, 32, 128, 128)
    assert tuple(work["segment_flags"].shape) == (3, 32)
    assert tuple(work["tickets"].shape) == (1,)
    assert {w.name for w in plan.workspaces if w.init == "zero"} == {"segment_flags", "tickets"}
    step.run()
    assert [name for name, _, _ in pkg._native.launches] == [l.kernel for l in plan.launches]


def test_prefill_step_is_the_prefill_mode(pkg, ptr):
    step = salac.PrefillStep(pkg, {1: layer_inputs(ptr)[1]}, allocate=Allocator(ptr))
    assert step.mode == "prefill" and step.plans[1].name == "layer_01_linear_prefill"
    assert repr(step).startswith("<salac.PrefillStep prefill of 1 mixers")
