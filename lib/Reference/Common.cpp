//===- Common.cpp - salac reference: status, bf16, batch and cache views ==//

#include "salac/Reference/Common.h"

#include "Internal.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace salac::ref {

using detail::cat;

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

static uint32_t bitsOf(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

static float floatOf(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

float roundToBF16(float x) {
  uint32_t b = bitsOf(x);
  if (std::isnan(x))
    return floatOf((b | 0x00400000u) & 0xFFFF0000u); // quiet NaN, keep sign
  // Round to nearest even on the 16 dropped bits; a carry into the exponent
  // is the correct result (up to inf on overflow).
  b += 0x7FFFu + ((b >> 16) & 1u);
  return floatOf(b & 0xFFFF0000u);
}

float roundToBF16(double x) {
  if (std::isnan(x))
    return roundToBF16(static_cast<float>(x));
  // Round to float with round-to-odd, then to bf16 with round-to-nearest-even:
  // float has more than two extra bits, so this double rounding is exact.
  float f = static_cast<float>(x);
  if (static_cast<double>(f) != x) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(x))
      f = std::nextafter(f, 0.0f); // truncate toward zero
    f = floatOf(bitsOf(f) | 1u);   // sticky bit: inexact
  }
  return roundToBF16(f);
}

void roundToBF16(std::vector<float> &xs) {
  for (float &x : xs)
    x = roundToBF16(x);
}

bool isBF16(float x) {
  return std::isnan(x) || (bitsOf(x) & 0xFFFFu) == 0;
}

//===----------------------------------------------------------------------===//
// Ragged batch
//===----------------------------------------------------------------------===//

RaggedBatch RaggedBatch::fromLengths(const std::vector<int32_t> &qLens,
                                     const std::vector<int32_t> &seqLens) {
  RaggedBatch batch;
  batch.cuSeqlensQ.push_back(0);
  for (int32_t len : qLens)
    batch.cuSeqlensQ.push_back(batch.cuSeqlensQ.back() + len);
  batch.seqLens = seqLens;
  return batch;
}

Status RaggedBatch::validate() const {
  if (cuSeqlensQ.size() != seqLens.size() + 1)
    return Status::error(cat("ragged batch: cu_seqlens_q has ",
                             cuSeqlensQ.size(), " entries, expected B+1 = ",
                             seqLens.size() + 1));
  if (cuSeqlensQ[0] != 0)
    return Status::error(
        cat("ragged batch: cu_seqlens_q[0] = ", cuSeqlensQ[0], ", expected 0"));
  for (int64_t b = 0; b < numSeqs(); ++b) {
    if (cuSeqlensQ[b + 1] < cuSeqlensQ[b])
      return Status::error(cat("ragged batch: cu_seqlens_q decreases at ", b,
                               ": ", cuSeqlensQ[b], " -> ", cuSeqlensQ[b + 1]));
    if (seqLens[b] < qLen(b))
      return Status::error(cat("ragged batch: seq_lens[", b, "] = ", seqLens[b],
                               " is less than its query length ", qLen(b)));
  }
  return Status::success();
}

std::vector<int64_t> RaggedBatch::tokenPositions() const {
  std::vector<int64_t> pos(static_cast<size_t>(numTokens()));
  for (int64_t b = 0; b < numSeqs(); ++b)
    for (int64_t j = 0; j < qLen(b); ++j)
      pos[qStart(b) + j] = historyLen(b) + j;
  return pos;
}

std::vector<int32_t> RaggedBatch::tokenSequences() const {
  std::vector<int32_t> seq(static_cast<size_t>(numTokens()));
  for (int64_t b = 0; b < numSeqs(); ++b)
    for (int64_t j = 0; j < qLen(b); ++j)
      seq[qStart(b) + j] = static_cast<int32_t>(b);
  return seq;
}

int64_t maxBlocks(const RaggedBatch &batch, int64_t blockSize) {
  int64_t n = 0;
  if (blockSize <= 0)
    return 0;
  for (int32_t len : batch.seqLens)
    n = std::max<int64_t>(n, (len + blockSize - 1) / blockSize);
  return n;
}

int64_t numCompressed(int64_t n, int64_t kernel, int64_t stride) {
  if (kernel <= 0 || stride <= 0 || n < kernel)
    return 0;
  return (n - kernel) / stride + 1;
}

//===----------------------------------------------------------------------===//
// Paged stores
//===----------------------------------------------------------------------===//

PagedStore PagedStore::zeros(int64_t numPages, int64_t pageSize,
                             int64_t numHeads, int64_t headDim) {
  PagedStore s;
  s.numPages = numPages;
  s.pageSize = pageSize;
  s.numHeads = numHeads;
  s.headDim = headDim;
  if (numPages > 0 && pageSize > 0 && numHeads > 0 && headDim > 0)
    s.data.assign(static_cast<size_t>(numPages * pageSize * numHeads * headDim),
                  0.0f);
  return s;
}

Status PagedStore::validate(const char *what) const {
  if (numPages < 0 || pageSize <= 0 || numHeads <= 0 || headDim <= 0)
    return Status::error(cat(what, ": bad geometry pages=", numPages,
                             " page_size=", pageSize, " heads=", numHeads,
                             " head_dim=", headDim));
  return detail::checkSize(data, numPages * pageSize * numHeads * headDim,
                           what);
}

