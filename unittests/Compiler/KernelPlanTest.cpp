//===- KernelPlanTest.cpp - the kernel plan's cost model ------------------===//
//
// Numbers worked out by hand for MiniCPM-SALA (DESIGN.md section 1): 32 query
// heads of 128, 2 KV heads, bf16 activations and cache, f32 linear state.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/KernelPlan.h"
#include "salac/Compiler/ModelToSala.h"
#include "salac/Compiler/Pipeline.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"
#include "salac/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace salac;

namespace {

class KernelPlanTest : public ::testing::Test {
protected:
  KernelPlanTest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  /// Decode functions of layers 0 (sparse) and 1 (linear), decomposed or
  /// (with `kernels`) through the kernels pipeline.
  OwningOpRef<ModuleOp> decodeModule(bool kernels, int64_t pageSize = 64) {
    auto config = model::defaultModelConfig();
    EXPECT_TRUE(bool(config));
    ModelBuildOptions opts;
    opts.layers = {0, 1};
    opts.prefill = false;
    opts.pageSize = pageSize;
    auto module = buildModelModule(&ctx, *config, opts);
    EXPECT_TRUE(bool(module));
    PassManager pm(&ctx);
    if (kernels)
      buildSalaToKernelsPipeline(pm, /*fuse=*/false);
    else
      pm.addPass(sala::createSalaDecompose());
    EXPECT_TRUE(succeeded(pm.run(**module)));
    return std::move(*module);
  }

  template <typename OpT> OpT first(ModuleOp m) {
    OpT found;
    m.walk([&](OpT op) {
      if (!found)
        found = op;
    });
    return found;
  }

  KernelCost cost(Operation *op, const StepSizes &s) {
    llvm::Expected<KernelCost> c = costOf(op, s);
    EXPECT_TRUE(bool(c)) << llvm::toString(c.takeError());
    return c ? *c : KernelCost();
  }

