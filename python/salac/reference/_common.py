"""Shared pieces of the torch reference: ragged batches, paged stores, bf16.

Layouts are the kernels' (DESIGN.md section 4):
  activations     [T, H, D]; sequence b owns rows cu_seqlens_q[b]..cu_seqlens_q[b+1]-1
  seq_lens        [B] KV length after this step; its new tokens take positions
                  seq_lens[b]-q_len(b) .. seq_lens[b]-1
  paged store     [P, page_size, heads, D]; entry e of sequence b lives in page
                  page_table[b, e // page_size], row e % page_size
  state pool      [slots, H, D, D] fp32, S[h][dk][dv] (key-dim major)
All arithmetic is float64.
"""

import math

import torch

F64 = torch.float64


def _ints(x):
    if isinstance(x, torch.Tensor):
        return [int(v) for v in x.detach().cpu().reshape(-1).tolist()]
    return [int(v) for v in x]


class Batch:
    """Host-side view of a ragged batch (cu_seqlens_q [B+1], seq_lens [B]).

    seq_lens may be None where an op has no KV history (linear attention):
    then every sequence's tokens start at position 0."""

    def __init__(self, cu_seqlens_q, seq_lens=None):
        self.cu = _ints(cu_seqlens_q)
        if not self.cu or self.cu[0] != 0:
            raise ValueError(f"cu_seqlens_q must start at 0, got {self.cu[:4]}")
        if any(b < a for a, b in zip(self.cu, self.cu[1:])):
            raise ValueError(f"cu_seqlens_q must be non-decreasing: {self.cu}")
        self.B = len(self.cu) - 1
        self.seq_lens = (_ints(seq_lens) if seq_lens is not None
                         else [self.q_len(b) for b in range(self.B)])
        if len(self.seq_lens) != self.B:
            raise ValueError(f"{len(self.seq_lens)} seq_lens for {self.B} sequences")
        for b in range(self.B):
            if self.seq_lens[b] < self.q_len(b):
                raise ValueError(f"seq_lens[{b}] = {self.seq_lens[b]} < q_len = "
                                 f"{self.q_len(b)}")

    @property
    def T(self):
        return self.cu[-1]

    def q_start(self, b):
        return self.cu[b]

    def q_len(self, b):
        return self.cu[b + 1] - self.cu[b]

    def history(self, b):
        return self.seq_lens[b] - self.q_len(b)

    def rows(self, b):
        return slice(self.cu[b], self.cu[b + 1])

    def positions(self, b, device=None):
        """Positions of sequence b's new tokens, [q_len] int64."""
        h = self.history(b)
        return torch.arange(h, h + self.q_len(b), device=device)

    def token_positions(self, device=None):
        """Position of every token row, [T] int64."""
        if self.B == 0:
            return torch.zeros(0, dtype=torch.long, device=device)
        return torch.cat([self.positions(b, device) for b in range(self.B)])


def token_positions(cu_seqlens_q, seq_lens=None, device=None):
    return Batch(cu_seqlens_q, seq_lens).token_positions(device)


def num_compressed(n, kernel, stride):
    """Complete windows in the first n tokens: floor((n-kernel)/stride)+1, or 0."""
    return 0 if n < kernel else (n - kernel) // stride + 1


def effective_scale(scale, head_dim):
    return 1.0 / math.sqrt(head_dim) if scale is None or scale == 0 else float(scale)


def paged_index(page_table, b, entries, page_size):
    """(physical pages, rows) of logical entries [n] of sequence b."""
    entries = entries.to(page_table.device)
    logical = entries // page_size
    if logical.numel() and int(logical.max()) >= page_table.shape[1]:
        raise ValueError(f"sequence {b}: entry {int(entries.max())} needs logical "
                         f"page {int(logical.max())}, page table has "
                         f"{page_table.shape[1]}")
    pages = page_table[b].long()[logical]
    if pages.numel() and int(pages.min()) < 0:
        raise ValueError(f"sequence {b}: unmapped page (-1) for entries in use")
    return pages, entries % page_size


def gather(store, page_table, b, count):
    """Logical entries [0, count) of sequence b: [count, heads, D], float64."""
    idx = torch.arange(count, device=store.device)
    pages, rows = paged_index(page_table, b, idx, store.shape[1])
    return store[pages.to(store.device), rows.to(store.device)].to(F64)


def scatter(store, page_table, b, entries, values):
    """store[entry e of sequence b] = values[i] (cast to the store's dtype)."""
    pages, rows = paged_index(page_table, b, entries, store.shape[1])
    store[pages.to(store.device), rows.to(store.device)] = to_dtype(values, store.dtype)


def to_dtype(x, dtype):
    """Casts float64 to `dtype`; bf16 correctly rounded (no double rounding)."""
    if dtype == torch.bfloat16 and x.dtype == F64:
        return f64_to_bf16(x)
    return x.to(dtype)


def f64_to_bf16(x):
    """float64 -> bf16, round to nearest even, via float32 rounded to odd so
    that the second rounding is exact (plain x.to(bf16) rounds twice)."""
    f = x.to(torch.float32)
    back = f.to(F64)
    # Truncate toward zero: step f back one ulp where rounding went outward.
    outward = (back.abs() > x.abs()) & torch.isfinite(f)
    f = torch.where(outward, torch.nextafter(f, torch.zeros_like(f)), f)
    inexact = (f.to(F64) != x) & torch.isfinite(f)
    bits = f.view(torch.int32)
    bits = torch.where(inexact, bits | 1, bits)
    return bits.view(torch.float32).to(torch.bfloat16)


def default_slopes(num_heads):
    """slope_h = 2^(-8(h+1)/H)."""
    return [2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)]


def group_expand(x, num_heads):
    """[..., KVH, D] -> [..., H, D]: query head h reads KV head h // (H/KVH)."""
    kvh = x.shape[-2]
    if num_heads % kvh:
        raise ValueError(f"{num_heads} heads is not a multiple of {kvh} KV heads")
    return x.repeat_interleave(num_heads // kvh, dim=-2)
