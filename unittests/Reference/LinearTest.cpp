//===- LinearTest.cpp - rms_norm, rope, sigmoid_gate, linear attention ---===//

#include "TestUtil.h"

using namespace salac::ref;
using namespace salac::ref::test;

namespace {

TEST(Elementwise, RmsNormPerHeadAndFull) {
  // x [T=1, H=2, D=2] = (3, 4 | 1, 1). Per head: rms(3,4) = sqrt(12.5),
  // rms(1,1) = 1. Full: rms = sqrt((9 + 16 + 1 + 1) / 4) = sqrt(6.75).
  std::vector<float> x = {3, 4, 1, 1}, out;
  ASSERT_OK(rmsNormPerHead(x, 1, 2, 2, {1.0f, 2.0f}, 0.0, out));
  EXPECT_FLOAT_EQ(out[0], 3 / std::sqrt(12.5f));
  EXPECT_FLOAT_EQ(out[1], 8 / std::sqrt(12.5f));
  EXPECT_FLOAT_EQ(out[2], 1.0f);
  EXPECT_FLOAT_EQ(out[3], 2.0f);
  ASSERT_OK(rmsNormFull(x, 1, 2, 2, {1, 1, 1, -1}, 0.0, out));
  float r = std::sqrt(6.75f);
  EXPECT_EQ(out.size(), 4u);
  EXPECT_FLOAT_EQ(out[0], 3 / r);
  EXPECT_FLOAT_EQ(out[1], 4 / r);
  EXPECT_FLOAT_EQ(out[3], -1 / r);
  // eps enters under the root: x = 0 stays 0, and (1,1) with eps 3 -> 1/2.
  ASSERT_OK(rmsNorm({1, 1, 0, 0}, 2, {1, 1}, 3.0, out));
  EXPECT_EQ(out, (std::vector<float>{0.5f, 0.5f, 0, 0}));
  EXPECT_FALSE(rmsNormPerHead(x, 1, 2, 2, {1.0f}, 0.0, out).ok());
  EXPECT_FALSE(rmsNorm({1, 2, 3}, 2, {1, 1}, 0.0, out).ok());
}

TEST(Elementwise, RopeNeoXAndInterleaved) {
  // D = 4, theta 100, position 3: pair 0 turns by 3 rad, pair 1 by
  // 3 * 100^(-1/2) = 0.3 rad (golden.py elementwise_case).
  std::vector<float> x = {1, 2, 3, 4}, out;
  ASSERT_OK(rope(x, 1, 1, 4, {3}, 100.0, RopeStyle::NeoX, out));
  const double neox[4] = {-1.413352520780047, 0.7285921516058536,
                          -2.828857481741469, 4.412386369825104};
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(out[i], neox[i], 1e-6);
  ASSERT_OK(rope(x, 1, 1, 4, {3}, 100.0, RopeStyle::Interleaved, out));
  const double inter[4] = {-1.27223251272018, -1.8388649851410237,
                           1.6839286407314598, 4.707906576486443};
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(out[i], inter[i], 1e-6);
  // Position 0 is the identity; every head of a token uses its position.
  std::vector<float> two = {1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8};
  ASSERT_OK(rope(two, 2, 2, 4, {0, 3}, 100.0, RopeStyle::NeoX, out));
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(out[i], two[i]);
  EXPECT_EQ(std::vector<float>(out.begin() + 8, out.begin() + 12),
            std::vector<float>(out.begin() + 12, out.end()));
  EXPECT_FALSE(rope({1, 2, 3}, 1, 1, 3, {0}, 100.0, RopeStyle::NeoX, out).ok());
  EXPECT_FALSE(rope(x, 1, 1, 4, {0, 1}, 100.0, RopeStyle::NeoX, out).ok());
}

TEST(Elementwise, SigmoidGate) {
  std::vector<float> out;
  ASSERT_OK(sigmoidGate({2, 2, -4, 3, 5}, {0, std::log(3.0f), -1000, 1000, -2},
                        out));
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 1.5f); // sigmoid(ln 3) = 3/4
  EXPECT_EQ(out[2], -0.0f);
  EXPECT_EQ(out[3], 3.0f);
  EXPECT_FLOAT_EQ(out[4], 5.0f / (1.0f + std::exp(2.0f)));
  EXPECT_FALSE(sigmoidGate({1, 2}, {1}, out).ok());
}

