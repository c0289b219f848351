//===- ModelConfigTest.cpp - tests for the config.json loader -------------===//

#include "salac/Model/ModelConfig.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <functional>

using namespace salac::model;
using llvm::json::Array;
using llvm::json::Object;
using llvm::json::Value;

namespace {

ModelConfig parseOrDie(llvm::StringRef text, llvm::StringRef name) {
  llvm::Expected<ModelConfig> c = parseModelConfig(text, name);
  if (!c) {
    ADD_FAILURE() << llvm::toString(c.takeError());
    return ModelConfig();
  }
  return std::move(*c);
}

/// The embedded default as a mutable JSON object.
Object defaultObject() {
  llvm::Expected<Value> v = llvm::json::parse(defaultModelConfigJSON());
  EXPECT_TRUE(bool(v));
  if (!v) {
    llvm::consumeError(v.takeError());
    return Object();
  }
  return std::move(*v->getAsObject());
}

std::string serialize(Value v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::formatv("{0:2}", v);
  return s;
}

/// Parses the default config after `edit`, as "config.json"; returns the
/// error text ("" on success).
std::string errorAfter(const std::function<void(Object &)> &edit) {
  Object o = defaultObject();
  edit(o);
  llvm::Expected<ModelConfig> c =
      parseModelConfig(serialize(Value(std::move(o))), "config.json");
  if (c)
    return "";
  return llvm::toString(c.takeError());
}

ModelConfig parsedAfter(const std::function<void(Object &)> &edit) {
  Object o = defaultObject();
  edit(o);
  return parseOrDie(serialize(Value(std::move(o))), "config.json");
}

std::string errorOf(llvm::StringRef text) {
  llvm::Expected<ModelConfig> c = parseModelConfig(text, "config.json");
  if (c)
    return "";
  return llvm::toString(c.takeError());
}

Object &sparseOf(Object &o) { return *o.getObject("sparse_config"); }

const std::vector<int64_t> kSparseLayers = {0, 9, 16, 17, 22, 29, 30, 31};

//===----------------------------------------------------------------------===//
// The embedded default.
//===----------------------------------------------------------------------===//

TEST(ModelConfig, DefaultIsTheRealModel) {
  EXPECT_EQ(defaultModelConfigName(),
            "examples/minicpm-sala/config.json (embedded)");
  llvm::Expected<ModelConfig> ce = defaultModelConfig();
  ASSERT_TRUE(bool(ce)) << llvm::toString(ce.takeError());
  const ModelConfig &c = *ce;

  EXPECT_EQ(c.name, "minicpm_sala");
  EXPECT_EQ(c.hiddenSize, 4096);
  EXPECT_EQ(c.numLayers, 32);
  EXPECT_EQ(c.numHeads, 32);
  EXPECT_EQ(c.numKVHeads, 2);
  EXPECT_EQ(c.headDim, 128);
  EXPECT_EQ(c.groupSize(), 16);
  EXPECT_EQ(c.linearHeads, 32);
  EXPECT_EQ(c.linearKVHeads, 32);
  EXPECT_EQ(c.linearHeadDim, 128);
  EXPECT_EQ(c.lightningScale, "1/sqrt(d)");
  EXPECT_DOUBLE_EQ(c.linearScale(), 1.0 / std::sqrt(128.0));

  EXPECT_EQ(c.sparse.kernelSize, 32);
  EXPECT_EQ(c.sparse.kernelStride, 16);
  EXPECT_EQ(c.sparse.blockSize, 64);
  EXPECT_EQ(c.sparse.topk, 64);
  EXPECT_EQ(c.sparse.windowSize, 2048);
  EXPECT_EQ(c.sparse.initBlocks, 1);
  EXPECT_EQ(c.sparse.denseLen, 8192);
  EXPECT_FALSE(c.sparse.useNope);

  EXPECT_TRUE(c.qkNorm);
  EXPECT_TRUE(c.useOutputNorm);
  EXPECT_TRUE(c.useOutputGate);
  EXPECT_TRUE(c.attnUseOutputGate);
  EXPECT_TRUE(c.lightningUseRope);
  EXPECT_FALSE(c.attnUseRope);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-6);

