//===- Mixers.cpp - salac reference: whole sparse and linear mixers -----===//

#include "salac/Reference/Linear.h"
#include "salac/Reference/Sparse.h"

#include "Internal.h"

namespace salac::ref {

using detail::cat;
using detail::checkSize;

//===----------------------------------------------------------------------===//
// Sparse mixer
//===----------------------------------------------------------------------===//

Stage1Config SparseMixerConfig::stage1() const {
  Stage1Config c;
  c.shape = shape;
  c.blockSize = blockSize;
  c.poolKernel = poolKernel;
  c.poolStride = stride1 > 0 ? blockSize / stride1 : 0;
  c.poolPadding = poolPadding;
  c.lse = lse;
  return c;
}

TopkConfig SparseMixerConfig::topkConfig() const {
  TopkConfig c;
  c.blockSize = blockSize;
  c.topk = topk;
  c.initBlocks = initBlocks;
  c.localBlocks = blockSize > 0 ? windowSize / blockSize : 0;
  return c;
}

Status SparseMixerConfig::validate() const {
  SALAC_REF_TRY(shape.validate());
  if (kernel1 <= 0 || stride1 <= 0 || kernel2 <= 0 || stride2 <= 0 ||
      blockSize <= 0 || windowSize < 0 || denseLen < 0)
    return Status::error(cat("sparse_mixer: kernel/stride/block/window/"
                             "dense_len out of range: kernel1 = ", kernel1,
                             ", stride1 = ", stride1, ", kernel2 = ", kernel2,
                             ", stride2 = ", stride2, ", block = ", blockSize,
                             ", window = ", windowSize, ", dense_len = ",
                             denseLen));
  if (blockSize % stride1 != 0)
    return Status::error(cat("sparse_mixer: block_size = ", blockSize,
                             " is not a multiple of kernel_stride = ",
                             stride1));
  if (windowSize % blockSize != 0)
    return Status::error(cat("sparse_mixer: window_size = ", windowSize,
                             " is not a multiple of block_size = ", blockSize));
  SALAC_REF_TRY(stage1().validate(stride1));
  return topkConfig().validate();
}

Status sparseMixer(const SparseMixerConfig &cfg, const RaggedBatch &batch,
                   const std::vector<float> &q, const std::vector<float> &k,
                   const std::vector<float> &v, const std::vector<float> &z,
                   PagedKVCache &cache, CompressedKeys &k1, CompressedKeys *k2,
                   std::vector<float> &out) {
  SALAC_REF_TRY(cfg.validate());
  SALAC_REF_TRY(batch.validate());
  const AttentionShape &shape = cfg.shape;
  const int64_t H = shape.numHeads, KVH = shape.numKVHeads, D = shape.headDim;
  const int64_t T = batch.numTokens();
  SALAC_REF_TRY(checkSize(q, T * H * D, "sparse_mixer: q [T, H, D]"));
  if (cfg.useOutputGate)
    SALAC_REF_TRY(checkSize(z, T * H * D, "sparse_mixer: z [T, H, D]"));
  if (k1.kernel != cfg.kernel1 || k1.stride != cfg.stride1)
    return Status::error(cat("sparse_mixer: K1 store has kernel ", k1.kernel,
                             " stride ", k1.stride, ", config ", cfg.kernel1,
                             "/", cfg.stride1));
  if (k2 && (k2->kernel != cfg.kernel2 || k2->stride != cfg.stride2))
    return Status::error(cat("sparse_mixer: K2 store has kernel ", k2->kernel,
                             " stride ", k2->stride, ", config ", cfg.kernel2,
                             "/", cfg.stride2));
  if (cfg.lse == LseMode::K2 && !k2)
    return Status::error("sparse_mixer: lse = k2 needs the K2 store");
  SALAC_REF_TRY(detail::checkCacheForBatch(cache, batch, KVH, D));
  // Check every store before the first write so that an error changes nothing.
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    SALAC_REF_TRY(checkMapped(k1.store, k1.table, b,
                              numCompressed(batch.seqLens[b], k1.kernel,
                                            k1.stride),
                              "sparse_mixer: K1"));
    if (k2)
      SALAC_REF_TRY(checkMapped(k2->store, k2->table, b,
                                numCompressed(batch.seqLens[b], k2->kernel,
                                              k2->stride),
                                "sparse_mixer: K2"));
  }
  SALAC_REF_TRY(k1.validate("sparse_mixer: K1"));
  if (k2)
    SALAC_REF_TRY(k2->validate("sparse_mixer: K2"));
  if (k1.store.numHeads != KVH || k1.store.headDim != D ||
      (k2 && (k2->store.numHeads != KVH || k2->store.headDim != D)))
    return Status::error("sparse_mixer: compressed stores must hold KVH heads "
                         "of the head dim");
  SALAC_REF_TRY(checkSize(k, T * KVH * D, "sparse_mixer: k [T, KVH, D]"));
  SALAC_REF_TRY(checkSize(v, T * KVH * D, "sparse_mixer: v [T, KVH, D]"));

  SALAC_REF_TRY(kvAppend(batch, k, v, cache));
  SALAC_REF_TRY(compressKeys(batch, cache, k1, cfg.roundCompressedToBF16));
  if (k2)
    SALAC_REF_TRY(compressKeys(batch, cache, *k2, cfg.roundCompressedToBF16));

