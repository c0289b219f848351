//===- CompilerTest.cpp - unit tests of the compiler's C++ helpers --------===//
#include "salac/Compiler/ModelToSala.h"
#include "salac/Compiler/Pipeline.h"
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace salac;

namespace {

class CompilerTest : public ::testing::Test {
protected:
  CompilerTest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }
  MLIRContext ctx;
};

TEST(GpuTargetTest, FeaturesFollowTheChip) {
  GpuTarget t;
  EXPECT_EQ(t.chip, "sm_90");
  EXPECT_EQ(t.features(), "+ptx80");
  t.chip = "sm_100a";
  EXPECT_EQ(t.features(), "+ptx86");
  t.chip = "sm_120";
  EXPECT_EQ(t.features(), "+ptx87");
}

TEST(GpuTargetTest, SupportedChips) {
  EXPECT_TRUE(isSupportedChip("sm_90"));
  EXPECT_TRUE(isSupportedChip("sm_90a"));
  EXPECT_TRUE(isSupportedChip("sm_80"));
  EXPECT_FALSE(isSupportedChip("sm_75"));
  EXPECT_FALSE(isSupportedChip("sm90"));
  EXPECT_FALSE(isSupportedChip(""));
  EXPECT_NE(supportedChips().find("sm_90a"), llvm::StringRef::npos);
}

TEST_F(CompilerTest, DefaultModelHasOneFunctionPerLayerAndMode) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
  auto module = buildModelModule(&ctx, *config, ModelBuildOptions());
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  int sparse = 0, linear = 0, funcs = 0;
  (**module).walk([&](Operation *op) {
    funcs += isa<func::FuncOp>(op);
    sparse += isa<sala::SparseMixerOp>(op);
    linear += isa<sala::LinearMixerOp>(op);
  });
  EXPECT_EQ(funcs, 64);
  EXPECT_EQ(sparse, 16);  // 8 layers x decode/prefill
  EXPECT_EQ(linear, 48);  // 24 layers x decode/prefill
  EXPECT_TRUE((**module).lookupSymbol("layer_00_sparse_decode"));
  EXPECT_TRUE((**module).lookupSymbol("layer_01_linear_prefill"));
  EXPECT_TRUE((**module).lookupSymbol("layer_31_sparse_prefill"));
  EXPECT_FALSE((**module).lookupSymbol("layer_31_linear_prefill"));
}

TEST_F(CompilerTest, LayerAndModeSelection) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config));
  ModelBuildOptions opts;
  opts.layers = {9, 10};
  opts.prefill = false;
  opts.pageSize = 1;
  auto module = buildModelModule(&ctx, *config, opts);
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  SmallVector<StringRef> names;
  for (auto fn : (**module).getOps<func::FuncOp>())
    names.push_back(fn.getSymName());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "layer_09_sparse_decode");
  EXPECT_EQ(names[1], "layer_10_linear_decode");
  sala::SparseMixerOp mixer;
  (**module).walk([&](sala::SparseMixerOp op) { mixer = op; });
  ASSERT_TRUE(mixer);
  EXPECT_EQ(mixer.getCache().getType().getPageSize(), 1);
  EXPECT_EQ(mixer.getConfig().getSelectCount(), 96);
  EXPECT_EQ(mixer.getConfig().getDenseLen(), 8192);
}

TEST_F(CompilerTest, BadBuildOptionsAreErrors) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config));
  ModelBuildOptions opts;
  opts.layers = {32};
  auto module = buildModelModule(&ctx, *config, opts);
  ASSERT_FALSE(bool(module));
  EXPECT_EQ(llvm::toString(module.takeError()),
            "layer 32 is out of range: the model has 32 layers (0..31)");
  opts.layers = {};
  opts.pageSize = 0;
  module = buildModelModule(&ctx, *config, opts);
  ASSERT_FALSE(bool(module));
  EXPECT_EQ(llvm::toString(module.takeError()), "page size must be positive, got 0");
}

