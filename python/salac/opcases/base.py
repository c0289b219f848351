"""Base of the per-op cases: OpCase, random inputs, ragged batches and page
tables, and the elementwise ops' cases."""

import re

# Token counts: decode batches (1, 8, 64) and prefill (4096, 32768).
DEFAULT_TOKENS = (1, 8, 64, 4096, 32768)
# Norm-wise tolerance (max|out-ref| / max|ref|) by output dtype.
TOLERANCE = {"bf16": 1e-2, "f16": 2e-3, "f32": 1e-4, "i32": 0.0}
_TORCH_DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "i32": "int32"}


def torch_dtype(name):
    import torch
    return getattr(torch, _TORCH_DTYPES[name])


def poison(t):
    """NaN for floats, a sentinel for ints: shows elements nobody wrote."""
    t.fill_(float("nan") if t.is_floating_point() else -0x5A5A5A5A)


def randn(shape, dtype, device, gen, scale=1.0):
    import torch
    x = torch.randn(shape, generator=gen, device=device, dtype=torch.float32)
    return (x * scale).to(torch_dtype(dtype))


class OpCase:
    """A kernel whose only scalar is `tokens`, in which every tensor shape is
    written; outputs are fully overwritten (NaN-poisoned before a launch)."""

    op = None
    required = ()            # params the reference reads, by manifest name
    outputs = ("output",)
    inout = ()               # outputs that are also read (cannot be poisoned)
    scalars = ("tokens",)    # scalar params this case knows how to set

    def unsupported(self, spec):
        """None, or why this case cannot drive `spec`."""
        names = set(spec.param_names)
        missing = [p for p in self.required + self.outputs if p not in names]
        if missing:
            return (f"no harness support for {spec.op} with params "
                    f"{spec.param_names} (needs {', '.join(missing)})")
        unknown = {p.name for p in spec.scalar_params} - set(self.scalars)
        if unknown:
            return (f"no harness support for {spec.op} with scalar params "
                    f"{sorted(unknown)}")
        return None

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        return [{"tokens": t} for t in tokens]

    def compare_outputs(self, spec, args, ref):
        """{output: comparison} of what the kernel wrote against the
        reference (opcases.compare by default)."""
        from . import compare
        return {o: compare(args[o], ref[o], spec.param(o).dtype) for o in self.outputs}

    @staticmethod
    def label(sc):
        if "label" in sc:  # grid scenarios name themselves
            return sc["label"]
        return ", ".join(f"{k}={v}" for k, v in sc.items())

    def fill(self, spec, param, shape, device, gen):
        return randn(shape, param.dtype, device, gen)

    def make_inputs(self, spec, sc, device, gen):
        """{param: tensor or int}: scalars from the scenario, inputs drawn,
        outputs allocated and poisoned."""
        import torch
        args = {p.name: sc[p.name] for p in spec.scalar_params}
        for p in spec.pointer_params:
            shape = p.resolve_shape(args)
            if p.name in self.outputs:
                args[p.name] = torch.empty(shape, dtype=torch_dtype(p.dtype), device=device)
                poison(args[p.name])
            else:
                args[p.name] = self.fill(spec, p, shape, device, gen)
        return args

    def reference(self, spec, args):
        """{output param: expected tensor}, from the arguments before the
        launch; must not modify them."""
        raise NotImplementedError

    def bytes_moved(self, spec, args):
        return sum(p.nbytes(args) for p in spec.pointer_params)

    def aliases(self, spec):
        """(output, input) pairs the manifest allows to alias ("may alias X")."""
        return [(o, p.name) for o in self.outputs for p in spec.pointer_params
                if p.name != o and f"may alias {p.name}" in spec.param(o).meaning]


class SigmoidGateCase(OpCase):
    op = "sala.sigmoid_gate"
    required = ("input", "gate")

    def fill(self, spec, param, shape, device, gen):
        # Gate logits spread wide enough to reach sigmoid's saturated tails.
        return randn(shape, param.dtype, device, gen, 3.0 if param.name == "gate" else 1.0)

    def reference(self, spec, a):
        from .. import reference as R
        return {"output": R.sigmoid_gate(a["input"], a["gate"])}


class RmsNormCase(OpCase):
    op = "sala.rms_norm"
    required = ("input", "weight")

    def reference(self, spec, a):
        from .. import reference as R
        at = spec.attributes
        return {"output": R.rms_norm(a["input"], a["weight"], eps=at.get("eps", 1e-6),
                                     scope=at.get("scope", "head"))}


class FusedRmsNormGateCase(OpCase):
    """sala.fused_rms_norm_gate: the full RMSNorm then the sigmoid gate, in
    one kernel; the reference is the two primitive references in float64."""
    op = "sala.fused_rms_norm_gate"
    required = ("input", "out_norm_weight", "gate")

    def fill(self, spec, param, shape, device, gen):
        # Gate logits spread wide enough to reach sigmoid's saturated tails.
        return randn(shape, param.dtype, device, gen, 3.0 if param.name == "gate" else 1.0)

    def reference(self, spec, a):
        from .. import reference as R
        n = R.rms_norm(a["input"], a["out_norm_weight"], eps=spec.attributes.get("eps", 1e-6),
                       scope="full").reshape(a["input"].shape)
        return {"output": R.sigmoid_gate(n, a["gate"])}