  ASSERT_EQ(c.mixers.size(), 32u);
  EXPECT_EQ(c.layersOf(MixerKind::Sparse), kSparseLayers);
  std::vector<int64_t> linear = c.layersOf(MixerKind::Linear);
  EXPECT_EQ(linear.size(), 24u);
  for (int64_t i : linear)
    EXPECT_EQ(std::count(kSparseLayers.begin(), kSparseLayers.end(), i), 0)
        << i;
  EXPECT_EQ(c.mixers[0], MixerKind::Sparse);
  EXPECT_EQ(c.mixers[1], MixerKind::Linear);
}

TEST(ModelConfig, MixerKindNames) {
  EXPECT_EQ(mixerKindName(MixerKind::Sparse), "minicpm4");
  EXPECT_EQ(mixerKindName(MixerKind::Linear), "lightning-attn");
  EXPECT_EQ(parseMixerKind("minicpm4"), MixerKind::Sparse);
  EXPECT_EQ(parseMixerKind("lightning-attn"), MixerKind::Linear);
  EXPECT_EQ(parseMixerKind("lightning"), MixerKind::Linear);
  EXPECT_EQ(parseMixerKind("lightning_attn"), MixerKind::Linear);
  EXPECT_EQ(parseMixerKind("mamba"), std::nullopt);
}

//===----------------------------------------------------------------------===//
// Slopes.
//===----------------------------------------------------------------------===//

TEST(ModelConfig, LinearSlopes32Heads) {
  ModelConfig c = parseOrDie(defaultModelConfigJSON(), "d");
  std::vector<double> s = c.linearSlopes();
  ASSERT_EQ(s.size(), 32u);
  for (int h = 0; h < 32; ++h)
    EXPECT_DOUBLE_EQ(s[h], std::pow(2.0, -8.0 * (h + 1) / 32.0)) << h;
  EXPECT_DOUBLE_EQ(s[0], std::pow(2.0, -0.25));
  EXPECT_DOUBLE_EQ(s[3], 0.5);
  EXPECT_DOUBLE_EQ(s[31], 1.0 / 256.0);
  // Decay gamma_h = exp(-slope_h) is in (0, 1) and grows with h.
  for (int h = 1; h < 32; ++h)
    EXPECT_LT(s[h], s[h - 1]);
}

TEST(ModelConfig, LinearSlopesNonPowerOfTwo) {
  ModelConfig c;
  c.linearHeads = 12;
  std::vector<double> s = c.linearSlopes();
  ASSERT_EQ(s.size(), 12u);
  // The 8 slopes of H = 8, then slopes 0, 2, 4, 6 of H = 16 (ALiBi).
  for (int h = 0; h < 8; ++h)
    EXPECT_DOUBLE_EQ(s[h], std::pow(2.0, -(h + 1.0))) << h;
  for (int i = 0; i < 4; ++i)
    EXPECT_DOUBLE_EQ(s[8 + i], std::pow(2.0, -(2 * i + 1) / 2.0)) << i;

  c.linearHeads = 8;
  EXPECT_EQ(c.linearSlopes().size(), 8u);
  EXPECT_DOUBLE_EQ(c.linearSlopes()[7], 1.0 / 256.0);
}

//===----------------------------------------------------------------------===//
// Documented defaults of optional fields.
//===----------------------------------------------------------------------===//

TEST(ModelConfig, HeadDimDefaultsToHiddenOverHeads) {
  ModelConfig c = parsedAfter([](Object &o) {
    o.erase("head_dim");
    o["hidden_size"] = 2048;
  });
  EXPECT_EQ(c.headDim, 64);
  // lightning_head_dim is given explicitly in the real config.
  EXPECT_EQ(c.linearHeadDim, 128);

  // null counts as absent.
  ModelConfig n = parsedAfter([](Object &o) { o["head_dim"] = nullptr; });
  EXPECT_EQ(n.headDim, 128);
}

TEST(ModelConfig, LightningFieldsFallBack) {
  ModelConfig c = parsedAfter([](Object &o) {
    o.erase("lightning_nh");
    o.erase("lightning_nkv");
    o.erase("lightning_head_dim");
    o["head_dim"] = 64;
  });
  EXPECT_EQ(c.linearHeads, 32);
  EXPECT_EQ(c.linearKVHeads, 2); // num_key_value_heads, as in HF/vLLM/SGLang
  EXPECT_EQ(c.linearHeadDim, 64);
}

