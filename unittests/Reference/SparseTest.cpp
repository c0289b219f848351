//===- SparseTest.cpp - block_scores, topk_blocks, sparse/dense attention ===//

#include "TestUtil.h"

#include <limits>

using namespace salac::ref;
using namespace salac::ref::test;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

//===----------------------------------------------------------------------===//
// A 3-block context (golden.py three_block_case): H = 2 query heads sharing
// KVH = 1 KV head, D = 2, K1 kernel 4 / stride 2, K2 kernel 8 / stride 4,
// block 8, max-pool kernel 5 / stride 4 / padding 1, n = 24 tokens.
//   K[p] = ((p % 5) - 2, ((3p) % 7)/2 - 1.5),  V[p] = (((5p) % 9)/4 - 1, (p % 3) - 1)
//===----------------------------------------------------------------------===//

class ThreeBlocks : public ::testing::Test {
protected:
  void SetUp() override {
    for (int p = 0; p < 24; ++p) {
      K.push_back(static_cast<float>(p % 5) - 2.0f);
      K.push_back(static_cast<float>((3 * p) % 7) / 2.0f - 1.5f);
      V.push_back(static_cast<float>((5 * p) % 9) / 4.0f - 1.0f);
      V.push_back(static_cast<float>(p % 3) - 1.0f);
    }
    cache = makeCache({24}, 4, 1, 2, 17);
    k1 = makeCompressed({24}, 4, 2, 3, 1, 2, 18);
    k2 = makeCompressed({24}, 8, 4, 2, 1, 2, 19);
    RaggedBatch prefill = batchOf({24}, {24});
    ASSERT_OK(kvAppend(prefill, K, V, cache));
    ASSERT_OK(compressKeys(prefill, cache, k1, true));
    ASSERT_OK(compressKeys(prefill, cache, k2, true));
    cfg.shape = {2, 1, 2, 0.0};
    cfg.blockSize = 8;
  }

  // q rows [T=3, H=2, D=2] for t = 21, 22, 23.
  std::vector<float> q = {1, 0, 0, 1, 0.5f, -1, -1, 0.5f, 2, 1, -0.5f, -0.5f};
  std::vector<float> K, V;
  PagedKVCache cache;
  CompressedKeys k1, k2;
  Stage1Config cfg;
};

TEST_F(ThreeBlocks, BlockScoresExact) {
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batchOf({3}, {24}), q, k1, nullptr, s));
  ASSERT_EQ(s.numBlocks, 3);
  // golden.py. t = 21: block 1's max is entry 3 (the padding entry, shared
  // with block 0); t = 22: block 2's max is entry 7 (its padding entry).
  const double want[3][3] = {
      {0.24608841112732366, 0.24608841112732366, 0.25607163638281},
      {0.22178722464129969, 0.2202801011700649, 0.20845329685481828},
      {0.25061017593435486, 0.25061017593435486, 0.2641856039738101}};
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(s.at(t, 0, j), want[t][j], 1e-14) << "t " << t << " j " << j;
}

TEST_F(ThreeBlocks, BlockScoresLseFromK2) {
  cfg.lse = LseMode::K2;
  BlockScores s;
  EXPECT_FALSE(blockScores(cfg, batchOf({3}, {24}), q, k1, nullptr, s).ok());
  ASSERT_OK(blockScores(cfg, batchOf({3}, {24}), q, k1, &k2, s));
  // golden.py: p = exp(s1 - logsumexp(visible K2 scores)), not normalised.
  const double want[3][3] = {
      {0.6304585401711338, 0.6304585401711338, 0.6564527336992417},
      {0.5593043079690847, 0.5560755186088897, 0.524557502531146},
      {0.5757811292598844, 0.5757811292598844, 0.6073614899218913}};
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(s.at(t, 0, j), want[t][j], 1e-14) << "t " << t << " j " << j;
}

