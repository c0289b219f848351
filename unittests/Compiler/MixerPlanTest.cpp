//===- MixerPlanTest.cpp - the manifest's mixer plans ---------------------===//
//
// Plans of the default model's mixers, formed by explicit pass lists (not
// salac's pipeline, which gains fusion passes over time): unfused, with
// sala-fuse-linear, and the ways planning fails.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/MixerPlan.h"
#include "salac/Compiler/ModelToSala.h"
#include "salac/Conversion/Passes.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"
#include "salac/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace salac;

namespace {

class MixerPlanTest : public ::testing::Test {
protected:
  MixerPlanTest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  /// Layers `layers` of the default model in decode mode, decomposed, fused
  /// with sala-fuse-linear when asked, kernels formed.
  OwningOpRef<ModuleOp> formed(std::vector<int64_t> layers, bool fuseLinear,
                               int64_t pageSize = 64) {
    auto config = model::defaultModelConfig();
    EXPECT_TRUE(bool(config));
    ModelBuildOptions opts;
    opts.layers = std::move(layers);
    opts.prefill = false;
    opts.pageSize = pageSize;
    auto module = buildModelModule(&ctx, *config, opts);
    EXPECT_TRUE(bool(module));
    PassManager pm(&ctx);
    pm.addPass(sala::createSalaDecompose());
    if (fuseLinear)
      pm.addPass(sala::createSalaFuseLinear());
    pm.addPass(createConvertSalaToGPU());
    EXPECT_TRUE(succeeded(pm.run(**module)));
    return std::move(*module);
  }

  static std::vector<std::string> argumentNames(const MixerPlan &p) {
    std::vector<std::string> names;
    for (const MixerArgument &a : p.arguments)
      names.push_back(a.name);
    return names;
  }
  static const MixerSize *size(const MixerPlan &p, StringRef name) {
    for (const MixerSize &s : p.sizes)
      if (s.name == name)
        return &s;
    return nullptr;
  }
  static std::string bound(const MixerLaunch &l, StringRef param) {
    for (const MixerBinding &b : l.args)
      if (b.param == param)
        return b.kind + ":" + b.name;
    return "";
  }