TEST_F(CompilerTest, LinearSlopesReachTheOps) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config));
  ModelBuildOptions opts;
  opts.layers = {1};
  opts.decode = false;
  auto module = buildModelModule(&ctx, *config, opts);
  ASSERT_TRUE(bool(module));
  sala::LinearMixerOp mixer;
  (**module).walk([&](sala::LinearMixerOp op) { mixer = op; });
  ASSERT_TRUE(mixer);
  ArrayRef<double> slopes = mixer.getSlopes();
  ASSERT_EQ(slopes.size(), 32u);
  EXPECT_DOUBLE_EQ(slopes[0], std::pow(2.0, -8.0 / 32));
  EXPECT_DOUBLE_EQ(slopes[31], 1.0 / 256);
  EXPECT_EQ(mixer.getMode(), sala::MixerMode::Prefill);
  EXPECT_TRUE(mixer.getPositions());
  EXPECT_TRUE(mixer.getOutNormWeight());
}

/// Kernels are shared between identical ops across layers and named after the
/// op, its variant and its shape.
TEST_F(CompilerTest, KernelsAreDedupedAcrossLayers) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config));
  auto module = buildModelModule(&ctx, *config, ModelBuildOptions());
  ASSERT_TRUE(bool(module));
  PassManager pm(&ctx);
  buildSalaToKernelsPipeline(pm);
  ASSERT_TRUE(succeeded(pm.run(**module)));
  auto kernels = (**module).lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  ASSERT_TRUE(kernels);
  SmallVector<std::string> names;
  for (auto fn : kernels.getOps<gpu::GPUFuncOp>())
    names.push_back(fn.getName().str());
  llvm::sort(names);
  // One kernel per distinct op: the 64 mixer functions need 9.
  std::vector<std::string> expected = {
      "sala_fused_kv_update_p64_k32_s16_h2_d128_bf16",
      "sala_fused_linear_attention_nrog_h32_d128_bf16",
      "sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16",
      "sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_from8192_h32_d128_bf16",
      "sala_linear_attention_chunked_h32_d128_bf16",
      "sala_rms_norm_full_h32_d128_bf16",
      "sala_rms_norm_head_h32_d128_bf16",
      "sala_rope_neox_h32_d128_bf16",
      "sala_sigmoid_gate_h32_d128_bf16"};
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.end()), expected);
  // The 24 prefill linear gates all point at the one gate kernel; the 24
  // decode linear gates and the 16 sparse ones are inside fused kernels.
  int gates = 0;
  (**module).walk([&](sala::SigmoidGateOp op) {
    auto k = op->getAttrOfType<SymbolRefAttr>(kKernelAttrName);
    ASSERT_TRUE(k);
    EXPECT_EQ(k.getLeafReference(), "sala_sigmoid_gate_h32_d128_bf16");
    ++gates;
  });
  EXPECT_EQ(gates, 24);
}

TEST_F(CompilerTest, DtypeNames) {
  Builder b(&ctx);
  EXPECT_EQ(sala::shortTypeName(b.getBF16Type()), "bf16");
  EXPECT_EQ(sala::shortTypeName(b.getF16Type()), "f16");
  EXPECT_EQ(sala::shortTypeName(b.getF32Type()), "f32");
  EXPECT_EQ(sala::shortTypeName(b.getI32Type()), "i32");
}

TEST_F(CompilerTest, VerifierRejectsInconsistentSparseConfig) {
  std::string diag;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    diag = d.str();
    return success();
  });
  Attribute bad = parseAttribute(
      "#sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 40, topk = 64, "
      "window_size = 2048, init_blocks = 1, dense_len = 8192>",
      &ctx);
  EXPECT_FALSE(bad);
  EXPECT_EQ(diag, "#sala.sparse block_size (40) must be a multiple of kernel_stride (16)");
  Attribute good = parseAttribute(
      "#sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, "
      "window_size = 2048, init_blocks = 1, dense_len = 8192>",
      &ctx);
  ASSERT_TRUE(good);
  EXPECT_EQ(cast<sala::SparseConfigAttr>(good).getLocalBlocks(), 32);
}

} // namespace
