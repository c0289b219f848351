//===- SparseAttention.cpp - salac reference: stage 1, top-k, stage 2 ---===//

#include "salac/Reference/Sparse.h"

#include "Internal.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace salac::ref {

using detail::cat;
using detail::checkSize;

static constexpr double kInf = std::numeric_limits<double>::infinity();

double AttentionShape::effectiveScale() const {
  return scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(headDim));
}

Status AttentionShape::validate() const {
  if (numHeads <= 0 || numKVHeads <= 0 || headDim <= 0)
    return Status::error(cat("attention: heads = ", numHeads, ", kv heads = ",
                             numKVHeads, ", head dim = ", headDim,
                             " must be positive"));
  if (numHeads % numKVHeads != 0)
    return Status::error(cat("attention: heads = ", numHeads,
                             " is not a multiple of kv heads = ", numKVHeads));
  if (!std::isfinite(scale))
    return Status::error(cat("attention: scale = ", scale, " is not finite"));
  return Status::success();
}

Status Stage1Config::validate(int64_t k1Stride) const {
  SALAC_REF_TRY(shape.validate());
  if (blockSize <= 0 || poolKernel <= 0 || poolStride <= 0 || poolPadding < 0)
    return Status::error(cat("block_scores: block_size = ", blockSize,
                             ", pool kernel = ", poolKernel, ", stride = ",
                             poolStride, ", padding = ", poolPadding,
                             " are out of range"));
  if (poolStride * k1Stride != blockSize)
    return Status::error(cat("block_scores: pool stride ", poolStride,
                             " * kernel stride ", k1Stride,
                             " != block size ", blockSize));
  return Status::success();
}

Status TopkConfig::validate() const {
  if (blockSize <= 0 || topk < 0 || initBlocks < 0 || localBlocks < 0 ||
      numSelected() <= 0)
    return Status::error(cat("topk_blocks: block_size = ", blockSize,
                             ", topk = ", topk, ", init_blocks = ", initBlocks,
                             ", local_blocks = ", localBlocks,
                             " are out of range"));
  return Status::success();
}

namespace detail {

static double dotRow(const float *a, const float *b, int64_t n) {
  double s = 0.0;
  for (int64_t d = 0; d < n; ++d)
    s += static_cast<double>(a[d]) * b[d];
  return s;
}

static double logSumExp(const std::vector<double> &xs) {
  double m = -kInf;
  for (double x : xs)
    m = std::max(m, x);
  if (m == -kInf)
    return -kInf;
  double sum = 0.0;
  for (double x : xs)
    sum += std::exp(x - m);
  return m + std::log(sum);
}

void stage1Token(const SparseStage1Ctx &ctx, const float *qRow, int64_t t,
                 const std::vector<float> &k1, const std::vector<float> *k2,
                 int64_t numBlocks, double *out) {
  const Stage1Config &cfg = *ctx.cfg;
  const int64_t H = cfg.shape.numHeads, KVH = cfg.shape.numKVHeads;
  const int64_t D = cfg.shape.headDim, group = H / KVH;
  const double scale = cfg.shape.effectiveScale();
  const int64_t m1 = numCompressed(t + 1, ctx.k1Kernel, ctx.k1Stride);
  const int64_t m2 = (cfg.lse == LseMode::K2 && k2)
                         ? numCompressed(t + 1, ctx.k2Kernel, ctx.k2Stride)
                         : 0;
  const int64_t ownBlock = t / cfg.blockSize;
  std::vector<double> P(static_cast<size_t>(m1)), s(static_cast<size_t>(m1));
  std::vector<double> s2(static_cast<size_t>(m2));
  for (int64_t g = 0; g < KVH; ++g) {
    std::fill(P.begin(), P.end(), 0.0);
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      const float *qh = qRow + h * D;
      for (int64_t i = 0; i < m1; ++i)
        s[i] = scale * dotRow(qh, k1.data() + (i * KVH + g) * D, D);
      double lse = logSumExp(s);
      if (m2 > 0) {
        for (int64_t i = 0; i < m2; ++i)
          s2[i] = scale * dotRow(qh, k2->data() + (i * KVH + g) * D, D);
        lse = logSumExp(s2);
      }
      for (int64_t i = 0; i < m1; ++i)
        P[i] += std::exp(s[i] - lse);
    }
    double *row = out + g * numBlocks;
    for (int64_t j = 0; j < numBlocks; ++j) {
      row[j] = -kInf;
      if (j > ownBlock)
        continue;
      int64_t lo = cfg.poolStride * j - cfg.poolPadding;
      int64_t hi = lo + cfg.poolKernel - 1;
      for (int64_t i = std::max<int64_t>(lo, 0); i <= std::min(hi, m1 - 1); ++i)
        row[j] = std::max(row[j], P[i]);
    }
  }
}