TEST_F(ThreeBlocks, QueryInsideFirstBlock) {
  // t = 5: K1 entries 0 and 1 visible (2*1 + 3 <= 5), no K2 entry yet, so
  // both modes give the exact value (golden.py).
  std::vector<float> q0(q.begin(), q.begin() + 4);
  for (LseMode mode : {LseMode::Exact, LseMode::K2}) {
    cfg.lse = mode;
    BlockScores s;
    ASSERT_OK(blockScores(cfg, batchOf({1}, {6}), q0, k1, &k2, s));
    ASSERT_EQ(s.numBlocks, 1);
    EXPECT_NEAR(s.at(0, 0, 0), 1.195465643171457, 1e-14);
  }
  cfg.lse = LseMode::Exact;
  TopkConfig tk{8, 2, 1, 1};
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batchOf({1}, {6}), q0, k1, nullptr, s));
  BlockSelection sel;
  ASSERT_OK(topkBlocks(tk, batchOf({1}, {6}), s, sel));
  EXPECT_EQ(sel.indices, (std::vector<int32_t>{0, -1, -1}));
}

TEST_F(ThreeBlocks, ContextShorterThanOneWindow) {
  // n = 3 < kernel 4: no K1 entry exists; stage 1 gives -inf for every block,
  // top-k still selects block 0 (a candidate and forced), and stage 2 is then
  // exactly dense attention.
  std::vector<float> q3(q.begin(), q.end());
  RaggedBatch batch = batchOf({3}, {3});
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batch, q3, k1, nullptr, s));
  ASSERT_EQ(s.numBlocks, 1);
  for (double x : s.values)
    EXPECT_EQ(x, -kInf);
  BlockSelection sel;
  ASSERT_OK(topkBlocks(TopkConfig{8, 1, 0, 0}, batch, s, sel)); // nothing forced
  EXPECT_EQ(sel.indices, (std::vector<int32_t>{0, 0, 0}));
  std::vector<float> sparse, dense;
  ASSERT_OK(sparseAttention(cfg.shape, 8, batch, q3, cache, sel, sparse));
  ASSERT_OK(denseAttention(cfg.shape, batch, q3, cache, dense));
  EXPECT_EQ(sparse, dense);
}

TEST_F(ThreeBlocks, Stage2OverSelectedBlocks) {
  // t = 23 attends to blocks {0, 2}: positions 0..7 and 16..23 (golden.py).
  std::vector<float> q23(q.begin() + 8, q.end());
  RaggedBatch batch = batchOf({1}, {24});
  const double want[2][2] = {{-0.20387389655293237, 0.05404486032657815},
                             {0.0258226382405999, -0.0759400989795388}};
  for (auto idx : {std::vector<int32_t>{0, 2, -1}, {-1, 0, 2}, {0, -1, 2}}) {
    BlockSelection sel{1, 1, 3, idx};
    std::vector<float> o;
    ASSERT_OK(sparseAttention(cfg.shape, 8, batch, q23, cache, sel, o));
    for (int h = 0; h < 2; ++h)
      for (int d = 0; d < 2; ++d)
        EXPECT_NEAR(o[h * 2 + d], want[h][d], 1e-7);
  }
  // Malformed selections are rejected.
  std::vector<float> o;
  for (auto idx : {std::vector<int32_t>{2, 0, -1}, {0, 0, -1}, {-2, 0, 1}}) {
    BlockSelection sel{1, 1, 3, idx};
    EXPECT_FALSE(sparseAttention(cfg.shape, 8, batch, q23, cache, sel, o).ok());
  }
  BlockSelection wrongShape{1, 2, 3, {0, 1, 2, 0, 1, 2}};
  EXPECT_FALSE(
      sparseAttention(cfg.shape, 8, batch, q23, cache, wrongShape, o).ok());
}

//===----------------------------------------------------------------------===//
// Max-pool edges. K1 kernel = stride = 1 makes K1 the K rows themselves; with
// H = 1, D = 1, q = 1 and scale 1 the stage-1 probability of entry i at query
// t is exp(k_i) / Z_t, Z_t = sum_{i <= t} exp(k_i). Block size 4.
//===----------------------------------------------------------------------===//