  MLIRContext ctx;
};

TEST_F(KernelPlanTest, LinearRecurrentMovesItsStateOnce) {
  auto m = decodeModule(false);
  auto op = first<sala::LinearAttentionOp>(*m);
  ASSERT_TRUE(op);
  StepSizes s; // batch 1, context 131072
  KernelCost c = cost(op, s);
  // 32 x 128 x 128 f32, read and written: 2 * 2 MiB.
  EXPECT_EQ(c.bytesOf("state"), 2 * 32 * 128 * 128 * 4);
  EXPECT_EQ(c.bytesOf("state"), 4194304);
  // q, k, v read and o written (8 KiB each), slot + cu_seqlens + seq_lens.
  EXPECT_EQ(c.bytesRead(), 2097152 + 3 * 8192 + 4 + 8 + 4);
  EXPECT_EQ(c.bytesWritten(), 2097152 + 8192);
  EXPECT_EQ(c.bytes(), 4227088);
  // Per head: 5 d^2 + d.
  EXPECT_EQ(c.flops, 32 * (5 * 128 * 128 + 128));
  s.batch = 64;
  EXPECT_EQ(cost(op, s).bytesOf("state"), 64 * 4194304);
  // A fresh sequence has no state to read.
  s.batch = 1;
  s.context = 0;
  EXPECT_EQ(cost(op, s).bytesOf("state"), 2097152);
}

TEST_F(KernelPlanTest, SparseAttentionAtPrefillReadsTheCacheOnce) {
  auto m = decodeModule(false);
  auto op = first<sala::SparseAttentionOp>(*m);
  ASSERT_TRUE(op);
  // 32768 fresh tokens: summed over the tokens the selections cover ~6000
  // tokens each, but together they need each cached row once per group.
  StepSizes s;
  s.context = 0;
  s.queryTokens = 32768;
  KernelCost c = cost(op, s);
  EXPECT_EQ(c.bytesOf("K cache"), 2 * 32768 * 256);
  EXPECT_EQ(c.bytesOf("V cache"), 2 * 32768 * 256);
  EXPECT_EQ(c.bytesOf("page_table"), 2 * 512 * 4);
  // The flops are not bounded: every token attends over its own selection.
  // Token t sees min(t + 1, 95 * 64 + (t mod 64) + 1) keys (all blocks while
  // it has at most 96), 32 heads, 4 x 128 + 5 per key and 128 per head.
  int64_t flops = 0;
  for (int64_t t = 0; t < 32768; ++t) {
    int64_t k = t / 64 + 1 <= 96 ? t + 1 : 95 * 64 + t % 64 + 1;
    flops += 32 * (k * (4 * 128 + 5) + 128);
  }
  EXPECT_EQ(c.flops, flops);
}

TEST_F(KernelPlanTest, SparseAttentionReadsTheSelectedBlocks) {
  auto m = decodeModule(false);
  auto op = first<sala::SparseAttentionOp>(*m);
  ASSERT_TRUE(op);
  StepSizes s;
  // At context 131071 the query (position 131071) ends block 2047: 96 full
  // blocks of 64 tokens, K and V (256 bytes a token each), per KV group.
  s.context = 131071;
  KernelCost c = cost(op, s);
  EXPECT_EQ(c.bytesOf("K cache") + c.bytesOf("V cache"), 2 * 96 * 64 * 2 * 256);
  // At 131072 the query opens block 2048, which holds it alone: 95 full
  // blocks and 1 token.
  s.context = 131072;
  c = cost(op, s);
  EXPECT_EQ(c.bytesOf("K cache"), 2 * (95 * 64 + 1) * 256);
  EXPECT_EQ(c.bytesOf("blocks"), 2 * 96 * 4);
  EXPECT_EQ(c.bytesOf("page_table"), 2 * 96 * 4); // a page per selected block
  // One token over 2 KV groups: the split rule's 24 splits, each writing its
  // partial O (16 x 128 f32) and (max, sum) rows, read back by the last.
  int64_t workspace = 2 * 24 * (16 * 128 + 16 * 2) * 4;
  EXPECT_EQ(c.bytesOf("split workspace"), 2 * workspace);
  EXPECT_EQ(c.bytes(), 6244876 + 2 * workspace);
  // Short sequences: every block exists and is read, up to the query.
  s.context = 99;
  EXPECT_EQ(cost(op, s).bytesOf("V cache"), 2 * 100 * 256);
}

TEST_F(KernelPlanTest, BlockScoresReadK1AndWriteScores) {
  auto m = decodeModule(false);
  auto op = first<sala::BlockScoresOp>(*m);
  ASSERT_TRUE(op);
  StepSizes s;
  KernelCost c = cost(op, s);
  // n = 131073 tokens: floor((n - 32) / 16) + 1 = 8191 K1 entries per KV head.
  EXPECT_EQ(c.bytesOf("K1 entries"), 8191 * 2 * 128 * 2);
  // ceil(n / 64) = 2049 blocks per KV group, f32.
  EXPECT_EQ(c.bytesOf("scores"), 2 * 2049 * 4);
  EXPECT_EQ(c.bytes(), 4218900);
  // DESIGN.md section 6: sparse decode at B=8, n=128K moves ~84 MB (K1 plus
  // the selected blocks), 28 us at 3.0 TB/s.
  s.batch = 8;
  auto attn = first<sala::SparseAttentionOp>(*m);
  int64_t design = cost(op, s).bytesOf("K1 entries") + cost(attn, s).bytesOf("K cache") +
                   cost(attn, s).bytesOf("V cache");
  EXPECT_NEAR(design / 1e6, 83.4, 0.1);
  EXPECT_NEAR(floorSeconds(design, 0, *lookupGpu("h100")) * 1e6, 27.8, 0.1);
}

TEST_F(KernelPlanTest, CompressKeysWritesOnlyCompletedWindows) {
  auto m = decodeModule(false);
  auto op = first<sala::CompressKeysOp>(*m);
  ASSERT_TRUE(op);
  StepSizes s;
  // Position 131072: no window ends there.
  EXPECT_EQ(cost(op, s).bytesOf("K1 entries"), 0);
  // Position 131071 ends window 8190 (tokens 131040 .. 131071).
  s.context = 131071;
  KernelCost c = cost(op, s);
  EXPECT_EQ(c.bytesOf("K1 entries"), 2 * 128 * 2);
  EXPECT_EQ(c.bytesOf("K cache"), 32 * 2 * 128 * 2);
  EXPECT_EQ(c.flops, 2 * 128 * 32);
}

TEST_F(KernelPlanTest, ElementwiseOpsReadInputsAndWriteOutputs) {
  auto m = decodeModule(false);
  auto gate = first<sala::SigmoidGateOp>(*m);
  ASSERT_TRUE(gate);
  StepSizes s;
  s.batch = 4;
  KernelCost c = cost(gate, s);
  EXPECT_EQ(c.bytesRead(), 2 * 4 * 4096 * 2);
  EXPECT_EQ(c.bytesWritten(), 4 * 4096 * 2);
  EXPECT_EQ(c.flops, 4 * 4 * 4096);
  auto select = first<sala::LengthSelectOp>(*m);
  ASSERT_TRUE(select);
  c = cost(select, s);
  EXPECT_EQ(c.bytesOf("long_value"), 4 * 4096 * 2); // seq_len >= 8192: sparse rows
  EXPECT_EQ(c.bytesOf("short_value"), 0);
  s.context = 100;
  EXPECT_EQ(cost(select, s).bytesOf("short_value"), 4 * 4096 * 2);
}

/// sala-fuse-linear's op costs what the chain it replaces costs, less the
/// intermediate tensors, with the same math.
TEST_F(KernelPlanTest, FusedLinearDropsTheIntermediates) {
  auto m = decodeModule(false);
  StepSizes s;
  KernelCost chain;
  int64_t intermediate = 0;
  (*m).walk([&](Operation *op) {
    auto fn = op->getParentOfType<func::FuncOp>();
    if (!isa<sala::SalaDialect>(op->getDialect()) ||
        fn.getName() != "layer_01_linear_decode")
      return;
    KernelCost c = cost(op, s);
    chain.flops += c.flops;
    for (const Traffic &t : c.traffic) {
      chain.traffic.push_back(t);
      // Results of the chain's ops that the chain reads again.
      bool between = t.write ? t.value.getDefiningOp() == op && !t.value.use_empty() &&
                                   !isa<func::ReturnOp>(*t.value.getUsers().begin())
                             : t.value && t.value.getDefiningOp();
      intermediate += between ? t.bytes : 0;
    }
  });
  EXPECT_EQ(chain.bytes(), 4342296);
  EXPECT_EQ(intermediate,
            12 * 8192); // q, k: norm -> rope -> attention; o: -> norm -> gate

  PassManager pm(&ctx);
  pm.addPass(sala::createSalaFuseLinear());
  ASSERT_TRUE(succeeded(pm.run(*m)));
  auto fused = first<sala::FusedLinearAttentionOp>(*m);
  ASSERT_TRUE(fused);
  KernelCost c = cost(fused, s);
  EXPECT_EQ(c.flops, chain.flops);
  // The two RoPE kernels each read the positions; the fused kernel once.
  EXPECT_EQ(c.bytes(), chain.bytes() - intermediate - 4);
  EXPECT_EQ(c.bytesOf("state"), 4194304);
}

/// At prefill, sala-fuse-linear{prefill=true} makes a linear layer two
/// kernels (the chunked attention with the q/k norms and RoPE; the output
/// norm with the gate): the chain's flops, its bytes less the intermediate
/// tensors but the attention's output, and less the second read of the
/// positions.
TEST_F(KernelPlanTest, PrefillFoldDropsTheIntermediates) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config));
  ModelBuildOptions opts;
  opts.layers = {1};
  opts.decode = false;
  auto m = buildModelModule(&ctx, *config, opts);
  ASSERT_TRUE(bool(m));
  PassManager decompose(&ctx);
  decompose.addPass(sala::createSalaDecompose());
  ASSERT_TRUE(succeeded(decompose.run(**m)));
  StepSizes s;
  s.context = 0;
  s.queryTokens = 300;
  auto total = [&](ModuleOp module, int64_t &intermediate) {
    KernelCost sum;
    intermediate = 0;
    module.walk([&](Operation *op) {
      if (!isa<KernelCostOpInterface>(op))
        return;
      KernelCost c = cost(op, s);
      sum.flops += c.flops;
      for (const Traffic &t : c.traffic) {
        sum.traffic.push_back(t);
        bool between = t.write ? t.value && t.value.getDefiningOp() == op &&
                                     !isa<func::ReturnOp>(*t.value.getUsers().begin())
                               : t.value && t.value.getDefiningOp();
        intermediate += between ? t.bytes : 0;
      }
    });
    return sum;
  };
  int64_t intermediate = 0;
  KernelCost chain = total(**m, intermediate);
  int64_t elements = 300 * 32 * 128;
  // q, k: norm -> rope -> attention; o: -> norm -> gate (bf16).
  EXPECT_EQ(intermediate, 6 * 2 * elements * 2);

  PassManager pm(&ctx);
  sala::SalaFuseLinearOptions prefill;
  prefill.prefill = true;
  pm.addPass(sala::createSalaFuseLinear(prefill));
  ASSERT_TRUE(succeeded(pm.run(**m)));
  ASSERT_TRUE(first<sala::FusedLinearAttentionOp>(**m));
  ASSERT_TRUE(first<sala::FusedRMSNormGateOp>(**m));
  int64_t left = 0;
  KernelCost fused = total(**m, left);
  EXPECT_EQ(left, 2 * elements * 2); // o: attention -> norm and gate
  EXPECT_EQ(fused.flops, chain.flops);
  EXPECT_EQ(fused.bytes(), chain.bytes() - intermediate + left - 300 * 4);
}

