//===- CommonTest.cpp - bf16 rounding, ragged batch, page tables ---------===//

#include "TestUtil.h"

#include <cstring>
#include <limits>

using namespace salac::ref;
using namespace salac::ref::test;

namespace {

uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

TEST(BF16, RoundsToNearestEven) {
  // bf16 keeps 7 fraction bits: the spacing just above 1 is 2^-7.
  EXPECT_EQ(roundToBF16(1.0f), 1.0f);
  EXPECT_EQ(roundToBF16(1.0f + 0x1p-8f), 1.0f);                   // tie -> even
  EXPECT_EQ(roundToBF16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);     // tie -> even
  EXPECT_EQ(roundToBF16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f); // above tie
  EXPECT_EQ(roundToBF16(-1.0f - 0x1p-8f - 0x1p-20f), -1.0f - 0x1p-7f);
  EXPECT_EQ(roundToBF16(3.14159265f), 3.140625f);
  EXPECT_TRUE(std::isinf(roundToBF16(std::numeric_limits<float>::max())));
  EXPECT_TRUE(std::isnan(roundToBF16(NAN)));
  EXPECT_EQ(roundToBF16(-0.0f), -0.0f);
  EXPECT_EQ(bits(roundToBF16(-0.0f)), 0x80000000u);
  // Subnormals round on the same 16 bits.
  EXPECT_EQ(bits(roundToBF16(std::numeric_limits<float>::denorm_min())), 0u);
}

TEST(BF16, DoubleIsRoundedOnce) {
  // 1 + 2^-8 + 2^-40 is above the tie: correct bf16 is 1 + 2^-7. Rounding to
  // float first would land exactly on the tie and then go to 1.
  double x = 1.0 + 0x1p-8 + 0x1p-40;
  EXPECT_EQ(static_cast<float>(x), 1.0f + 0x1p-8f);
  EXPECT_EQ(roundToBF16(x), 1.0f + 0x1p-7f);
  EXPECT_EQ(roundToBF16(-x), -1.0f - 0x1p-7f);
  EXPECT_EQ(roundToBF16(1.0 + 0x1p-8), 1.0f); // exact tie still to even
  EXPECT_EQ(roundToBF16(0.1), roundToBF16(0.1f));
  EXPECT_TRUE(std::isinf(roundToBF16(1e300)));

  std::vector<float> v = {1.0f + 0x1p-8f, 2.0f, 0.3f};
  roundToBF16(v);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], 2.0f);
  EXPECT_TRUE(isBF16(v[2]));
  EXPECT_FALSE(isBF16(0.3f));
}

TEST(RaggedBatch, PositionsAndValidation) {
  RaggedBatch batch = batchOf({2, 0, 3}, {5, 4, 3});
  ASSERT_OK(batch.validate());
  EXPECT_EQ(batch.numTokens(), 5);
  EXPECT_EQ(batch.tokenPositions(), (std::vector<int64_t>{3, 4, 0, 1, 2}));
  EXPECT_EQ(batch.tokenSequences(), (std::vector<int32_t>{0, 0, 2, 2, 2}));
  EXPECT_EQ(maxBlocks(batch, 2), 3);

  RaggedBatch bad = batchOf({4}, {3});
  EXPECT_FALSE(bad.validate().ok());
  bad = batchOf({1, 1}, {1});
  EXPECT_FALSE(bad.validate().ok());
  bad.cuSeqlensQ = {0, 2, 1};
  bad.seqLens = {5, 5};
  EXPECT_FALSE(bad.validate().ok());
}

TEST(PagedStore, CheckMappedAndGather) {
  PagedStore store = PagedStore::zeros(3, 2, 1, 1);
  store.data = {0, 1, 2, 3, 4, 5}; // page p row r holds 2p + r
  PageTable table;
  table.maxPages = 2;
  table.pages = {2, 0, 1, -1};
  std::vector<float> rows;
  ASSERT_OK(gatherEntries(store, table, 0, 4, rows));
  EXPECT_EQ(rows, (std::vector<float>{4, 5, 0, 1}));
  ASSERT_OK(gatherEntries(store, table, 1, 2, rows));
  EXPECT_EQ(rows, (std::vector<float>{2, 3}));

  Status s = checkMapped(store, table, 1, 3, "store");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("page_table[1][1] = -1"), std::string::npos)
      << s.message();
  s = checkMapped(store, table, 0, 5, "store");
  EXPECT_NE(s.message().find("max_pages"), std::string::npos) << s.message();
  table.pages[1] = 3;
  EXPECT_FALSE(checkMapped(store, table, 0, 4, "store").ok());
  EXPECT_FALSE(checkMapped(store, table, 2, 1, "store").ok()); // no row
}

TEST(Compressed, NumCompressed) {
  EXPECT_EQ(numCompressed(31, 32, 16), 0);
  EXPECT_EQ(numCompressed(32, 32, 16), 1);
  EXPECT_EQ(numCompressed(47, 32, 16), 1);
  EXPECT_EQ(numCompressed(48, 32, 16), 2);
  EXPECT_EQ(numCompressed(8192, 32, 16), 511);
  EXPECT_EQ(numCompressed(8192, 128, 64), 127);
}

} // namespace
