//===- Decompose.cpp - composite mixers -> primitive sala ops -------------===//
//
// The composite ops state what a whole mixer computes; the primitive ops are
// what fusion and lowering work on. This pass is the bridge, and it is where the
// mixer-level policy lives: dense fallback below `dense_len`, recurrent form for
// decode and chunked form for prefill, the max-pool geometry of stage 1.
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace salac::sala {
#define GEN_PASS_DEF_SALADECOMPOSE
#define GEN_PASS_DEF_SALAUNFUSE
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"
} // namespace salac::sala

using namespace mlir;
using namespace salac::sala;

namespace {

/// Stage 2 of a sparse mixer as primitives: sparse attention; with
/// `denseLen > 0` the dense fallback and the length_select between the two;
/// the gate when given. Returns the chain's output.
static Value buildStage2Chain(PatternRewriter &rewriter, Location loc, Value query,
                              Value cache, Value pageTable, Value blocks, Value cu,
                              Value lens, Value gate, IntegerAttr blockSize,
                              int64_t denseLen, FloatAttr scale) {
  Type qType = query.getType();
  Value out = SparseAttentionOp::create(rewriter, loc, qType, query, cache, pageTable, blocks,
                                        cu, lens, blockSize, scale);
  if (denseLen > 0) {
    Value dense =
        DenseAttentionOp::create(rewriter, loc, qType, query, cache, pageTable, cu, lens, scale);
    out = LengthSelectOp::create(rewriter, loc, qType, dense, out, cu, lens, denseLen);
  }
  if (gate)
    out = SigmoidGateOp::create(rewriter, loc, qType, out, gate);
  return out;
}

struct DecomposeSparseMixer : OpRewritePattern<SparseMixerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SparseMixerOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SparseConfigAttr cfg = op.getConfig();
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    int64_t heads = qType.getDimSize(1);
    int64_t kvHeads = op.getCache().getType().getKvHeads();
    Value cu = op.getCuSeqlensQ(), lens = op.getSeqLens();
    FloatAttr scale = op.getScaleAttr();

    KVAppendOp::create(rewriter, loc, op.getKey(), op.getValue(), op.getCache(),
                       op.getPageTable(), cu, lens);
    CompressKeysOp::create(rewriter, loc, op.getCache(), op.getPageTable(),
                           op.getKeys(), op.getKeyPageTable(), cu, lens);
    if (op.getLseKeys())
      CompressKeysOp::create(rewriter, loc, op.getCache(), op.getPageTable(),
                             op.getLseKeys(), op.getLseKeyPageTable(), cu, lens);

    // Stage 1: compressed-key scores max-pooled onto blocks. One pool step per
    // block (block / stride entries); the window reaches one entry back
    // (kernel / stride - 1) so that a block also sees the windows overlapping it.
    int64_t poolStride = cfg.getBlockSize() / cfg.getKernelStride();
    int64_t poolPadding = cfg.getKernelSize() / cfg.getKernelStride() - 1;
    int64_t poolKernel = poolStride + 1;
    if (poolPadding >= poolKernel)
      poolPadding = poolKernel - 1;
    auto scoresType = RankedTensorType::get(
        {ShapedType::kDynamic, kvHeads, ShapedType::kDynamic}, rewriter.getF32Type());
    Value scores = BlockScoresOp::create(
        rewriter, loc, scoresType, op.getQuery(), op.getKeys(), op.getKeyPageTable(),
        op.getLseKeys(), op.getLseKeyPageTable(), cu, lens, cfg.getBlockSize(),
        heads / kvHeads, poolKernel, poolStride, poolPadding, scale);

    auto selType = RankedTensorType::get(
        {ShapedType::kDynamic, kvHeads, cfg.getSelectCount()}, rewriter.getI32Type());
    Value blocks =
        TopkBlocksOp::create(rewriter, loc, selType, scores, cu, lens,
                             cfg.getBlockSize(), cfg.getTopk(), cfg.getInitBlocks(),
                             cfg.getLocalBlocks());
    rewriter.replaceOp(op, buildStage2Chain(rewriter, loc, op.getQuery(), op.getCache(),
                                            op.getPageTable(), blocks, cu, lens, op.getGate(),
                                            rewriter.getI64IntegerAttr(cfg.getBlockSize()),
                                            cfg.getDenseLen(), scale));
    return success();
  }
};

/// The primitive chain of a linear mixer or of its fused decode form: q/k
/// RMSNorm and RoPE where their operands are given, linear attention, the
/// full RMSNorm and the gate where given. Returns the chain's output.
template <typename OpT>
static Value buildLinearChain(OpT op, PatternRewriter &rewriter, LinearForm form,
                              const APFloat &qkEps, const APFloat &outEps,
                              IntegerAttr chunkSize) {
  Location loc = op.getLoc();
  Value q = op.getQuery(), k = op.getKey();
  if (op.getQNormWeight()) {
    q = RMSNormOp::create(rewriter, loc, q.getType(), NormScope::Head, q, op.getQNormWeight(),
                          qkEps);
    k = RMSNormOp::create(rewriter, loc, k.getType(), NormScope::Head, k, op.getKNormWeight(),
                          qkEps);
  }
  if (Value pos = op.getPositions()) {
    q = RopeOp::create(rewriter, loc, q.getType(), op.getRopeStyle(), q, pos, op.getTheta());
    k = RopeOp::create(rewriter, loc, k.getType(), op.getRopeStyle(), k, pos, op.getTheta());
  }
  Value out = LinearAttentionOp::create(
      rewriter, loc, op.getQuery().getType(), form, q, k, op.getValue(), op.getState(),
      op.getSlots(), op.getCuSeqlensQ(), op.getSeqLens(), op.getSlopesAttr(), chunkSize,
      op.getScaleAttr());
  if (op.getOutNormWeight())
    out = RMSNormOp::create(rewriter, loc, out.getType(), NormScope::Full, out,
                            op.getOutNormWeight(), outEps);
  if (Value gate = op.getGate())
    out = SigmoidGateOp::create(rewriter, loc, out.getType(), out, gate);
  return out;
}