TEST(LinearAttention, DefaultSlopes) {
  EXPECT_EQ(defaultSlopes(4),
            (std::vector<double>{0.25, 0.0625, 0.015625, 0.00390625}));
  std::vector<double> s = defaultSlopes(32);
  ASSERT_EQ(s.size(), 32u);
  EXPECT_DOUBLE_EQ(s[0], std::pow(2.0, -0.25));
  EXPECT_DOUBLE_EQ(s[31], 1.0 / 256);
}

TEST(LinearAttention, GoldenRecurrence) {
  // H = 1, D = 2, slope 0.5 (gamma = e^-0.5), scale 1, three tokens from a
  // fresh state (golden.py linear_case):
  //   S0 = k0^T v0 = [[1,2],[1,2]], o0 = q0 S0 = (1, 2);
  //   S1 = g S0 + k1^T v1, o1 = q1 S1 = g (1, 2) = (0.60653.., 1.21306..); ...
  std::vector<float> q = {1, 0, 0, 1, 1, 1}, k = {1, 1, 2, 0, 0, -1},
                     v = {1, 2, 0.5f, -1, 3, 0};
  const double wantO[6] = {1, 2, 0.6065306597126334, 1.2130613194252668,
                           -1.657710457944482, 0.2584564452605025};
  const double wantS[4] = {0.9744101008840758, -0.4773024370823822,
                           -2.6321205588285577, 0.7357588823428847};
  for (LinearForm form : {LinearForm::Recurrent, LinearForm::Chunked}) {
    for (int64_t chunk : {1, 2, 64}) {
      LinearAttentionConfig cfg{1, 2, {0.5}, 1.0, form, chunk};
      StatePool pool = StatePool::zeros(2, 1, 2);
      std::fill(pool.data.begin(), pool.data.end(), 123.0f); // ignored: fresh
      std::vector<float> o;
      ASSERT_OK(linearAttention(cfg, batchOf({3}, {3}), q, k, v, pool, {1}, o));
      for (int i = 0; i < 6; ++i)
        EXPECT_NEAR(o[i], wantO[i], 1e-6) << "form " << int(form) << " chunk " << chunk;
      for (int i = 0; i < 4; ++i) // slot 1, key-dim major S[dk][dv]
        EXPECT_NEAR(pool.data[4 + i], wantS[i], 1e-6);
      for (int i = 0; i < 4; ++i)
        EXPECT_EQ(pool.data[i], 123.0f); // slot 0 untouched
    }
  }
  // Default scale (0 -> 1/sqrt(D)) scales the outputs, not the state.
  LinearAttentionConfig cfg{1, 2, {0.5}, 0.0, LinearForm::Auto, 64};
  StatePool pool = StatePool::zeros(1, 1, 2);
  std::vector<float> o;
  ASSERT_OK(linearAttention(cfg, batchOf({3}, {3}), q, k, v, pool, {0}, o));
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(o[i], wantO[i] / std::sqrt(2.0), 1e-6);
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(pool.data[i], wantS[i], 1e-6);
}

/// A ragged batch with fresh and continuing sequences; returns outputs and
/// the final pool.
struct LinearRun {
  std::vector<float> out;
  StatePool pool;
};

LinearRun runLinear(LinearForm form, int64_t chunk,
                    const std::vector<int64_t> &qLens,
                    const std::vector<int64_t> &seqLens) {
  const int64_t H = 3, D = 16;
  RaggedBatch batch = batchOf(qLens, seqLens);
  int64_t T = batch.numTokens();
  std::vector<float> q = randomBF16(T * H * D, 1), k = randomBF16(T * H * D, 2),
                     v = randomBF16(T * H * D, 3);
  LinearRun run;
  run.pool = StatePool::zeros(6, H, D);
  run.pool.data = randomBF16(run.pool.data.size(), 4, 0.5f);
  std::vector<int32_t> slots = {4, 0, 5, 2, 1};
  slots.resize(qLens.size());
  LinearAttentionConfig cfg{H, D, {}, 0.0, form, chunk};
  cfg.slopes = {0.9, 0.1, 0.01};
  Status s = linearAttention(cfg, batch, q, k, v, run.pool, slots, run.out);
  EXPECT_TRUE(s.ok()) << s.message();
  return run;
}

