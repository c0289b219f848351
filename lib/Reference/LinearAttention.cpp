//===- LinearAttention.cpp - salac reference: simple GLA, fixed decay ---===//
//
// Two independent computations of the same recurrence
//   S_t = gamma S_{t-1} + k_t^T v_t,   o_t = scale q_t S_t
// (S[dk][dv], key-dim major): token by token with repeated multiplication by
// gamma, and chunk by chunk with an explicit decay mask exp(-slope * n).
//
//===----------------------------------------------------------------------===//

#include "salac/Reference/Linear.h"

#include "Internal.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace salac::ref {

using detail::cat;
using detail::checkSize;

std::vector<double> defaultSlopes(int64_t numHeads) {
  std::vector<double> slopes(static_cast<size_t>(std::max<int64_t>(numHeads, 0)));
  for (int64_t h = 0; h < numHeads; ++h)
    slopes[h] = std::exp2(-8.0 * static_cast<double>(h + 1) /
                          static_cast<double>(numHeads));
  return slopes;
}

Status LinearAttentionConfig::validate() const {
  if (numHeads <= 0 || headDim <= 0)
    return Status::error(cat("linear_attention: heads = ", numHeads,
                             ", head dim = ", headDim, " must be positive"));
  if (!slopes.empty() && static_cast<int64_t>(slopes.size()) != numHeads)
    return Status::error(cat("linear_attention: ", slopes.size(),
                             " slopes for ", numHeads, " heads"));
  for (double s : slopes)
    if (!std::isfinite(s) || s < 0.0)
      return Status::error(
          cat("linear_attention: slope ", s, " must be finite and >= 0"));
  if (!std::isfinite(scale))
    return Status::error(cat("linear_attention: scale = ", scale,
                             " is not finite"));
  if (form != LinearForm::Recurrent && chunkSize <= 0)
    return Status::error(cat("linear_attention: chunk size = ", chunkSize,
                             " must be positive"));
  return Status::success();
}

namespace {

/// One head of one sequence: L tokens at q/k/v (row stride `stride` floats),
/// state S [D, D] (double, updated in place), outputs at o.
struct HeadRun {
  const float *q, *k, *v;
  float *o;
  int64_t stride, L, D;
  double slope, scale;
};

void runRecurrent(const HeadRun &r, std::vector<double> &S) {
  const int64_t D = r.D;
  const double gamma = std::exp(-r.slope);
  for (int64_t t = 0; t < r.L; ++t) {
    const float *qt = r.q + t * r.stride, *kt = r.k + t * r.stride,
                *vt = r.v + t * r.stride;
    for (int64_t a = 0; a < D; ++a)
      for (int64_t b = 0; b < D; ++b)
        S[a * D + b] = gamma * S[a * D + b] +
                       static_cast<double>(kt[a]) * static_cast<double>(vt[b]);
    for (int64_t b = 0; b < D; ++b) {
      double acc = 0.0;
      for (int64_t a = 0; a < D; ++a)
        acc += static_cast<double>(qt[a]) * S[a * D + b];
      r.o[t * r.stride + b] = static_cast<float>(r.scale * acc);
    }
  }
}

void runChunked(const HeadRun &r, int64_t chunk, std::vector<double> &S) {
  const int64_t D = r.D;
  std::vector<double> qk(static_cast<size_t>(chunk * chunk));
  std::vector<double> o(static_cast<size_t>(D)), Snew(S.size());
  for (int64_t c0 = 0; c0 < r.L; c0 += chunk) {
    const int64_t L = std::min(chunk, r.L - c0);
    auto row = [&](const float *base, int64_t i) {
      return base + (c0 + i) * r.stride;
    };
    // Intra-chunk scores (q_i . k_j) with the decay mask, j <= i.
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0.0;
        for (int64_t a = 0; a < D; ++a)
          dot += static_cast<double>(row(r.q, i)[a]) * row(r.k, j)[a];
        qk[i * chunk + j] = dot * std::exp(-r.slope * static_cast<double>(i - j));
      }
    for (int64_t i = 0; i < L; ++i) {
      // Inter-chunk: carried state, decayed to token i.
      double decay = std::exp(-r.slope * static_cast<double>(i + 1));
      for (int64_t b = 0; b < D; ++b) {
        double acc = 0.0;
        for (int64_t a = 0; a < D; ++a)
          acc += static_cast<double>(row(r.q, i)[a]) * S[a * D + b];
        o[b] = decay * acc;
      }
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t b = 0; b < D; ++b)
          o[b] += qk[i * chunk + j] * row(r.v, j)[b];
      for (int64_t b = 0; b < D; ++b)
        r.o[(c0 + i) * r.stride + b] = static_cast<float>(r.scale * o[b]);
    }
    // State: S' = gamma^L S + sum_j gamma^(L-1-j) k_j^T v_j.
    double decayAll = std::exp(-r.slope * static_cast<double>(L));
    for (size_t e = 0; e < S.size(); ++e)
      Snew[e] = decayAll * S[e];
    for (int64_t j = 0; j < L; ++j) {
      double w = std::exp(-r.slope * static_cast<double>(L - 1 - j));
      for (int64_t a = 0; a < D; ++a) {
        double ka = w * row(r.k, j)[a];
        for (int64_t b = 0; b < D; ++b)
          Snew[a * D + b] += ka * row(r.v, j)[b];
      }
    }
    S.swap(Snew);
  }
}

} // namespace