TEST(ModelConfig, OptionalFieldsDefault) {
  ModelConfig c = parsedAfter([](Object &o) {
    for (const char *k :
         {"qk_norm", "use_output_norm", "use_output_gate",
          "attn_use_output_gate", "lightning_use_rope", "attn_use_rope",
          "rope_theta", "rms_norm_eps", "sparse_config", "lightning_scale",
          "model_type"})
      o.erase(k);
  });
  EXPECT_EQ(c.name, "minicpm-sala");
  EXPECT_TRUE(c.qkNorm && c.useOutputNorm && c.useOutputGate &&
              c.attnUseOutputGate && c.lightningUseRope);
  EXPECT_FALSE(c.attnUseRope);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-6);
  EXPECT_EQ(c.lightningScale, "1/sqrt(d)");
  SparseConfig d;
  EXPECT_EQ(c.sparse.kernelSize, d.kernelSize);
  EXPECT_EQ(c.sparse.kernelStride, d.kernelStride);
  EXPECT_EQ(c.sparse.blockSize, d.blockSize);
  EXPECT_EQ(c.sparse.topk, d.topk);
  EXPECT_EQ(c.sparse.windowSize, d.windowSize);
  EXPECT_EQ(c.sparse.initBlocks, d.initBlocks);
  EXPECT_EQ(c.sparse.denseLen, d.denseLen);
}

TEST(ModelConfig, NameOrPathWins) {
  ModelConfig c = parsedAfter(
      [](Object &o) { o["_name_or_path"] = "openbmb/MiniCPM-SALA"; });
  EXPECT_EQ(c.name, "openbmb/MiniCPM-SALA");
}

TEST(ModelConfig, FlagsAndNumbersAreRead) {
  ModelConfig c = parsedAfter([](Object &o) {
    o["qk_norm"] = false;
    o["use_output_gate"] = false;
    o["lightning_use_rope"] = false;
    o["rope_theta"] = 500000; // an integer is a number too
    o["rms_norm_eps"] = 1e-5;
    o["lightning_scale"] = "1/d";
    sparseOf(o)["dense_len"] = 0;
    (*o.getArray("mixer_types"))[1] = "lightning"; // vLLM/SGLang alias
  });
  EXPECT_FALSE(c.qkNorm);
  EXPECT_FALSE(c.useOutputGate);
  EXPECT_FALSE(c.lightningUseRope);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-5);
  EXPECT_DOUBLE_EQ(c.linearScale(), 1.0 / 128.0);
  EXPECT_EQ(c.sparse.denseLen, 0);
  EXPECT_EQ(c.mixers[1], MixerKind::Linear);
}

//===----------------------------------------------------------------------===//
// Errors.
//===----------------------------------------------------------------------===//

TEST(ModelConfigErrors, MissingField) {
  EXPECT_EQ(errorAfter([](Object &o) { o.erase("num_key_value_heads"); }),
            "config.json: missing field 'num_key_value_heads'");
  EXPECT_EQ(errorAfter([](Object &o) { o.erase("hidden_size"); }),
            "config.json: missing field 'hidden_size'");
  EXPECT_EQ(errorAfter([](Object &o) { o.erase("num_hidden_layers"); }),
            "config.json: missing field 'num_hidden_layers'");
  EXPECT_EQ(errorAfter([](Object &o) { o.erase("num_attention_heads"); }),
            "config.json: missing field 'num_attention_heads'");
  EXPECT_EQ(errorAfter([](Object &o) { o.erase("mixer_types"); }),
            "config.json: missing field 'mixer_types'");
}