TEST(LinearAttention, ChunkedEqualsRecurrentRagged) {
  // Query lengths 64, 100, 1, 130 (multiples and not of the chunk), with
  // histories 0, 7, 50, 0 and a fifth, empty sequence.
  std::vector<int64_t> qLens = {64, 100, 1, 130, 0}, seqLens = {64, 107, 51, 130, 9};
  LinearRun rec = runLinear(LinearForm::Recurrent, 64, qLens, seqLens);
  for (int64_t chunk : {64, 16, 7, 1}) {
    LinearRun chk = runLinear(LinearForm::Chunked, chunk, qLens, seqLens);
    EXPECT_LT(maxRelDiff(chk.out, rec.out), 2e-7) << "chunk " << chunk;
    EXPECT_LT(maxRelDiff(chk.pool.data, rec.pool.data), 2e-7) << "chunk " << chunk;
  }
  LinearRun autoForm = runLinear(LinearForm::Auto, 64, qLens, seqLens);
  EXPECT_LT(maxRelDiff(autoForm.out, rec.out), 2e-7);
  // The state really matters: an all-fresh run of the same tokens differs.
  LinearRun fresh = runLinear(LinearForm::Recurrent, 64, qLens, qLens);
  EXPECT_GT(maxRelDiff(fresh.out, rec.out), 1e-3);
}

TEST(LinearAttention, SplitPrefillEqualsOnePrefill) {
  // 130 tokens in one call == 100 then 30 (state carried through the pool)
  // == 100 then 29 then one decode token.
  const int64_t H = 2, D = 8, N = 130;
  std::vector<float> q = randomBF16(N * H * D, 5), k = randomBF16(N * H * D, 6),
                     v = randomBF16(N * H * D, 7);
  LinearAttentionConfig cfg{H, D, {}, 0.0, LinearForm::Auto, 64};
  StatePool whole = StatePool::zeros(1, H, D);
  std::vector<float> oWhole;
  ASSERT_OK(linearAttention(cfg, batchOf({N}, {N}), q, k, v, whole, {0}, oWhole));

  StatePool pool = StatePool::zeros(1, H, D);
  std::vector<float> oParts;
  int64_t done = 0;
  for (int64_t len : {100, 29, 1}) {
    auto slice = [&](const std::vector<float> &x) {
      return std::vector<float>(x.begin() + done * H * D,
                                x.begin() + (done + len) * H * D);
    };
    std::vector<float> o;
    ASSERT_OK(linearAttention(cfg, batchOf({len}, {done + len}), slice(q),
                              slice(k), slice(v), pool, {0}, o));
    oParts.insert(oParts.end(), o.begin(), o.end());
    done += len;
  }
  EXPECT_LT(maxRelDiff(oParts, oWhole), 1e-6);
  EXPECT_LT(maxRelDiff(pool.data, whole.data), 1e-6);
}

TEST(LinearAttention, RejectsBadSlotsWithoutWriting) {
  const int64_t H = 1, D = 2;
  StatePool pool = StatePool::zeros(2, H, D);
  std::vector<float> x = randomBF16(2 * H * D, 1), o;
  LinearAttentionConfig cfg{H, D, {}, 0.0, LinearForm::Auto, 64};
  RaggedBatch batch = batchOf({1, 1}, {1, 1});
  EXPECT_FALSE(linearAttention(cfg, batch, x, x, x, pool, {0, 0}, o).ok());
  EXPECT_FALSE(linearAttention(cfg, batch, x, x, x, pool, {0, 2}, o).ok());
  EXPECT_FALSE(linearAttention(cfg, batch, x, x, x, pool, {0}, o).ok());
  for (float s : pool.data)
    EXPECT_EQ(s, 0.0f);
  StatePool wrong = StatePool::zeros(2, H, D + 1);
  EXPECT_FALSE(linearAttention(cfg, batch, x, x, x, wrong, {0, 1}, o).ok());
  cfg.slopes = {0.1, 0.2};
  EXPECT_FALSE(linearAttention(cfg, batch, x, x, x, pool, {0, 1}, o).ok());
}

} // namespace