class MaxPool : public ::testing::Test {
protected:
  void SetUp() override {
    cache = makeCache({11}, 2, 1, 1, 3);
    k1 = makeCompressed({11}, 1, 1, 4, 1, 1, 4);
    RaggedBatch prefill = batchOf({11}, {11});
    ASSERT_OK(kvAppend(prefill, k, k, cache));
    ASSERT_OK(compressKeys(prefill, cache, k1, true));
    cfg.shape = {1, 1, 1, 1.0};
    cfg.blockSize = 4;
  }
  double prob(int i, int t) const {
    double z = 0.0;
    for (int j = 0; j <= t; ++j)
      z += std::exp(static_cast<double>(k[j]));
    return std::exp(static_cast<double>(k[i])) / z;
  }
  std::vector<float> k = {0.0f, 0.5f, -1.0f, 2.0f, 1.0f,   0.25f,
                          -0.5f, 0.75f, 1.5f, -2.0f, 0.125f};
  PagedKVCache cache;
  CompressedKeys k1;
  Stage1Config cfg;
};

TEST_F(MaxPool, KernelFiveStrideFourPaddingOne) {
  // Queries t = 6..10. Windows: block 0 -> entries {0..3} (entry -1 is
  // padding), block 1 -> {3..7}, block 2 -> {7..10} (entry 11 past the end).
  // Argmaxes of k: block 0 -> 3 (2.0); block 1 -> 3 (2.0, borrowed through the
  // padding from block 0); block 2 -> 8 (1.5) once visible, else 7 (0.75).
  RaggedBatch batch = batchOf({5}, {11});
  std::vector<float> q(5, 1.0f);
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batch, q, k1, nullptr, s));
  ASSERT_EQ(s.numBlocks, 3);
  for (int r = 0; r < 5; ++r) {
    int t = 6 + r;
    EXPECT_DOUBLE_EQ(s.at(r, 0, 0), prob(3, t));
    EXPECT_DOUBLE_EQ(s.at(r, 0, 1), prob(3, t));
    if (t < 8) // t = 6, 7: block 2 is past the query's own block
      EXPECT_EQ(s.at(r, 0, 2), -kInf);
    else
      EXPECT_DOUBLE_EQ(s.at(r, 0, 2), prob(8, t));
  }
}

TEST_F(MaxPool, NoPaddingNonOverlapping) {
  // kernel 4, padding 0: block j -> entries {4j..4j+3}; block 1 now peaks at
  // entry 4 (1.0), block 2 at entry 8.
  cfg.poolKernel = 4;
  cfg.poolPadding = 0;
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batchOf({1}, {11}), {1.0f}, k1, nullptr, s));
  EXPECT_DOUBLE_EQ(s.at(0, 0, 0), prob(3, 10));
  EXPECT_DOUBLE_EQ(s.at(0, 0, 1), prob(4, 10));
  EXPECT_DOUBLE_EQ(s.at(0, 0, 2), prob(8, 10));
}

TEST_F(MaxPool, WideWindowStopsAtOwnBlock) {
  // kernel 9, padding 4: block 2's window {4..12} holds visible entries at
  // t = 6, but blocks past floor(t/4) = 1 are -inf by definition. Block 1's
  // window {0..8} restricted to visible entries 0..6 peaks at entry 3.
  cfg.poolKernel = 9;
  cfg.poolPadding = 4;
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batchOf({1}, {7}), {1.0f}, k1, nullptr, s));
  ASSERT_EQ(s.numBlocks, 2);
  EXPECT_DOUBLE_EQ(s.at(0, 0, 0), prob(3, 6));
  EXPECT_DOUBLE_EQ(s.at(0, 0, 1), prob(3, 6));
  // With a batch whose other sequence is longer, numBlocks grows to 3 and
  // this query's block 2 stays -inf. (Both sequences share K1's pages.)
  CompressedKeys shared = k1;
  shared.table.pages.insert(shared.table.pages.end(), k1.table.pages.begin(),
                            k1.table.pages.end());
  ASSERT_OK(blockScores(cfg, batchOf({1, 0}, {7, 11}), {1.0f}, shared, nullptr, s));
  ASSERT_EQ(s.numBlocks, 3);
  EXPECT_EQ(s.at(0, 0, 2), -kInf);
}