TEST(ModelConfigErrors, HeadsNotMultipleOfKVHeads) {
  EXPECT_EQ(errorAfter([](Object &o) {
              o["num_attention_heads"] = 30;
              o["num_key_value_heads"] = 4;
            }),
            "config.json: 'num_attention_heads' (30) is not a multiple of "
            "'num_key_value_heads' (4)");
  EXPECT_EQ(errorAfter([](Object &o) {
              o["lightning_nh"] = 32;
              o["lightning_nkv"] = 3;
            }),
            "config.json: 'lightning_nh' (32) is not a multiple of "
            "'lightning_nkv' (3)");
  EXPECT_EQ(errorAfter([](Object &o) {
              o.erase("head_dim");
              o["hidden_size"] = 4100;
            }),
            "config.json: 'head_dim' is absent and 'hidden_size' (4100) is "
            "not a multiple of 'num_attention_heads' (32)");
}

TEST(ModelConfigErrors, NonPositiveSizes) {
  EXPECT_EQ(errorAfter([](Object &o) { o["num_key_value_heads"] = 0; }),
            "config.json: 'num_key_value_heads' must be positive, got 0");
  EXPECT_EQ(errorAfter([](Object &o) { o["lightning_head_dim"] = -128; }),
            "config.json: 'lightning_head_dim' must be positive, got -128");
  EXPECT_EQ(errorAfter([](Object &o) { o["rope_theta"] = 0; }),
            "config.json: 'rope_theta' must be in [1.17549e-38, 3.40282e+38] (a positive "
            "f32), got 0");
  EXPECT_EQ(errorAfter([](Object &o) { o["rope_theta"] = 1e-320; }),
            "config.json: 'rope_theta' must be in [1.17549e-38, 3.40282e+38] (a positive "
            "f32), got 9.99989e-321");
  EXPECT_EQ(errorAfter([](Object &o) { o["rms_norm_eps"] = -1; }),
            "config.json: 'rms_norm_eps' must be in [1.17549e-38, 3.40282e+38] (a positive "
            "f32), got -1");
  EXPECT_EQ(errorAfter([](Object &o) { o["rms_norm_eps"] = 0; }),
            "config.json: 'rms_norm_eps' must be in [1.17549e-38, 3.40282e+38] (a positive "
            "f32), got 0");
}

// Sizes past salac/Dialect/Sala/IR/SalaLimits.h, and odd RoPE widths, are one
// line each (they used to pass the loader and fail as an IR dump, or compile).
TEST(ModelConfigErrors, SizesPastTheirBounds) {
  EXPECT_EQ(errorAfter([](Object &o) { o["num_attention_heads"] = int64_t(1) << 40; }),
            "config.json: 'num_attention_heads' must be at most 1024, got 1099511627776");
  EXPECT_EQ(errorAfter([](Object &o) { o["lightning_head_dim"] = 2048; }),
            "config.json: 'lightning_head_dim' must be at most 1024, got 2048");
  EXPECT_EQ(errorAfter([](Object &o) { o["lightning_head_dim"] = 127; }),
            "config.json: 'lightning_head_dim' must be even with 'lightning_use_rope', got 127");
  EXPECT_EQ(errorAfter([](Object &o) { (*o.getObject("sparse_config"))["block_size"] = 1048576; }),
            "config.json: 'sparse_config.block_size' must be at most 4096, got 1048576");
  EXPECT_EQ(errorAfter([](Object &o) {
              (*o.getObject("sparse_config"))["topk"] = int64_t(1) << 40;
            }),
            "config.json: 'sparse_config.topk' must be at most 4096, got 1099511627776");
}

TEST(ModelConfigErrors, MixerTypes) {
  EXPECT_EQ(errorAfter([](Object &o) { o.getArray("mixer_types")->pop_back(); }),
            "config.json: 'mixer_types' has 31 entries but "
            "'num_hidden_layers' is 32");
  EXPECT_EQ(errorAfter([](Object &o) { o["num_hidden_layers"] = 1; }),
            "config.json: 'mixer_types' has 32 entries but "
            "'num_hidden_layers' is 1");
  EXPECT_EQ(errorAfter([](Object &o) { (*o.getArray("mixer_types"))[3] = "foo"; }),
            "config.json: unknown mixer type 'foo' at layer 3 (expected "
            "'minicpm4' or 'lightning-attn')");
  EXPECT_EQ(errorAfter([](Object &o) { (*o.getArray("mixer_types"))[5] = 7; }),
            "config.json: 'mixer_types' entry at layer 5 must be a string, "
            "got number");
  EXPECT_EQ(errorAfter([](Object &o) { o["mixer_types"] = "minicpm4"; }),
            "config.json: 'mixer_types' must be an array, got string");
}