class RopeCase(OpCase):
    op = "sala.rope"
    required = ("input", "positions")

    def fill(self, spec, param, shape, device, gen):
        import torch
        if param.name == "positions":
            # Up to 1M tokens of context (DESIGN.md section 7): large angles.
            return torch.randint(0, 1 << 20, shape, generator=gen, device=device,
                                 dtype=torch.int32)
        return super().fill(spec, param, shape, device, gen)

    def reference(self, spec, a):
        from .. import reference as R
        at = spec.attributes
        return {"output": R.rope(a["input"], a["positions"], theta=at.get("theta", 10000.0),
                                 style=at.get("style", "neox"))}


# --- ragged batches over paged caches ----------------------------------------

def window_of(spec):
    """Compression (kernel, stride): attributes kernel_size/kernel_stride, else
    the kernel's name (..._k32_s16_...); None when neither says."""
    at = spec.attributes
    if "kernel_size" in at and "kernel_stride" in at:
        return int(at["kernel_size"]), int(at["kernel_stride"])
    m = re.search(r"_k(\d+)_s(\d+)_", spec.name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def ragged_batch(tokens, gen, max_history=8192, window=None):
    """q_lens and seq_lens for `tokens` new tokens: up to 64 tokens a decode
    batch (one token per sequence, random history, one in eight fresh);
    more, a prefill of at most 8192 tokens per sequence, the first fresh and
    the others continuing a history (chunked prefill). With window=(kernel,
    stride), every decode token completes a compression window."""
    import torch
    r = lambda hi: int(torch.randint(0, hi, (1,), generator=gen, device=gen.device))  # noqa: E731
    if tokens <= 64:
        q = [1] * tokens
        if window:
            kern, stride = window
            return q, [kern + stride * r(max_history // stride) for _ in q]
        hist = [0 if r(8) == 0 else 1 + r(max_history) for _ in q]
    else:
        q = [8192] * (tokens // 8192) + ([tokens % 8192] if tokens % 8192 else [])
        hist = [0] + [r(max_history) for _ in q[1:]]
    return q, [a + b for a, b in zip(q, hist)]


def scenario_batch(sc, draw):
    """(q_lens, seq_lens): the scenario's own when it carries them (the
    correctness grid does), else draw()."""
    if "seq_lens" in sc:
        q_lens, seq_lens = list(sc["q_lens"]), list(sc["seq_lens"])
        if len(q_lens) != len(seq_lens) or any(q > n for q, n in zip(q_lens, seq_lens)):
            raise ValueError(f"scenario {sc.get('label')}: q_lens {q_lens[:8]} do not fit "
                             f"seq_lens {seq_lens[:8]}")
        return q_lens, seq_lens
    return draw()


def row_chunks(cu, seq_lens, max_rows):
    """Splits a ragged batch's query rows into pieces of at most max_rows rows
    (a sequence with more rows is cut across pieces). Each piece is a batch
    of its own whose tokens keep their positions: returns a list of
    (row0, row1, seqs, cu_sub, seq_lens_sub), seqs being the original
    sequence indices and seq_lens_sub cut after the piece's last row of each.
    Pure Python: for references that work per query row (stage 1, stage 2,
    dense attention) and would otherwise hold [rows, ..., context] at once."""
    cu, seq_lens = [int(c) for c in cu], [int(n) for n in seq_lens]
    max_rows = max(1, int(max_rows))
    pieces, cur = [], None          # cur: [row0, seqs, cu_sub, lens_sub]
    for b in range(len(seq_lens)):
        q0, q1 = cu[b], cu[b + 1]
        hist = seq_lens[b] - (q1 - q0)
        r = q0
        while r < q1:
            if cur is None:
                cur = [r, [], [0], []]
            room = max_rows - (r - cur[0])
            take = min(room, q1 - r)
            cur[1].append(b)
            cur[2].append(cur[2][-1] + take)
            cur[3].append(hist + (r + take - q0))
            r += take
            if r - cur[0] >= max_rows:
                pieces.append((cur[0], r, cur[1], cur[2], cur[3]))
                cur = None
    if cur is not None:
        pieces.append((cur[0], cur[0] + cur[2][-1], cur[1], cur[2], cur[3]))
    return pieces


def page_table(entries, page_size, device, gen, spare=3):
    """A random physical page per logical page of each sequence (entries[b]
    entries), padded with page 0 (in bounds: a stray read shows as a wrong
    value, not a crash). Returns (table [B, max_pages] int32, pages in pool)."""
    import torch
    need = [-(-n // page_size) for n in entries]
    total = sum(need) + spare
    perm = torch.randperm(total, generator=gen, device=gen.device).tolist()
    width = max(need + [1])
    rows, at = [], 0
    for n in need:
        rows.append(perm[at:at + n] + [0] * (width - n))
        at += n
    return torch.tensor(rows, dtype=torch.int32, device=device), total


def cu_seqlens(q_lens, device):
    import torch
    cu = [0]
    for q in q_lens:
        cu.append(cu[-1] + q)
    return torch.tensor(cu, dtype=torch.int32, device=device)


def sparse_batch(tokens, gen):
    """Sparse-regime batches: decode contexts of 8K-64K tokens, or a chunk
    of `tokens` continuing 12288 cached tokens."""
    import torch
    if tokens <= 64:
        n = torch.randint(8192, 65536, (tokens,), generator=gen, device=gen.device)
        return [1] * tokens, n.tolist()
    return [tokens], [tokens + 12288]


def batch_args(q_lens, seq_lens, device):
    import torch
    return {"tokens": sum(q_lens), "batch": len(q_lens),
            "cu_seqlens_q": cu_seqlens(q_lens, device),
            "seq_lens": torch.tensor(seq_lens, dtype=torch.int32, device=device)}
