//===- Passes.td - sala transformation passes --------------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_TRANSFORMS_PASSES_TD
#define SALAC_DIALECT_SALA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SalaDecompose : Pass<"sala-decompose"> {
  let summary = "Expand composite mixer ops into primitive sala ops";
  let description = [{
    Rewrites `sala.sparse_mixer` and `sala.linear_mixer` into the primitive ops
    that define them (DESIGN.md sections 2 and 3), so that later passes can fuse
    and lower each step. Before:

    ```mlir
    %o = sala.linear_mixer decode %q, %k, %v gate(%z : tensor<?x32x128xbf16>)
        qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>)
        out_norm(%ow : tensor<4096xbf16>) positions(%pos) state(%pool[%slots])
        lens(%cu, %lens) {slopes = array<f64: ...>} : tensor<?x32x128xbf16>, !st
    ```

    After:

    ```mlir
    %qn = sala.rms_norm head %q, %qw : tensor<?x32x128xbf16>, tensor<128xbf16>
    %kn = sala.rms_norm head %k, %kw : tensor<?x32x128xbf16>, tensor<128xbf16>
    %qr = sala.rope neox %qn, %pos : tensor<?x32x128xbf16>
    %kr = sala.rope neox %kn, %pos : tensor<?x32x128xbf16>
    %a = sala.linear_attention recurrent %qr, %kr, %v, %pool[%slots] lens(%cu, %lens)
        {slopes = array<f64: ...>} : tensor<?x32x128xbf16>, !st -> tensor<?x32x128xbf16>
    %n = sala.rms_norm full %a, %ow : tensor<?x32x128xbf16>, tensor<4096xbf16>
    %o = sala.sigmoid_gate %n, %z : tensor<?x32x128xbf16>
    ```

    A sparse mixer becomes `kv_append`, `compress_keys` (K1, and K2 when given),
    `block_scores`, `topk_blocks`, `sparse_attention`, and, when the config's
    `dense_len` is positive, `dense_attention` joined by `length_select`; then
    `sigmoid_gate` when a gate is given.
  }];
}

