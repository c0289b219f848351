"""InfLLM-V2 sparse attention and the paged KV cache (DESIGN.md section 2),
in torch, float64. Shapes: q [T, H, D]; new k, v [T, KVH, D]; KV cache K and
V each [P, page_size, KVH, D] with page_table [B, max_pages]; compressed keys
[P2, page2, KVH, D] with their own page table; block scores [T, KVH, blocks];
selections [T, KVH, topk + local_blocks] int32."""

import torch

from ._common import (F64, Batch, effective_scale, gather, group_expand,
                      num_compressed, scatter)
from .linear import sigmoid_gate

NEG_INF = float("-inf")


def kv_append(k, v, k_cache, v_cache, page_table, cu_seqlens_q, seq_lens):
    """Writes this step's k/v rows of sequence b at positions
    seq_lens[b]-q_len .. seq_lens[b]-1 of the paged caches (in place)."""
    batch = Batch(cu_seqlens_q, seq_lens)
    for b in range(batch.B):
        pos = batch.positions(b, k_cache.device)
        scatter(k_cache, page_table, b, pos, k[batch.rows(b)].to(k_cache.device))
        scatter(v_cache, page_table, b, pos, v[batch.rows(b)].to(v_cache.device))
    return k_cache, v_cache


def compress_keys_from_scratch(keys, kernel, stride):
    """All entries of contiguous keys [n, KVH, D]: entry i = mean of rows
    stride*i .. stride*i+kernel-1; [m, KVH, D] float64."""
    n = keys.shape[0]
    m = num_compressed(n, kernel, stride)
    if m == 0:
        return keys.new_zeros((0,) + tuple(keys.shape[1:]), dtype=F64)
    return keys.to(F64).unfold(0, kernel, stride)[:m].mean(dim=-1)


def compress_keys(k_cache, page_table, keys, key_page_table, cu_seqlens_q,
                  seq_lens, *, kernel=32, stride=16):
    """Writes the compressed entries whose window became complete in this step,
    num_compressed(history) <= i < num_compressed(seq_len), each the float64
    mean of its window of the cached K, rounded once to the store's dtype.
    Earlier entries are not touched (in place)."""
    batch = Batch(cu_seqlens_q, seq_lens)
    for b in range(batch.B):
        first = num_compressed(batch.history(b), kernel, stride)
        last = num_compressed(batch.seq_lens[b], kernel, stride)
        if last <= first:
            continue
        rows = gather(k_cache, page_table, b, stride * (last - 1) + kernel)
        means = compress_keys_from_scratch(rows, kernel, stride)[first:last]
        idx = torch.arange(first, last, device=keys.device)
        scatter(keys, key_page_table, b, idx, means.to(keys.device))
    return keys