Status checkMapped(const PagedStore &store, const PageTable &table, int64_t b,
                   int64_t count, const char *what) {
  if (count <= 0)
    return Status::success();
  if (table.maxPages <= 0 ||
      static_cast<int64_t>(table.pages.size()) % table.maxPages != 0)
    return Status::error(cat(what, ": page table has ", table.pages.size(),
                             " entries for max_pages = ", table.maxPages));
  if (b < 0 || b >= table.numSeqs())
    return Status::error(cat(what, ": page table has ", table.numSeqs(),
                             " rows, no row for sequence ", b));
  int64_t needed = (count + store.pageSize - 1) / store.pageSize;
  if (needed > table.maxPages)
    return Status::error(cat(what, ": sequence ", b, " needs ", needed,
                             " pages for ", count, " entries (page size ",
                             store.pageSize, ") but the table has max_pages = ",
                             table.maxPages));
  for (int64_t i = 0; i < needed; ++i) {
    int32_t page = table.at(b, i);
    if (page < 0 || page >= store.numPages)
      return Status::error(cat(what, ": page_table[", b, "][", i, "] = ", page,
                               " is out of range [0, ", store.numPages, ")"));
  }
  return Status::success();
}

size_t entryOffset(const PagedStore &store, const PageTable &table, int64_t b,
                   int64_t entry) {
  return store.rowOffset(table.at(b, entry / store.pageSize),
                         entry % store.pageSize);
}

Status gatherEntries(const PagedStore &store, const PageTable &table, int64_t b,
                     int64_t count, std::vector<float> &out) {
  SALAC_REF_TRY(store.validate("paged store"));
  SALAC_REF_TRY(checkMapped(store, table, b, count, "paged store"));
  std::vector<float> rows(static_cast<size_t>(std::max<int64_t>(count, 0) *
                                              store.rowWidth()));
  for (int64_t e = 0; e < count; ++e) {
    const float *src = store.data.data() + entryOffset(store, table, b, e);
    std::copy(src, src + store.rowWidth(), rows.begin() + e * store.rowWidth());
  }
  out = std::move(rows);
  return Status::success();
}

Status PagedKVCache::validate() const {
  SALAC_REF_TRY(k.validate("kv cache K"));
  SALAC_REF_TRY(v.validate("kv cache V"));
  if (k.numPages != v.numPages || k.pageSize != v.pageSize ||
      k.numHeads != v.numHeads || k.headDim != v.headDim)
    return Status::error("kv cache: K and V pools have different geometry");
  return Status::success();
}

Status CompressedKeys::validate(const char *what) const {
  if (kernel <= 0 || stride <= 0)
    return Status::error(cat(what, ": kernel = ", kernel, " and stride = ",
                             stride, " must be positive"));
  return store.validate(what);
}

StatePool StatePool::zeros(int64_t numSlots, int64_t numHeads,
                           int64_t headDim) {
  StatePool p;
  p.numSlots = numSlots;
  p.numHeads = numHeads;
  p.headDim = headDim;
  if (numSlots > 0 && numHeads > 0 && headDim > 0)
    p.data.assign(static_cast<size_t>(numSlots) * p.slotSize(), 0.0f);
  return p;
}

Status StatePool::validate() const {
  if (numSlots < 0 || numHeads <= 0 || headDim <= 0)
    return Status::error(cat("state pool: bad geometry slots=", numSlots,
                             " heads=", numHeads, " head_dim=", headDim));
  return detail::checkSize(data, numSlots * numHeads * headDim * headDim,
                           "state pool");
}

//===----------------------------------------------------------------------===//
// Internal helpers
//===----------------------------------------------------------------------===//

namespace detail {

Status checkCacheForBatch(const PagedKVCache &cache, const RaggedBatch &batch,
                          int64_t numKVHeads, int64_t headDim) {
  SALAC_REF_TRY(cache.validate());
  if (cache.k.numHeads != numKVHeads || cache.k.headDim != headDim)
    return Status::error(cat("kv cache: holds ", cache.k.numHeads,
                             " KV heads of dim ", cache.k.headDim, ", expected ",
                             numKVHeads, " of dim ", headDim));
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    SALAC_REF_TRY(
        checkMapped(cache.k, cache.table, b, batch.seqLens[b], "kv cache"));
  return Status::success();
}

void attendRows(const float *q, const std::vector<float> &keys,
                const std::vector<float> &values, int64_t numKVHeads,
                int64_t headDim, int64_t g, double scale,
                const std::vector<int64_t> &positions, double *out) {
  std::fill(out, out + headDim, 0.0);
  if (positions.empty())
    return;
  std::vector<double> s(positions.size());
  double maxS = -std::numeric_limits<double>::infinity();
  for (size_t n = 0; n < positions.size(); ++n) {
    const float *kr = keys.data() + (positions[n] * numKVHeads + g) * headDim;
    double dot = 0.0;
    for (int64_t d = 0; d < headDim; ++d)
      dot += static_cast<double>(q[d]) * kr[d];
    s[n] = scale * dot;
    maxS = std::max(maxS, s[n]);
  }
  double denom = 0.0;
  for (double &x : s) {
    x = std::exp(x - maxS);
    denom += x;
  }
  for (size_t n = 0; n < positions.size(); ++n) {
    const float *vr = values.data() + (positions[n] * numKVHeads + g) * headDim;
    double w = s[n] / denom;
    for (int64_t d = 0; d < headDim; ++d)
      out[d] += w * vr[d];
  }
}

} // namespace detail
} // namespace salac::ref
