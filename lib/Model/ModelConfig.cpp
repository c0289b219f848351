//===- ModelConfig.cpp - HuggingFace MiniCPM-SALA config.json loader ------===//
//
// See include/salac/Model/ModelConfig.h for the fields and their defaults.
// Defaults follow the public readers of the real file (vLLM's
// MiniCPMSALAConfig, SGLang's MiniCPMHybridConfig) where they agree; where
// they disagree (num_key_value_heads: HF/vLLM fall back to
// num_attention_heads, SGLang to 8) the field is required, since guessing a
// KV head count would silently change the sparse layers' cache layout.
//
//===----------------------------------------------------------------------===//

#include "salac/Model/ModelConfig.h"
#include "salac/Dialect/Sala/IR/SalaLimits.h"
#include "salac/Model/InputDepth.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>
#include <tuple>

using namespace llvm;

namespace salac {
namespace model {

namespace {

/// Layers of a model (MiniCPM-SALA: 32).
constexpr int64_t kMaxLayers = 4096;

/// The embedded default, generated at build time from
/// examples/minicpm-sala/config.json (see lib/Model/CMakeLists.txt).
const char kDefaultConfigJSON[] =
#include "DefaultModelConfig.inc"
    ;

const char *kindName(const json::Value &v) {
  switch (v.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Boolean:
    return "boolean";
  case json::Value::Number:
    return "number";
  case json::Value::String:
    return "string";
  case json::Value::Array:
    return "array";
  case json::Value::Object:
    return "object";
  }
  return "value";
}

std::string formatNumber(double d) {
  std::string s;
  raw_string_ostream os(s);
  os << format("%g", d);
  return s;
}

/// Describes a value that has the right JSON kind but the wrong content
/// (a fractional number where an integer is wanted).
std::string describe(const json::Value &v) {
  if (v.kind() == json::Value::Number) {
    std::string s;
    raw_string_ostream os(s);
    os << v;
    return s;
  }
  return kindName(v);
}

/// Reads typed fields out of one JSON object. Field names in messages are
/// `prefix` + key, e.g. "sparse_config.kernel_size".
class FieldReader {
public:
  FieldReader(StringRef source, const json::Object &obj, StringRef prefix = "")
      : source(source), obj(obj), prefix(prefix) {}

  std::string field(StringRef key) const { return (prefix + key).str(); }

  Error error(const Twine &msg) const {
    return createStringError(inconvertibleErrorCode(),
                             (source + ": " + msg).str());
  }

  /// The value of `key`, or null when it is absent or JSON null.
  const json::Value *lookup(StringRef key) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return nullptr;
    return v;
  }

  Error missing(StringRef key) const {
    return error("missing field '" + field(key) + "'");
  }

  /// Integer field. When absent (or null) and not required, `out` keeps its
  /// value and `*present` (if given) becomes false.
  Error getInt(StringRef key, int64_t &out, bool required,
               bool *present = nullptr) const {
    if (present)
      *present = false;
    const json::Value *v = obj.get(key);
    if (!v || (!required && v->kind() == json::Value::Null))
      return required ? missing(key) : Error::success();
    std::optional<int64_t> i = v->getAsInteger();
    if (!i)
      return error("'" + field(key) + "' must be an integer, got " +
                   describe(*v));
    out = *i;
    if (present)
      *present = true;
    return Error::success();
  }

  Error getPositiveInt(StringRef key, int64_t &out, bool required,
                       bool *present = nullptr) const {
    bool have = false;
    if (Error e = getInt(key, out, required, &have))
      return e;
    if (present)
      *present = have;
    if (have && out <= 0)
      return error("'" + field(key) + "' must be positive, got " +
                   Twine(out));
    return Error::success();
  }

  Error getNonNegativeInt(StringRef key, int64_t &out) const {
    bool have = false;
    if (Error e = getInt(key, out, /*required=*/false, &have))
      return e;
    if (have && out < 0)
      return error("'" + field(key) + "' must not be negative, got " +
                   Twine(out));
    return Error::success();
  }

  Error getNumber(StringRef key, double &out) const {
    const json::Value *v = lookup(key);
    if (!v)
      return Error::success();
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return error("'" + field(key) + "' must be a number, got " +
                   kindName(*v));
    out = *d;
    return Error::success();
  }

