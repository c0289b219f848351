//===- TestUtil.h - helpers for the reference tests ----------------------===//

#ifndef SALAC_UNITTESTS_REFERENCE_TESTUTIL_H
#define SALAC_UNITTESTS_REFERENCE_TESTUTIL_H

#include "salac/Reference/Reference.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace salac::ref::test {

#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    ::salac::ref::Status s_ = (expr);                                          \
    ASSERT_TRUE(s_.ok()) << s_.message();                                      \
  } while (false)

/// n bf16-representable values, uniform in [-amp, amp].
inline std::vector<float> randomBF16(size_t n, unsigned seed, float amp = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-amp, amp);
  std::vector<float> xs(n);
  for (float &x : xs)
    x = roundToBF16(dist(gen));
  return xs;
}

/// A page table giving sequence b ceil(capacity[b] / pageSize) pages, drawn
/// from a shuffled pool of `numPages` physical pages (at least enough, plus
/// `spare` unused ones). Unused table slots are -1.
inline PageTable shuffledTable(const std::vector<int64_t> &capacity,
                               int64_t pageSize, int64_t &numPages,
                               unsigned seed, int64_t spare = 3) {
  int64_t total = 0, maxPages = 1;
  for (int64_t c : capacity) {
    int64_t p = (c + pageSize - 1) / pageSize;
    total += p;
    maxPages = std::max(maxPages, p);
  }
  numPages = total + spare;
  std::vector<int32_t> perm(static_cast<size_t>(numPages));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937 gen(seed);
  std::shuffle(perm.begin(), perm.end(), gen);
  PageTable table;
  table.maxPages = maxPages + 1; // one unused slot to show -1 is ignored
  table.pages.assign(capacity.size() * table.maxPages, -1);
  size_t next = 0;
  for (size_t b = 0; b < capacity.size(); ++b) {
    int64_t p = (capacity[b] + pageSize - 1) / pageSize;
    for (int64_t i = 0; i < p; ++i)
      table.pages[b * table.maxPages + i] = perm[next++];
  }
  return table;
}

/// An empty KV cache (filled with NaN so that reading an unwritten row shows).
inline PagedKVCache makeCache(const std::vector<int64_t> &capacity,
                              int64_t pageSize, int64_t kvHeads, int64_t dim,
                              unsigned seed) {
  PagedKVCache cache;
  int64_t numPages = 0;
  cache.table = shuffledTable(capacity, pageSize, numPages, seed);
  cache.k = PagedStore::zeros(numPages, pageSize, kvHeads, dim);
  cache.v = PagedStore::zeros(numPages, pageSize, kvHeads, dim);
  std::fill(cache.k.data.begin(), cache.k.data.end(), NAN);
  std::fill(cache.v.data.begin(), cache.v.data.end(), NAN);
  return cache;
}

inline CompressedKeys makeCompressed(const std::vector<int64_t> &capacity,
                                     int64_t kernel, int64_t stride,
                                     int64_t pageSize, int64_t kvHeads,
                                     int64_t dim, unsigned seed) {
  CompressedKeys keys;
  keys.kernel = kernel;
  keys.stride = stride;
  std::vector<int64_t> entries;
  for (int64_t c : capacity)
    entries.push_back(std::max<int64_t>(numCompressed(c, kernel, stride), 1));
  int64_t numPages = 0;
  keys.table = shuffledTable(entries, pageSize, numPages, seed);
  keys.store = PagedStore::zeros(numPages, pageSize, kvHeads, dim);
  std::fill(keys.store.data.begin(), keys.store.data.end(), NAN);
  return keys;
}

/// Rows [first, first + count) of every sequence's contiguous [n, W] array,
/// packed in batch order.
inline std::vector<float>
packRows(const std::vector<std::vector<float>> &perSeq, int64_t width,
         const std::vector<int64_t> &first, const std::vector<int64_t> &count) {
  std::vector<float> out;
  for (size_t b = 0; b < perSeq.size(); ++b)
    out.insert(out.end(), perSeq[b].begin() + first[b] * width,
               perSeq[b].begin() + (first[b] + count[b]) * width);
  return out;
}

inline RaggedBatch batchOf(const std::vector<int64_t> &qLens,
                           const std::vector<int64_t> &seqLens) {
  std::vector<int32_t> q(qLens.begin(), qLens.end());
  std::vector<int32_t> s(seqLens.begin(), seqLens.end());
  return RaggedBatch::fromLengths(q, s);
}

/// Max |a - b| / max(1, |b|).
inline double maxRelDiff(const std::vector<float> &a,
                         const std::vector<float> &b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) /
                                std::max(1.0, std::fabs(static_cast<double>(b[i]))));
  return worst;
}

} // namespace salac::ref::test

#endif // SALAC_UNITTESTS_REFERENCE_TESTUTIL_H