TEST_F(KernelPlanTest, EveryOpWithAKernelHasACostModel) {
  // The ops that declare KernelOpInterface (they have a kernel) are the ops
  // with a cost model, so that a plan can cost every launch.
  int withKernel = 0;
  for (RegisteredOperationName name : ctx.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "sala")
      continue;
    bool kernel = name.hasInterface<sala::KernelOpInterface>();
    EXPECT_EQ(kernel, name.hasInterface<KernelCostOpInterface>()) << name.getStringRef().str();
    withKernel += kernel;
  }
  EXPECT_EQ(withKernel, 16);
}

TEST_F(KernelPlanTest, UnknownOpsAreErrors) {
  auto config = model::defaultModelConfig();
  ASSERT_TRUE(bool(config));
  ModelBuildOptions opts;
  opts.layers = {0};
  opts.prefill = false;
  auto module = buildModelModule(&ctx, *config, opts);
  ASSERT_TRUE(bool(module));
  // The composite mixer has no kernel and no cost model of its own.
  auto mixer = first<sala::SparseMixerOp>(**module);
  ASSERT_TRUE(mixer);
  llvm::Expected<KernelCost> c = costOf(mixer, StepSizes());
  ASSERT_FALSE(bool(c));
  EXPECT_EQ(llvm::toString(c.takeError()),
            "no cost model for 'sala.sparse_mixer': attach one in "
            "registerKernelCostModels (lib/Compiler/KernelCost.cpp)");
  // ... and a plan of an undecomposed module names it.
  auto plan = planKernelLaunches(**module, StepSizes());
  ASSERT_FALSE(bool(plan));
  EXPECT_EQ(llvm::toString(plan.takeError()),
            "'sala.sparse_mixer' in @layer_00_sparse_decode has no GPU kernel: the "
            "plan would be incomplete");
  StepSizes bad;
  bad.batch = 0;
  EXPECT_FALSE(bool(costOf(mixer, bad)));
  llvm::consumeError(costOf(mixer, bad).takeError());
}

