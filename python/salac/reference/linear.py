"""Elementwise ops (rms_norm, rope, sigmoid_gate) and simple gated linear
attention (DESIGN.md section 3), in torch, float64."""

import torch

from ._common import F64, Batch, default_slopes, effective_scale


def rms_norm(x, weight, eps=1e-6, scope="head"):
    """scope 'head': over the last dim of [T, H, D] (weight [D]);
    'full': over all H*D channels of a token (weight [H*D])."""
    x = x.to(F64)
    shape = x.shape
    if scope == "full":
        x = x.reshape(shape[0], -1)
    elif scope != "head":
        raise ValueError(f"rms_norm: scope must be 'head' or 'full', got {scope!r}")
    w = weight.to(F64).to(x.device)
    if w.shape != (x.shape[-1],):
        raise ValueError(f"rms_norm ({scope}): weight has shape {tuple(w.shape)}, "
                         f"expected ({x.shape[-1]},)")
    inv = torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + float(eps))
    return (x * inv * w).reshape(shape)


def rope(x, positions, theta=10000.0, style="neox"):
    """Rotates channel pairs of [T, H, D] by positions[t] * theta^(-2i/D);
    'neox' pairs i with i + D/2, 'interleaved' pairs 2i with 2i+1. Angles in
    float64: a' = a cos - b sin, b' = b cos + a sin."""
    x = x.to(F64)
    T, H, D = x.shape
    if D % 2:
        raise ValueError(f"rope: head dim {D} must be even")
    pos = positions.to(device=x.device, dtype=F64).reshape(T, 1)
    i = torch.arange(D // 2, device=x.device, dtype=F64)
    angle = pos * torch.pow(torch.tensor(float(theta), dtype=F64, device=x.device),
                            -2.0 * i / D)                          # [T, D/2]
    c, s = torch.cos(angle)[:, None, :], torch.sin(angle)[:, None, :]
    if style == "neox":
        a, b = x[..., : D // 2], x[..., D // 2:]
        return torch.cat([a * c - b * s, b * c + a * s], dim=-1)
    if style == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * c - b * s, b * c + a * s], dim=-1).reshape(T, H, D)
    raise ValueError(f"rope: style must be 'neox' or 'interleaved', got {style!r}")


def sigmoid_gate(x, z):
    """x * sigmoid(z), elementwise."""
    if x.shape != z.shape:
        raise ValueError(f"sigmoid_gate: x {tuple(x.shape)} vs z {tuple(z.shape)}")
    return x.to(F64) * torch.sigmoid(z.to(F64).to(x.device))


def _slopes_tensor(slopes, H, device):
    s = default_slopes(H) if slopes is None else list(slopes)
    if len(s) != H:
        raise ValueError(f"linear_attention: {len(s)} slopes for {H} heads")
    return torch.tensor(s, dtype=F64, device=device)


def _recurrent(q, k, v, S, gamma, scale):
    """Token by token. q,k,v [L, H, D]; S [H, D, D] float64 (updated)."""
    out = torch.empty_like(q)
    g = gamma[:, None, None]
    for t in range(q.shape[0]):
        S = g * S + k[t][:, :, None] * v[t][:, None, :]       # k^T v per head
        out[t] = scale * torch.einsum("hd,hde->he", q[t], S)
    return out, S


def _chunked(q, k, v, S, slope, scale, chunk):
    """Chunk by chunk: decayed intra-chunk attention plus the carried state.
    Decays are exp(-slope * n) computed directly (not powers of gamma), so the
    two forms are independent computations of the same recurrence."""
    L, H, D = q.shape
    out = torch.empty_like(q)
    sl = slope[:, None, None]                                    # [H,1,1]
    for c0 in range(0, L, chunk):
        n = min(chunk, L - c0)
        qc, kc, vc = (t[c0:c0 + n].transpose(0, 1) for t in (q, k, v))  # [H,n,D]
        r = torch.arange(n, device=q.device, dtype=F64)
        diff = r[:, None] - r[None, :]                             # i - j
        mask = torch.exp(-sl * diff.clamp(min=0)) * (diff >= 0)    # [H,n,n]
        intra = (qc @ kc.transpose(1, 2)) * mask @ vc              # [H,n,D]
        inter = torch.exp(-sl * (r[None, :, None] + 1)) * (qc @ S)
        out[c0:c0 + n] = (scale * (intra + inter)).transpose(0, 1)
        wk = kc * torch.exp(-sl * (n - 1 - r)[None, :, None])      # gamma^(n-1-j)
        S = torch.exp(-sl * n) * S + wk.transpose(1, 2) @ vc
    return out, S