def SalaFuseLinear : Pass<"sala-fuse-linear"> {
  let summary = "Fuse a linear-attention decode chain into one op (one kernel)";
  let description = [{
    Finds each recurrent `sala.linear_attention` and folds into it, when they
    are there and used only by the chain: the per-head `rms_norm` and `rope` of
    its q and k (the same norm eps, positions, theta and style on both), the
    `rms_norm full` of its output and the `sigmoid_gate` after that. The result
    is one `sala.fused_linear_attention`, which becomes one kernel: q/k norms and
    RoPE in registers, the state read once and written once, the output norm
    and gate applied before anything is written. Results do not change
    (`sala-unfuse` expands the fused op back into the same chain). Chunked
    (prefill) linear attention is left alone unless `prefill` is set: then its
    q/k norms and RoPE are folded into a `form = chunked` fused op, and the
    output norm (it spans every head, which the chunked kernel's blocks split)
    and the gate after it into one `sala.fused_rms_norm_gate`. These prefill
    kernels have not yet been measured on a GPU, hence off by default
    (`salac --fuse-linear-prefill`).

    Before:

    ```mlir
    %qn = sala.rms_norm head %q, %qw : tensor<?x32x128xbf16>, tensor<128xbf16>
    %kn = sala.rms_norm head %k, %kw : tensor<?x32x128xbf16>, tensor<128xbf16>
    %qr = sala.rope neox %qn, %pos : tensor<?x32x128xbf16>
    %kr = sala.rope neox %kn, %pos : tensor<?x32x128xbf16>
    %a = sala.linear_attention recurrent %qr, %kr, %v, %pool[%slots] lens(%cu, %lens)
        {slopes = array<f64: ...>} : tensor<?x32x128xbf16>, !st -> tensor<?x32x128xbf16>
    %n = sala.rms_norm full %a, %ow : tensor<?x32x128xbf16>, tensor<4096xbf16>
    %o = sala.sigmoid_gate %n, %z : tensor<?x32x128xbf16>
    ```

    After:

    ```mlir
    %o = sala.fused_linear_attention %q, %k, %v gate(%z : tensor<?x32x128xbf16>)
        qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>)
        out_norm(%ow : tensor<4096xbf16>) positions(%pos) state(%pool[%slots])
        lens(%cu, %lens) {slopes = array<f64: ...>} : tensor<?x32x128xbf16>, !st
    ```
  }];
  let options = [
    Option<"prefill", "prefill", "bool", /*default=*/"false",
           "Also fold the q/k norms and RoPE into chunked (prefill) linear attention">,
  ];
}

def SalaFuseKVAccess : Pass<"sala-fuse-kv-access"> {
  let summary = "Fuse the KV append with the key compression after it (one kernel)";
  let description = [{
    Finds each `sala.kv_append` whose next memory-touching op is a
    `sala.compress_keys` of the same cache, page table and batch, and replaces
    the pair with one `sala.fused_kv_update`. Unfused, the append writes the new
    keys and the compression kernel reads them back with the rest of their
    window; fused, one kernel writes each new token's K and V once and reduces
    every window the step completes, taking the window's new keys from the
    input. With a second store (K2), its compression stays a separate op after
    the fused one. Results do not change (`sala-unfuse` expands the fused op
    back into the same pair).

    Before:

    ```mlir
    sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : tensor<?x2x128xbf16>, !kv
    sala.compress_keys %kv[%pt] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
    ```

    After:

    ```mlir
    sala.fused_kv_update %k, %v into %kv[%pt] compress(%k1[%k1pt]) lens(%cu, %lens)
        : tensor<?x2x128xbf16>, !kv, !k1
    ```
  }];
}

def SalaFuseSparseSelect : Pass<"sala-fuse-sparse-select"> {
  let summary = "Fuse stage 1, max-pool, forcing and top-k into one op (one kernel)";
  let description = [{
    Finds each `sala.block_scores` (exact softmax, no K2 option) whose scores
    feed only a `sala.topk_blocks` of the same block size and batch, and
    replaces the pair with one `sala.fused_sparse_select`. Unfused, stage 1
    writes a `[tokens, kv_heads, max_blocks]` score tensor for the top-k kernel
    to read back; fused, one kernel streams the compressed keys once, spreads a
    sequence over many thread blocks, pools and keeps each part's best blocks
    on chip, and merges them into the selection stage 2 reads. Results do not
    change (`sala-unfuse` expands the fused op back into the same pair).

    Before:

    ```mlir
    %s = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens)
        {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4,
         pool_padding = 1} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x?xf32>
    %sel = sala.topk_blocks %s lens(%cu, %lens)
        {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32}
        : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
    ```

    After:

    ```mlir
    %sel = sala.fused_sparse_select %q, %k1[%kpt] lens(%cu, %lens)
        {block_size = 64, group_size = 16, init_blocks = 1, local_blocks = 32,
         pool_kernel = 5, pool_padding = 1, pool_stride = 4, topk = 64}
        : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x96xi32>
    ```
  }];
}

def SalaFuseSparseAttention : Pass<"sala-fuse-sparse-attention"> {
  let summary = "Fuse stage 2, the dense fallback and the output gate into one op (one kernel)";
  let description = [{
    Finds each `sala.sparse_attention` and folds into it, when they are there
    and used only by the chain: the `sala.dense_attention` fallback (same
    query, cache, page table, batch and scale) that a `sala.length_select`
    picks for short sequences, that `length_select`, and the `sala.sigmoid_gate`
    after them (its gate defined before the sparse attention). The result is one
    `sala.fused_sparse_attention`, which becomes one kernel: a short sequence's
    rows attend to every cached block, a long one's to its selected blocks, and
    the gate is applied before anything is written. Unfused these are four
    kernels, two of which only pass the output on. Results do not change
    (`sala-unfuse` expands the fused op back into the same chain).

    Before:

    ```mlir
    %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64}
        : tensor<?x32x128xbf16>, !kv, tensor<?x2x96xi32> -> tensor<?x32x128xbf16>
    %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens)
        : tensor<?x32x128xbf16>, !kv -> tensor<?x32x128xbf16>
    %a = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192}
        : tensor<?x32x128xbf16>
    %o = sala.sigmoid_gate %a, %z : tensor<?x32x128xbf16>
    ```

    After:

    ```mlir
    %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : tensor<?x32x128xbf16>)
        lens(%cu, %lens)
        {block_size = 64, dense_len = 8192}
        : tensor<?x32x128xbf16>, !kv, tensor<?x2x96xi32> -> tensor<?x32x128xbf16>
    ```
  }];
}

def SalaUnfuse : Pass<"sala-unfuse"> {
  let summary = "Expand fused ops back into the primitive ops they stand for";
  let description = [{
    The inverse of the fusion passes: `sala.fused_linear_attention` becomes its
    chain of `rms_norm`, `rope`, `linear_attention recurrent`, `rms_norm full`
    and `sigmoid_gate`; `sala.fused_sparse_select` becomes `block_scores`
    followed by `topk_blocks`; `sala.fused_kv_update` becomes `kv_append`
    followed by `compress_keys`; `sala.fused_sparse_attention` becomes
    `sparse_attention`, with its `dense_attention` and `length_select` when
    `dense_len > 0` and its `sigmoid_gate` when gated. The portable (CPU) lowering runs fused ops this way, and
    fused-then-unfused IR is how tests show a fusion keeps the meaning.
  }];
}

#endif
