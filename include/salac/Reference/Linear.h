//===- Linear.h - salac reference: elementwise ops and linear attention --===//
//
// Reference semantics of the linear-layer ops (docs/DESIGN.md section 3) and
// of the elementwise ops both layer kinds use: rms_norm, rope, sigmoid_gate,
// linear_attention (recurrent and chunked simple GLA with a fixed per-head
// decay) and the whole linear mixer. Activations are [T, H, D] row-major.
//
//===----------------------------------------------------------------------===//

#ifndef SALAC_REFERENCE_LINEAR_H
#define SALAC_REFERENCE_LINEAR_H

#include "salac/Reference/Common.h"

namespace salac::ref {

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// y = x / sqrt(mean(x^2) + eps) * weight over consecutive rows of `width`
/// elements (x.size() must be a multiple of width, weight.size() == width).
Status rmsNorm(const std::vector<float> &x, int64_t width,
               const std::vector<float> &weight, double eps,
               std::vector<float> &out);
/// Per-head RMSNorm of [T, H, D]; weight [D] shared by all heads.
Status rmsNormPerHead(const std::vector<float> &x, int64_t numTokens,
                      int64_t numHeads, int64_t headDim,
                      const std::vector<float> &weight, double eps,
                      std::vector<float> &out);
/// RMSNorm over all H*D channels of each token; weight [H*D].
Status rmsNormFull(const std::vector<float> &x, int64_t numTokens,
                   int64_t numHeads, int64_t headDim,
                   const std::vector<float> &weight, double eps,
                   std::vector<float> &out);

enum class RopeStyle {
  /// Rotate-half: pair i is (x[i], x[i + D/2]).
  NeoX,
  /// Pair i is (x[2i], x[2i+1]).
  Interleaved,
};

/// RoPE of [T, H, D] (D even) at positions[t] (one per token). Pair i rotates
/// by angle positions[t] * theta^(-2i/D):
///   a' = a cos - b sin,  b' = b cos + a sin   for the pair (a, b).
Status rope(const std::vector<float> &x, int64_t numTokens, int64_t numHeads,
            int64_t headDim, const std::vector<int64_t> &positions,
            double theta, RopeStyle style, std::vector<float> &out);

/// out = x * sigmoid(z), elementwise, equal sizes.
Status sigmoidGate(const std::vector<float> &x, const std::vector<float> &z,
                   std::vector<float> &out);

//===----------------------------------------------------------------------===//
// Linear attention
//===----------------------------------------------------------------------===//

/// slope_h = 2^(-8(h+1)/H), h = 0..H-1.
std::vector<double> defaultSlopes(int64_t numHeads);

enum class LinearForm {
  /// S_t = gamma S_{t-1} + k_t^T v_t; o_t = scale q_t S_t, token by token.
  Recurrent,
  /// Chunks of chunkSize tokens (counted from each sequence's first new
  /// token): o_r = scale (gamma^(r+1) q_r S0 + sum_{s<=r} gamma^(r-s)
  /// (q_r . k_s) v_s); S = gamma^L S0 + sum_s gamma^(L-1-s) k_s^T v_s.
  Chunked,
  /// Recurrent for sequences with one new token (decode), else chunked.
  Auto,
};

struct LinearAttentionConfig {
  int64_t numHeads = 32;
  int64_t headDim = 128;
  std::vector<double> slopes; ///< [H]; empty means defaultSlopes(H)
  double scale = 0.0;         ///< 0 means 1/sqrt(headDim)
  LinearForm form = LinearForm::Auto;
  int64_t chunkSize = 64;

  Status validate() const;
};

/// linear_attention over q, k, v [T, H, D] (q, k already normed and rotated).
/// gamma_h = exp(-slope_h). Sequence b uses state slot slots[b] of the pool
/// (slots must be distinct and in range). The initial state is the slot's
/// content when the sequence has history (historyLen(b) > 0) and zero when it
/// has none (a fresh prefill), whatever the slot holds. The state is carried
/// in double and written back to the slot (as float) after the sequence's last
/// token. out is [T, H, D]. Errors leave the pool untouched.
Status linearAttention(const LinearAttentionConfig &cfg,
                       const RaggedBatch &batch, const std::vector<float> &q,
                       const std::vector<float> &k, const std::vector<float> &v,
                       StatePool &pool, const std::vector<int32_t> &slots,
                       std::vector<float> &out);

//===----------------------------------------------------------------------===//
// The whole linear mixer
//===----------------------------------------------------------------------===//

/// MiniCPM-SALA lightning-attention defaults.
struct LinearMixerConfig {
  int64_t numHeads = 32;
  int64_t headDim = 128;
  double eps = 1e-6;
  double ropeTheta = 10000.0;
  RopeStyle ropeStyle = RopeStyle::NeoX;
  bool useRope = true;       ///< lightning_use_rope
  bool qkNorm = true;        ///< qk_norm
  bool useOutputNorm = true; ///< use_output_norm
  bool useOutputGate = true; ///< use_output_gate
  std::vector<double> slopes; ///< empty means defaultSlopes(numHeads)
  double scale = 0.0;         ///< 0 means 1/sqrt(headDim)
  LinearForm form = LinearForm::Auto; ///< recurrent decode, chunked prefill
  int64_t chunkSize = 64;

  LinearAttentionConfig attention() const;
};

/// linear_mixer: q, k per-head RMSNorm (qNormWeight, kNormWeight [D]); RoPE
/// at each token's position in its sequence; linear attention; RMSNorm over
/// all H*D channels (outNormWeight [H*D]); out = y * sigmoid(z). Disabled
/// steps are skipped and their weights (or z) may be empty. No intermediate
/// bf16 rounding.
Status linearMixer(const LinearMixerConfig &cfg, const RaggedBatch &batch,
                   const std::vector<float> &q, const std::vector<float> &k,
                   const std::vector<float> &v, const std::vector<float> &z,
                   const std::vector<float> &qNormWeight,
                   const std::vector<float> &kNormWeight,
                   const std::vector<float> &outNormWeight, StatePool &pool,
                   const std::vector<int32_t> &slots, std::vector<float> &out);

} // namespace salac::ref

#endif // SALAC_REFERENCE_LINEAR_H
