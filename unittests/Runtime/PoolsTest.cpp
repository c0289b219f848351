//===- PoolsTest.cpp - KV pages, compressed keys, state slots -------------===//

#include "salac/Runtime/Pools.h"

#include <gtest/gtest.h>

#include <set>

using namespace salac::rt;

namespace {

std::unique_ptr<PagedCache> makeKv(int64_t pageSize, int64_t numPages) {
  std::unique_ptr<PagedCache> pool;
  Status s = PagedCache::createKv({pageSize, 2, 128, 2, numPages}, pool);
  EXPECT_TRUE(s.ok()) << s.message();
  return pool;
}

class KvPool : public ::testing::TestWithParam<int64_t> {};

TEST_P(KvPool, GrowsSequencesPageByPage) {
  const int64_t ps = GetParam();
  auto pool = makeKv(ps, 64);
  EXPECT_EQ(pool->pageBytes(), ps * 2 * 128 * 2);
  EXPECT_EQ(pool->freePages(), 64);

  // Sequence 7 grows one token at a time up to 3 pages' worth + 1.
  for (int64_t n = 1; n <= 3 * ps + 1; ++n) {
    ASSERT_TRUE(pool->reserve(7, n).ok());
    ASSERT_EQ(int64_t(pool->seqPages(7)->size()), (n + ps - 1) / ps) << n;
  }
  EXPECT_EQ(pool->seqTokens(7), 3 * ps + 1);
  EXPECT_EQ(pool->freePages(), 60);
  // A fresh pool hands out pages in order.
  EXPECT_EQ(*pool->seqPages(7), (std::vector<int32_t>{0, 1, 2, 3}));

  // Never shrinks: a smaller reservation keeps pages and length.
  ASSERT_TRUE(pool->reserve(7, 1).ok());
  EXPECT_EQ(pool->seqPages(7)->size(), 4u);
  EXPECT_EQ(pool->seqTokens(7), 3 * ps + 1);

  // A second sequence jumps straight to 2.5 pages.
  ASSERT_TRUE(pool->reserve(9, 2 * ps + ps / 2 + 1).ok());
  EXPECT_EQ(*pool->seqPages(9), (std::vector<int32_t>{4, 5, 6}));
  // Zero tokens: known, no pages.
  ASSERT_TRUE(pool->reserve(11, 0).ok());
  EXPECT_TRUE(pool->contains(11));
  EXPECT_TRUE(pool->seqPages(11)->empty());

  // Page table, padded with -1, and with 0.
  int64_t seqs[] = {9, 7, 11};
  int64_t widest = 0;
  ASSERT_TRUE(pool->maxPages(seqs, 3, widest).ok());
  EXPECT_EQ(widest, 4);
  std::vector<int32_t> table(3 * 5, 12345);
  ASSERT_TRUE(pool->pageTable(seqs, 3, 5, -1, table.data()).ok());
  EXPECT_EQ(table, (std::vector<int32_t>{4, 5, 6, -1, -1, //
                                         0, 1, 2, 3, -1,  //
                                         -1, -1, -1, -1, -1}));
  ASSERT_TRUE(pool->pageTable(seqs, 3, 4, 0, table.data()).ok());
  EXPECT_EQ(std::vector<int32_t>(table.begin(), table.begin() + 12),
            (std::vector<int32_t>{4, 5, 6, 0, 0, 1, 2, 3, 0, 0, 0, 0}));
  Status s = pool->pageTable(seqs, 3, 3, -1, table.data());
  EXPECT_EQ(s.code(), Code::InvalidArgument);
  EXPECT_NE(s.message().find("sequence 7 (batch index 1) holds 4 pages but "
                             "max_pages is 3"),
            std::string::npos)
      << s.message();
  int64_t unknown[] = {9, 42};
  s = pool->pageTable(unknown, 2, 8, -1, table.data());
  EXPECT_EQ(s.code(), Code::NotFound);
  EXPECT_NE(s.message().find("unknown sequence 42 (batch index 1)"),
            std::string::npos)
      << s.message();

  // Freeing returns pages; the next sequence reuses them.
  ASSERT_TRUE(pool->release(7).ok());
  EXPECT_FALSE(pool->contains(7));
  EXPECT_EQ(pool->freePages(), 61);
  ASSERT_TRUE(pool->reserve(13, 2 * ps).ok());
  EXPECT_EQ(*pool->seqPages(13), (std::vector<int32_t>{0, 1}));
  s = pool->release(7);
  EXPECT_EQ(s.code(), Code::NotFound);
  EXPECT_NE(s.message().find("release of unknown sequence 7"),
            std::string::npos);
}

TEST_P(KvPool, ExhaustionIsAllOrNothing) {
  const int64_t ps = GetParam();
  auto pool = makeKv(ps, 4);
  ASSERT_TRUE(pool->reserve(1, 3 * ps).ok());
  EXPECT_EQ(pool->freePages(), 1);
  Status s = pool->reserve(2, 3 * ps);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::Exhausted);
  EXPECT_NE(s.message().find("KV pool exhausted: need 3 more pages, 1 free "
                             "of 4"),
            std::string::npos)
      << s.message();
  // Nothing was taken, and the failed sequence was not created.
  EXPECT_EQ(pool->freePages(), 1);
  EXPECT_FALSE(pool->contains(2));
  // Growing an existing sequence past the pool fails the same way.
  s = pool->reserve(1, 5 * ps);
  EXPECT_NE(s.message().find("need 2 more pages, 1 free of 4 (sequence 1 "
                             "growing from " +
                             std::to_string(3 * ps)),
            std::string::npos)
      << s.message();
  EXPECT_EQ(pool->seqTokens(1), 3 * ps);
  ASSERT_TRUE(pool->reserve(1, 4 * ps).ok());
  EXPECT_EQ(pool->freePages(), 0);
  EXPECT_EQ(pool->reserve(3, 1).code(), Code::Exhausted);
  EXPECT_TRUE(pool->reserve(3, 0).ok()); // needs no page
}

