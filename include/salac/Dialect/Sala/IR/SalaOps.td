//===- SalaOps.td - sala operations ------------------------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALAOPS_TD
#define SALAC_DIALECT_SALA_IR_SALAOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "salac/Dialect/Sala/IR/SalaDialect.td"
include "salac/Dialect/Sala/IR/SalaAttributes.td"
include "salac/Dialect/Sala/IR/SalaTypes.td"
include "salac/Dialect/Sala/IR/SalaInterfaces.td"

// Ops that have a kernel declare what they tell it (SalaInterfaces.td).
def Sala_Kernel : DeclareOpInterfaceMethods<Sala_KernelOpInterface>;
def Sala_SpecialisedKernel : DeclareOpInterfaceMethods<Sala_KernelOpInterface,
    ["getKernelSpecialisation"]>;

//===----------------------------------------------------------------------===//
// Operand constraints
//===----------------------------------------------------------------------===//

// [tokens, heads, head_dim] activations (bounds: SalaLimits.h).
def Sala_TokenTensor : Type<
    CPred<"::salac::sala::isTokenTensor($_self)">,
    "3-D [tokens, heads, head_dim] tensor of bf16, f16 or f32 with static heads in "
    "[1, 1024] and head_dim in [1, 1024]", "::mlir::RankedTensorType">;

// Per-sequence metadata vectors: exactly tensor<?xi32>.
def Sala_IndexVector : Type<
    CPred<"::salac::sala::isIndexVector($_self)">, "tensor<?xi32>",
    "::mlir::RankedTensorType"> {
  let builderCall = "::salac::sala::getIndexVectorType($_builder.getContext())";
}

// Page tables: exactly tensor<?x?xi32> ([batch, max_pages]).
def Sala_PageTable : Type<
    CPred<"::salac::sala::isPageTable($_self)">, "tensor<?x?xi32>",
    "::mlir::RankedTensorType"> {
  let builderCall = "::salac::sala::getPageTableType($_builder.getContext())";
}

def Sala_Weight : Type<
    And<[IsTensorTypePred, HasAnyRankOfPred<[1]>, HasStaticShapePred,
         CPred<"::salac::sala::isLowerableFloat("
               "::llvm::cast<::mlir::ShapedType>($_self).getElementType())">]>,
    "1-D static tensor of bf16, f16 or f32", "::mlir::RankedTensorType">;

def Sala_BlockScores : Type<
    And<[IsTensorTypePred, HasAnyRankOfPred<[3]>,
         CPred<"::llvm::cast<::mlir::ShapedType>($_self).getElementType().isF32()">]>,
    "3-D [tokens, kv_heads, blocks] tensor of f32", "::mlir::RankedTensorType">;

def Sala_BlockIndices : Type<
    And<[IsTensorTypePred, HasAnyRankOfPred<[3]>,
         CPred<"::llvm::cast<::mlir::ShapedType>($_self).getElementType()"
               ".isSignlessInteger(32)">]>,
    "3-D [tokens, kv_heads, selected] tensor of i32", "::mlir::RankedTensorType">;

class Sala_ReadsCache<TypeConstraint t> : Arg<t, "", [MemRead]>;
class Sala_WritesCache<TypeConstraint t> : Arg<t, "", [MemRead, MemWrite]>;

//===----------------------------------------------------------------------===//
// Cache maintenance
//===----------------------------------------------------------------------===//