def linear_attention(q, k, v, state, slots, cu_seqlens, *, form="auto",
                     slopes=None, chunk_size=64, scale=None, seq_lens=None):
    """Simple GLA with fixed per-head decay: per head h, gamma = exp(-slope_h),
    S_t = gamma S_{t-1} + k_t^T v_t, o_t = scale q_t S_t (scale default
    1/sqrt(D)). q, k, v [T, H, D]; state [slots, H, D, D] (updated in place
    with each sequence's final state, cast to its dtype); slots [B].

    The initial state is the slot's content. With seq_lens, a sequence with
    no history (seq_len == q_len, a fresh prefill) starts from zero instead.
    form: 'recurrent', 'chunked', or 'auto' (recurrent for one new token,
    chunked otherwise). Returns [T, H, D] float64."""
    if form not in ("recurrent", "chunked", "auto"):
        raise ValueError(f"linear_attention: form {form!r}")
    T, H, D = q.shape
    if state.shape[1:] != (H, D, D):
        raise ValueError(f"linear_attention: state pool {tuple(state.shape)} does "
                         f"not hold [slots, {H}, {D}, {D}]")
    batch = Batch(cu_seqlens, seq_lens)
    slots = [int(s) for s in (slots.tolist() if isinstance(slots, torch.Tensor)
                              else slots)]
    if len(slots) != batch.B or len(set(slots)) != len(slots) or any(
            not 0 <= s < state.shape[0] for s in slots):
        raise ValueError(f"linear_attention: slots {slots} must be {batch.B} "
                         f"distinct indices in [0, {state.shape[0]})")
    dev = q.device
    q, k, v = (t.to(F64) for t in (q, k, v))
    slope = _slopes_tensor(slopes, H, dev)
    gamma = torch.exp(-slope)
    scale = effective_scale(scale, D)
    out = torch.zeros(T, H, D, dtype=F64, device=dev)
    for b in range(batch.B):
        L = batch.q_len(b)
        if L == 0:
            continue
        fresh = seq_lens is not None and batch.history(b) == 0
        S = (torch.zeros(H, D, D, dtype=F64, device=dev) if fresh
             else state[slots[b]].to(device=dev, dtype=F64))
        rows = batch.rows(b)
        if form == "recurrent" or (form == "auto" and L == 1):
            o, S = _recurrent(q[rows], k[rows], v[rows], S, gamma, scale)
        else:
            o, S = _chunked(q[rows], k[rows], v[rows], S, slope, scale, chunk_size)
        out[rows] = o
        state[slots[b]] = S.to(device=state.device, dtype=state.dtype)
    return out


def linear_mixer(q, k, v, z, q_norm_weight, k_norm_weight, out_norm_weight,
                 state, slots, cu_seqlens_q, seq_lens=None, *, positions=None,
                 eps=1e-6, theta=10000.0, rope_style="neox", use_rope=True,
                 slopes=None, scale=None, form="auto", chunk_size=64):
    """The lightning-attention mixer: per-head RMSNorm of q and k, RoPE at each
    token's position (positions, else from seq_lens), linear attention,
    RMSNorm over all H*D channels, * sigmoid(z). A None weight (or z) skips
    its step; use_rope=False skips RoPE. No intermediate rounding."""
    T, H, D = q.shape
    qn, kn = q.to(F64), k.to(F64)
    if q_norm_weight is not None:
        qn = rms_norm(qn, q_norm_weight, eps, "head")
        kn = rms_norm(kn, k_norm_weight, eps, "head")
    if use_rope:
        pos = positions if positions is not None else Batch(
            cu_seqlens_q, seq_lens).token_positions(q.device)
        qn, kn = rope(qn, pos, theta, rope_style), rope(kn, pos, theta, rope_style)
    y = linear_attention(qn, kn, v, state, slots, cu_seqlens_q, form=form,
                         slopes=slopes, chunk_size=chunk_size, scale=scale,
                         seq_lens=seq_lens)
    if out_norm_weight is not None:
        y = rms_norm(y, out_norm_weight, eps, "full")
    return sigmoid_gate(y, z) if z is not None else y

