"""Per-op test cases for checking and timing a package's kernels, driven by
manifest.json: which scenarios (shapes) to run, how to draw every parameter,
the torch reference of what the kernel writes, and the bytes a launch must
move at least (each input read once, each output written once).

A kernel whose op has no case here is reported by case_for() with the reason
"no harness support for <op>"; supporting an op means adding an OpCase.
Needs torch (imported lazily).
"""

import math

from .base import (DEFAULT_TOKENS, TOLERANCE, FusedRmsNormGateCase, OpCase,  # noqa: F401
                   RmsNormCase, RopeCase, SigmoidGateCase, poison, torch_dtype)

__all__ = ["CASES", "DEFAULT_TOKENS", "TOLERANCE", "OpCase", "case_for", "compare", "poison",
           "torch_dtype"]
from .paged import (BlockScoresCase, CompressKeysCase, DenseAttentionCase,  # noqa: F401
                    FusedKvUpdateCase, FusedLinearCase, FusedLinearChunkedCase,
                    FusedLinearUnnormedCase,
                    FusedSparseAttentionCase,
                    FusedSparseSelectCase, KvAppendCase, LengthSelectCase, LinearChunkedCase,
                    LinearRecurrentCase,
                    SparseAttentionCase, TopkBlocksCase)

_ALL = (SigmoidGateCase(), RmsNormCase(), FusedRmsNormGateCase(), RopeCase(), KvAppendCase(),
        CompressKeysCase(), FusedKvUpdateCase(),
        LinearRecurrentCase(), LinearChunkedCase(), FusedLinearCase(), FusedLinearUnnormedCase(),
        FusedLinearChunkedCase(),
        DenseAttentionCase(),
        SparseAttentionCase(), FusedSparseAttentionCase(), BlockScoresCase(), TopkBlocksCase(),
        FusedSparseSelectCase(),
        LengthSelectCase())
# Op name -> its cases (an op may have several kernels, e.g. linear attention's
# recurrent and chunked forms); the first that supports a kernel drives it.
CASES = {}
for _c in _ALL:
    CASES.setdefault(_c.op, []).append(_c)


def case_for(spec):
    """(case, None) or (None, reason to skip)."""
    cases = CASES.get(spec.op)
    if not cases:
        return None, f"no harness support for {spec.op}"
    reasons = []
    for case in cases:
        reason = case.unsupported(spec)
        if not reason:
            return case, None
        reasons.append(reason)
    return None, "; ".join(reasons)


def compare(out, ref, dtype):
    """Errors of a kernel output against its reference: norm-wise
    max|out-ref| / max|ref|; elementwise max |out-ref|/|ref| over elements
    with |ref| >= 1e-3 max|ref|; non-finite outputs where the reference is
    finite (unwritten, NaN-poisoned elements) fail."""
    import torch
    tol = TOLERANCE.get(dtype, 1e-2)
    if not out.is_floating_point():
        wrong = (out.to(torch.int64) != ref.to(torch.int64)).sum().item()
        frac = wrong / max(out.numel(), 1)
        return {"norm": frac, "elem": frac, "pass": wrong == 0, "tol": 0.0, "nonfinite": 0}
    o, r = out.to(torch.float64), ref.to(torch.float64)
    finite_ref = torch.isfinite(r)
    bad = (~torch.isfinite(o) & finite_ref).sum().item()
    if not finite_ref.all():  # non-finite references (-inf scores) must match
        bad += (~finite_ref & (o != r)).sum().item()
    o, r = o[finite_ref], r[finite_ref]
    scale = r.abs().max().item() if r.numel() else 0.0
    diff = (o - r).abs()
    dmax = diff.max().item() if diff.numel() else 0.0
    norm = dmax / scale if scale > 0 else dmax
    big = r.abs() >= 1e-3 * scale
    elem = (diff[big] / r[big].abs()).max().item() if big.any() else 0.0
    ok = bad == 0 and math.isfinite(norm) and norm <= tol
    return {"norm": norm, "elem": elem, "pass": ok, "tol": tol, "nonfinite": bad}