void topkToken(const TopkConfig &cfg, int64_t t, const double *scores,
               int32_t *out) {
  const int64_t K = cfg.numSelected();
  const int64_t cur = t / cfg.blockSize;
  const int64_t numCand = cur + 1;
  std::vector<int64_t> chosen(static_cast<size_t>(numCand));
  std::iota(chosen.begin(), chosen.end(), 0);
  if (numCand > K) {
    std::vector<double> key(static_cast<size_t>(numCand));
    for (int64_t j = 0; j < numCand; ++j) {
      bool forced = j < cfg.initBlocks || j >= cur - cfg.localBlocks + 1;
      double sc = scores[j];
      // NaN ranks lowest so that the order stays a strict weak order.
      key[j] = forced ? kInf : (std::isnan(sc) ? -kInf : sc);
    }
    std::stable_sort(chosen.begin(), chosen.end(),
                     [&](int64_t a, int64_t b) { return key[a] > key[b]; });
    chosen.resize(static_cast<size_t>(K));
    std::sort(chosen.begin(), chosen.end());
  }
  for (int64_t s = 0; s < K; ++s)
    out[s] = s < static_cast<int64_t>(chosen.size())
                 ? static_cast<int32_t>(chosen[s])
                 : -1;
}

void sparseToken(const AttentionShape &shape, int64_t blockSize,
                 const float *qRow, int64_t t, const std::vector<float> &keys,
                 const std::vector<float> &values, const int32_t *selection,
                 int64_t k, float *out) {
  const int64_t H = shape.numHeads, KVH = shape.numKVHeads, D = shape.headDim;
  const int64_t group = H / KVH;
  std::vector<double> o(static_cast<size_t>(D));
  std::vector<int64_t> positions;
  for (int64_t g = 0; g < KVH; ++g) {
    positions.clear();
    for (int64_t s = 0; s < k; ++s) {
      int64_t j = selection[g * k + s];
      if (j < 0)
        continue;
      for (int64_t p = j * blockSize; p < (j + 1) * blockSize && p <= t; ++p)
        positions.push_back(p);
    }
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      attendRows(qRow + h * D, keys, values, KVH, D, g, shape.effectiveScale(),
                 positions, o.data());
      for (int64_t d = 0; d < D; ++d)
        out[h * D + d] = static_cast<float>(o[d]);
    }
  }
}

void denseToken(const AttentionShape &shape, const float *qRow, int64_t t,
                const std::vector<float> &keys,
                const std::vector<float> &values, float *out) {
  const int64_t H = shape.numHeads, KVH = shape.numKVHeads, D = shape.headDim;
  std::vector<int64_t> positions(static_cast<size_t>(t + 1));
  std::iota(positions.begin(), positions.end(), 0);
  std::vector<double> o(static_cast<size_t>(D));
  for (int64_t h = 0; h < H; ++h) {
    attendRows(qRow + h * D, keys, values, KVH, D, h / (H / KVH),
               shape.effectiveScale(), positions, o.data());
    for (int64_t d = 0; d < D; ++d)
      out[h * D + d] = static_cast<float>(o[d]);
  }
}

} // namespace detail

//===----------------------------------------------------------------------===//
// Batch ops
//===----------------------------------------------------------------------===//

static Status checkStore(const CompressedKeys &keys, const RaggedBatch &batch,
                         int64_t KVH, int64_t D, const char *what) {
  SALAC_REF_TRY(keys.validate(what));
  if (keys.store.numHeads != KVH || keys.store.headDim != D)
    return Status::error(cat(what, ": holds ", keys.store.numHeads,
                             " heads of dim ", keys.store.headDim,
                             ", expected ", KVH, " of dim ", D));
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    SALAC_REF_TRY(checkMapped(
        keys.store, keys.table, b,
        numCompressed(batch.seqLens[b], keys.kernel, keys.stride), what));
  return Status::success();
}