Status linearAttention(const LinearAttentionConfig &cfg,
                       const RaggedBatch &batch, const std::vector<float> &q,
                       const std::vector<float> &k, const std::vector<float> &v,
                       StatePool &pool, const std::vector<int32_t> &slots,
                       std::vector<float> &out) {
  SALAC_REF_TRY(batch.validate());
  SALAC_REF_TRY(cfg.validate());
  SALAC_REF_TRY(pool.validate());
  const int64_t H = cfg.numHeads, D = cfg.headDim, T = batch.numTokens();
  if (pool.numHeads != H || pool.headDim != D)
    return Status::error(cat("linear_attention: state pool holds ",
                             pool.numHeads, " heads of dim ", pool.headDim,
                             ", expected ", H, " of dim ", D));
  SALAC_REF_TRY(checkSize(q, T * H * D, "linear_attention: q [T, H, D]"));
  SALAC_REF_TRY(checkSize(k, T * H * D, "linear_attention: k [T, H, D]"));
  SALAC_REF_TRY(checkSize(v, T * H * D, "linear_attention: v [T, H, D]"));
  SALAC_REF_TRY(checkSize(slots, batch.numSeqs(), "linear_attention: slots [B]"));
  std::set<int32_t> seen;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    if (slots[b] < 0 || slots[b] >= pool.numSlots)
      return Status::error(cat("linear_attention: slots[", b, "] = ", slots[b],
                               " is out of range [0, ", pool.numSlots, ")"));
    if (!seen.insert(slots[b]).second)
      return Status::error(cat("linear_attention: slot ", slots[b],
                               " is used by two sequences"));
  }
  std::vector<double> slopes = cfg.slopes.empty() ? defaultSlopes(H) : cfg.slopes;
  const double scale =
      cfg.scale != 0.0 ? cfg.scale : 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<float> result(static_cast<size_t>(T * H * D), 0.0f);
  std::vector<double> S(static_cast<size_t>(D * D));
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    const int64_t L = batch.qLen(b);
    if (L == 0)
      continue;
    bool recurrent = cfg.form == LinearForm::Recurrent ||
                     (cfg.form == LinearForm::Auto && L == 1);
    for (int64_t h = 0; h < H; ++h) {
      float *slot = pool.data.data() + slots[b] * pool.slotSize() + h * D * D;
      if (batch.historyLen(b) > 0)
        std::copy(slot, slot + D * D, S.begin());
      else
        std::fill(S.begin(), S.end(), 0.0);
      size_t base = static_cast<size_t>((batch.qStart(b) * H + h) * D);
      HeadRun run{q.data() + base, k.data() + base, v.data() + base,
                  result.data() + base, H * D, L, D, slopes[h], scale};
      if (recurrent)
        runRecurrent(run, S);
      else
        runChunked(run, cfg.chunkSize, S);
      for (int64_t e = 0; e < D * D; ++e)
        slot[e] = static_cast<float>(S[e]);
    }
  }
  out = std::move(result);
  return Status::success();
}

} // namespace salac::ref