  Error getBool(StringRef key, bool &out) const {
    const json::Value *v = lookup(key);
    if (!v)
      return Error::success();
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return error("'" + field(key) + "' must be a boolean, got " +
                   kindName(*v));
    out = *b;
    return Error::success();
  }

  Error getString(StringRef key, std::string &out, bool *present) const {
    *present = false;
    const json::Value *v = lookup(key);
    if (!v)
      return Error::success();
    std::optional<StringRef> s = v->getAsString();
    if (!s)
      return error("'" + field(key) + "' must be a string, got " +
                   kindName(*v));
    out = s->str();
    *present = true;
    return Error::success();
  }

  /// "'a' (x) is not a multiple of 'b' (y)" unless a % b == 0.
  /// `key`'s value past its bound (salac/Dialect/Sala/IR/SalaLimits.h).
  Error requireAtMost(StringRef key, int64_t v, int64_t bound) const {
    if (v <= bound)
      return Error::success();
    return error("'" + field(key) + "' must be at most " + Twine(bound) + ", got " +
                 Twine(v));
  }

  /// A positive finite number that stays positive and finite as f32 (the
  /// IR carries eps and theta as f32).
  Error requirePositiveF32(StringRef key, double v) const {
    if (v >= double(std::numeric_limits<float>::min()) &&
        v <= double(std::numeric_limits<float>::max()))
      return Error::success();
    return error("'" + field(key) + "' must be in [" +
                 formatNumber(std::numeric_limits<float>::min()) + ", " +
                 formatNumber(std::numeric_limits<float>::max()) + "] (a positive f32), got " +
                 formatNumber(v));
  }