  MLIRContext ctx;
};

TEST_F(MixerPlanTest, LinearLayerUnfused) {
  auto module = formed({1}, /*fuseLinear=*/false);
  auto plans = collectMixerPlans(*module);
  ASSERT_EQ(plans.size(), 1u);
  const MixerPlan &p = plans[0];
  EXPECT_EQ(p.name, "layer_01_linear_decode");
  EXPECT_EQ(p.layer, 1);
  EXPECT_EQ(p.kind, "linear");
  EXPECT_EQ(p.mode, "decode");
  EXPECT_EQ(argumentNames(p),
            (std::vector<std::string>{"query", "key", "value", "gate", "q_norm_weight",
                                      "k_norm_weight", "out_norm_weight", "positions",
                                      "state", "slot_ids", "cu_seqlens_q", "seq_lens"}));
  const MixerArgument &state = p.arguments[8];
  EXPECT_EQ(state.type, "state_pool");
  EXPECT_TRUE(state.written);
  EXPECT_FALSE(p.arguments[0].written);
  ASSERT_EQ(state.buffers.size(), 1u);
  EXPECT_EQ(state.buffers[0].dtype, "f32");
  EXPECT_EQ(llvm::json::Value(llvm::json::Array(state.buffers[0].shape)),
            llvm::json::Value(llvm::json::Array{"slots", 32, 128, 128}));
  // rms q, rms k, rope q, rope k, linear attention, rms full, gate.
  ASSERT_EQ(p.launches.size(), 7u);
  EXPECT_EQ(p.intermediates.size(), 7u);
  EXPECT_TRUE(p.workspaces.empty());
  EXPECT_EQ(p.outputs, std::vector<std::string>{"output"});
  EXPECT_EQ(bound(p.launches[0], "input"), "buffer:query");
  EXPECT_EQ(bound(p.launches[0], "weight"), "buffer:q_norm_weight");
  EXPECT_EQ(bound(p.launches[0], "tokens"), "size:tokens");
  EXPECT_EQ(bound(p.launches[2], "input"), "intermediate:" + p.intermediates[0].buffer.name);
  EXPECT_EQ(bound(p.launches[4], "slot_ids"), "buffer:slot_ids");
  EXPECT_EQ(bound(p.launches[4], "state"), "buffer:state");
  EXPECT_EQ(bound(p.launches[6], "output"), "intermediate:output");
  // Sizes come off the arguments.
  ASSERT_TRUE(size(p, "tokens"));
  EXPECT_EQ(size(p, "tokens")->buffer, "query");
  EXPECT_EQ(size(p, "tokens")->dim, 0);
  ASSERT_TRUE(size(p, "slots"));
  EXPECT_EQ(size(p, "slots")->buffer, "state");
  ASSERT_TRUE(size(p, "batch"));
  EXPECT_FALSE(size(p, "batch")->buffer.empty());
}

TEST_F(MixerPlanTest, FusedLinearHasWorkspaces) {
  auto module = formed({1}, /*fuseLinear=*/true);
  auto plans = collectMixerPlans(*module);
  ASSERT_EQ(plans.size(), 1u);
  const MixerPlan &p = plans[0];
  // Named as before fusion: the fused op's operands have the same roles.
  EXPECT_EQ(argumentNames(p),
            (std::vector<std::string>{"query", "key", "value", "gate", "q_norm_weight",
                                      "k_norm_weight", "out_norm_weight", "positions",
                                      "state", "slot_ids", "cu_seqlens_q", "seq_lens"}));
  ASSERT_EQ(p.launches.size(), 1u);
  EXPECT_EQ(p.launches[0].op, "sala.fused_linear_attention");
  ASSERT_EQ(p.intermediates.size(), 1u);
  EXPECT_EQ(p.intermediates[0].buffer.name, "output");
  std::map<std::string, std::string> init;
  for (const MixerTemp &w : p.workspaces) {
    init[w.param] = w.init;
    EXPECT_EQ(w.kernel, p.launches[0].kernel);
    EXPECT_EQ(bound(p.launches[0], w.param), "workspace:" + w.buffer.name);
  }
  EXPECT_EQ(init, (std::map<std::string, std::string>{
                      {"scratch", "none"}, {"partials", "none"}, {"counters", "zero"}}));
  EXPECT_TRUE(p.arguments[8].written);
}

TEST_F(MixerPlanTest, SparseLayerBindsBothPools) {
  auto module = formed({0}, /*fuseLinear=*/false, /*pageSize=*/16);
  auto plans = collectMixerPlans(*module);
  ASSERT_EQ(plans.size(), 1u);
  const MixerPlan &p = plans[0];
  EXPECT_EQ(p.kind, "sparse");
  EXPECT_EQ(argumentNames(p),
            (std::vector<std::string>{"query", "key", "value", "gate", "cache", "page_table",
                                      "keys", "key_page_table", "cu_seqlens_q",
                                      "seq_lens"}));
  const MixerArgument &cache = p.arguments[4];
  EXPECT_EQ(cache.type, "kv_cache");
  EXPECT_TRUE(cache.written);
  ASSERT_EQ(cache.buffers.size(), 2u);
  EXPECT_EQ(cache.buffers[0].name, "k_cache");
  EXPECT_EQ(cache.buffers[1].name, "v_cache");
  EXPECT_EQ(*cache.parameters.getInteger("page_size"), 16);
  EXPECT_TRUE(p.arguments[6].written);  // compressed keys
  EXPECT_FALSE(p.arguments[5].written);
  const MixerLaunch &append = p.launches[0];
  EXPECT_EQ(append.op, "sala.kv_append");
  EXPECT_EQ(bound(append, "k_cache"), "buffer:k_cache");
  EXPECT_EQ(bound(append, "v_cache"), "buffer:v_cache");
  EXPECT_EQ(bound(append, "key"), "buffer:key");
  // Sizes no argument shows have bounds.
  const MixerSize *maxQ = size(p, "max_q_len");
  ASSERT_TRUE(maxQ);
  EXPECT_TRUE(maxQ->buffer.empty());
  EXPECT_EQ(maxQ->boundSize, "tokens");
  const MixerSize *maxBlocks = size(p, "max_blocks");
  ASSERT_TRUE(maxBlocks);
  EXPECT_EQ(maxBlocks->boundSize, "max_pages");
  EXPECT_EQ(maxBlocks->mul, 16);
  EXPECT_EQ(maxBlocks->div, 64);
  EXPECT_EQ(size(p, "pages")->buffer, "k_cache");
  EXPECT_EQ(size(p, "key_pages")->buffer, "keys");
  // The JSON form.
  llvm::json::Value j = toJSON(p);
  const llvm::json::Object *o = j.getAsObject();
  ASSERT_TRUE(o);
  EXPECT_EQ(*o->getInteger("layer"), 0);
  EXPECT_EQ(*o->getString("kind"), "sparse");
  const llvm::json::Object *firstArg =
      (*(*o->getArray("launches"))[0].getAsObject()->getArray("args"))[0].getAsObject();
  EXPECT_EQ(*firstArg->getString("param"), "key");
  EXPECT_EQ(*firstArg->getString("buffer"), "key");
}

TEST_F(MixerPlanTest, HandWrittenBlocks) {
  const char *src = R"mlir(
    func.func @gate(%x: tensor<?x32x128xbf16>, %z: tensor<?x32x128xbf16>) -> tensor<?x32x128xbf16> {
      %y = sala.sigmoid_gate %x, %z : tensor<?x32x128xbf16>
      return %y : tensor<?x32x128xbf16>
    }
    !st = !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>
    func.func @partly(%x: tensor<?x2x16xf32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x16xf32> {
      %o = sala.linear_attention chunked %x, %x, %x, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>} : tensor<?x2x16xf32>, !st -> tensor<?x2x16xf32>
      %g = sala.sigmoid_gate %o, %x : tensor<?x2x16xf32>
      return %g : tensor<?x2x16xf32>
    }
  )mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(src, &ctx);
  ASSERT_TRUE(module);
  PassManager pm(&ctx);
  pm.addPass(createConvertSalaToGPU());
  ASSERT_TRUE(succeeded(pm.run(*module)));

