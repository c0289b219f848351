//===- FuseSparseAttention.cpp - stage 2, dense fallback and gate as one op ===//
//
// Folds the tail of a sparse mixer into its sala.sparse_attention: the
// sala.dense_attention fallback with the sala.length_select that picks between
// the two by sequence length, and the sala.sigmoid_gate after them. Unfused,
// the dense kernel runs (and writes zeros for the long sequences it skips),
// length_select copies one output or the other, and the gate reads it back:
// three launches and two round trips of the output after stage 2. Fused, one
// kernel attends to every cached block for a short sequence and to the
// selected ones for a long sequence, and writes the gated rows
// (AttentionKernels.cpp).
//
// What is folded must be one chain: each value has no user outside it; the
// dense attention reads the same query, cache, page table and batch at the
// same scale; length_select sees the same batch; the gate is defined before
// the sparse attention (the fused op takes its place). Nothing between the
// chain's first and last op may write memory, so that moving the dense read
// and the gate to the sparse attention's place changes nothing they see. A
// sparse attention with neither a fallback nor a gate is left as it is.
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"
#include "FusionUtils.h"

#include "mlir/IR/Dominance.h"

namespace salac::sala {
#define GEN_PASS_DEF_SALAFUSESPARSEATTENTION
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"
} // namespace salac::sala

using namespace mlir;
using namespace salac::sala;

namespace {

using fusion::soleUser;
using fusion::writesBetween;

void fuse(SparseAttentionOp sp, DominanceInfo &dom) {
  Value cu = sp.getCuSeqlensQ(), lens = sp.getSeqLens();
  Value out = sp.getOutput();
  Block *block = sp->getBlock();
  Operation *first = sp, *last = sp;
  SmallVector<Operation *> folded;
  auto extend = [&](Operation *op) {
    if (op->isBeforeInBlock(first))
      first = op;
    if (last->isBeforeInBlock(op))
      last = op;
    folded.push_back(op);
  };

  // The dense fallback: length_select(dense_attention(same inputs), out).
  int64_t denseLen = 0;
  if (auto ls = dyn_cast_or_null<LengthSelectOp>(soleUser(out));
      ls && ls->getBlock() == block && ls.getLongValue() == out &&
      ls.getShortValue() != out && ls.getCuSeqlensQ() == cu && ls.getSeqLens() == lens) {
    auto da = ls.getShortValue().getDefiningOp<DenseAttentionOp>();
    if (da && da->getBlock() == block && da.getOutput().hasOneUse() &&
        da.getQuery() == sp.getQuery() && da.getCache() == sp.getCache() &&
        da.getPageTable() == sp.getPageTable() && da.getCuSeqlensQ() == cu &&
        da.getSeqLens() == lens && da.getEffectiveScale() == sp.getEffectiveScale()) {
      denseLen = int64_t(ls.getThreshold());
      extend(da);
      extend(ls);
      out = ls.getResult();
    }
  }
  // The output gate, if its logits exist where the fused op goes.
  Value gate;
  if (auto g = dyn_cast_or_null<SigmoidGateOp>(soleUser(out));
      g && g->getBlock() == block && g.getInput() == out && g.getGate() != out &&
      dom.properlyDominates(g.getGate(), sp)) {
    gate = g.getGate();
    extend(g);
    out = g.getOutput();
  }
  if (folded.empty() || writesBetween(first, last))
    return;

  OpBuilder b(sp);
  auto fused = FusedSparseAttentionOp::create(
      b, sp.getLoc(), out.getType(), sp.getQuery(), sp.getCache(), sp.getPageTable(),
      sp.getBlocks(), cu, lens, gate, sp.getBlockSizeAttr(), b.getI64IntegerAttr(denseLen),
      sp.getScaleAttr());
  out.replaceAllUsesWith(fused.getOutput());
  // Users first: the gate, length_select, the dense attention, stage 2.
  for (Operation *op : llvm::reverse(folded))
    op->erase();
  sp->erase();
}

struct SalaFuseSparseAttention
    : salac::sala::impl::SalaFuseSparseAttentionBase<SalaFuseSparseAttention> {
  void runOnOperation() override {
    SmallVector<SparseAttentionOp> stage2;
    getOperation()->walk([&](SparseAttentionOp op) { stage2.push_back(op); });
    DominanceInfo dom(getOperation());
    for (SparseAttentionOp sp : stage2)
      fuse(sp, dom);
  }
};

} // namespace
