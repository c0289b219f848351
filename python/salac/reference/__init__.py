"""PyTorch reference of every sala op (DESIGN.md sections 2-4).

Same layouts as the kernels (see _common), float64 arithmetic; activations
come back as float64 tensors, caches and state pools are updated in place in
their own dtype (bf16 stores correctly rounded from float64).

OPS maps each sala op name to its reference function.
"""

from ._common import (Batch, default_slopes, f64_to_bf16, gather,
                      num_compressed, scatter, token_positions)
from .linear import (linear_attention, linear_mixer, rms_norm, rope,
                     sigmoid_gate)
from .sparse import (block_scores, compress_keys, compress_keys_from_scratch,
                     dense_attention, kv_append, length_select, sparse_attention,
                     sparse_mixer, topk_blocks)

OPS = {
    "sala.kv_append": kv_append,
    "sala.compress_keys": compress_keys,
    "sala.block_scores": block_scores,
    "sala.topk_blocks": topk_blocks,
    "sala.sparse_attention": sparse_attention,
    "sala.dense_attention": dense_attention,
    "sala.length_select": length_select,
    "sala.linear_attention": linear_attention,
    "sala.rms_norm": rms_norm,
    "sala.rope": rope,
    "sala.sigmoid_gate": sigmoid_gate,
    "sala.sparse_mixer": sparse_mixer,
    "sala.linear_mixer": linear_mixer,
}

__all__ = sorted(OPS and [f.__name__ for f in OPS.values()]) + [
    "OPS", "Batch", "default_slopes", "f64_to_bf16", "gather", "num_compressed",
    "scatter", "token_positions", "compress_keys_from_scratch"]