TEST_F(MaxPool, RejectsInconsistentPoolStride) {
  cfg.poolStride = 2; // 2 * kernel stride 1 != block 4
  BlockScores s;
  Status st = blockScores(cfg, batchOf({1}, {11}), {1.0f}, k1, nullptr, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("block size"), std::string::npos) << st.message();
}

//===----------------------------------------------------------------------===//
// Top-k selection
//===----------------------------------------------------------------------===//

BlockScores scoresOf(const std::vector<std::vector<double>> &rows,
                     int64_t numKVHeads) {
  BlockScores s;
  s.numKVHeads = numKVHeads;
  s.numTokens = static_cast<int64_t>(rows.size()) / numKVHeads;
  s.numBlocks = static_cast<int64_t>(rows[0].size());
  for (const auto &r : rows)
    s.values.insert(s.values.end(), r.begin(), r.end());
  return s;
}

TEST(TopkBlocks, TiesGoToTheLowerIndex) {
  // Block 4, t = 39 (block 9). init 1 + local 2 forced {0, 8, 9}; K = 3 + 2 =
  // 5 leaves 2 slots. Group 0: 0.9 at {2, 5, 6} -> {2, 5}. Group 1: all tied
  // -> {1, 2}. Forced blocks win whatever their score (-inf, 0).
  BlockScores s = scoresOf(
      {{0.0, 0.5, 0.9, 0.5, 0.2, 0.9, 0.9, 0.5, -kInf, 0.0},
       {0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3}},
      2);
  BlockSelection sel;
  ASSERT_OK(topkBlocks(TopkConfig{4, 3, 1, 2}, batchOf({1}, {40}), s, sel));
  EXPECT_EQ(sel.indices,
            (std::vector<int32_t>{0, 2, 5, 8, 9, 0, 1, 2, 8, 9}));
}

TEST(TopkBlocks, ForcedLocalWindowAndInitBlocks) {
  // t = 39 (block 9), local 3, init 2, topk 3: K = 6, forced {0, 1, 7, 8, 9}
  // (scores -inf there), then the single best of 2..6: block 3 (0.99).
  BlockScores s =
      scoresOf({{-kInf, -kInf, 0.1, 0.99, 0.2, 0.5, 0.3, -kInf, -kInf, -kInf}}, 1);
  BlockSelection sel;
  ASSERT_OK(topkBlocks(TopkConfig{4, 3, 2, 3}, batchOf({1}, {40}), s, sel));
  EXPECT_EQ(sel.indices, (std::vector<int32_t>{0, 1, 3, 7, 8, 9}));
  // The same scores with the window moved: t = 27 (block 6) forces {0, 1, 4,
  // 5, 6}; the best remaining of 2..3 is 3.
  s = scoresOf({{-kInf, -kInf, 0.1, 0.99, 0.2, 0.5, 0.3}}, 1);
  ASSERT_OK(topkBlocks(TopkConfig{4, 3, 2, 3}, batchOf({1}, {28}), s, sel));
  EXPECT_EQ(sel.indices, (std::vector<int32_t>{0, 1, 3, 4, 5, 6}));
}

TEST(TopkBlocks, PureTopkAndInfiniteCandidates) {
  // No forced blocks, K = 3 of candidates 0..5 (t = 23): 0.2@4, 0.1@2, then
  // the -inf candidates, lowest index first: 0.
  BlockScores s = scoresOf({{-kInf, -kInf, 0.1, -kInf, 0.2, -kInf, 7.0}}, 1);
  BlockSelection sel;
  ASSERT_OK(topkBlocks(TopkConfig{4, 3, 0, 0}, batchOf({1, 0}, {24, 28}), s, sel));
  EXPECT_EQ(sel.indices, (std::vector<int32_t>{0, 2, 4}));
  // Block 6 (score 7) is past the query's own block and never a candidate.
}

TEST(TopkBlocks, FewerCandidatesThanK) {
  // Queries at t = 2 (inside the first block), 13 (block 3), 40 (block 10)
  // of three sequences; K = 5.
  std::vector<double> row(11, 0.5);
  BlockScores s = scoresOf({row, row, row}, 1);
  BlockSelection sel;
  ASSERT_OK(topkBlocks(TopkConfig{4, 3, 1, 2}, batchOf({1, 1, 1}, {3, 14, 41}),
                       s, sel));
  EXPECT_EQ(sel.indices, (std::vector<int32_t>{0, -1, -1, -1, -1, //
                                               0, 1, 2, 3, -1,    //
                                               0, 1, 2, 9, 10}));
}

