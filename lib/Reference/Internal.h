//===- Internal.h - helpers shared by the reference implementation ------===//

#ifndef SALAC_LIB_REFERENCE_INTERNAL_H
#define SALAC_LIB_REFERENCE_INTERNAL_H

#include "salac/Reference/Common.h"
#include "salac/Reference/Sparse.h"

#include <sstream>
#include <string>
#include <vector>

namespace salac::ref::detail {

template <typename... Args> std::string cat(const Args &...args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

/// Error unless v.size() == expected.
template <typename T>
Status checkSize(const std::vector<T> &v, int64_t expected, const char *what) {
  if (expected < 0 || static_cast<int64_t>(v.size()) != expected)
    return Status::error(cat(what, ": expected ", expected, " elements, got ",
                             v.size()));
  return Status::success();
}

#define SALAC_REF_TRY(expr)                                                    \
  do {                                                                         \
    ::salac::ref::Status salacRefStatus_ = (expr);                             \
    if (!salacRefStatus_.ok())                                                 \
      return salacRefStatus_;                                                  \
  } while (false)

/// Checks that the KV cache maps every position of every sequence and has the
/// given number of KV heads and head dim.
Status checkCacheForBatch(const PagedKVCache &cache, const RaggedBatch &batch,
                          int64_t numKVHeads, int64_t headDim);

/// Softmax attention of one query row (D floats, scale folded in by the
/// caller through `scale`) over key/value rows given by position lists into
/// contiguous [n, KVH, D] arrays of one sequence, KV head g. Writes D doubles
/// to out (zeros when `positions` is empty).
void attendRows(const float *q, const std::vector<float> &keys,
                const std::vector<float> &values, int64_t numKVHeads,
                int64_t headDim, int64_t g, double scale,
                const std::vector<int64_t> &positions, double *out);

/// Per-token kernels of the sparse path, shared by the batch ops and the
/// mixer. `k1`/`k2` are a sequence's compressed keys gathered contiguously
/// ([m, KVH, D]; k2 null when unused), `keys`/`values` its K/V rows
/// ([n, KVH, D]); qRow is the token's [H, D] query row at position t.
struct SparseStage1Ctx {
  const Stage1Config *cfg;
  int64_t k1Kernel, k1Stride, k2Kernel, k2Stride;
};
/// Writes [KVH, numBlocks] scores.
void stage1Token(const SparseStage1Ctx &ctx, const float *qRow, int64_t t,
                 const std::vector<float> &k1, const std::vector<float> *k2,
                 int64_t numBlocks, double *out);
/// Reads numBlocks scores of one KV group, writes cfg.numSelected() indices.
void topkToken(const TopkConfig &cfg, int64_t t, const double *scores,
               int32_t *out);
/// Writes [H, D] outputs; selection is [KVH, k].
void sparseToken(const AttentionShape &shape, int64_t blockSize,
                 const float *qRow, int64_t t, const std::vector<float> &keys,
                 const std::vector<float> &values, const int32_t *selection,
                 int64_t k, float *out);
/// Writes [H, D] outputs of causal attention over positions 0..t.
void denseToken(const AttentionShape &shape, const float *qRow, int64_t t,
                const std::vector<float> &keys,
                const std::vector<float> &values, float *out);

} // namespace salac::ref::detail

#endif // SALAC_LIB_REFERENCE_INTERNAL_H
