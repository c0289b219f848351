//===- Cache.cpp - salac reference: kv_append and compress_keys ---------===//

#include "salac/Reference/Sparse.h"

#include "Internal.h"

namespace salac::ref {

using detail::cat;
using detail::checkSize;

Status kvAppend(const RaggedBatch &batch, const std::vector<float> &k,
                const std::vector<float> &v, PagedKVCache &cache) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(cache.validate());
  const int64_t width = cache.k.rowWidth();
  const int64_t T = batch.numTokens();
  SALAC_REF_TRY(checkSize(k, T * width, "kv_append: k [T, KVH, D]"));
  SALAC_REF_TRY(checkSize(v, T * width, "kv_append: v [T, KVH, D]"));
  // Validate every sequence before the first write.
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    SALAC_REF_TRY(
        checkMapped(cache.k, cache.table, b, batch.seqLens[b], "kv_append"));
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      int64_t row = batch.qStart(b) + j;
      int64_t pos = batch.historyLen(b) + j;
      size_t dst = entryOffset(cache.k, cache.table, b, pos);
      std::copy(k.begin() + row * width, k.begin() + (row + 1) * width,
                cache.k.data.begin() + dst);
      std::copy(v.begin() + row * width, v.begin() + (row + 1) * width,
                cache.v.data.begin() + dst);
    }
  }
  return Status::success();
}

/// Mean of rows [first, first + kernel) of contiguous [n, width] keys, stored
/// as float (bf16-rounded when asked).
static void windowMean(const float *rows, int64_t width, int64_t kernel,
                       bool roundStoreToBF16, float *dst) {
  for (int64_t c = 0; c < width; ++c) {
    double sum = 0.0;
    for (int64_t r = 0; r < kernel; ++r)
      sum += rows[r * width + c];
    double mean = sum / static_cast<double>(kernel);
    dst[c] = roundStoreToBF16 ? roundToBF16(mean) : static_cast<float>(mean);
  }
}

Status compressKeys(const RaggedBatch &batch, const PagedKVCache &cache,
                    CompressedKeys &keys, bool roundStoreToBF16) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(cache.validate());
  SALAC_REF_TRY(keys.validate("compress_keys: store"));
  if (keys.store.numHeads != cache.k.numHeads ||
      keys.store.headDim != cache.k.headDim)
    return Status::error(cat("compress_keys: store holds ",
                             keys.store.numHeads, " heads of dim ",
                             keys.store.headDim, ", the KV cache ",
                             cache.k.numHeads, " of dim ", cache.k.headDim));
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    SALAC_REF_TRY(checkMapped(cache.k, cache.table, b, batch.seqLens[b],
                              "compress_keys: kv cache"));
    SALAC_REF_TRY(checkMapped(
        keys.store, keys.table, b,
        numCompressed(batch.seqLens[b], keys.kernel, keys.stride),
        "compress_keys: store"));
  }
  const int64_t width = cache.k.rowWidth();
  std::vector<float> window(static_cast<size_t>(keys.kernel * width));
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    int64_t first = numCompressed(batch.historyLen(b), keys.kernel, keys.stride);
    int64_t last = numCompressed(batch.seqLens[b], keys.kernel, keys.stride);
    for (int64_t i = first; i < last; ++i) {
      for (int64_t r = 0; r < keys.kernel; ++r) {
        const float *src = cache.k.data.data() +
                           entryOffset(cache.k, cache.table, b,
                                       keys.stride * i + r);
        std::copy(src, src + width, window.begin() + r * width);
      }
      windowMean(window.data(), width, keys.kernel, roundStoreToBF16,
                 keys.store.data.data() +
                     entryOffset(keys.store, keys.table, b, i));
    }
  }
  return Status::success();
}

Status compressKeysFromScratch(const std::vector<float> &keys, int64_t n,
                               int64_t heads, int64_t headDim, int64_t kernel,
                               int64_t stride, bool roundStoreToBF16,
                               std::vector<float> &out) {
  if (n < 0 || heads <= 0 || headDim <= 0 || kernel <= 0 || stride <= 0)
    return Status::error(cat("compress_keys_from_scratch: bad sizes n=", n,
                             " heads=", heads, " head_dim=", headDim,
                             " kernel=", kernel, " stride=", stride));
  const int64_t width = heads * headDim;
  SALAC_REF_TRY(checkSize(keys, n * width, "compress_keys_from_scratch: keys"));
  int64_t m = numCompressed(n, kernel, stride);
  std::vector<float> result(static_cast<size_t>(m * width));
  for (int64_t i = 0; i < m; ++i)
    windowMean(keys.data() + stride * i * width, width, kernel,
               roundStoreToBF16, result.data() + i * width);
  out = std::move(result);
  return Status::success();
}

} // namespace salac::ref
