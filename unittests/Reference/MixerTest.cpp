//===- MixerTest.cpp - whole sparse and linear mixers --------------------===//

#include "TestUtil.h"

using namespace salac::ref;
using namespace salac::ref::test;

namespace {

struct SparseWorld {
  PagedKVCache cache;
  CompressedKeys k1, k2;
};

SparseWorld makeWorld(const SparseMixerConfig &cfg,
                      const std::vector<int64_t> &capacity, int64_t pageSize,
                      int64_t k1PageSize, unsigned seed) {
  const int64_t KVH = cfg.shape.numKVHeads, D = cfg.shape.headDim;
  return {makeCache(capacity, pageSize, KVH, D, seed),
          makeCompressed(capacity, cfg.kernel1, cfg.stride1, k1PageSize, KVH, D,
                         seed + 1),
          makeCompressed(capacity, cfg.kernel2, cfg.stride2, k1PageSize, KVH, D,
                         seed + 2)};
}

/// Activations of one step: q, z [T, H, D], k, v [T, KVH, D].
struct Step {
  RaggedBatch batch;
  std::vector<float> q, k, v, z;
};

Step makeStep(const SparseMixerConfig &cfg, const std::vector<int64_t> &qLens,
              const std::vector<int64_t> &seqLens, unsigned seed) {
  const int64_t H = cfg.shape.numHeads, KVH = cfg.shape.numKVHeads,
                D = cfg.shape.headDim;
  Step s;
  s.batch = batchOf(qLens, seqLens);
  int64_t T = s.batch.numTokens();
  s.q = randomBF16(T * H * D, seed, 2.0f);
  s.k = randomBF16(T * KVH * D, seed + 1, 2.0f);
  s.v = randomBF16(T * KVH * D, seed + 2);
  s.z = randomBF16(T * H * D, seed + 3, 3.0f);
  return s;
}

SparseMixerConfig smallSparse() {
  SparseMixerConfig cfg;
  cfg.shape = {4, 2, 8, 0.0};
  cfg.topk = 2;
  cfg.windowSize = 128; // 2 local blocks
  cfg.denseLen = 0;     // always sparse
  return cfg;
}

TEST(SparseMixer, PageSizesAndShuffledPagesGiveIdenticalResults) {
  // Two steps over three sequences: a prefill of 690 / 263 / 0 tokens, then
  // 10 / 37 / 140 more (ending at 700, 300, 140 tokens: 11, 5, 3 blocks).
  for (LseMode lse : {LseMode::Exact, LseMode::K2}) {
    SparseMixerConfig cfg = smallSparse();
    cfg.lse = lse;
    std::vector<int64_t> cap = {700, 300, 140};
    Step s1 = makeStep(cfg, {690, 263, 0}, {690, 263, 0}, 10);
    Step s2 = makeStep(cfg, {10, 37, 140}, {700, 300, 140}, 20);
    std::vector<std::vector<float>> outs;
    unsigned seed = 1;
    for (auto [ps, ps1] : {std::pair<int64_t, int64_t>{64, 16}, {16, 1}, {1, 4}, {64, 64}}) {
      SparseWorld w = makeWorld(cfg, cap, ps, ps1, seed += 10);
      std::vector<float> o1, o2;
      ASSERT_OK(sparseMixer(cfg, s1.batch, s1.q, s1.k, s1.v, s1.z, w.cache,
                            w.k1, &w.k2, o1));
      ASSERT_OK(sparseMixer(cfg, s2.batch, s2.q, s2.k, s2.v, s2.z, w.cache,
                            w.k1, &w.k2, o2));
      o1.insert(o1.end(), o2.begin(), o2.end());
      for (float x : o1)
        ASSERT_TRUE(std::isfinite(x));
      outs.push_back(o1);
    }
    for (size_t i = 1; i < outs.size(); ++i)
      EXPECT_EQ(outs[i], outs[0]) << "layout " << i;
  }
}

TEST(SparseMixer, IsTheCompositionOfTheOps) {
  // dense_len 300: sequence 0 (exactly 300 tokens, 5 blocks of which 4 are
  // selected) is sparse, sequences 1 (150) and 2 (299) dense, 3 (420) sparse.
  SparseMixerConfig cfg = smallSparse();
  cfg.denseLen = 300;
  std::vector<int64_t> cap = {300, 150, 299, 420};
  SparseWorld w = makeWorld(cfg, cap, 16, 2, 5);
  Step pre = makeStep(cfg, {290, 100, 0, 419}, {290, 100, 0, 419}, 30);
  std::vector<float> out;
  ASSERT_OK(sparseMixer(cfg, pre.batch, pre.q, pre.k, pre.v, pre.z, w.cache,
                        w.k1, &w.k2, out));
  Step s = makeStep(cfg, {10, 50, 299, 1}, {300, 150, 299, 420}, 40);
  ASSERT_OK(sparseMixer(cfg, s.batch, s.q, s.k, s.v, s.z, w.cache, w.k1,
                        &w.k2, out));

  BlockScores scores;
  BlockSelection sel;
  std::vector<float> sparse, dense, gatedSparse, gatedDense, want;
  ASSERT_OK(blockScores(cfg.stage1(), s.batch, s.q, w.k1, &w.k2, scores));
  ASSERT_OK(topkBlocks(cfg.topkConfig(), s.batch, scores, sel));
  ASSERT_OK(sparseAttention(cfg.shape, cfg.blockSize, s.batch, s.q, w.cache,
                            sel, sparse));
  ASSERT_OK(denseAttention(cfg.shape, s.batch, s.q, w.cache, dense));
  ASSERT_OK(sigmoidGate(sparse, s.z, gatedSparse));
  ASSERT_OK(sigmoidGate(dense, s.z, gatedDense));
  ASSERT_OK(lengthSelect(s.batch, cfg.denseLen, gatedDense, gatedSparse, want));
  EXPECT_EQ(out, want);
  // Sparse differs from dense on the last query of sequence 0 (at the
  // threshold) and on sequence 3, so the threshold comparison is observable.
  for (int64_t row : {int64_t{9}, s.batch.numTokens() - 1}) {
    std::vector<float> a(gatedSparse.begin() + row * 32,
                         gatedSparse.begin() + (row + 1) * 32);
    std::vector<float> b(gatedDense.begin() + row * 32,
                         gatedDense.begin() + (row + 1) * 32);
    EXPECT_GT(maxRelDiff(a, b), 1e-4) << "row " << row;
  }
}

TEST(SparseMixer, PrefillThenDecodeEqualsOnePrefill) {
  SparseMixerConfig cfg = smallSparse();
  const int64_t N = 333, H = 4, KVH = 2, D = 8;
  Step all = makeStep(cfg, {N}, {N}, 50);
  SparseWorld w1 = makeWorld(cfg, {N}, 16, 4, 60);
  std::vector<float> whole;
  ASSERT_OK(sparseMixer(cfg, all.batch, all.q, all.k, all.v, all.z, w1.cache,
                        w1.k1, &w1.k2, whole));
  // The same tokens as 300 + 31 + 1 + 1.
  SparseWorld w2 = makeWorld(cfg, {N}, 1, 3, 70);
  std::vector<float> parts;
  int64_t done = 0;
  for (int64_t len : {300, 31, 1, 1}) {
    auto slice = [&](const std::vector<float> &x, int64_t width) {
      return std::vector<float>(x.begin() + done * width,
                                x.begin() + (done + len) * width);
    };
    std::vector<float> o;
    ASSERT_OK(sparseMixer(cfg, batchOf({len}, {done + len}),
                          slice(all.q, H * D), slice(all.k, KVH * D),
                          slice(all.v, KVH * D), slice(all.z, H * D), w2.cache,
                          w2.k1, &w2.k2, o));
    parts.insert(parts.end(), o.begin(), o.end());
    done += len;
  }
  EXPECT_EQ(parts, whole);
  // Both compressed stores hold every complete window, bf16-rounded.
  for (const SparseWorld *w : {&w1, &w2})
    for (const CompressedKeys *c : {&w->k1, &w->k2}) {
      std::vector<float> want, got;
      ASSERT_OK(compressKeysFromScratch(all.k, N, KVH, D, c->kernel, c->stride,
                                        true, want));
      ASSERT_OK(gatherEntries(c->store, c->table, 0,
                              numCompressed(N, c->kernel, c->stride), got));
      EXPECT_EQ(got, want) << "kernel " << c->kernel;
      EXPECT_EQ(got.size(), (c->kernel == 32 ? 19u : 4u) * KVH * D);
    }
}

TEST(SparseMixer, MiniCPMSalaDefaults) {
  SparseMixerConfig cfg; // 32/2/128, 32/16, 128/64, block 64, topk 64, ...
  ASSERT_OK(cfg.validate());
  EXPECT_EQ(cfg.topkConfig().numSelected(), 96);
  EXPECT_EQ(cfg.stage1().poolStride, 4);
  // 8200 >= dense_len 8192: sparse. One decode token after 8199 cached ones.
  const int64_t N = 8200;
  SparseWorld w = makeWorld(cfg, {N}, 64, 16, 80);
  // Fill the history directly (running the mixer over an 8199-token prefill
  // would be quadratic and slow in a debug build).
  RaggedBatch pre = batchOf({N - 1}, {N - 1});
  ASSERT_OK(kvAppend(pre, randomBF16((N - 1) * 2 * 128, 90, 2.0f),
                     randomBF16((N - 1) * 2 * 128, 91), w.cache));
  ASSERT_OK(compressKeys(pre, w.cache, w.k1, true));
  ASSERT_OK(compressKeys(pre, w.cache, w.k2, true));
  std::vector<float> out;
  Step s = makeStep(cfg, {1}, {N}, 100);
  ASSERT_OK(sparseMixer(cfg, s.batch, s.q, s.k, s.v, s.z, w.cache, w.k1,
                        &w.k2, out));
  BlockScores scores;
  BlockSelection sel;
  ASSERT_OK(blockScores(cfg.stage1(), s.batch, s.q, w.k1, nullptr, scores));
  EXPECT_EQ(scores.numBlocks, 129);
  ASSERT_OK(topkBlocks(cfg.topkConfig(), s.batch, scores, sel));
  for (int64_t g = 0; g < 2; ++g) {
    // t = 8199: own block 128, local window 97..128, and block 0; the other
    // 63 come from the scores (129 candidates, 96 selected).
    EXPECT_EQ(sel.at(0, g, 0), 0);
    for (int64_t i = 0; i < 32; ++i)
      EXPECT_EQ(sel.at(0, g, 64 + i), 97 + i);
    for (int64_t i = 1; i < 96; ++i)
      EXPECT_LT(sel.at(0, g, i - 1), sel.at(0, g, i));
  }
  EXPECT_NE(std::vector<int32_t>(sel.indices.begin(), sel.indices.begin() + 96),
            std::vector<int32_t>(sel.indices.begin() + 96, sel.indices.end()))
      << "the two KV groups select independently";
  std::vector<float> sparse, gated, dense;
  ASSERT_OK(sparseAttention(cfg.shape, 64, s.batch, s.q, w.cache, sel, sparse));
  ASSERT_OK(sigmoidGate(sparse, s.z, gated));
  EXPECT_EQ(out, gated);
  // A short context takes the dense path.
  SparseWorld w2 = makeWorld(cfg, {100}, 64, 16, 110);
  Step shortStep = makeStep(cfg, {100}, {100}, 120);
  ASSERT_OK(sparseMixer(cfg, shortStep.batch, shortStep.q, shortStep.k,
                        shortStep.v, shortStep.z, w2.cache, w2.k1, nullptr, out));
  ASSERT_OK(denseAttention(cfg.shape, shortStep.batch, shortStep.q, w2.cache, dense));
  ASSERT_OK(sigmoidGate(dense, shortStep.z, gated));
  EXPECT_EQ(out, gated);
}

TEST(SparseMixer, ErrorsLeaveTheCacheUntouched) {
  SparseMixerConfig cfg = smallSparse();
  SparseWorld w = makeWorld(cfg, {100, 100}, 16, 4, 130);
  Step s = makeStep(cfg, {100, 100}, {100, 100}, 140);
  std::vector<float> out;
  SparseWorld bad = w;
  bad.k1.table.pages[bad.k1.table.maxPages] = -3; // sequence 1's K1 page 0
  Status st = sparseMixer(cfg, s.batch, s.q, s.k, s.v, s.z, bad.cache, bad.k1,
                          &bad.k2, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("K1"), std::string::npos) << st.message();
  for (float x : bad.cache.k.data)
    ASSERT_TRUE(std::isnan(x));
  bad = w;
  bad.cache.table.pages[1] = 99999;
  EXPECT_FALSE(sparseMixer(cfg, s.batch, s.q, s.k, s.v, s.z, bad.cache, bad.k1,
                           &bad.k2, out).ok());
  for (float x : bad.cache.k.data)
    ASSERT_TRUE(std::isnan(x));
  cfg.lse = LseMode::K2;
  EXPECT_FALSE(sparseMixer(cfg, s.batch, s.q, s.k, s.v, s.z, w.cache, w.k1,
                           nullptr, out).ok());
  cfg = smallSparse();
  cfg.windowSize = 100; // not a multiple of the block
  EXPECT_FALSE(cfg.validate().ok());
}

//===----------------------------------------------------------------------===//
// Linear mixer
//===----------------------------------------------------------------------===//

TEST(LinearMixer, IsTheCompositionOfTheOps) {
  LinearMixerConfig cfg;
  cfg.numHeads = 3;
  cfg.headDim = 8;
  const int64_t H = 3, D = 8;
  RaggedBatch batch = batchOf({70, 1, 5}, {70, 12, 9});
  const int64_t T = batch.numTokens();
  std::vector<float> q = randomBF16(T * H * D, 1, 3.0f), k = randomBF16(T * H * D, 2, 3.0f),
                     v = randomBF16(T * H * D, 3), z = randomBF16(T * H * D, 4, 3.0f),
                     qw = randomBF16(D, 5), kw = randomBF16(D, 6),
                     ow = randomBF16(H * D, 7);
  StatePool pool0 = StatePool::zeros(3, H, D);
  pool0.data = randomBF16(pool0.data.size(), 8, 0.3f);
  std::vector<int32_t> slots = {2, 0, 1};

  StatePool pool = pool0;
  std::vector<float> out;
  ASSERT_OK(linearMixer(cfg, batch, q, k, v, z, qw, kw, ow, pool, slots, out));

  StatePool pool2 = pool0;
  std::vector<float> qn, kn, y, want;
  std::vector<int64_t> pos = batch.tokenPositions();
  ASSERT_OK(rmsNormPerHead(q, T, H, D, qw, 1e-6, qn));
  ASSERT_OK(rmsNormPerHead(k, T, H, D, kw, 1e-6, kn));
  ASSERT_OK(rope(qn, T, H, D, pos, 10000.0, RopeStyle::NeoX, qn));
  ASSERT_OK(rope(kn, T, H, D, pos, 10000.0, RopeStyle::NeoX, kn));
  LinearAttentionConfig la{H, D, {}, 0.0, LinearForm::Recurrent, 64};
  ASSERT_OK(linearAttention(la, batch, qn, kn, v, pool2, slots, y));
  ASSERT_OK(rmsNormFull(y, T, H, D, ow, 1e-6, y));
  ASSERT_OK(sigmoidGate(y, z, want));
  // The mixer used the chunked form for the prefill rows.
  EXPECT_LT(maxRelDiff(out, want), 1e-5);
  EXPECT_LT(maxRelDiff(pool.data, pool2.data), 1e-6);

  // Steps switched off are skipped.
  cfg.useRope = cfg.qkNorm = cfg.useOutputNorm = cfg.useOutputGate = false;
  pool = pool0;
  pool2 = pool0;
  ASSERT_OK(linearMixer(cfg, batch, q, k, v, {}, {}, {}, {}, pool, slots, out));
  ASSERT_OK(linearAttention(la, batch, q, k, v, pool2, slots, want));
  EXPECT_LT(maxRelDiff(out, want), 1e-5);
}

TEST(LinearMixer, DefaultsPrefillThenDecode) {
  LinearMixerConfig cfg; // 32 heads, D 128, eps 1e-6, theta 10000, NeoX
  const int64_t H = 32, D = 128, N = 67;
  std::vector<float> q = randomBF16(N * H * D, 11, 3.0f), k = randomBF16(N * H * D, 12, 3.0f),
                     v = randomBF16(N * H * D, 13), z = randomBF16(N * H * D, 14, 3.0f),
                     qw = randomBF16(D, 15), kw = randomBF16(D, 16),
                     ow = randomBF16(H * D, 17);
  StatePool whole = StatePool::zeros(1, H, D);
  std::vector<float> oWhole;
  ASSERT_OK(linearMixer(cfg, batchOf({N}, {N}), q, k, v, z, qw, kw, ow, whole,
                        {0}, oWhole));
  StatePool pool = StatePool::zeros(1, H, D);
  std::vector<float> oParts;
  int64_t done = 0;
  for (int64_t len : {65, 1, 1}) {
    auto slice = [&](const std::vector<float> &x) {
      return std::vector<float>(x.begin() + done * H * D,
                                x.begin() + (done + len) * H * D);
    };
    std::vector<float> o;
    ASSERT_OK(linearMixer(cfg, batchOf({len}, {done + len}), slice(q), slice(k),
                          slice(v), slice(z), qw, kw, ow, pool, {0}, o));
    oParts.insert(oParts.end(), o.begin(), o.end());
    done += len;
  }
  EXPECT_LT(maxRelDiff(oParts, oWhole), 1e-5);
  EXPECT_LT(maxRelDiff(pool.data, whole.data), 1e-6);
}

} // namespace