TEST(TopkBlocks, RejectsTooFewBlocks) {
  BlockScores s = scoresOf({{0.1, 0.2}}, 1);
  BlockSelection sel;
  EXPECT_FALSE(topkBlocks(TopkConfig{4, 3, 1, 2}, batchOf({1}, {9}), s, sel).ok());
  EXPECT_FALSE(topkBlocks(TopkConfig{4, 3, 1, 2}, batchOf({2}, {8}), s, sel).ok());
}

//===----------------------------------------------------------------------===//
// Attention on random data
//===----------------------------------------------------------------------===//

/// Causal GQA attention computed directly on contiguous arrays.
std::vector<double> naiveAttention(const std::vector<float> &q,
                                   const std::vector<float> &K,
                                   const std::vector<float> &V, int64_t t,
                                   int64_t H, int64_t KVH, int64_t D,
                                   const std::vector<bool> &allowed) {
  std::vector<double> o(H * D, 0.0);
  for (int64_t h = 0; h < H; ++h) {
    int64_t g = h / (H / KVH);
    double z = 0.0;
    std::vector<double> w(t + 1, 0.0);
    for (int64_t p = 0; p <= t; ++p) {
      if (!allowed[p])
        continue;
      double s = 0;
      for (int64_t d = 0; d < D; ++d)
        s += double(q[h * D + d]) * K[(p * KVH + g) * D + d];
      w[p] = std::exp(s / std::sqrt(double(D)));
      z += w[p];
    }
    for (int64_t p = 0; p <= t; ++p)
      for (int64_t d = 0; d < D; ++d)
        o[h * D + d] += w[p] / z * V[(p * KVH + g) * D + d];
  }
  return o;
}

class RandomAttention : public ::testing::Test {
protected:
  static constexpr int64_t H = 4, KVH = 2, D = 8, BLOCK = 16;
  void SetUp() override {
    for (size_t b = 0; b < n.size(); ++b) {
      K.push_back(randomBF16(n[b] * KVH * D, 100 + b, 2.0f));
      V.push_back(randomBF16(n[b] * KVH * D, 200 + b));
    }
    cache = makeCache(n, 5, KVH, D, 9);
    k1 = makeCompressed(n, 8, 4, 3, KVH, D, 10);
    RaggedBatch prefill = batchOf(n, n);
    std::vector<int64_t> zero(n.size(), 0);
    ASSERT_OK(kvAppend(prefill, packRows(K, KVH * D, zero, n),
                       packRows(V, KVH * D, zero, n), cache));
    ASSERT_OK(compressKeys(prefill, cache, k1, true));
    batch = batchOf(qLen, n);
    q = randomBF16(batch.numTokens() * H * D, 300, 2.0f);
    cfg.shape = {H, KVH, D, 0.0};
    cfg.blockSize = BLOCK;
  }
  std::vector<int64_t> n = {150, 64, 5, 97};
  std::vector<int64_t> qLen = {150, 3, 5, 1};
  std::vector<std::vector<float>> K, V;
  PagedKVCache cache;
  CompressedKeys k1;
  RaggedBatch batch;
  std::vector<float> q;
  Stage1Config cfg;
};

TEST_F(RandomAttention, DenseMatchesDirectFormula) {
  std::vector<float> o;
  ASSERT_OK(denseAttention(cfg.shape, batch, q, cache, o));
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      int64_t row = batch.qStart(b) + j, t = batch.historyLen(b) + j;
      std::vector<float> qr(q.begin() + row * H * D, q.begin() + (row + 1) * H * D);
      auto want = naiveAttention(qr, K[b], V[b], t, H, KVH, D,
                                 std::vector<bool>(t + 1, true));
      for (int64_t e = 0; e < H * D; ++e)
        ASSERT_NEAR(o[row * H * D + e], want[e], 1e-6) << "row " << row;
    }
}

