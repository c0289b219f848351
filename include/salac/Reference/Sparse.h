//===- Sparse.h - salac reference: KV cache and InfLLM-V2 sparse ops -----===//
//
// Reference semantics of the sparse-layer ops (docs/DESIGN.md section 2):
// kv_append, compress_keys, block_scores (stage 1 + max-pool), topk_blocks,
// sparse_attention (stage 2), dense_attention, length_select and the whole
// sparse mixer. Shapes (T tokens, H query heads, KVH KV heads, D head dim):
//
//   q, z, outputs [T, H, D]    k, v (new tokens) [T, KVH, D]
//   BlockScores   [T, KVH, numBlocks] double
//   BlockSelection [T, KVH, topk + localBlocks] int32, ascending, -1 padded
//
// GQA: query head h reads KV head h / (H / KVH).
//
//===----------------------------------------------------------------------===//

#ifndef SALAC_REFERENCE_SPARSE_H
#define SALAC_REFERENCE_SPARSE_H

#include "salac/Reference/Common.h"

namespace salac::ref {

/// Head counts and softmax scale shared by the attention ops.
struct AttentionShape {
  int64_t numHeads = 32;
  int64_t numKVHeads = 2;
  int64_t headDim = 128;
  /// Softmax scale; 0 means 1/sqrt(headDim).
  double scale = 0.0;

  double effectiveScale() const;
  /// Positive sizes, numHeads % numKVHeads == 0, finite scale.
  Status validate() const;
};

//===----------------------------------------------------------------------===//
// Cache writes
//===----------------------------------------------------------------------===//

/// kv_append: writes the new k/v rows ([T, KVH, D]) of every sequence at
/// positions historyLen(b) .. seqLens[b]-1 of the paged cache. Every sequence
/// must have all of its seqLens[b] positions mapped (the whole sequence, not
/// only the new tokens). All checks happen before the first write, so an error
/// leaves the cache untouched.
Status kvAppend(const RaggedBatch &batch, const std::vector<float> &k,
                const std::vector<float> &v, PagedKVCache &cache);

/// compress_keys: for every sequence, writes the entries i whose window
/// [stride*i, stride*i + kernel - 1] became complete in this step, i.e.
/// numCompressed(historyLen) <= i < numCompressed(seqLen). Entry i is the mean
/// (double accumulation) of the K rows of its window, per KV head, read from
/// the cache (after kv_append). With roundStoreToBF16 the stored value is the
/// mean correctly rounded to bf16, else rounded to float. Entries of earlier
/// windows are not touched. Errors leave the store untouched.
Status compressKeys(const RaggedBatch &batch, const PagedKVCache &cache,
                    CompressedKeys &keys, bool roundStoreToBF16);

/// All numCompressed(n) entries of contiguous keys [n, heads, D] computed from
/// scratch; out is [m, heads, D]. For checking the incremental form.
Status compressKeysFromScratch(const std::vector<float> &keys, int64_t n,
                               int64_t heads, int64_t headDim, int64_t kernel,
                               int64_t stride, bool roundStoreToBF16,
                               std::vector<float> &out);

//===----------------------------------------------------------------------===//
// Stage 1: block scores
//===----------------------------------------------------------------------===//

enum class LseMode {
  /// Softmax over the visible K1 scores, exact.
  Exact,
  /// Normaliser from the coarser K2 scores, see Stage1Config.
  K2,
};

struct Stage1Config {
  AttentionShape shape;
  int64_t blockSize = 64;
  int64_t poolKernel = 5;
  int64_t poolStride = 4; ///< poolStride * k1.stride must equal blockSize
  int64_t poolPadding = 1;
  LseMode lse = LseMode::Exact;

  Status validate(int64_t k1Stride) const;
};

struct BlockScores {
  int64_t numTokens = 0;
  int64_t numKVHeads = 0;
  int64_t numBlocks = 0;
  std::vector<double> values; ///< [numTokens, numKVHeads, numBlocks]

  double at(int64_t t, int64_t g, int64_t j) const {
    return values[static_cast<size_t>((t * numKVHeads + g) * numBlocks + j)];
  }
};

/// block_scores. For the query row at position t of sequence b and head h:
///   visible K1 entries: i with k1.stride*i + k1.kernel - 1 <= t
///                       (i.e. i < numCompressed(t+1, kernel, stride));
///   s[h,i] = scale * q[t,h] . K1[i];
///   Exact: p[h,i] = exp(s[h,i] - L1[h]), L1[h] = logsumexp_visible s[h,.]
///   K2:    p[h,i] = exp(s[h,i] - L2[h]), L2[h] = logsumexp of
///          scale * q[t,h] . K2[i'] over the visible K2 entries i'
///          (k2->stride*i' + k2->kernel - 1 <= t). These p need not sum to 1.
///          When no K2 entry is visible yet (t < k2->kernel - 1) the exact L1
///          is used instead.
///   P[g,i] = sum of p[h,i] over the heads h of group g;
///   B[g,j] = max of P[g,i] over i in
///            [poolStride*j - poolPadding, poolStride*j - poolPadding + poolKernel - 1]
///            restricted to visible entries; -inf when none.
/// Blocks j > floor(t / blockSize) (past the query's own block) are -inf.
/// numBlocks = maxBlocks(batch, blockSize). A query that sees no K1 entry
/// (t < k1.kernel - 1, e.g. a context shorter than one window) gets -inf for
/// every block. k2 may be null unless cfg.lse == LseMode::K2.
Status blockScores(const Stage1Config &cfg, const RaggedBatch &batch,
                   const std::vector<float> &q, const CompressedKeys &k1,
                   const CompressedKeys *k2, BlockScores &out);

//===----------------------------------------------------------------------===//
// Top-k block selection
//===----------------------------------------------------------------------===//

struct TopkConfig {
  int64_t blockSize = 64;
  int64_t topk = 64;
  int64_t initBlocks = 1;
  int64_t localBlocks = 32; ///< window / blockSize

