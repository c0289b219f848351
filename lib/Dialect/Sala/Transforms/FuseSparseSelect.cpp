//===- FuseSparseSelect.cpp - stage 1 and top-k as one op ------------------===//
//
// Replaces a sala.block_scores whose scores only feed a sala.topk_blocks with
// one sala.fused_sparse_select. Unfused, stage 1 writes a [tokens, kv_heads,
// max_blocks] tensor of block scores and the top-k kernel reads it back, with
// the whole pooling and selection of a sequence on one thread block; fused,
// one kernel spreads the sequence over many thread blocks, pools and keeps
// each part's best blocks on chip, and merges them (SelectKernels.cpp).
//
// The pair is fused only when it is one chain: the scores have no other user,
// both ops see the same batch (cu_seqlens_q and seq_lens values) and block
// size, stage 1 uses the exact softmax (the K2 option has no fused form), and
// it selects at most FusedSparseSelectOp::kMaxSelected blocks.
// The fused op takes stage 1's place: top-k is pure, so nothing that writes
// the compressed keys can sit between the read and its replacement.
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"

namespace salac::sala {
#define GEN_PASS_DEF_SALAFUSESPARSESELECT
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"
} // namespace salac::sala

using namespace mlir;
using namespace salac::sala;

namespace {

void fuse(BlockScoresOp bs) {
  if (bs.getLseKeys() || !bs.getScores().hasOneUse())
    return;
  auto tk = dyn_cast<TopkBlocksOp>(*bs.getScores().getUsers().begin());
  if (!tk || tk.getCuSeqlensQ() != bs.getCuSeqlensQ() || tk.getSeqLens() != bs.getSeqLens() ||
      tk.getBlockSize() != bs.getBlockSize() ||
      tk.getTopk() + tk.getLocalBlocks() > FusedSparseSelectOp::kMaxSelected)
    return;
  OpBuilder b(bs);
  auto fused = FusedSparseSelectOp::create(
      b, bs.getLoc(), tk.getBlocks().getType(), bs.getQuery(), bs.getKeys(),
      bs.getKeyPageTable(), bs.getCuSeqlensQ(), bs.getSeqLens(), bs.getBlockSizeAttr(),
      bs.getGroupSizeAttr(), bs.getPoolKernelAttr(), bs.getPoolStrideAttr(),
      bs.getPoolPaddingAttr(), bs.getScaleAttr(), tk.getTopkAttr(), tk.getInitBlocksAttr(),
      tk.getLocalBlocksAttr());
  tk.getBlocks().replaceAllUsesWith(fused.getBlocks());
  tk->erase();
  bs->erase();
}

struct SalaFuseSparseSelect
    : salac::sala::impl::SalaFuseSparseSelectBase<SalaFuseSparseSelect> {
  void runOnOperation() override {
    SmallVector<BlockScoresOp> stage1;
    getOperation()->walk([&](BlockScoresOp op) { stage1.push_back(op); });
    for (BlockScoresOp bs : stage1)
      fuse(bs);
  }
};

} // namespace