TEST(ModelConfigErrors, InvalidJSON) {
  // Line 3, column 7 is where ':' was expected.
  EXPECT_EQ(errorOf("{\n  \"a\": 1,\n  \"b\" 2\n}\n"),
            "config.json:3:7: invalid JSON: Expected : after object key");
  EXPECT_EQ(errorOf("{\n  \"hidden_size\": 4096,\n}"),
            "config.json:3:1: invalid JSON: Expected object key");
  // The offending character, also when it is the last one.
  EXPECT_EQ(errorOf("{\"a\": 1,}"),
            "config.json:1:9: invalid JSON: Expected object key");
  EXPECT_EQ(errorOf("{\"a\": tru}"),
            "config.json:1:10: invalid JSON: Invalid JSON value (true?)");
  EXPECT_EQ(errorOf("{}x"),
            "config.json:1:3: invalid JSON: Text after end of document");
  // A premature end is reported where the text ends.
  EXPECT_EQ(errorOf("{\"a\": \"abc"),
            "config.json:1:11: invalid JSON: Unterminated string");
  EXPECT_EQ(errorOf("{\n  \"a\": 1\n"),
            "config.json:3:1: invalid JSON: Expected , or } after object "
            "property");
  std::string eof = errorOf("");
  EXPECT_EQ(eof.rfind("config.json:1:1: invalid JSON: ", 0), 0u) << eof;
  EXPECT_EQ(errorOf("[1, 2]"),
            "config.json: top level must be a JSON object, got array");
}

TEST(ModelConfigErrors, WrongTypes) {
  EXPECT_EQ(errorAfter([](Object &o) { o["head_dim"] = "128"; }),
            "config.json: 'head_dim' must be an integer, got string");
  EXPECT_EQ(errorAfter([](Object &o) { o["head_dim"] = 128.5; }),
            "config.json: 'head_dim' must be an integer, got 128.5");
  EXPECT_EQ(errorAfter([](Object &o) { o["num_key_value_heads"] = nullptr; }),
            "config.json: 'num_key_value_heads' must be an integer, got null");
  EXPECT_EQ(errorAfter([](Object &o) { o["qk_norm"] = "true"; }),
            "config.json: 'qk_norm' must be a boolean, got string");
  EXPECT_EQ(errorAfter([](Object &o) { o["use_output_gate"] = 1; }),
            "config.json: 'use_output_gate' must be a boolean, got number");
  EXPECT_EQ(errorAfter([](Object &o) { o["rope_theta"] = "1e4"; }),
            "config.json: 'rope_theta' must be a number, got string");
  EXPECT_EQ(errorAfter([](Object &o) { o["lightning_scale"] = 1; }),
            "config.json: 'lightning_scale' must be a string, got number");
  EXPECT_EQ(errorAfter([](Object &o) { o["lightning_scale"] = "1/d^2"; }),
            "config.json: 'lightning_scale' is '1/d^2' (expected "
            "'1/sqrt(d)', '1/d' or '1')");
  EXPECT_EQ(errorAfter([](Object &o) { o["sparse_config"] = Array{1, 2}; }),
            "config.json: 'sparse_config' must be an object, got array");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["topk"] = true; }),
            "config.json: 'sparse_config.topk' must be an integer, got "
            "boolean");
}