  auto gate = planMixer(module->lookupSymbol<func::FuncOp>("gate"));
  ASSERT_TRUE(bool(gate)) << llvm::toString(gate.takeError());
  EXPECT_FALSE(gate->layer);
  EXPECT_EQ(gate->kind, "other");
  EXPECT_EQ(gate->mode, "");
  // Nothing but the gate reads x: it is named after its role there.
  EXPECT_EQ(argumentNames(*gate), (std::vector<std::string>{"input", "gate"}));
  EXPECT_EQ(toJSON(*gate).getAsObject()->get("layer")->kind(), llvm::json::Value::Null);

  // The chunked f32 linear attention has no kernel: no plan, and why.
  auto partly = planMixer(module->lookupSymbol<func::FuncOp>("partly"));
  ASSERT_FALSE(bool(partly));
  EXPECT_EQ(llvm::toString(partly.takeError()),
            "'sala.linear_attention' has no GPU kernel");
  // collectMixerPlans leaves it out (with a warning) and keeps the others.
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    diagnostics += d.str();
    return success();
  });
  auto plans = collectMixerPlans(*module);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].name, "gate");
  EXPECT_NE(diagnostics.find("'partly' is left out of the manifest's mixers: "
                             "'sala.linear_attention' has no GPU kernel"),
            std::string::npos)
      << diagnostics;
}

} // namespace
