//===- CacheTest.cpp - kv_append and compress_keys -----------------------===//

#include "TestUtil.h"

using namespace salac::ref;
using namespace salac::ref::test;

namespace {

TEST(KvAppend, WritesNewTokensAtTheirPositions) {
  // Two sequences, page size 3, KVH 2, D 2. Sequence 0 has 4 cached tokens
  // and appends 2; sequence 1 starts empty and appends 5.
  const int64_t KVH = 2, D = 2, W = KVH * D;
  PagedKVCache cache = makeCache({6, 5}, 3, KVH, D, 11);
  std::vector<float> hist = randomBF16(4 * W, 1), histV = randomBF16(4 * W, 2);
  ASSERT_OK(kvAppend(batchOf({4, 0}, {4, 0}), hist, histV, cache));

  std::vector<float> k = randomBF16(7 * W, 3), v = randomBF16(7 * W, 4);
  ASSERT_OK(kvAppend(batchOf({2, 5}, {6, 5}), k, v, cache));

  std::vector<float> got;
  ASSERT_OK(gatherEntries(cache.k, cache.table, 0, 6, got));
  std::vector<float> want(hist);
  want.insert(want.end(), k.begin(), k.begin() + 2 * W);
  EXPECT_EQ(got, want);
  ASSERT_OK(gatherEntries(cache.v, cache.table, 1, 5, got));
  EXPECT_EQ(got, std::vector<float>(v.begin() + 2 * W, v.end()));
}

TEST(KvAppend, RejectsBadPagesAndLengthsWithoutWriting) {
  const int64_t KVH = 1, D = 2;
  PagedKVCache cache = makeCache({8, 8}, 4, KVH, D, 5);
  const std::vector<float> before = cache.k.data;
  std::vector<float> k = randomBF16(4 * D, 1), v = randomBF16(4 * D, 2);
  RaggedBatch batch = batchOf({2, 2}, {2, 6});

  // Physical page out of range for sequence 1 (sequence 0 is fine and must
  // not be written either).
  PagedKVCache bad = cache;
  bad.table.pages[1 * bad.table.maxPages + 1] = static_cast<int32_t>(bad.k.numPages);
  Status s = kvAppend(batch, k, v, bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.message();
  EXPECT_EQ(bad.k.data.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i)
    ASSERT_TRUE(std::isnan(bad.k.data[i]) && std::isnan(before[i]));

  // Negative page index.
  bad = cache;
  bad.table.pages[1 * bad.table.maxPages + 0] = -1;
  EXPECT_FALSE(kvAppend(batch, k, v, bad).ok());

  // A length beyond the table: needs more pages than max_pages.
  RaggedBatch tooLong = batchOf({2, 2}, {2, 4 * static_cast<int32_t>(cache.table.maxPages) + 1});
  s = kvAppend(tooLong, k, v, cache);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("max_pages"), std::string::npos) << s.message();

  // A batch with more sequences than the table has rows.
  RaggedBatch tooMany = batchOf({1, 1, 2}, {1, 1, 2});
  EXPECT_FALSE(kvAppend(tooMany, k, v, cache).ok());

  // Wrong activation size; bad batch metadata.
  std::vector<float> shortK(k.begin(), k.end() - 1);
  EXPECT_FALSE(kvAppend(batch, shortK, v, cache).ok());
  EXPECT_FALSE(kvAppend(batchOf({3, 1}, {2, 6}), k, v, cache).ok());
  for (size_t i = 0; i < before.size(); ++i)
    ASSERT_TRUE(std::isnan(cache.k.data[i]));
}

TEST(CompressKeys, GoldenMeans) {
  // K rows (one KV head, D = 2), kernel 4, stride 2: entries 0 = mean rows
  // 0..3, 1 = mean rows 2..5 (golden.py compress_case):
  //   (1+3+5+7)/4 = 4, (2+4+6+9)/4 = 5.25; (5+7+0.5+2)/4 = 3.625, (6+9-1+2)/4 = 4.
  std::vector<float> K = {1, 2, 3, 4, 5, 6, 7, 9, 0.5f, -1, 2, 2, 4, 4};
  PagedKVCache cache = makeCache({7}, 2, 1, 2, 3);
  ASSERT_OK(kvAppend(batchOf({7}, {7}), K, K, cache));
  CompressedKeys keys = makeCompressed({7}, 4, 2, 1, 1, 2, 4);
  ASSERT_OK(compressKeys(batchOf({7}, {7}), cache, keys, true));
  std::vector<float> got;
  ASSERT_OK(gatherEntries(keys.store, keys.table, 0, 2, got));
  EXPECT_EQ(got, (std::vector<float>{4, 5.25f, 3.625f, 4}));
  std::vector<float> scratch;
  ASSERT_OK(compressKeysFromScratch(K, 7, 1, 2, 4, 2, true, scratch));
  EXPECT_EQ(scratch, got);
}

TEST(CompressKeys, StoreRoundingIsExplicit) {
  // Mean of {1 + 2^-7, 1, 1, 1} = 1 + 2^-9: not a bf16 value (rounds to 1).
  std::vector<float> K = {1.0f + 0x1p-7f, 1, 1, 1};
  std::vector<float> out;
  ASSERT_OK(compressKeysFromScratch(K, 4, 1, 1, 4, 4, true, out));
  EXPECT_EQ(out, std::vector<float>{1.0f});
  ASSERT_OK(compressKeysFromScratch(K, 4, 1, 1, 4, 4, false, out));
  EXPECT_EQ(out, std::vector<float>{1.0f + 0x1p-9f});
}

/// Appends tokens to two sequences in the given step sizes, compressing after
/// each step, and compares the store with the from-scratch entries.
void incrementalMatchesScratch(const std::vector<std::vector<int64_t>> &steps,
                               int64_t kernel, int64_t stride, bool roundBF16) {
  const int64_t KVH = 2, D = 3, W = KVH * D;
  std::vector<int64_t> total;
  for (const auto &s : steps)
    total.push_back(std::accumulate(s.begin(), s.end(), int64_t{0}));
  std::vector<std::vector<float>> K = {randomBF16(total[0] * W, 21, 2.0f),
                                       randomBF16(total[1] * W, 22, 2.0f)};
  PagedKVCache cache = makeCache(total, 3, KVH, D, 7);
  CompressedKeys keys = makeCompressed(total, kernel, stride, 2, KVH, D, 8);
  std::vector<int64_t> len = {0, 0};
  size_t numSteps = std::max(steps[0].size(), steps[1].size());
  for (size_t i = 0; i < numSteps; ++i) {
    std::vector<int64_t> q(2, 0);
    for (int b = 0; b < 2; ++b)
      q[b] = i < steps[b].size() ? steps[b][i] : 0;
    std::vector<int64_t> newLen = {len[0] + q[0], len[1] + q[1]};
    std::vector<float> rows = packRows(K, W, len, q);
    RaggedBatch batch = batchOf(q, newLen);
    ASSERT_OK(kvAppend(batch, rows, rows, cache));
    ASSERT_OK(compressKeys(batch, cache, keys, roundBF16));
    len = newLen;
    for (int b = 0; b < 2; ++b) {
      int64_t m = numCompressed(len[b], kernel, stride);
      std::vector<float> prefix(K[b].begin(), K[b].begin() + len[b] * W);
      std::vector<float> want, got;
      ASSERT_OK(compressKeysFromScratch(prefix, len[b], KVH, D, kernel, stride,
                                        roundBF16, want));
      ASSERT_OK(gatherEntries(keys.store, keys.table, b, m, got));
      ASSERT_EQ(got, want) << "sequence " << b << " after step " << i;
      // The next entry (window not complete yet) must not have been written.
      int64_t capacity = keys.table.maxPages * keys.store.pageSize;
      if (m < capacity && keys.table.at(b, m / keys.store.pageSize) >= 0) {
        size_t off = entryOffset(keys.store, keys.table, b, m);
        EXPECT_TRUE(std::isnan(keys.store.data[off])) << "entry " << m;
      }
    }
  }
}

TEST(CompressKeys, TokenByTokenEqualsFromScratch) {
  incrementalMatchesScratch({std::vector<int64_t>(75, 1),
                             std::vector<int64_t>(40, 1)},
                            8, 4, true);
}

TEST(CompressKeys, RaggedChunksEqualFromScratch) {
  // Chunks that straddle windows, empty steps, one prefill bigger than a
  // window, and a non-dividing kernel/stride pair (kernel 7, stride 3).
  incrementalMatchesScratch({{5, 0, 13, 1, 1, 30, 2}, {1, 17, 0, 0, 9, 25}}, 7,
                            3, false);
  incrementalMatchesScratch({{32, 1, 15, 16, 40}, {100, 1, 1}}, 32, 16, true);
}

TEST(CompressKeys, RejectsUnmappedStore) {
  PagedKVCache cache = makeCache({20}, 4, 1, 2, 1);
  std::vector<float> K = randomBF16(20 * 2, 3);
  ASSERT_OK(kvAppend(batchOf({20}, {20}), K, K, cache));
  CompressedKeys keys = makeCompressed({12}, 4, 2, 2, 1, 2, 4); // too small
  const std::vector<float> before = keys.store.data;
  Status s = compressKeys(batchOf({20}, {20}), cache, keys, true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("compress_keys: store"), std::string::npos)
      << s.message();
  for (float x : keys.store.data)
    ASSERT_TRUE(std::isnan(x)); // untouched
  keys = makeCompressed({20}, 4, 2, 2, 2, 2, 4); // wrong head count
  EXPECT_FALSE(compressKeys(batchOf({20}, {20}), cache, keys, true).ok());
}

} // namespace