def Sala_KVAppendOp : Sala_Op<"kv_append", [Sala_Kernel, AllTypesMatch<["key", "value"]>]> {
  let summary = "append this step's keys and values to the paged KV cache";
  let description = [{
    For every sequence `b`, the `q_len = cu_seqlens_q[b+1] - cu_seqlens_q[b]` new
    tokens take positions `seq_lens[b] - q_len .. seq_lens[b] - 1`; token position
    `p` lives in physical page `page_table[b, p / page_size]`, row `p % page_size`.

    ```mlir
    sala.kv_append %k, %v into %cache[%pages] lens(%cu_q, %lens)
        : tensor<?x2x128xbf16>, !sala.kv_cache<page_size = 64, kv_heads = 2,
                                                head_dim = 128, element_type = bf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$key, Sala_TokenTensor:$value,
                       Sala_WritesCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens);
  let assemblyFormat = [{
    $key `,` $value `into` $cache `[` $page_table `]`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($key) `,` qualified(type($cache))
  }];
  let hasVerifier = 1;
}

def Sala_CompressKeysOp : Sala_Op<"compress_keys", [Sala_Kernel]> {
  let summary = "write the compressed keys whose windows this step completed";
  let description = [{
    Entry `i` of the compressed-key store is `mean(K[stride*i .. stride*i +
    kernel_size - 1])` per KV head. After this step a sequence of length `n` holds
    `m = floor((n - kernel_size) / stride) + 1` entries (0 when `n < kernel_size`);
    exactly the entries whose windows became complete in this step are written.

    ```mlir
    sala.compress_keys %cache[%pages] into %k1[%k1_pages] lens(%cu_q, %lens)
        : !sala.kv_cache<...>, !sala.compressed_keys<...>
    ```
  }];
  let arguments = (ins Sala_ReadsCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table,
                       Sala_WritesCache<Sala_CompressedKeysType>:$keys,
                       Sala_PageTable:$key_page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens);
  let assemblyFormat = [{
    $cache `[` $page_table `]` `into` $keys `[` $key_page_table `]`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` qualified(type($cache)) `,` qualified(type($keys))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Sparse attention (InfLLM-V2)
//===----------------------------------------------------------------------===//

def Sala_FusedKVUpdateOp : Sala_Op<"fused_kv_update", [Sala_Kernel, AllTypesMatch<["key", "value"]>]> {
  let summary = "KV append and key compression as one cache access";
  let description = [{
    `sala.kv_append` followed by `sala.compress_keys` of the same cache, page
    table and batch, as one op (made by `sala-fuse-kv-access`; `sala-unfuse`
    expands it back). Same meaning: the new keys and values are appended, then
    every compressed-key entry whose window this step completed is written.
    Its kernel writes each new token's K and V once and takes a window's new
    keys from the input rather than reading them back from the cache.

    ```mlir
    sala.fused_kv_update %k, %v into %cache[%pages] compress(%k1[%k1_pages])
        lens(%cu_q, %lens) : tensor<?x2x128xbf16>, !sala.kv_cache<...>,
                             !sala.compressed_keys<...>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$key, Sala_TokenTensor:$value,
                       Sala_WritesCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table,
                       Sala_WritesCache<Sala_CompressedKeysType>:$keys,
                       Sala_PageTable:$key_page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens);
  let assemblyFormat = [{
    $key `,` $value `into` $cache `[` $page_table `]`
    `compress` `(` $keys `[` $key_page_table `]` `)`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($key) `,` qualified(type($cache)) `,` qualified(type($keys))
  }];
  let hasVerifier = 1;
}

def Sala_BlockScoresOp : Sala_Op<"block_scores", [Sala_Kernel, AttrSizedOperandSegments]> {
  let summary = "stage 1: per-group block scores from the compressed keys";
  let description = [{
    For query token `t` (position `p`) and head `h`, compressed key `i` is visible
    when `stride*i + kernel_size - 1 <= p`; `s[h,i] = scale * q[t,h] . K1[i]`,
    `prob[h,i]` the softmax of `s` over the visible `i`, and `P[g,i]` its sum over the
    `group_size` heads of KV group `g`. The block score of block `j` is the max of
    `P[g,i]` over `i` in `[pool_stride*j - pool_padding, pool_stride*j - pool_padding
    + pool_kernel - 1]` (invisible and out-of-range entries ignored; `-inf` when none).
    The result is `[tokens, kv_heads, blocks]` where `blocks` covers the longest
    sequence; entries past a query's last block are `-inf`.

    With a second store (`k2`), the softmax normaliser of each head is taken from
    the coarser K2 scores (log-sum-exp approximation) instead of a pass over K1.

    ```mlir
    %s = sala.block_scores %q, %k1[%k1_pages] lens(%cu_q, %lens)
        {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4,
         pool_padding = 1}
        : tensor<?x32x128xbf16>, !sala.compressed_keys<...> -> tensor<?x2x?xf32>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$query,
                       Sala_ReadsCache<Sala_CompressedKeysType>:$keys,
                       Sala_PageTable:$key_page_table,
                       Sala_ReadsCache<Optional<Sala_CompressedKeysType>>:$lse_keys,
                       Optional<Sala_PageTable>:$lse_key_page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       I64Attr:$block_size, I64Attr:$group_size,
                       I64Attr:$pool_kernel, I64Attr:$pool_stride,
                       I64Attr:$pool_padding, OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_BlockScores:$scores);
  let assemblyFormat = [{
    $query `,` $keys `[` $key_page_table `]`
    (`lse` `(` $lse_keys^ `[` $lse_key_page_table `]` `:` qualified(type($lse_keys)) `)`)?
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($keys)) `->` type($scores)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The attention scale: the `scale` attribute, or 1/sqrt(head_dim).
    float getEffectiveScale();
  }];
}

def Sala_TopkBlocksOp : Sala_Op<"topk_blocks", [Sala_Kernel, Pure]> {
  let summary = "select the blocks each query attends to";
  let description = [{
    For query token `t` at position `p`, only blocks `j <= p / block_size` are
    candidates. Blocks `j < init_blocks` and the `local_blocks` latest
    (`p/block_size - local_blocks + 1 .. p/block_size`) are forced (score `+inf`);
    the `topk + local_blocks` best candidates are selected, ties to the lower
    block index, all candidates when fewer exist. The result lists the selected
    block indices of each `[token, kv_head]` in ascending order, padded with `-1`;
    its last dimension must be `topk + local_blocks`.

    ```mlir
    %sel = sala.topk_blocks %s lens(%cu_q, %lens)
        {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32}
        : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
    ```
  }];
  let arguments = (ins Sala_BlockScores:$scores,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       I64Attr:$block_size, I64Attr:$topk, I64Attr:$init_blocks,
                       I64Attr:$local_blocks);
  let results = (outs Sala_BlockIndices:$blocks);
  let assemblyFormat = [{
    $scores `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($scores) `->` type($blocks)
  }];
  let hasVerifier = 1;
}

def Sala_FusedSparseSelectOp : Sala_Op<"fused_sparse_select", [Sala_SpecialisedKernel]> {
  let summary = "stage 1, max-pool, forcing and top-k fused: the selected blocks";
  let description = [{
    `sala.block_scores` followed by `sala.topk_blocks`, as one op (made by
    `sala-fuse-sparse-select`; `sala-unfuse` expands it back). It has the
    attributes of both and the same meaning: the result lists, for every
    `[token, kv_head]`, the `topk + local_blocks` selected blocks in ascending
    order, `-1` padded. The per-block scores are never materialised: one kernel
    streams the compressed keys once, pools and selects on chip, and hands its
    indices to stage 2. It selects at most 512 blocks (`topk + local_blocks`):
    its kernel keeps the best of every chunk of blocks on chip, and the fusion
    leaves a larger selection unfused.

    ```mlir
    %sel = sala.fused_sparse_select %q, %k1[%k1_pages] lens(%cu_q, %lens)
        {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4,
         pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32}
        : tensor<?x32x128xbf16>, !sala.compressed_keys<...> -> tensor<?x2x96xi32>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$query,
                       Sala_ReadsCache<Sala_CompressedKeysType>:$keys,
                       Sala_PageTable:$key_page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       I64Attr:$block_size, I64Attr:$group_size,
                       I64Attr:$pool_kernel, I64Attr:$pool_stride,
                       I64Attr:$pool_padding, OptionalAttr<F32Attr>:$scale,
                       I64Attr:$topk, I64Attr:$init_blocks, I64Attr:$local_blocks);
  let results = (outs Sala_BlockIndices:$blocks);
  let assemblyFormat = [{
    $query `,` $keys `[` $key_page_table `]`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($keys)) `->` type($blocks)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The attention scale: the `scale` attribute, or 1/sqrt(head_dim).
    float getEffectiveScale();
    /// When every use is a `fused_sparse_attention` of the same batch with
    /// the same `dense_len` T > 0 (which ignores the selection of sequences
    /// shorter than T): T, so that the kernel may skip those sequences; else 0.
    int64_t getUnusedBelowSeqLen();
    /// The most blocks (topk + local_blocks) the fused op selects.
    static constexpr int64_t kMaxSelected = 512;
  }];
}

def Sala_SparseAttentionOp : Sala_Op<"sparse_attention", [Sala_Kernel]> {
  let summary = "stage 2: exact attention over the selected blocks";
  let description = [{
    `o[t,h] = softmax(scale * q[t,h] . K[s]) V[s]` over the tokens `s` of the
    blocks selected for `(t, h / group)` whose position is `<= p(t)`; accumulation
    in f32, result in the query's element type. `-1` entries are skipped.

    ```mlir
    %o = sala.sparse_attention %q, %cache[%pages], %sel lens(%cu_q, %lens)
        {block_size = 64}
        : tensor<?x32x128xbf16>, !sala.kv_cache<...>, tensor<?x2x96xi32>
        -> tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$query,
                       Sala_ReadsCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table, Sala_BlockIndices:$blocks,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       I64Attr:$block_size, OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $query `,` $cache `[` $page_table `]` `,` $blocks
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($cache)) `,` type($blocks) `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    float getEffectiveScale();
  }];
}

def Sala_DenseAttentionOp : Sala_Op<"dense_attention", [Sala_SpecialisedKernel]> {
  let summary = "causal GQA attention over the whole cache";
  let description = [{
    Ordinary causal attention: query token `t` at position `p` attends to every
    cached token at position `<= p` of its sequence, query head `h` to KV head
    `h / (heads / kv_heads)`. f32 accumulation. The short-context fallback of the
    sparse mixer.

    ```mlir
    %o = sala.dense_attention %q, %cache[%pages] lens(%cu_q, %lens)
        : tensor<?x32x128xbf16>, !sala.kv_cache<...> -> tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$query,
                       Sala_ReadsCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $query `,` $cache `[` $page_table `]`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($cache)) `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    float getEffectiveScale();
    /// When the only use is the short side of a `length_select` of the same
    /// batch: that select's threshold (rows of sequences at least this long
    /// are thrown away, so the kernel may skip them); else 0.
    int64_t getDiscardedFromSeqLen();
  }];
}

def Sala_FusedSparseAttentionOp : Sala_Op<"fused_sparse_attention", [Sala_Kernel]> {
  let summary = "stage 2, the dense fallback and the output gate fused";
  let description = [{
    A sparse mixer's tail as one op (made by `sala-fuse-sparse-attention`;
    `sala-unfuse` expands it back). Per sequence `b`: when `dense_len > 0` and
    `seq_lens[b] < dense_len`, its rows are `sala.dense_attention` (causal,
    every cached token); otherwise they are `sala.sparse_attention` over the
    selected `blocks`, which are not used for the dense rows. With a `gate`
    operand the result is `sala.sigmoid_gate` of that output: the attention
    rounded to the element type, times `sigmoid(gate)`, rounded again. One
    kernel reads each K/V tile once and writes the gated rows; the unfused
    chain's dense kernel, `length_select` and gate are three more launches and
    two more round trips of the output.

    ```mlir
    %o = sala.fused_sparse_attention %q, %cache[%pages], %sel gate(%z : tensor<?x32x128xbf16>)
        lens(%cu_q, %lens) {block_size = 64, dense_len = 8192}
        : tensor<?x32x128xbf16>, !sala.kv_cache<...>, tensor<?x2x96xi32>
        -> tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$query,
                       Sala_ReadsCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table, Sala_BlockIndices:$blocks,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       Optional<Sala_TokenTensor>:$gate,
                       I64Attr:$block_size, I64Attr:$dense_len,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $query `,` $cache `[` $page_table `]` `,` $blocks (`gate` `(` $gate^ `:` type($gate) `)`)?
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($cache)) `,` type($blocks) `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    float getEffectiveScale();
  }];
}

def Sala_LengthSelectOp : Sala_Op<"length_select",
    [Sala_Kernel, Pure, AllTypesMatch<["short_value", "long_value", "result"]>]> {
  let summary = "per sequence, pick one of two results by sequence length";
  let description = [{
    The rows of sequence `b` come from `short_value` when `seq_lens[b] <
    threshold`, else from `long_value`. This is how the dense fallback of the
    sparse mixer is expressed before fusion.

    ```mlir
    %o = sala.length_select %dense, %sparse lens(%cu_q, %lens) {threshold = 8192}
        : tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$short_value, Sala_TokenTensor:$long_value,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       I64Attr:$threshold);
  let results = (outs Sala_TokenTensor:$result);
  let assemblyFormat = [{
    $short_value `,` $long_value `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear attention (simple GLA)
//===----------------------------------------------------------------------===//

def Sala_LinearAttentionOp : Sala_Op<"linear_attention",
    [Sala_Kernel, AllTypesMatch<["query", "key", "value"]>]> {
  let summary = "simple gated linear attention with a fixed per-head decay";
  let description = [{
    Per head `h`, with `gamma_h = exp(-slopes[h])` and the state `S` of the
    sequence's slot (`head_dim x head_dim`, f32):
    `S_t = gamma_h * S_{t-1} + k_t^T v_t`, `o_t = scale * q_t S_t`. The final state
    is written back to the slot. The initial state is the slot's content when the
    sequence has history (`seq_lens[b] > q_len(b)`), and zero for a fresh
    sequence whatever the slot holds (vLLM's `has_initial_state`), so slots need
    no clearing between requests. `recurrent` computes it token by token; `chunked`
    computes the equivalent chunked form (`chunk_size` tokens, default 64) and
    must agree to f32 rounding.

    ```mlir
    %o = sala.linear_attention chunked %q, %k, %v, %pool[%slots] lens(%cu, %lens)
        {slopes = array<f64: ...32 values...>, chunk_size = 64}
        : tensor<?x32x128xbf16>, !sala.state_pool<...> -> tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_LinearFormAttr:$form, Sala_TokenTensor:$query,
                       Sala_TokenTensor:$key, Sala_TokenTensor:$value,
                       Sala_WritesCache<Sala_StatePoolType>:$state,
                       Sala_IndexVector:$slots, Sala_IndexVector:$cu_seqlens_q,
                       Sala_IndexVector:$seq_lens,
                       DenseF64ArrayAttr:$slopes, OptionalAttr<I64Attr>:$chunk_size,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $form $query `,` $key `,` $value `,` $state `[` $slots `]`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($state)) `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    float getEffectiveScale();
    /// Chunk length of the chunked form (64 when unset).
    int64_t getEffectiveChunkSize();
  }];
}

//===----------------------------------------------------------------------===//
// Elementwise and normalisation
//===----------------------------------------------------------------------===//

def Sala_RMSNormOp : Sala_Op<"rms_norm",
    [Sala_Kernel, Pure, AllTypesMatch<["input", "output"]>]> {
  let summary = "RMSNorm per head or over all channels of a token";
  let description = [{
    `head`: `y[t,h,:] = x[t,h,:] / sqrt(mean(x[t,h,:]^2) + eps) * w` with a weight
    of `head_dim`; `full`: the same over all `heads * head_dim` channels of a token
    with a weight of that size. f32 arithmetic.

    ```mlir
    %y = sala.rms_norm head %x, %w {eps = 1.0e-06 : f32}
        : tensor<?x32x128xbf16>, tensor<128xbf16>
    ```
  }];
  let arguments = (ins Sala_NormScopeAttr:$scope, Sala_TokenTensor:$input,
                       Sala_Weight:$weight,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$eps);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $scope $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Sala_RopeOp : Sala_Op<"rope", [Sala_Kernel, Pure, AllTypesMatch<["input", "output"]>]> {
  let summary = "rotary position embedding over the full head dim";
  let description = [{
    Rotates channel pairs of every head by `pos * theta^(-2i/head_dim)` for pair
    `i`. `neox` pairs channel `i` with `i + head_dim/2` (rotate-half);
    `interleaved` pairs `2i` with `2i+1`. `positions` gives each token's position.

    ```mlir
    %y = sala.rope neox %x, %pos {theta = 1.0e+04 : f32} : tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_RopeStyleAttr:$style, Sala_TokenTensor:$input,
                       Sala_IndexVector:$positions,
                       DefaultValuedAttr<F32Attr, "10000.0">:$theta);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $style $input `,` $positions attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def Sala_SigmoidGateOp : Sala_Op<"sigmoid_gate",
    [Sala_Kernel, Pure, AllTypesMatch<["input", "gate", "output"]>]> {
  let summary = "output gate: x * sigmoid(z)";
  let description = [{
    ```mlir
    %y = sala.sigmoid_gate %o, %z : tensor<?x32x128xbf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$input, Sala_TokenTensor:$gate);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = "$input `,` $gate attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Composite mixers
//===----------------------------------------------------------------------===//

def Sala_SparseMixerOp : Sala_Op<"sparse_mixer",
    [AttrSizedOperandSegments, AllTypesMatch<["query", "output"]>,
     AllTypesMatch<["key", "value"]>]> {
  let summary = "a whole InfLLM-V2 sparse attention mixer";
  let description = [{
    From the projected q, k, v (and gate z) to the gated output: append k/v to
    the cache, update the compressed keys, then per sequence dense causal
    attention when `seq_len < dense_len`, else stage-1 scoring, top-k selection
    and stage-2 attention; finally `o * sigmoid(z)` when a gate is given.
    `sala-decompose` expands it into the primitive ops.

    ```mlir
    %o = sala.sparse_mixer decode %q, %k, %v gate(%z : tensor<?x32x128xbf16>)
        cache(%kv[%pages]) keys(%k1[%k1_pages]) lens(%cu_q, %lens)
        {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64,
                               topk = 64, window_size = 2048, init_blocks = 1,
                               dense_len = 8192>}
        : tensor<?x32x128xbf16>, tensor<?x2x128xbf16>, !sala.kv_cache<...>,
          !sala.compressed_keys<...>
    ```
  }];
  let arguments = (ins Sala_MixerModeAttr:$mode, Sala_TokenTensor:$query,
                       Sala_TokenTensor:$key, Sala_TokenTensor:$value,
                       Optional<Sala_TokenTensor>:$gate,
                       Sala_WritesCache<Sala_KVCacheType>:$cache,
                       Sala_PageTable:$page_table,
                       Sala_WritesCache<Sala_CompressedKeysType>:$keys,
                       Sala_PageTable:$key_page_table,
                       Sala_WritesCache<Optional<Sala_CompressedKeysType>>:$lse_keys,
                       Optional<Sala_PageTable>:$lse_key_page_table,
                       Sala_IndexVector:$cu_seqlens_q, Sala_IndexVector:$seq_lens,
                       Sala_SparseConfigAttr:$config, OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $mode $query `,` $key `,` $value
    (`gate` `(` $gate^ `:` type($gate) `)`)?
    `cache` `(` $cache `[` $page_table `]` `)`
    `keys` `(` $keys `[` $key_page_table `]` `)`
    (`lse` `(` $lse_keys^ `[` $lse_key_page_table `]` `:` qualified(type($lse_keys)) `)`)?
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` type($key) `,` qualified(type($cache)) `,`
        qualified(type($keys))
  }];
  let hasVerifier = 1;
}

def Sala_LinearMixerOp : Sala_Op<"linear_mixer",
    [AttrSizedOperandSegments, AllTypesMatch<["query", "key", "value", "output"]>]> {
  let summary = "a whole simple-GLA (lightning) linear attention mixer";
  let description = [{
    From the projected q, k, v (and gate z) to the gated output: per-head RMSNorm
    of q and k (when `qk_norm` weights are given), RoPE (when `positions` are
    given), linear attention (recurrent for `decode`, chunked for `prefill`),
    RMSNorm over all channels (when an `out_norm` weight is given) and
    `* sigmoid(z)` (when a gate is given).

    ```mlir
    %o = sala.linear_mixer decode %q, %k, %v gate(%z : tensor<?x32x128xbf16>)
        qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>) out_norm(%ow : tensor<4096xbf16>)
        positions(%pos) state(%pool[%slots]) lens(%cu_q, %lens)
        {slopes = array<f64: ...>, eps = 1.0e-06 : f32, theta = 1.0e+04 : f32,
         rope_style = #sala.rope_style<neox>}
        : tensor<?x32x128xbf16>, !sala.state_pool<...>
    ```
  }];
  let arguments = (ins Sala_MixerModeAttr:$mode, Sala_TokenTensor:$query,
                       Sala_TokenTensor:$key, Sala_TokenTensor:$value,
                       Optional<Sala_TokenTensor>:$gate,
                       Optional<Sala_Weight>:$q_norm_weight,
                       Optional<Sala_Weight>:$k_norm_weight,
                       Optional<Sala_Weight>:$out_norm_weight,
                       Optional<Sala_IndexVector>:$positions,
                       Sala_WritesCache<Sala_StatePoolType>:$state,
                       Sala_IndexVector:$slots, Sala_IndexVector:$cu_seqlens_q,
                       Sala_IndexVector:$seq_lens,
                       DenseF64ArrayAttr:$slopes,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$eps,
                       DefaultValuedAttr<F32Attr, "10000.0">:$theta,
                       DefaultValuedAttr<Sala_RopeStyleAttr,
                           "::salac::sala::RopeStyle::NeoX">:$rope_style,
                       OptionalAttr<I64Attr>:$chunk_size,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $mode $query `,` $key `,` $value
    (`gate` `(` $gate^ `:` type($gate) `)`)?
    (`qk_norm` `(` $q_norm_weight^ `,` $k_norm_weight `:` type($q_norm_weight) `,`
                   type($k_norm_weight) `)`)?
    (`out_norm` `(` $out_norm_weight^ `:` type($out_norm_weight) `)`)?
    (`positions` `(` $positions^ `)`)?
    `state` `(` $state `[` $slots `]` `)`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($state))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused ops: made by the fusion passes, one GPU kernel each
//===----------------------------------------------------------------------===//

def Sala_FusedRMSNormGateOp : Sala_Op<"fused_rms_norm_gate",
    [Sala_Kernel, Pure, AllTypesMatch<["input", "gate", "output"]>]> {
  let summary = "RMSNorm over all channels of a token, then the sigmoid gate";
  let description = [{
    What `sala-fuse-linear{prefill=true}` makes of a prefill linear layer's
    tail: `rms_norm full` of `input` with `weight` and `eps`, then
    `sigmoid_gate` with `gate` (`sala-unfuse` expands it back). One kernel
    reads the input and the gate once and writes the result once; unfused,
    the normalised tensor goes to memory and back.

    ```mlir
    %y = sala.fused_rms_norm_gate %o, %w, %z {eps = 1.0e-06 : f32}
        : tensor<?x32x128xbf16>, tensor<4096xbf16>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$input, Sala_Weight:$weight,
                       Sala_TokenTensor:$gate,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$eps);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `,` $gate attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Sala_FusedLinearAttentionOp : Sala_Op<"fused_linear_attention",
    [Sala_Kernel, AttrSizedOperandSegments, AllTypesMatch<["query", "key", "value", "output"]>]> {
  let summary = "linear attention with its neighbouring stages in one kernel";
  let description = [{
    What `sala-fuse-linear` makes of the chain per-head RMSNorm of q and k ->
    RoPE -> `linear_attention` -> RMSNorm over all channels ->
    `sigmoid_gate`. Each stage is present exactly when its operands are:
    `qk_norm` weights (eps `qk_eps`), `positions` (RoPE with `theta`,
    `rope_style`), `out_norm` weight (eps `out_eps`), `gate`. Its meaning is that
    chain of primitive ops, in that order, with the linear attention in
    `form` (`recurrent`, the default, or `chunked` with `chunk_size`);
    `sala-unfuse` expands it back. The recurrent kernel (decode) computes the
    chain in f32 without rounding between the stages, reading the state once
    and writing it once per token. The chunked kernel (prefill, made by
    `sala-fuse-linear{prefill=true}`) takes the norms and the rotation only:
    it applies them to the q and k tiles in shared memory as they arrive (one
    bf16 rounding after both), so q and k are read once instead of five
    times; the output norm spans every head, so it and the gate become a
    `sala.fused_rms_norm_gate` instead.

    ```mlir
    %o = sala.fused_linear_attention %q, %k, %v gate(%z : tensor<?x32x128xbf16>)
        qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>)
        out_norm(%ow : tensor<4096xbf16>) positions(%pos) state(%pool[%slots])
        lens(%cu_q, %lens) {slopes = array<f64: ...32 values...>}
        : tensor<?x32x128xbf16>, !sala.state_pool<...>
    ```
  }];
  let arguments = (ins Sala_TokenTensor:$query, Sala_TokenTensor:$key,
                       Sala_TokenTensor:$value,
                       Optional<Sala_TokenTensor>:$gate,
                       Optional<Sala_Weight>:$q_norm_weight,
                       Optional<Sala_Weight>:$k_norm_weight,
                       Optional<Sala_Weight>:$out_norm_weight,
                       Optional<Sala_IndexVector>:$positions,
                       Sala_WritesCache<Sala_StatePoolType>:$state,
                       Sala_IndexVector:$slots, Sala_IndexVector:$cu_seqlens_q,
                       Sala_IndexVector:$seq_lens,
                       DenseF64ArrayAttr:$slopes,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$qk_eps,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$out_eps,
                       DefaultValuedAttr<F32Attr, "10000.0">:$theta,
                       DefaultValuedAttr<Sala_RopeStyleAttr,
                           "::salac::sala::RopeStyle::NeoX">:$rope_style,
                       OptionalAttr<F32Attr>:$scale,
                       DefaultValuedAttr<Sala_LinearFormAttr,
                           "::salac::sala::LinearForm::Recurrent">:$form,
                       OptionalAttr<I64Attr>:$chunk_size);
  let results = (outs Sala_TokenTensor:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`gate` `(` $gate^ `:` type($gate) `)`)?
    (`qk_norm` `(` $q_norm_weight^ `,` $k_norm_weight `:` type($q_norm_weight) `,`
                   type($k_norm_weight) `)`)?
    (`out_norm` `(` $out_norm_weight^ `:` type($out_norm_weight) `)`)?
    (`positions` `(` $positions^ `)`)?
    `state` `(` $state `[` $slots `]` `)`
    `lens` `(` $cu_seqlens_q `,` $seq_lens `)` attr-dict
    `:` type($query) `,` qualified(type($state))
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    float getEffectiveScale();
    /// Chunk length of the chunked form (64 when unset).
    int64_t getEffectiveChunkSize();
  }];
}

#endif