  Error requireMultiple(StringRef a, int64_t av, StringRef b,
                        int64_t bv) const {
    if (bv != 0 && av % bv == 0)
      return Error::success();
    return error("'" + field(a) + "' (" + Twine(av) +
                 ") is not a multiple of '" + field(b) + "' (" + Twine(bv) +
                 ")");
  }

private:
  StringRef source;
  const json::Object &obj;
  std::string prefix;
};

/// Splits llvm::json's parse error text "[L:C, byte=N]: message" into N and
/// the message. Returns false if the text has another form.
bool splitParseError(StringRef logged, size_t &offset, std::string &message) {
  size_t bytePos = logged.find("byte=");
  size_t close = logged.find("]: ");
  if (!logged.starts_with("[") || bytePos == StringRef::npos ||
      close == StringRef::npos || bytePos > close)
    return false;
  unsigned long long n = 0;
  if (logged.slice(bytePos + 5, close).getAsInteger(10, n))
    return false;
  offset = static_cast<size_t>(n);
  message = logged.drop_front(close + 3).str();
  return true;
}

/// Turns a llvm::json parse error into
/// "<source>:<line>:<col>: invalid JSON: <message>", line and column 1-based
/// (the column counts bytes), pointing at the offending character.
Error jsonSyntaxError(StringRef text, StringRef source, Error err) {
  std::string logged = toString(std::move(err));
  // llvm::json reports the position just after the character it rejected
  // (it has consumed it), except for stray text after the document and bad
  // UTF-8, where it points at the character itself, and at the end of the
  // text, where nothing was consumed. A rejected last character and a
  // premature end both give offset == size; parsing the text again with one
  // more (white space) byte tells them apart, so take the location from
  // that; the message is the original one.
  size_t offset = 0;
  std::string message;
  if (!splitParseError(logged, offset, message))
    return createStringError(inconvertibleErrorCode(),
                             (source + ": invalid JSON: " + logged).str());
  std::string padded = (text + " ").str();
  Expected<json::Value> again = json::parse(padded);
  size_t paddedOffset = 0;
  std::string paddedMessage;
  bool located = false;
  if (!again)
    located = splitParseError(toString(again.takeError()), paddedOffset,
                              paddedMessage);
  else
    consumeError(again.takeError());
  if (located)
    offset = paddedOffset;

  bool pointsAtChar = StringRef(message).starts_with("Text after end") ||
                      StringRef(message).starts_with("Invalid UTF-8");
  if (located && offset >= padded.size())
    offset = text.size(); // premature end of the text
  else if (offset > 0 && !pointsAtChar)
    --offset;
  offset = std::min(offset, text.size());

  unsigned line = 1, col = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return createStringError(inconvertibleErrorCode(),
                           formatv("{0}:{1}:{2}: invalid JSON: {3}", source,
                                   line, col, message)
                               .str());
}

Error parseSparseConfig(StringRef source, const json::Object &top,
                        SparseConfig &sc) {
  const json::Value *v = top.get("sparse_config");
  // Absent or null: the InfLLM-V2 defaults (the readers of the real file
  // treat a missing sparse_config as {}).
  if (!v || v->kind() == json::Value::Null)
    return Error::success();
  const json::Object *obj = v->getAsObject();
  if (!obj)
    return createStringError(inconvertibleErrorCode(),
                             (source + ": 'sparse_config' must be an object, "
                                       "got " +
                              kindName(*v))
                                 .str());
  FieldReader r(source, *obj, "sparse_config.");
  if (Error e = r.getPositiveInt("kernel_size", sc.kernelSize, false))
    return e;
  if (Error e = r.getPositiveInt("kernel_stride", sc.kernelStride, false))
    return e;
  if (Error e = r.getPositiveInt("block_size", sc.blockSize, false))
    return e;
  if (Error e = r.getPositiveInt("topk", sc.topk, false))
    return e;
  if (Error e = r.getNonNegativeInt("window_size", sc.windowSize))
    return e;
  if (Error e = r.getNonNegativeInt("init_blocks", sc.initBlocks))
    return e;
  // dense_len 0 makes every length sparse (DESIGN.md 2.7).
  if (Error e = r.getNonNegativeInt("dense_len", sc.denseLen))
    return e;
  if (Error e = r.getBool("use_nope", sc.useNope))
    return e;

  for (auto [key, v, bound] :
       {std::tuple<StringRef, int64_t, int64_t>{"kernel_size", sc.kernelSize, sala::kMaxBlockSize},
        {"block_size", sc.blockSize, sala::kMaxBlockSize},
        {"topk", sc.topk, sala::kMaxSelectedBlocks},
        {"window_size", sc.windowSize, sala::kMaxWindowTokens},
        {"init_blocks", sc.initBlocks, sala::kMaxSelectedBlocks},
        {"dense_len", sc.denseLen, sala::kMaxWindowTokens}})
    if (Error e = r.requireAtMost(key, v, bound))
      return e;
  if (sc.kernelStride > sc.kernelSize)
    return r.error("'sparse_config.kernel_stride' (" + Twine(sc.kernelStride) +
                   ") must not exceed 'sparse_config.kernel_size' (" +
                   Twine(sc.kernelSize) + ")");
  if (Error e = r.requireMultiple("kernel_size", sc.kernelSize,
                                  "kernel_stride", sc.kernelStride))
    return e;
  if (Error e = r.requireMultiple("block_size", sc.blockSize, "kernel_stride",
                                  sc.kernelStride))
    return e;
  if (Error e = r.requireMultiple("window_size", sc.windowSize, "block_size",
                                  sc.blockSize))
    return e;
  return Error::success();
}

} // namespace

StringRef mixerKindName(MixerKind kind) {
  return kind == MixerKind::Sparse ? "minicpm4" : "lightning-attn";
}

std::optional<MixerKind> parseMixerKind(StringRef name) {
  if (name == "minicpm4")
    return MixerKind::Sparse;
  if (name == "lightning-attn" || name == "lightning" ||
      name == "lightning_attn")
    return MixerKind::Linear;
  return std::nullopt;
}

Expected<ModelConfig> parseModelConfig(StringRef jsonText,
                                       StringRef sourceName) {
  if (unsigned line = lineNestedDeeperThan(jsonText, InputSyntax::Json))
    return createStringError(inconvertibleErrorCode(),
                             formatv("{0}:{1}: JSON nested deeper than {2} levels", sourceName,
                                     line, kMaxInputDepth)
                                 .str());
  Expected<json::Value> parsed = json::parse(jsonText);
  if (!parsed)
    return jsonSyntaxError(jsonText, sourceName, parsed.takeError());
  const json::Object *top = parsed->getAsObject();
  if (!top)
    return createStringError(inconvertibleErrorCode(),
                             (sourceName +
                              ": top level must be a JSON object, got " +
                              kindName(*parsed))
                                 .str());

  FieldReader r(sourceName, *top);
  ModelConfig c;

  // Shapes. These four have no default we could trust (see file comment).
  if (Error e = r.getPositiveInt("hidden_size", c.hiddenSize, true))
    return std::move(e);
  if (Error e = r.getPositiveInt("num_hidden_layers", c.numLayers, true))
    return std::move(e);
  if (Error e = r.getPositiveInt("num_attention_heads", c.numHeads, true))
    return std::move(e);
  if (Error e = r.getPositiveInt("num_key_value_heads", c.numKVHeads, true))
    return std::move(e);
  if (Error e = r.requireMultiple("num_attention_heads", c.numHeads,
                                  "num_key_value_heads", c.numKVHeads))
    return std::move(e);

  // head_dim: optional; HF default hidden_size / num_attention_heads.
  bool haveHeadDim = false;
  if (Error e = r.getPositiveInt("head_dim", c.headDim, false, &haveHeadDim))
    return std::move(e);
  if (!haveHeadDim) {
    if (c.hiddenSize % c.numHeads != 0)
      return r.error("'head_dim' is absent and 'hidden_size' (" +
                     Twine(c.hiddenSize) +
                     ") is not a multiple of 'num_attention_heads' (" +
                     Twine(c.numHeads) + ")");
    c.headDim = c.hiddenSize / c.numHeads;
  }

  // Lightning layers: lightning_nh / lightning_nkv / lightning_head_dim,
  // defaulting to num_attention_heads / num_key_value_heads / head_dim
  // (vLLM, SGLang and the HF code agree on these fallbacks).
  c.linearHeads = c.numHeads;
  c.linearKVHeads = c.numKVHeads;
  c.linearHeadDim = c.headDim;
  if (Error e = r.getPositiveInt("lightning_nh", c.linearHeads, false))
    return std::move(e);
  if (Error e = r.getPositiveInt("lightning_nkv", c.linearKVHeads, false))
    return std::move(e);
  if (Error e = r.getPositiveInt("lightning_head_dim", c.linearHeadDim, false))
    return std::move(e);
  if (Error e = r.requireMultiple("lightning_nh", c.linearHeads,
                                  "lightning_nkv", c.linearKVHeads))
    return std::move(e);
  for (auto [key, v, bound] :
       {std::tuple<StringRef, int64_t, int64_t>{"num_attention_heads", c.numHeads,
                                                sala::kMaxHeads},
        {"num_key_value_heads", c.numKVHeads, sala::kMaxHeads},
        {"head_dim", c.headDim, sala::kMaxHeadDim},
        {"lightning_nh", c.linearHeads, sala::kMaxHeads},
        {"lightning_nkv", c.linearKVHeads, sala::kMaxHeads},
        {"lightning_head_dim", c.linearHeadDim, sala::kMaxHeadDim},
        {"hidden_size", c.hiddenSize, sala::kMaxHeads * sala::kMaxHeadDim},
        {"num_hidden_layers", c.numLayers, kMaxLayers}})
    if (Error e = r.requireAtMost(key, v, bound))
      return std::move(e);

  bool haveScale = false;
  if (Error e = r.getString("lightning_scale", c.lightningScale, &haveScale))
    return std::move(e);
  if (c.lightningScale != "1/sqrt(d)" && c.lightningScale != "1/d" &&
      c.lightningScale != "1")
    return r.error("'lightning_scale' is '" + c.lightningScale +
                   "' (expected '1/sqrt(d)', '1/d' or '1')");

  // Flags; defaults are those of the HF-compatible config class (all of
  // them match the released model).
  if (Error e = r.getBool("qk_norm", c.qkNorm))
    return std::move(e);
  if (Error e = r.getBool("use_output_norm", c.useOutputNorm))
    return std::move(e);
  if (Error e = r.getBool("use_output_gate", c.useOutputGate))
    return std::move(e);
  if (Error e = r.getBool("attn_use_output_gate", c.attnUseOutputGate))
    return std::move(e);
  if (Error e = r.getBool("lightning_use_rope", c.lightningUseRope))
    return std::move(e);
  if (Error e = r.getBool("attn_use_rope", c.attnUseRope))
    return std::move(e);

  if (Error e = r.getNumber("rope_theta", c.ropeTheta))
    return std::move(e);
  if (Error e = r.requirePositiveF32("rope_theta", c.ropeTheta))
    return std::move(e);
  if (Error e = r.getNumber("rms_norm_eps", c.rmsNormEps))
    return std::move(e);
  if (Error e = r.requirePositiveF32("rms_norm_eps", c.rmsNormEps))
    return std::move(e);
  // RoPE rotates channel pairs.
  if (c.lightningUseRope && c.linearHeadDim % 2 != 0)
    return r.error("'lightning_head_dim' must be even with 'lightning_use_rope', got " +
                   Twine(c.linearHeadDim));
  if (c.attnUseRope && c.headDim % 2 != 0)
    return r.error("'head_dim' must be even with 'attn_use_rope', got " + Twine(c.headDim));

  // mixer_types: required, one entry per layer.
  const json::Value *mt = top->get("mixer_types");
  if (!mt)
    return r.missing("mixer_types");
  const json::Array *mixers = mt->getAsArray();
  if (!mixers)
    return r.error(Twine("'mixer_types' must be an array, got ") +
                   kindName(*mt));
  if (static_cast<int64_t>(mixers->size()) != c.numLayers)
    return r.error("'mixer_types' has " + Twine(mixers->size()) +
                   (mixers->size() == 1 ? " entry" : " entries") +
                   " but 'num_hidden_layers' is " + Twine(c.numLayers));
  c.mixers.reserve(mixers->size());
  for (auto [i, entry] : llvm::enumerate(*mixers)) {
    std::optional<StringRef> s = entry.getAsString();
    if (!s)
      return r.error("'mixer_types' entry at layer " + Twine(i) +
                     " must be a string, got " + kindName(entry));
    std::optional<MixerKind> kind = parseMixerKind(*s);
    if (!kind)
      return r.error("unknown mixer type '" + *s + "' at layer " + Twine(i) +
                     " (expected 'minicpm4' or 'lightning-attn')");
    c.mixers.push_back(*kind);
  }

  if (Error e = parseSparseConfig(sourceName, *top, c.sparse))
    return std::move(e);

  // Name: "_name_or_path", else "model_type", else "minicpm-sala".
  bool haveName = false;
  if (Error e = r.getString("_name_or_path", c.name, &haveName))
    return std::move(e);
  if (!haveName || c.name.empty()) {
    if (Error e = r.getString("model_type", c.name, &haveName))
      return std::move(e);
  }
  if (!haveName || c.name.empty())
    c.name = "minicpm-sala";

  return c;
}

Expected<ModelConfig> loadModelConfig(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/true,
                            /*RequiresNullTerminator=*/false);
  if (!buf)
    return createStringError(buf.getError(), "cannot read '%s': %s",
                             path.str().c_str(),
                             buf.getError().message().c_str());
  return parseModelConfig((*buf)->getBuffer(), path);
}