Status blockScores(const Stage1Config &cfg, const RaggedBatch &batch,
                   const std::vector<float> &q, const CompressedKeys &k1,
                   const CompressedKeys *k2, BlockScores &out) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(cfg.validate(k1.stride));
  const int64_t H = cfg.shape.numHeads, KVH = cfg.shape.numKVHeads;
  const int64_t D = cfg.shape.headDim, T = batch.numTokens();
  SALAC_REF_TRY(checkSize(q, T * H * D, "block_scores: q [T, H, D]"));
  SALAC_REF_TRY(checkStore(k1, batch, KVH, D, "block_scores: K1"));
  if (cfg.lse == LseMode::K2) {
    if (!k2)
      return Status::error("block_scores: lse = k2 needs the K2 store");
    SALAC_REF_TRY(checkStore(*k2, batch, KVH, D, "block_scores: K2"));
  }
  const CompressedKeys *k2Used = cfg.lse == LseMode::K2 ? k2 : nullptr;
  BlockScores result;
  result.numTokens = T;
  result.numKVHeads = KVH;
  result.numBlocks = maxBlocks(batch, cfg.blockSize);
  result.values.assign(static_cast<size_t>(T * KVH * result.numBlocks), -kInf);
  detail::SparseStage1Ctx ctx{&cfg, k1.kernel, k1.stride,
                              k2Used ? k2Used->kernel : 0,
                              k2Used ? k2Used->stride : 0};
  std::vector<float> e1, e2;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    int64_t n = batch.seqLens[b];
    SALAC_REF_TRY(gatherEntries(k1.store, k1.table, b,
                                numCompressed(n, k1.kernel, k1.stride), e1));
    if (k2Used)
      SALAC_REF_TRY(gatherEntries(k2Used->store, k2Used->table, b,
                                  numCompressed(n, k2Used->kernel,
                                                k2Used->stride),
                                  e2));
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      int64_t row = batch.qStart(b) + j;
      detail::stage1Token(ctx, q.data() + row * H * D, batch.historyLen(b) + j,
                          e1, k2Used ? &e2 : nullptr, result.numBlocks,
                          result.values.data() + row * KVH * result.numBlocks);
    }
  }
  out = std::move(result);
  return Status::success();
}

Status topkBlocks(const TopkConfig &cfg, const RaggedBatch &batch,
                  const BlockScores &scores, BlockSelection &out) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(cfg.validate());
  const int64_t T = batch.numTokens();
  if (scores.numTokens != T || scores.numKVHeads <= 0 || scores.numBlocks < 0)
    return Status::error(cat("topk_blocks: scores are for ", scores.numTokens,
                             " tokens x ", scores.numKVHeads,
                             " kv heads, batch has ", T, " tokens"));
  SALAC_REF_TRY(checkSize(scores.values,
                          T * scores.numKVHeads * scores.numBlocks,
                          "topk_blocks: scores"));
  int64_t needed = maxBlocks(batch, cfg.blockSize);
  if (scores.numBlocks < needed)
    return Status::error(cat("topk_blocks: scores have ", scores.numBlocks,
                             " blocks, the batch needs ", needed));
  BlockSelection result;
  result.numTokens = T;
  result.numKVHeads = scores.numKVHeads;
  result.k = cfg.numSelected();
  result.indices.assign(static_cast<size_t>(T * result.numKVHeads * result.k),
                        -1);
  std::vector<int64_t> pos = batch.tokenPositions();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t g = 0; g < result.numKVHeads; ++g)
      detail::topkToken(
          cfg, pos[t],
          scores.values.data() + (t * scores.numKVHeads + g) * scores.numBlocks,
          result.indices.data() + (t * result.numKVHeads + g) * result.k);
  out = std::move(result);
  return Status::success();
}

