//===- ModelConfig.h - HuggingFace MiniCPM-SALA config.json loader -*- C++ -*-===//
//
// Reads the `config.json` of a MiniCPM-SALA style sparse+linear hybrid model
// (HuggingFace `openbmb/MiniCPM-SALA`, model_type "minicpm_sala") into the
// numbers salac needs for its attention blocks, and checks them for
// consistency. Field names are those of the real file; see
// examples/minicpm-sala/README.md for where they come from.
//
// Fields read (everything else in the file is ignored):
//
//   hidden_size, num_hidden_layers, num_attention_heads,
//   num_key_value_heads, mixer_types                       required
//   head_dim             default hidden_size / num_attention_heads
//   lightning_nh         default num_attention_heads
//   lightning_nkv        default num_key_value_heads
//   lightning_head_dim   default head_dim
//   lightning_scale      default "1/sqrt(d)"  ("1/sqrt(d)", "1/d" or "1")
//   lightning_use_rope   default true
//   attn_use_rope        default false (sparse layers are NoPE)
//   qk_norm, use_output_norm, use_output_gate, attn_use_output_gate
//                        default true
//   rope_theta           default 10000
//   rms_norm_eps         default 1e-6
//   sparse_config        default {} ; keys kernel_size 32, kernel_stride 16,
//                        block_size 64, topk 64, window_size 2048,
//                        init_blocks 1, dense_len 8192, use_nope false
//   _name_or_path / model_type   -> ModelConfig::name
//
// A field given as JSON null counts as absent (HF writes Python's None so).
//
//===----------------------------------------------------------------------===//

#ifndef SALAC_MODEL_MODELCONFIG_H
#define SALAC_MODEL_MODELCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace salac {
namespace model {

/// The two mixer kinds of a hybrid model. In `mixer_types` they are spelled
/// "minicpm4" (InfLLM-V2 block-sparse attention) and "lightning-attn"
/// (Lightning / simple gated linear attention).
enum class MixerKind { Sparse, Linear };

/// The canonical `mixer_types` spelling of a kind: "minicpm4" or
/// "lightning-attn".
llvm::StringRef mixerKindName(MixerKind kind);

/// Parses one `mixer_types` entry. Accepts the canonical spellings and the
/// aliases "lightning" and "lightning_attn" that vLLM and SGLang accept for
/// the linear layers. Returns std::nullopt for anything else.
std::optional<MixerKind> parseMixerKind(llvm::StringRef name);

/// `sparse_config` of the InfLLM-V2 layers (DESIGN.md section 2).
struct SparseConfig {
  int64_t kernelSize = 32;   ///< compressed-key window (tokens)
  int64_t kernelStride = 16; ///< compressed-key stride (tokens)
  int64_t blockSize = 64;    ///< selection block (tokens)
  int64_t topk = 64;         ///< selected blocks besides the forced ones
  int64_t windowSize = 2048; ///< local window (tokens), forced
  int64_t initBlocks = 1;    ///< leading blocks, forced
  int64_t denseLen = 8192;   ///< below this length: dense attention; 0 = never
  bool useNope = false;      ///< `use_nope` (informational)
};

struct ModelConfig {
  /// "_name_or_path", else "model_type", else "minicpm-sala".
  std::string name;

  int64_t hiddenSize = 0;
  int64_t numLayers = 0;

  // Sparse ("minicpm4") layers.
  int64_t numHeads = 0;
  int64_t numKVHeads = 0;
  int64_t headDim = 0;

  // Linear ("lightning-attn") layers: lightning_nh, lightning_nkv,
  // lightning_head_dim.
  int64_t linearHeads = 0;
  int64_t linearKVHeads = 0;
  int64_t linearHeadDim = 0;
  /// `lightning_scale`: "1/sqrt(d)", "1/d" or "1".
  std::string lightningScale = "1/sqrt(d)";

  SparseConfig sparse;

  bool qkNorm = true;
  bool useOutputNorm = true;
  bool useOutputGate = true;
  bool attnUseOutputGate = true;
  bool lightningUseRope = true;
  bool attnUseRope = false;

  double ropeTheta = 10000.0;
  double rmsNormEps = 1e-6;

  /// One entry per layer, from `mixer_types`.
  std::vector<MixerKind> mixers;

  /// Per-head decay slopes of the linear layers (ALiBi slopes; the decay is
  /// gamma_h = exp(-slope_h)). For a power-of-two H = linearHeads this is
  /// slope_h = 2^(-8(h+1)/H); for other H the usual ALiBi extension (the
  /// slopes of the next lower power of two, then every other slope of the
  /// next higher one), as the reference Lightning code does.
  std::vector<double> linearSlopes() const;

  /// The factor applied to q in the linear layers, from `lightning_scale`
  /// and linearHeadDim: 1/sqrt(d), 1/d or 1.
  double linearScale() const;

  /// Indices of the layers of one kind, ascending.
  std::vector<int64_t> layersOf(MixerKind kind) const;

  /// GQA group size of the sparse layers (numHeads / numKVHeads).
  int64_t groupSize() const { return numKVHeads ? numHeads / numKVHeads : 0; }
};

/// Parses and checks `jsonText`. `sourceName` (a path, or e.g. "config.json")
/// starts every error message, which is one line naming the field and the
/// problem, e.g. "config.json: missing field 'num_key_value_heads'" or
/// "config.json:3:5: invalid JSON: Expected , or } after object property".
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef jsonText,
                                             llvm::StringRef sourceName);

/// Reads `path` and parses it, naming it by `path` in errors. An unreadable
/// file gives "cannot read '<path>': <reason>".
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

/// The embedded copy of examples/minicpm-sala/config.json (the real model's
/// config), taken at build time.
llvm::StringRef defaultModelConfigJSON();

/// "examples/minicpm-sala/config.json (embedded)".
llvm::StringRef defaultModelConfigName();

/// parseModelConfig(defaultModelConfigJSON(), defaultModelConfigName()).
llvm::Expected<ModelConfig> defaultModelConfig();

} // namespace model
} // namespace salac

#endif // SALAC_MODEL_MODELCONFIG_H
