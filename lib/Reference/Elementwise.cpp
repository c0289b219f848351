//===- Elementwise.cpp - salac reference: rms_norm, rope, sigmoid_gate --===//

#include "salac/Reference/Linear.h"

#include "Internal.h"

#include <cmath>

namespace salac::ref {

using detail::cat;
using detail::checkSize;

Status rmsNorm(const std::vector<float> &x, int64_t width,
               const std::vector<float> &weight, double eps,
               std::vector<float> &out) {
  if (width <= 0)
    return Status::error(cat("rms_norm: width = ", width, " must be positive"));
  if (!(eps >= 0.0) || !std::isfinite(eps))
    return Status::error(cat("rms_norm: eps = ", eps, " must be >= 0"));
  SALAC_REF_TRY(checkSize(weight, width, "rms_norm: weight"));
  if (static_cast<int64_t>(x.size()) % width != 0)
    return Status::error(cat("rms_norm: ", x.size(),
                             " elements is not a whole number of rows of ",
                             width));
  const int64_t rows = static_cast<int64_t>(x.size()) / width;
  std::vector<float> result(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x.data() + r * width;
    double ss = 0.0;
    for (int64_t c = 0; c < width; ++c)
      ss += static_cast<double>(xr[c]) * xr[c];
    double inv = 1.0 / std::sqrt(ss / static_cast<double>(width) + eps);
    for (int64_t c = 0; c < width; ++c)
      result[r * width + c] = static_cast<float>(xr[c] * inv * weight[c]);
  }
  out = std::move(result);
  return Status::success();
}

Status rmsNormPerHead(const std::vector<float> &x, int64_t numTokens,
                      int64_t numHeads, int64_t headDim,
                      const std::vector<float> &weight, double eps,
                      std::vector<float> &out) {
  SALAC_REF_TRY(checkSize(x, numTokens * numHeads * headDim,
                          "rms_norm (per head): x [T, H, D]"));
  return rmsNorm(x, headDim, weight, eps, out);
}

Status rmsNormFull(const std::vector<float> &x, int64_t numTokens,
                   int64_t numHeads, int64_t headDim,
                   const std::vector<float> &weight, double eps,
                   std::vector<float> &out) {
  SALAC_REF_TRY(checkSize(x, numTokens * numHeads * headDim,
                          "rms_norm (full): x [T, H*D]"));
  return rmsNorm(x, numHeads * headDim, weight, eps, out);
}

Status rope(const std::vector<float> &x, int64_t numTokens, int64_t numHeads,
            int64_t headDim, const std::vector<int64_t> &positions,
            double theta, RopeStyle style, std::vector<float> &out) {
  if (numTokens < 0 || numHeads <= 0 || headDim <= 0 || headDim % 2 != 0)
    return Status::error(cat("rope: tokens = ", numTokens, ", heads = ",
                             numHeads, ", head dim = ", headDim,
                             " (head dim must be positive and even)"));
  if (!(theta > 0.0) || !std::isfinite(theta))
    return Status::error(cat("rope: theta = ", theta, " must be positive"));
  SALAC_REF_TRY(checkSize(x, numTokens * numHeads * headDim, "rope: x"));
  SALAC_REF_TRY(checkSize(positions, numTokens, "rope: positions"));
  const int64_t half = headDim / 2;
  std::vector<float> result(x.size());
  for (int64_t t = 0; t < numTokens; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      double freq = std::pow(theta, -2.0 * static_cast<double>(i) /
                                        static_cast<double>(headDim));
      double angle = static_cast<double>(positions[t]) * freq;
      double c = std::cos(angle), s = std::sin(angle);
      int64_t ia = style == RopeStyle::NeoX ? i : 2 * i;
      int64_t ib = style == RopeStyle::NeoX ? i + half : 2 * i + 1;
      for (int64_t h = 0; h < numHeads; ++h) {
        int64_t base = (t * numHeads + h) * headDim;
        double a = x[base + ia], b = x[base + ib];
        result[base + ia] = static_cast<float>(a * c - b * s);
        result[base + ib] = static_cast<float>(b * c + a * s);
      }
    }
  }
  out = std::move(result);
  return Status::success();
}

Status sigmoidGate(const std::vector<float> &x, const std::vector<float> &z,
                   std::vector<float> &out) {
  SALAC_REF_TRY(checkSize(z, static_cast<int64_t>(x.size()),
                          "sigmoid_gate: z (same shape as x)"));
  std::vector<float> result(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double zi = z[i];
    double sig = zi >= 0.0 ? 1.0 / (1.0 + std::exp(-zi))
                           : std::exp(zi) / (1.0 + std::exp(zi));
    result[i] = static_cast<float>(x[i] * sig);
  }
  out = std::move(result);
  return Status::success();
}

} // namespace salac::ref