Status sparseAttention(const AttentionShape &shape, int64_t blockSize,
                       const RaggedBatch &batch, const std::vector<float> &q,
                       const PagedKVCache &cache,
                       const BlockSelection &selection,
                       std::vector<float> &out) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(shape.validate());
  if (blockSize <= 0)
    return Status::error(
        cat("sparse_attention: block_size = ", blockSize, " must be positive"));
  const int64_t H = shape.numHeads, KVH = shape.numKVHeads, D = shape.headDim;
  const int64_t T = batch.numTokens();
  SALAC_REF_TRY(checkSize(q, T * H * D, "sparse_attention: q [T, H, D]"));
  SALAC_REF_TRY(detail::checkCacheForBatch(cache, batch, KVH, D));
  if (selection.numTokens != T || selection.numKVHeads != KVH ||
      selection.k <= 0)
    return Status::error(cat("sparse_attention: selection is [",
                             selection.numTokens, ", ", selection.numKVHeads,
                             ", ", selection.k, "], expected [", T, ", ", KVH,
                             ", k > 0]"));
  SALAC_REF_TRY(checkSize(selection.indices, T * KVH * selection.k,
                          "sparse_attention: selection"));
  for (int64_t r = 0; r < T * KVH; ++r) {
    int64_t last = -1;
    for (int64_t s = 0; s < selection.k; ++s) {
      int32_t j = selection.indices[r * selection.k + s];
      if (j == -1)
        continue;
      if (j < 0 || j <= last)
        return Status::error(cat("sparse_attention: selection of token ",
                                 r / KVH, " kv head ", r % KVH, " has ", j,
                                 " at slot ", s,
                                 "; indices must be -1 or strictly ascending "
                                 "block indices >= 0"));
      last = j;
    }
  }
  std::vector<float> result(static_cast<size_t>(T * H * D)), keys, values;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    SALAC_REF_TRY(gatherEntries(cache.k, cache.table, b, batch.seqLens[b], keys));
    SALAC_REF_TRY(
        gatherEntries(cache.v, cache.table, b, batch.seqLens[b], values));
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      int64_t row = batch.qStart(b) + j;
      detail::sparseToken(shape, blockSize, q.data() + row * H * D,
                          batch.historyLen(b) + j, keys, values,
                          selection.indices.data() + row * KVH * selection.k,
                          selection.k, result.data() + row * H * D);
    }
  }
  out = std::move(result);
  return Status::success();
}

Status denseAttention(const AttentionShape &shape, const RaggedBatch &batch,
                      const std::vector<float> &q, const PagedKVCache &cache,
                      std::vector<float> &out) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(shape.validate());
  const int64_t H = shape.numHeads, KVH = shape.numKVHeads, D = shape.headDim;
  const int64_t T = batch.numTokens();
  SALAC_REF_TRY(checkSize(q, T * H * D, "dense_attention: q [T, H, D]"));
  SALAC_REF_TRY(detail::checkCacheForBatch(cache, batch, KVH, D));
  std::vector<float> result(static_cast<size_t>(T * H * D)), keys, values;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    SALAC_REF_TRY(gatherEntries(cache.k, cache.table, b, batch.seqLens[b], keys));
    SALAC_REF_TRY(
        gatherEntries(cache.v, cache.table, b, batch.seqLens[b], values));
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      int64_t row = batch.qStart(b) + j;
      detail::denseToken(shape, q.data() + row * H * D,
                         batch.historyLen(b) + j, keys, values,
                         result.data() + row * H * D);
    }
  }
  out = std::move(result);
  return Status::success();
}

Status lengthSelect(const RaggedBatch &batch, int64_t threshold,
                    const std::vector<float> &shortRows,
                    const std::vector<float> &longRows,
                    std::vector<float> &out) {
  SALAC_REF_TRY(batch.validate());
  const int64_t T = batch.numTokens();
  if (shortRows.size() != longRows.size())
    return Status::error(cat("length_select: short has ", shortRows.size(),
                             " elements, long has ", longRows.size()));
  if (T == 0) {
    out.clear();
    return Status::success();
  }
  if (static_cast<int64_t>(shortRows.size()) % T != 0)
    return Status::error(cat("length_select: ", shortRows.size(),
                             " elements is not a whole number of rows for T = ",
                             T));
  const int64_t width = static_cast<int64_t>(shortRows.size()) / T;
  std::vector<float> result(shortRows.size());
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    const std::vector<float> &src =
        batch.seqLens[b] < threshold ? shortRows : longRows;
    std::copy(src.begin() + batch.qStart(b) * width,
              src.begin() + (batch.qStart(b) + batch.qLen(b)) * width,
              result.begin() + batch.qStart(b) * width);
  }
  out = std::move(result);
  return Status::success();
}

} // namespace salac::ref