struct DecomposeLinearMixer : OpRewritePattern<LinearMixerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearMixerOp op,
                                PatternRewriter &rewriter) const override {
    bool decode = op.getMode() == MixerMode::Decode;
    rewriter.replaceOp(op, buildLinearChain(op, rewriter,
                                            decode ? LinearForm::Recurrent : LinearForm::Chunked,
                                            op.getEps(), op.getEps(),
                                            decode ? IntegerAttr() : op.getChunkSizeAttr()));
    return success();
  }
};

// A fused op means its chain of primitives (see sala-fuse-linear); expanding it
// back (sala-unfuse) is how the portable lowering runs it, and how the fusion
// is checked.
struct DecomposeFusedLinear : OpRewritePattern<FusedLinearAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedLinearAttentionOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, buildLinearChain(op, rewriter, op.getForm(), op.getQkEps(),
                                            op.getOutEps(), op.getChunkSizeAttr()));
    return success();
  }
};

// The fused norm and gate mean the full RMSNorm then the gate (see
// sala-fuse-linear).
struct DecomposeFusedRMSNormGate : OpRewritePattern<FusedRMSNormGateOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedRMSNormGateOp op,
                                PatternRewriter &rewriter) const override {
    Value n = RMSNormOp::create(rewriter, op.getLoc(), op.getInput().getType(),
                                NormScope::Full, op.getInput(), op.getWeight(), op.getEps());
    rewriter.replaceOpWithNewOp<SigmoidGateOp>(op, op.getInput().getType(), n, op.getGate());
    return success();
  }
};

// The fused selection means stage 1 then top-k (see sala-fuse-sparse-select).
struct DecomposeFusedSparseSelect : OpRewritePattern<FusedSparseSelectOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedSparseSelectOp op,
                                PatternRewriter &rewriter) const override {
    auto blocks = op.getBlocks().getType();
    auto scoresType = RankedTensorType::get(
        {blocks.getDimSize(0), blocks.getDimSize(1), ShapedType::kDynamic},
        rewriter.getF32Type());
    auto scores = BlockScoresOp::create(
        rewriter, op.getLoc(), scoresType, op.getQuery(), op.getKeys(), op.getKeyPageTable(),
        /*lse_keys=*/Value(), /*lse_key_page_table=*/Value(), op.getCuSeqlensQ(),
        op.getSeqLens(), op.getBlockSizeAttr(), op.getGroupSizeAttr(), op.getPoolKernelAttr(),
        op.getPoolStrideAttr(), op.getPoolPaddingAttr(), op.getScaleAttr());
    rewriter.replaceOpWithNewOp<TopkBlocksOp>(
        op, blocks, scores.getScores(), op.getCuSeqlensQ(), op.getSeqLens(),
        op.getBlockSizeAttr(), op.getTopkAttr(), op.getInitBlocksAttr(),
        op.getLocalBlocksAttr());
    return success();
  }
};

// The fused stage 2 means sparse attention, the dense fallback and the gate
// (see sala-fuse-sparse-attention).
struct DecomposeFusedSparseAttention : OpRewritePattern<FusedSparseAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, buildStage2Chain(rewriter, op.getLoc(), op.getQuery(), op.getCache(),
                                            op.getPageTable(), op.getBlocks(),
                                            op.getCuSeqlensQ(), op.getSeqLens(), op.getGate(),
                                            op.getBlockSizeAttr(), int64_t(op.getDenseLen()),
                                            op.getScaleAttr()));
    return success();
  }
};

// The fused KV update means the append then the compression (see
// sala-fuse-kv-access).
struct DecomposeFusedKVUpdate : OpRewritePattern<FusedKVUpdateOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedKVUpdateOp op, PatternRewriter &rewriter) const override {
    KVAppendOp::create(rewriter, op.getLoc(), op.getKey(), op.getValue(), op.getCache(),
                       op.getPageTable(), op.getCuSeqlensQ(), op.getSeqLens());
    rewriter.replaceOpWithNewOp<CompressKeysOp>(op, op.getCache(), op.getPageTable(),
                                                op.getKeys(), op.getKeyPageTable(),
                                                op.getCuSeqlensQ(), op.getSeqLens());
    return success();
  }
};

struct SalaDecompose : salac::sala::impl::SalaDecomposeBase<SalaDecompose> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

struct SalaUnfuse : salac::sala::impl::SalaUnfuseBase<SalaUnfuse> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateUnfusePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void salac::sala::populateDecomposePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeSparseMixer, DecomposeLinearMixer>(patterns.getContext());
}

void salac::sala::populateUnfusePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeFusedLinear, DecomposeFusedRMSNormGate, DecomposeFusedSparseSelect,
               DecomposeFusedKVUpdate, DecomposeFusedSparseAttention>(
      patterns.getContext());
}