StringRef defaultModelConfigJSON() { return kDefaultConfigJSON; }

StringRef defaultModelConfigName() {
  return "examples/minicpm-sala/config.json (embedded)";
}

Expected<ModelConfig> defaultModelConfig() {
  return parseModelConfig(defaultModelConfigJSON(), defaultModelConfigName());
}

std::vector<double> ModelConfig::linearSlopes() const {
  // ALiBi slopes, as in the Lightning attention reference code.
  auto powerOfTwoSlopes = [](int64_t n) {
    std::vector<double> s;
    s.reserve(n);
    for (int64_t h = 0; h < n; ++h)
      s.push_back(std::exp2(-8.0 * double(h + 1) / double(n)));
    return s;
  };
  int64_t n = linearHeads;
  if (n <= 0)
    return {};
  int64_t p = 1;
  while (p * 2 <= n)
    p *= 2;
  std::vector<double> slopes = powerOfTwoSlopes(p);
  if (p != n) {
    std::vector<double> finer = powerOfTwoSlopes(2 * p);
    for (size_t i = 0; i < finer.size() && int64_t(slopes.size()) < n; i += 2)
      slopes.push_back(finer[i]);
  }
  return slopes;
}

double ModelConfig::linearScale() const {
  if (lightningScale == "1/sqrt(d)")
    return 1.0 / std::sqrt(double(linearHeadDim));
  if (lightningScale == "1/d")
    return 1.0 / double(linearHeadDim);
  return 1.0;
}

std::vector<int64_t> ModelConfig::layersOf(MixerKind kind) const {
  std::vector<int64_t> out;
  for (auto [i, k] : llvm::enumerate(mixers))
    if (k == kind)
      out.push_back(static_cast<int64_t>(i));
  return out;
}

} // namespace model
} // namespace salac