TEST_F(KernelPlanTest, PlanEvaluatesLaunchesAndTheDensePath) {
  auto m = decodeModule(true);
  StepSizes s;
  s.batch = 2;
  auto plan = planKernelLaunches(*m, s);
  ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
  // Sparse: kv_append, compress_keys, block_scores, topk, sparse, dense,
  // length_select, gate; linear: 2 norms, 2 ropes, attention, norm, gate.
  ASSERT_EQ(plan->size(), 15u);
  const KernelLaunch &append = (*plan)[0];
  EXPECT_EQ(append.mixer, "layer_00_sparse_decode");
  EXPECT_EQ(append.kind, "sparse");
  EXPECT_EQ(append.op, "sala.kv_append");
  EXPECT_EQ(append.grid, (std::array<int64_t, 3>{1, 1, 1})); // ceil(2 * 32 / 256)
  EXPECT_EQ(append.block, (std::array<int64_t, 3>{256, 1, 1}));
  const KernelLaunch &sparse = (*plan)[4], &dense = (*plan)[5];
  EXPECT_EQ(sparse.op, "sala.sparse_attention");
  // tokens x KV groups, and the split rule's blocks per pair: 4 pairs on
  // 132 SMs want 66; 4 x 16 x 2 < 132 allows 24; 96 selected blocks at
  // least 4 a split allow 24.
  EXPECT_EQ(sparse.grid, (std::array<int64_t, 3>{4, 24, 1}));
  // K and V tiles (2 x 64 x 128 bf16), the group's queries, the combine's
  // and the split merge's rows of f32, each selected slot's first key and page.
  EXPECT_EQ(sparse.sharedBytes, 16384 * 2 + 2048 * 2 + 128 * 4 * 2 + 96 * 4 * 2);
  EXPECT_TRUE(sparse.needed);
  EXPECT_EQ(dense.op, "sala.dense_attention");
  EXPECT_FALSE(dense.needed); // seq_len 131073 >= dense_len 8192
  // The sparse output is written for length_select, which reads it.
  EXPECT_EQ(sparse.intermediateBytes,
            sparse.cost.bytesOf("output") + sparse.cost.bytesOf("blocks"));
  const KernelLaunch &linear = (*plan)[12];
  EXPECT_EQ(linear.op, "sala.linear_attention");
  EXPECT_EQ(linear.kind, "linear");
  EXPECT_EQ(linear.grid, (std::array<int64_t, 3>{64, 1, 1})); // batch x heads
  // Reads normed and rotated q and k from earlier kernels, writes o for the
  // out-norm; v comes from outside.
  EXPECT_EQ(linear.intermediateBytes, 3 * 2 * 8192);
  // Short sequences take the dense path: the sparse path is unused.
  s.context = 100;
  plan = planKernelLaunches(*m, s);
  ASSERT_TRUE(bool(plan));
  EXPECT_TRUE((*plan)[5].needed);
  for (int i : {2, 3, 4})
    EXPECT_FALSE((*plan)[i].needed) << (*plan)[i].op;
  EXPECT_TRUE((*plan)[1].needed); // compress_keys maintains the cache regardless
}

TEST(KernelPlanGpuTest, Gpus) {
  auto h100 = lookupGpu("h100"), h200 = lookupGpu("H200");
  ASSERT_TRUE(h100 && h200);
  EXPECT_EQ(h100->bytesPerSecond, 3.0e12);
  EXPECT_EQ(h200->bytesPerSecond, 4.2e12);
  EXPECT_EQ(h100->flopsPerSecond, 715e12);
  EXPECT_FALSE(lookupGpu("a100"));
  // Memory-bound and compute-bound floors.
  EXPECT_DOUBLE_EQ(floorSeconds(3000000, 1, *h100), 1e-6);
  EXPECT_DOUBLE_EQ(floorSeconds(1, 715000000, *h100), 1e-6);
}

} // namespace