  int64_t numSelected() const { return topk + localBlocks; }
  Status validate() const;
};

struct BlockSelection {
  int64_t numTokens = 0;
  int64_t numKVHeads = 0;
  int64_t k = 0;
  std::vector<int32_t> indices; ///< [numTokens, numKVHeads, k]

  int32_t at(int64_t t, int64_t g, int64_t s) const {
    return indices[static_cast<size_t>((t * numKVHeads + g) * k + s)];
  }
};

/// topk_blocks. For the query at position t, cur = floor(t / blockSize); the
/// candidates are all blocks j <= cur (whatever their score, -inf included).
/// Forced blocks, j < initBlocks or cur - localBlocks + 1 <= j <= cur, score
/// +inf. The K = topk + localBlocks best candidates are selected by score,
/// descending, ties to the lower block index; all candidates when there are at
/// most K. Output: the selected indices ascending, then -1 padding.
/// scores.numBlocks must cover every query's own block.
Status topkBlocks(const TopkConfig &cfg, const RaggedBatch &batch,
                  const BlockScores &scores, BlockSelection &out);

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// sparse_attention (stage 2): exact softmax attention of q[t,h] over the
/// tokens of the blocks selected for (t, h's KV group) with position <= t.
/// Block j covers positions [j*blockSize, (j+1)*blockSize - 1]. Entries -1 are
/// skipped; the others must be strictly ascending and >= 0. A query with no
/// token to attend to gets 0. out is [T, H, D] (not rounded).
Status sparseAttention(const AttentionShape &shape, int64_t blockSize,
                       const RaggedBatch &batch, const std::vector<float> &q,
                       const PagedKVCache &cache,
                       const BlockSelection &selection, std::vector<float> &out);

/// dense_attention: causal GQA softmax attention over positions 0..t.
Status denseAttention(const AttentionShape &shape, const RaggedBatch &batch,
                      const std::vector<float> &q, const PagedKVCache &cache,
                      std::vector<float> &out);

/// length_select: rows of sequence b come from shortRows when
/// seqLens[b] < threshold, else from longRows. Both are [T, width] with width
/// inferred from the size (equal sizes, divisible by T).
Status lengthSelect(const RaggedBatch &batch, int64_t threshold,
                    const std::vector<float> &shortRows,
                    const std::vector<float> &longRows, std::vector<float> &out);

//===----------------------------------------------------------------------===//
// The whole sparse mixer
//===----------------------------------------------------------------------===//

/// MiniCPM-SALA defaults (sparse_config of config.json).
struct SparseMixerConfig {
  AttentionShape shape; ///< 32 heads, 2 KV heads, D 128, scale 1/sqrt(D)
  int64_t kernel1 = 32, stride1 = 16;
  int64_t kernel2 = 128, stride2 = 64;
  int64_t blockSize = 64;
  int64_t topk = 64;
  int64_t windowSize = 2048; ///< localBlocks = windowSize / blockSize
  int64_t initBlocks = 1;
  int64_t denseLen = 8192; ///< dense when seqLen < denseLen; 0: always sparse
  int64_t poolKernel = 5, poolPadding = 1; ///< poolStride = blockSize/stride1
  LseMode lse = LseMode::Exact;
  bool roundCompressedToBF16 = true;
  bool useOutputGate = true; ///< attn_use_output_gate

  Stage1Config stage1() const;
  TopkConfig topkConfig() const;
  Status validate() const;
};

/// sparse_mixer: kv_append; compress K1 (and K2 when k2 is non-null; k1/k2
/// kernel and stride must match the config); then per sequence dense attention
/// when seqLens[b] < denseLen, else block_scores -> topk_blocks ->
/// sparse_attention; then out = o * sigmoid(z) (o when the gate is off, z may
/// then be empty). lse = K2 requires k2. No intermediate bf16 rounding.
Status sparseMixer(const SparseMixerConfig &cfg, const RaggedBatch &batch,
                   const std::vector<float> &q, const std::vector<float> &k,
                   const std::vector<float> &v, const std::vector<float> &z,
                   PagedKVCache &cache, CompressedKeys &k1, CompressedKeys *k2,
                   std::vector<float> &out);

} // namespace salac::ref

#endif // SALAC_REFERENCE_SPARSE_H