TEST_P(KvPool, ChurnKeepsEveryPageOwnedOnce) {
  const int64_t ps = GetParam();
  auto pool = makeKv(ps, 32);
  // Deterministic pseudo-random grow/free traffic over 8 sequences.
  uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  for (int step = 0; step < 2000; ++step) {
    int64_t seq = next() % 8;
    if (next() % 5 == 0) {
      if (pool->contains(seq)) {
        ASSERT_TRUE(pool->release(seq).ok());
      }
    } else {
      Status s = pool->reserve(seq, pool->seqTokens(seq) + next() % (2 * ps));
      ASSERT_TRUE(s.ok() || s.code() == Code::Exhausted) << s.message();
    }
    std::set<int32_t> owned;
    int64_t total = 0;
    for (int64_t q = 0; q < 8; ++q) {
      if (!pool->contains(q))
        continue;
      const auto &pages = *pool->seqPages(q);
      ASSERT_EQ(int64_t(pages.size()), pool->pagesForTokens(pool->seqTokens(q)));
      for (int32_t p : pages) {
        ASSERT_GE(p, 0);
        ASSERT_LT(p, 32);
        ASSERT_TRUE(owned.insert(p).second) << "page " << p << " owned twice";
      }
      total += int64_t(pages.size());
    }
    ASSERT_EQ(total + pool->freePages(), 32);
  }
}

INSTANTIATE_TEST_SUITE_P(PageSizes, KvPool, ::testing::Values(1, 16, 64));

TEST(KvPoolConfig, RejectsBadGeometry) {
  std::unique_ptr<PagedCache> pool;
  Status s = PagedCache::createKv({0, 2, 128, 2, 10}, pool);
  EXPECT_EQ(s.code(), Code::InvalidArgument);
  EXPECT_NE(s.message().find("page_size = 0 must be at least 1"),
            std::string::npos);
  s = PagedCache::createKv({64, 2, 128, 2, int64_t(1) << 31}, pool);
  EXPECT_NE(s.message().find("num_pages"), std::string::npos);
  s = PagedCache::createKv({64, 2, 128, 2, 10}, pool);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(pool->reserve(1, -1).code(), Code::InvalidArgument);
}