TEST_F(RandomAttention, SparseEqualsDenseWhenEveryBlockIsSelected) {
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batch, q, k1, nullptr, s));
  BlockSelection sel;
  ASSERT_OK(topkBlocks(TopkConfig{BLOCK, 10, 1, 0}, batch, s, sel)); // 10 >= 10 blocks
  std::vector<float> sparse, dense;
  ASSERT_OK(sparseAttention(cfg.shape, BLOCK, batch, q, cache, sel, sparse));
  ASSERT_OK(denseAttention(cfg.shape, batch, q, cache, dense));
  EXPECT_LT(maxRelDiff(sparse, dense), 1e-6);
}

TEST_F(RandomAttention, SparseMatchesDirectFormulaOnSelectedBlocks) {
  BlockScores s;
  ASSERT_OK(blockScores(cfg, batch, q, k1, nullptr, s));
  BlockSelection sel;
  TopkConfig tk{BLOCK, 2, 1, 2};
  ASSERT_OK(topkBlocks(tk, batch, s, sel));
  std::vector<float> sparse, dense;
  ASSERT_OK(sparseAttention(cfg.shape, BLOCK, batch, q, cache, sel, sparse));
  ASSERT_OK(denseAttention(cfg.shape, batch, q, cache, dense));
  EXPECT_GT(maxRelDiff(sparse, dense), 1e-3); // really sparse somewhere
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    for (int64_t j = 0; j < batch.qLen(b); ++j) {
      int64_t row = batch.qStart(b) + j, t = batch.historyLen(b) + j;
      for (int64_t h = 0; h < H; ++h) {
        int64_t g = h / (H / KVH);
        std::vector<bool> allowed(t + 1, false);
        int count = 0;
        for (int64_t i = 0; i < sel.k; ++i) {
          int32_t blk = sel.at(row, g, i);
          if (blk < 0)
            continue;
          ++count;
          for (int64_t p = blk * BLOCK; p < (blk + 1) * BLOCK && p <= t; ++p)
            allowed[p] = true;
        }
        EXPECT_EQ(count, std::min<int64_t>(t / BLOCK + 1, tk.numSelected()));
        std::vector<float> qr(q.begin() + row * H * D, q.begin() + (row + 1) * H * D);
        auto want = naiveAttention(qr, K[b], V[b], t, H, KVH, D, allowed);
        for (int64_t d = 0; d < D; ++d)
          ASSERT_NEAR(sparse[(row * H + h) * D + d], want[h * D + d], 1e-6);
      }
    }
}

TEST_F(RandomAttention, LengthSelectPicksPerSequence) {
  std::vector<float> a(batch.numTokens() * 3, 1.0f), b(batch.numTokens() * 3, 2.0f), o;
  ASSERT_OK(lengthSelect(batch, 97, a, b, o)); // n = 150, 64, 5, 97
  for (int64_t s = 0; s < batch.numSeqs(); ++s)
    for (int64_t r = batch.qStart(s) * 3; r < (batch.qStart(s) + batch.qLen(s)) * 3; ++r)
      ASSERT_EQ(o[r], n[s] < 97 ? 1.0f : 2.0f);
  EXPECT_FALSE(lengthSelect(batch, 97, a, std::vector<float>(5), o).ok());
}

TEST_F(RandomAttention, OutOfRangePageIsAnError) {
  PagedKVCache bad = cache;
  bad.table.pages[2 * bad.table.maxPages] = 1000;
  std::vector<float> o;
  Status s = denseAttention(cfg.shape, batch, q, bad, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("page_table[2][0] = 1000"), std::string::npos)
      << s.message();
  BlockSelection sel{batch.numTokens(), KVH, 1,
                     std::vector<int32_t>(batch.numTokens() * KVH, 0)};
  EXPECT_FALSE(sparseAttention(cfg.shape, BLOCK, batch, q, bad, sel, o).ok());
  CompressedKeys badK1 = k1;
  badK1.table.pages[0] = -5;
  BlockScores sc;
  EXPECT_FALSE(blockScores(cfg, batch, q, badK1, nullptr, sc).ok());
}

} // namespace