def _num_blocks(batch, block_size):
    return max([-(-n // block_size) for n in batch.seq_lens], default=0)


def block_scores(q, keys, key_page_table, cu_seqlens_q, seq_lens, *, kernel=32,
                 stride=16, block_size=64, pool_kernel=5, pool_stride=None,
                 pool_padding=1, scale=None, lse_keys=None,
                 lse_key_page_table=None, lse_kernel=128, lse_stride=64,
                 num_blocks=None, dtype=torch.float32):
    """Stage 1. For the query at position t: entry i visible when
    stride*i + kernel - 1 <= t; p = softmax over visible of scale * q.K1[i]
    per head (normaliser from the visible K2 scores when lse_keys is given
    and one is visible); P[g, i] = sum over the group's heads; block j gets
    max of P[g, i] for visible i in [ps*j - pad, ps*j - pad + pk - 1]; -inf
    where none, and for j > t // block_size. Returns [T, KVH, blocks] in
    `dtype` (the op's result is f32; pass float64 to keep every digit)."""
    T, H, D = q.shape
    KVH = keys.shape[2]
    ps = pool_stride if pool_stride is not None else block_size // stride
    if ps * stride != block_size:
        raise ValueError(f"block_scores: pool stride {ps} * stride {stride} != "
                         f"block size {block_size}")
    batch = Batch(cu_seqlens_q, seq_lens)
    nb = _num_blocks(batch, block_size) if num_blocks is None else num_blocks
    sc = effective_scale(scale, D)
    out = torch.full((T, KVH, nb), NEG_INF, dtype=F64, device=q.device)
    j = torch.arange(nb, device=q.device)
    win = (ps * j - pool_padding)[:, None] + torch.arange(pool_kernel, device=q.device)
    for b in range(batch.B):
        if batch.q_len(b) == 0:
            continue
        n = batch.seq_lens[b]
        t = batch.positions(b, q.device)                          # [L]
        m = num_compressed(n, kernel, stride)
        if m == 0:
            continue
        e = group_expand(gather(keys, key_page_table, b, m).to(q.device), H)
        s = sc * torch.einsum("lhd,mhd->lhm", q[batch.rows(b)].to(F64), e)
        i = torch.arange(m, device=q.device)
        visible = (stride * i + kernel - 1)[None, :] <= t[:, None]  # [L, m]
        s = s.masked_fill(~visible[:, None, :], NEG_INF)
        lse = torch.logsumexp(s, dim=-1, keepdim=True)             # -inf if none
        if lse_keys is not None:
            m2 = num_compressed(n, lse_kernel, lse_stride)
            if m2:
                e2 = group_expand(gather(lse_keys, lse_key_page_table, b, m2)
                                  .to(q.device), H)
                s2 = sc * torch.einsum("lhd,mhd->lhm", q[batch.rows(b)].to(F64), e2)
                vis2 = ((lse_stride * torch.arange(m2, device=q.device)
                         + lse_kernel - 1)[None, :] <= t[:, None])
                lse2 = torch.logsumexp(s2.masked_fill(~vis2[:, None, :], NEG_INF),
                                       dim=-1, keepdim=True)
                lse = torch.where(vis2.any(-1)[:, None, None], lse2, lse)
        p = torch.exp(s - lse).nan_to_num(0.0)                     # [L, H, m]
        P = p.reshape(p.shape[0], KVH, H // KVH, m).sum(dim=2)     # [L, KVH, m]
        P = P.masked_fill(~visible[:, None, :], NEG_INF)
        valid = (win >= 0) & (win < m)
        pooled = P[:, :, win.clamp(0, m - 1)]                      # [L, KVH, nb, pk]
        pooled = pooled.masked_fill(~valid, NEG_INF).amax(dim=-1)
        pooled = pooled.masked_fill(j[None, None, :] > (t // block_size)[:, None, None],
                                    NEG_INF)
        out[batch.rows(b)] = pooled
    return out.to(dtype)


def topk_blocks(scores, cu_seqlens_q, seq_lens, *, block_size=64, topk=64,
                init_blocks=1, local_blocks=32):
    """For the query at position t, cur = t // block_size: candidates j <= cur;
    j < init_blocks and cur-local_blocks+1 <= j <= cur score +inf; the
    topk + local_blocks best (ties to the lower index; NaN lowest) in ascending
    order, -1 padded. Returns [T, KVH, topk + local_blocks] int32."""
    T, KVH, nb = scores.shape
    K = topk + local_blocks
    batch = Batch(cu_seqlens_q, seq_lens)
    t = batch.token_positions(scores.device)
    cur = (t // block_size)[:, None, None]
    if T and int(cur.max()) >= nb:
        raise ValueError(f"topk_blocks: scores have {nb} blocks, a query needs "
                         f"{int(cur.max()) + 1}")
    j = torch.arange(nb, device=scores.device)[None, None, :]
    key = scores.to(F64).nan_to_num(nan=NEG_INF, posinf=float("inf"),
                                    neginf=NEG_INF)
    key = key.masked_fill((j < init_blocks) | (j >= cur - local_blocks + 1),
                          float("inf"))
    candidate = j <= cur
    # Two stable sorts: by score descending, then candidates first. Stability
    # keeps equal scores in index order: ties go to the lower block.
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices
    cand_sorted = torch.gather(candidate.expand_as(key), -1, order)
    order = torch.gather(order, -1, torch.sort(cand_sorted.to(torch.int8), dim=-1,
                                               descending=True, stable=True).indices)
    chosen = order[..., :K]
    chosen = torch.where(torch.gather(candidate.expand_as(key), -1, chosen),
                         chosen, torch.full_like(chosen, nb))     # nb sorts last
    chosen = torch.sort(chosen, dim=-1).values
    chosen = torch.where(chosen == nb, -1, chosen)
    if chosen.shape[-1] < K:
        chosen = torch.cat([chosen, chosen.new_full((T, KVH, K - chosen.shape[-1]),
                                                    -1)], dim=-1)
    return chosen.to(torch.int32)


def _attend(q, keys, values, allowed, scale):
    """Softmax attention of q [L, H, D] over rows [n, KVH, D] where allowed
    [L, KVH, n]; query head h reads KV head h // (H/KVH). A query with
    nothing allowed gets 0. float64."""
    L, H, D = q.shape
    n, kvh = keys.shape[0], keys.shape[1]
    k, v = keys.to(F64), values.to(F64)
    out = torch.zeros(L, H, D, dtype=F64, device=q.device)
    chunk = max(1, (1 << 24) // max(1, H * n))  # bounds the [chunk, H, n] scores
    for c in range(0, L, chunk):
        qc = q[c:c + chunk].to(F64).reshape(-1, kvh, H // kvh, D)
        s = scale * torch.einsum("lkgd,nkd->lkgn", qc, k)
        s = s.masked_fill(~allowed[c:c + chunk][:, :, None, :], NEG_INF)
        w = torch.softmax(s, dim=-1).nan_to_num(0.0)             # all -inf -> 0
        out[c:c + chunk] = torch.einsum("lkgn,nkd->lkgd", w, v).reshape(-1, H, D)
    return out


def sparse_attention(q, k_cache, v_cache, page_table, blocks, cu_seqlens_q,
                     seq_lens, *, block_size=64, scale=None):
    """Stage 2: attention of q[t, h] over the tokens of the blocks selected for
    (t, h's KV group) with position <= t; -1 entries skipped. [T, H, D] f64."""
    T, H, D = q.shape
    batch = Batch(cu_seqlens_q, seq_lens)
    sc = effective_scale(scale, D)
    out = torch.zeros(T, H, D, dtype=F64, device=q.device)
    blocks = blocks.to(q.device).long()
    for b in range(batch.B):
        if batch.q_len(b) == 0:
            continue
        n = batch.seq_lens[b]
        K = gather(k_cache, page_table, b, n).to(q.device)
        V = gather(v_cache, page_table, b, n).to(q.device)
        t = batch.positions(b, q.device)
        sel = blocks[batch.rows(b)]                                # [L, KVH, k]
        nbs = -(-n // block_size)
        # Block bitmap per (token, group); -1 and out-of-range land in column
        # nbs, which no position reads.
        bitmap = torch.zeros(sel.shape[0], sel.shape[1], nbs + 1, dtype=torch.bool,
                             device=q.device)
        bitmap.scatter_(2, torch.where((sel < 0) | (sel >= nbs), nbs, sel), True)
        p = torch.arange(n, device=q.device)
        # allowed[l, g, p]: p's block is among the selected, and p <= t.
        allowed = bitmap[:, :, p // block_size] & (p[None, None, :] <= t[:, None, None])
        out[batch.rows(b)] = _attend(q[batch.rows(b)], K, V, allowed, sc)
    return out


def dense_attention(q, k_cache, v_cache, page_table, cu_seqlens_q, seq_lens, *,
                    scale=None):
    """Causal GQA attention over cached positions 0..t. [T, H, D] float64."""
    T, H, D = q.shape
    batch = Batch(cu_seqlens_q, seq_lens)
    sc = effective_scale(scale, D)
    out = torch.zeros(T, H, D, dtype=F64, device=q.device)
    for b in range(batch.B):
        if batch.q_len(b) == 0:
            continue
        n = batch.seq_lens[b]
        K = gather(k_cache, page_table, b, n).to(q.device)
        V = gather(v_cache, page_table, b, n).to(q.device)
        t = batch.positions(b, q.device)
        p = torch.arange(n, device=q.device)
        allowed = (p[None, :] <= t[:, None])[:, None, :].expand(-1, K.shape[1], -1)
        out[batch.rows(b)] = _attend(q[batch.rows(b)], K, V, allowed, sc)
    return out


def length_select(short_value, long_value, cu_seqlens_q, seq_lens, threshold):
    """Rows of sequence b from short_value when seq_lens[b] < threshold, else
    from long_value."""
    batch = Batch(cu_seqlens_q, seq_lens)
    out = long_value.clone()
    for b in range(batch.B):
        if batch.seq_lens[b] < threshold:
            out[batch.rows(b)] = short_value[batch.rows(b)]
    return out


def sparse_mixer(q, k, v, z, k_cache, v_cache, page_table, k1, k1_page_table,
                 cu_seqlens_q, seq_lens, *, k2=None, k2_page_table=None,
                 kernel1=32, stride1=16, kernel2=128, stride2=64, block_size=64,
                 topk=64, window_size=2048, init_blocks=1, dense_len=8192,
                 pool_kernel=5, pool_padding=1, lse="exact", scale=None,
                 choose_selection=None):
    """The InfLLM-V2 mixer, composed as sala-decompose does: kv_append;
    compress K1 (and K2); dense causal attention for sequences shorter than
    dense_len, else block_scores -> topk_blocks -> sparse_attention (scores
    kept in float64); then * sigmoid(z) when z is given. Caches update in
    place. Returns [T, H, D] float64.

    choose_selection(scores, selection), when given, sees the float64 block
    scores and the reference's selection and returns the blocks stage 2
    attends over: a check of a kernel whose selection differs from the
    reference's only between blocks whose scores tie within rounding passes
    the kernel's, so that the outputs compare over the same blocks."""
    if lse not in ("exact", "k2"):
        raise ValueError(f"sparse_mixer: lse must be 'exact' or 'k2', got {lse!r}")
    if lse == "k2" and k2 is None:
        raise ValueError("sparse_mixer: lse='k2' needs the K2 store")
    kv_append(k, v, k_cache, v_cache, page_table, cu_seqlens_q, seq_lens)
    compress_keys(k_cache, page_table, k1, k1_page_table, cu_seqlens_q, seq_lens,
                  kernel=kernel1, stride=stride1)
    if k2 is not None:
        compress_keys(k_cache, page_table, k2, k2_page_table, cu_seqlens_q,
                      seq_lens, kernel=kernel2, stride=stride2)
    dense = dense_attention(q, k_cache, v_cache, page_table, cu_seqlens_q,
                            seq_lens, scale=scale)
    batch = Batch(cu_seqlens_q, seq_lens)
    if dense_len and all(n < dense_len for n in batch.seq_lens):
        o = dense
    else:
        s = block_scores(q, k1, k1_page_table, cu_seqlens_q, seq_lens,
                         kernel=kernel1, stride=stride1, block_size=block_size,
                         pool_kernel=pool_kernel, pool_padding=pool_padding,
                         scale=scale, lse_keys=k2 if lse == "k2" else None,
                         lse_key_page_table=k2_page_table, lse_kernel=kernel2,
                         lse_stride=stride2, dtype=F64)
        sel = topk_blocks(s, cu_seqlens_q, seq_lens, block_size=block_size,
                          topk=topk, init_blocks=init_blocks,
                          local_blocks=window_size // block_size)
        if choose_selection is not None:
            sel = choose_selection(s, sel)
        sparse = sparse_attention(q, k_cache, v_cache, page_table, sel,
                                  cu_seqlens_q, seq_lens, block_size=block_size,
                                  scale=scale)
        o = length_select(dense, sparse, cu_seqlens_q, seq_lens, dense_len)
    return sigmoid_gate(o, z) if z is not None else o