TEST(CompressedKeys, EntryCounts) {
  // K1: kernel 32, stride 16 (DESIGN.md 2.1).
  EXPECT_EQ(compressedEntryCount(0, 32, 16), 0);
  EXPECT_EQ(compressedEntryCount(31, 32, 16), 0);
  EXPECT_EQ(compressedEntryCount(32, 32, 16), 1);
  EXPECT_EQ(compressedEntryCount(47, 32, 16), 1);
  EXPECT_EQ(compressedEntryCount(48, 32, 16), 2);
  EXPECT_EQ(compressedEntryCount(131072, 32, 16), 8191);
  // K2: kernel 128, stride 64.
  EXPECT_EQ(compressedEntryCount(127, 128, 64), 0);
  EXPECT_EQ(compressedEntryCount(128, 128, 64), 1);
  EXPECT_EQ(compressedEntryCount(255, 128, 64), 2);
  EXPECT_EQ(compressedEntryCount(131072, 128, 64), 2047);
}

TEST(CompressedKeys, PagesFollowEntriesNotTokens) {
  std::unique_ptr<PagedCache> store;
  // 16 entries per page.
  Status s = PagedCache::createCompressedKeys({16, 2, 128, 2, 8}, 32, 16,
                                              store);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(store->tensorsPerLayer(), 1);
  ASSERT_TRUE(store->reserve(1, 31).ok()); // 0 entries
  EXPECT_TRUE(store->seqPages(1)->empty());
  ASSERT_TRUE(store->reserve(1, 32).ok()); // 1 entry
  EXPECT_EQ(store->seqPages(1)->size(), 1u);
  ASSERT_TRUE(store->reserve(1, 271).ok()); // (271-32)/16+1 = 15 entries
  EXPECT_EQ(store->unitsForTokens(271), 15);
  EXPECT_EQ(store->seqPages(1)->size(), 1u);
  ASSERT_TRUE(store->reserve(1, 288).ok()); // 17 entries -> 2 pages
  EXPECT_EQ(store->seqPages(1)->size(), 2u);
  EXPECT_EQ(store->seqTokens(1), 288);
  // 2080 tokens = 129 entries = 9 pages; 6 are left.
  s = store->reserve(2, 16 * 127 + 32 + 16);
  EXPECT_EQ(s.code(), Code::Exhausted);
  EXPECT_NE(s.message().find("compressed-key store exhausted: need 9 more "
                             "pages, 6 free of 8"),
            std::string::npos)
      << s.message();
  s = PagedCache::createCompressedKeys({16, 2, 128, 2, 8}, 32, 0, store);
  EXPECT_EQ(s.code(), Code::InvalidArgument);
}

TEST(StateSlots, AcquireReleaseExhaust) {
  std::unique_ptr<StateSlotPool> pool;
  ASSERT_TRUE(StateSlotPool::create(32, 128, 3, pool).ok());
  EXPECT_EQ(pool->slotBytes(), 32 * 128 * 128 * 4); // 2 MiB
  int32_t a = -1, b = -1, c = -1, d = -1;
  ASSERT_TRUE(pool->acquire(a).ok());
  ASSERT_TRUE(pool->acquire(b).ok());
  ASSERT_TRUE(pool->acquire(c).ok());
  EXPECT_EQ(std::set<int32_t>({a, b, c}), (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(pool->freeSlots(), 0);
  Status s = pool->acquire(d);
  EXPECT_EQ(s.code(), Code::Exhausted);
  EXPECT_NE(s.message().find("linear-state pool exhausted: all 3 slots are in "
                             "use"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(d, -1);
  ASSERT_TRUE(pool->release(b).ok());
  EXPECT_FALSE(pool->inUse(b));
  ASSERT_TRUE(pool->acquire(d).ok());
  EXPECT_EQ(d, b);
  EXPECT_TRUE(pool->inUse(d));
  ASSERT_TRUE(pool->release(a).ok());
  s = pool->release(a); // double release
  EXPECT_EQ(s.code(), Code::InvalidArgument);
  EXPECT_NE(s.message().find("not in use"), std::string::npos);
  s = pool->release(3);
  EXPECT_NE(s.message().find("outside [0, 3)"), std::string::npos);
  EXPECT_FALSE(StateSlotPool::create(0, 128, 3, pool).ok());
}

} // namespace