  const Stage1Config s1 = cfg.stage1();
  const TopkConfig tk = cfg.topkConfig();
  const int64_t K = tk.numSelected();
  const CompressedKeys *k2Used = cfg.lse == LseMode::K2 ? k2 : nullptr;
  detail::SparseStage1Ctx ctx{&s1, k1.kernel, k1.stride,
                              k2Used ? k2Used->kernel : 0,
                              k2Used ? k2Used->stride : 0};
  std::vector<float> o(static_cast<size_t>(T * H * D));
  std::vector<float> keys, values, e1, e2;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    const int64_t n = batch.seqLens[b];
    if (batch.qLen(b) == 0)
      continue;
    SALAC_REF_TRY(gatherEntries(cache.k, cache.table, b, n, keys));
    SALAC_REF_TRY(gatherEntries(cache.v, cache.table, b, n, values));
    const bool dense = n < cfg.denseLen;
    const int64_t numBlocks = (n + cfg.blockSize - 1) / cfg.blockSize;
    std::vector<double> scores(static_cast<size_t>(KVH * numBlocks));
    std::vector<int32_t> selection(static_cast<size_t>(KVH * K));
    if (!dense) {
      SALAC_REF_TRY(gatherEntries(k1.store, k1.table, b,
                                  numCompressed(n, k1.kernel, k1.stride), e1));
      if (k2Used)
        SALAC_REF_TRY(gatherEntries(
            k2Used->store, k2Used->table, b,
            numCompressed(n, k2Used->kernel, k2Used->stride), e2));
    }
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      const int64_t row = batch.qStart(b) + j, t = batch.historyLen(b) + j;
      const float *qRow = q.data() + row * H * D;
      float *oRow = o.data() + row * H * D;
      if (dense) {
        detail::denseToken(shape, qRow, t, keys, values, oRow);
        continue;
      }
      detail::stage1Token(ctx, qRow, t, e1, k2Used ? &e2 : nullptr, numBlocks,
                          scores.data());
      for (int64_t g = 0; g < KVH; ++g)
        detail::topkToken(tk, t, scores.data() + g * numBlocks,
                          selection.data() + g * K);
      detail::sparseToken(shape, cfg.blockSize, qRow, t, keys, values,
                          selection.data(), K, oRow);
    }
  }
  if (!cfg.useOutputGate) {
    out = std::move(o);
    return Status::success();
  }
  return sigmoidGate(o, z, out);
}

//===----------------------------------------------------------------------===//
// Linear mixer
//===----------------------------------------------------------------------===//

LinearAttentionConfig LinearMixerConfig::attention() const {
  LinearAttentionConfig c;
  c.numHeads = numHeads;
  c.headDim = headDim;
  c.slopes = slopes;
  c.scale = scale;
  c.form = form;
  c.chunkSize = chunkSize;
  return c;
}

Status linearMixer(const LinearMixerConfig &cfg, const RaggedBatch &batch,
                   const std::vector<float> &q, const std::vector<float> &k,
                   const std::vector<float> &v, const std::vector<float> &z,
                   const std::vector<float> &qNormWeight,
                   const std::vector<float> &kNormWeight,
                   const std::vector<float> &outNormWeight, StatePool &pool,
                   const std::vector<int32_t> &slots, std::vector<float> &out) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(cfg.attention().validate());
  const int64_t H = cfg.numHeads, D = cfg.headDim, T = batch.numTokens();
  SALAC_REF_TRY(checkSize(q, T * H * D, "linear_mixer: q [T, H, D]"));
  SALAC_REF_TRY(checkSize(k, T * H * D, "linear_mixer: k [T, H, D]"));
  if (cfg.useOutputGate)
    SALAC_REF_TRY(checkSize(z, T * H * D, "linear_mixer: z [T, H, D]"));
  if (cfg.useOutputNorm)
    SALAC_REF_TRY(checkSize(outNormWeight, H * D,
                            "linear_mixer: output norm weight [H*D]"));
  std::vector<float> qn = q, kn = k;
  if (cfg.qkNorm) {
    SALAC_REF_TRY(rmsNormPerHead(q, T, H, D, qNormWeight, cfg.eps, qn));
    SALAC_REF_TRY(rmsNormPerHead(k, T, H, D, kNormWeight, cfg.eps, kn));
  }
  if (cfg.useRope) {
    std::vector<int64_t> pos = batch.tokenPositions();
    SALAC_REF_TRY(rope(qn, T, H, D, pos, cfg.ropeTheta, cfg.ropeStyle, qn));
    SALAC_REF_TRY(rope(kn, T, H, D, pos, cfg.ropeTheta, cfg.ropeStyle, kn));
  }
  std::vector<float> y;
  SALAC_REF_TRY(linearAttention(cfg.attention(), batch, qn, kn, v, pool, slots, y));
  if (cfg.useOutputNorm)
    SALAC_REF_TRY(rmsNormFull(y, T, H, D, outNormWeight, cfg.eps, y));
  if (!cfg.useOutputGate) {
    out = std::move(y);
    return Status::success();
  }
  return sigmoidGate(y, z, out);
}

} // namespace salac::ref