TEST(ModelConfigErrors, SparseConfig) {
  EXPECT_EQ(errorAfter([](Object &o) {
              sparseOf(o)["kernel_size"] = 16;
              sparseOf(o)["kernel_stride"] = 32;
            }),
            "config.json: 'sparse_config.kernel_stride' (32) must not exceed "
            "'sparse_config.kernel_size' (16)");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["kernel_size"] = 40; }),
            "config.json: 'sparse_config.kernel_size' (40) is not a multiple "
            "of 'sparse_config.kernel_stride' (16)");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["block_size"] = 40; }),
            "config.json: 'sparse_config.block_size' (40) is not a multiple "
            "of 'sparse_config.kernel_stride' (16)");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["window_size"] = 2000; }),
            "config.json: 'sparse_config.window_size' (2000) is not a "
            "multiple of 'sparse_config.block_size' (64)");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["window_size"] = -2048; }),
            "config.json: 'sparse_config.window_size' must not be negative, "
            "got -2048");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["init_blocks"] = -1; }),
            "config.json: 'sparse_config.init_blocks' must not be negative, "
            "got -1");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["dense_len"] = -8192; }),
            "config.json: 'sparse_config.dense_len' must not be negative, "
            "got -8192");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["topk"] = -64; }),
            "config.json: 'sparse_config.topk' must be positive, got -64");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["block_size"] = 0; }),
            "config.json: 'sparse_config.block_size' must be positive, got 0");
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["kernel_stride"] = -16; }),
            "config.json: 'sparse_config.kernel_stride' must be positive, "
            "got -16");
  // A window of 0 is allowed (no forced local blocks).
  EXPECT_EQ(errorAfter([](Object &o) { sparseOf(o)["window_size"] = 0; }), "");
}

TEST(ModelConfigErrors, SourceNameLeadsTheMessage) {
  llvm::Expected<ModelConfig> c =
      parseModelConfig("{\"hidden_size\": 1}", "models/x/config.json");
  ASSERT_FALSE(bool(c));
  EXPECT_EQ(llvm::toString(c.takeError()),
            "models/x/config.json: missing field 'num_hidden_layers'");
}

//===----------------------------------------------------------------------===//
// Files.
//===----------------------------------------------------------------------===//

TEST(ModelConfigFiles, UnreadableFile) {
  llvm::Expected<ModelConfig> c = loadModelConfig("x.json");
  ASSERT_FALSE(bool(c));
  EXPECT_EQ(llvm::toString(c.takeError()),
            "cannot read 'x.json': No such file or directory");
}

TEST(ModelConfigFiles, RoundTripFromDisk) {
  // Write an edited default to a temporary file and read it back.
  Object o = defaultObject();
  o["_name_or_path"] = "salac-test";
  (*o.getArray("mixer_types"))[5] = "minicpm4";
  sparseOf(o)["topk"] = 32;
  std::string text = serialize(Value(std::move(o)));

  int fd = -1;
  llvm::SmallString<128> path;
  ASSERT_FALSE(
      llvm::sys::fs::createTemporaryFile("salac-model", "json", fd, path));
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << text;
  }
  llvm::Expected<ModelConfig> c = loadModelConfig(path);
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
  EXPECT_EQ(c->name, "salac-test");
  EXPECT_EQ(c->sparse.topk, 32);
  std::vector<int64_t> sparse = {0, 5, 9, 16, 17, 22, 29, 30, 31};
  EXPECT_EQ(c->layersOf(MixerKind::Sparse), sparse);
  EXPECT_EQ(c->hiddenSize, 4096);

  // Errors from a file name the file.
  llvm::SmallString<128> bad;
  ASSERT_FALSE(
      llvm::sys::fs::createTemporaryFile("salac-model", "json", fd, bad));
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << "{\n  \"hidden_size\": 4096\n";
  }
  llvm::Expected<ModelConfig> e = loadModelConfig(bad);
  llvm::sys::fs::remove(bad);
  ASSERT_FALSE(bool(e));
  std::string msg = llvm::toString(e.takeError());
  EXPECT_EQ(msg.rfind((bad + ":3:1: invalid JSON: ").str(), 0), 0u) << msg;
}

TEST(ModelConfigFiles, EmbeddedCopyMatchesCheckedInFile) {
#ifdef SALAC_SOURCE_CONFIG_JSON
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buf =
      llvm::MemoryBuffer::getFile(SALAC_SOURCE_CONFIG_JSON);
  ASSERT_TRUE(bool(buf)) << SALAC_SOURCE_CONFIG_JSON;
  EXPECT_EQ((*buf)->getBuffer(), defaultModelConfigJSON());
  llvm::Expected<ModelConfig> c = loadModelConfig(SALAC_SOURCE_CONFIG_JSON);
  ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
  EXPECT_EQ(c->layersOf(MixerKind::Sparse), kSparseLayers);
#else
  GTEST_SKIP() << "source path not known";
#endif
}

} // namespace
