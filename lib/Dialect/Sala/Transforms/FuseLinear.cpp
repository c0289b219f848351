//===- FuseLinear.cpp - one kernel per linear-attention decode step --------===//
//
// Folds the stages around a recurrent linear_attention (q/k RMSNorm and RoPE
// before it, the full RMSNorm and the gate after it) into one
// sala.fused_linear_attention; with `prefill`, the stages before a chunked
// one too, and the full RMSNorm and gate after it into one
// sala.fused_rms_norm_gate. Unfused, every stage is a kernel that writes its
// result to global memory for the next one to read back; fused, q and k are
// normed and rotated in registers and the output is normalised and gated
// before it is written.
//
// A stage is folded only when the chain owns it: the intermediate value has no
// other user, q and k agree on the norm eps and on the rotation, and nothing
// with side effects sits between the attention and the last folded consumer
// (the fused op is created there, so moving the state update down must not
// reorder it with other memory effects).
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"
#include "FusionUtils.h"

namespace salac::sala {
#define GEN_PASS_DEF_SALAFUSELINEAR
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"
} // namespace salac::sala

using namespace mlir;
using namespace salac::sala;

namespace {

using fusion::onlyPureBetween;
using fusion::soleUser;

/// Whether `user` can be folded into an op created in its place: in `la`'s
/// block, after it with nothing but pure ops between.
bool follows(LinearAttentionOp la, Operation *user) {
  return user && user->getBlock() == la->getBlock() && onlyPureBetween(la, user);
}

/// At prefill, the full RMSNorm of the attention's output and the gate after
/// it become one sala.fused_rms_norm_gate (the norm spans every head, which
/// the chunked kernel's blocks split, so it cannot join the attention).
void fuseNormGate(LinearAttentionOp la) {
  auto n = dyn_cast_or_null<RMSNormOp>(soleUser(la.getOutput()));
  if (!n || !follows(la, n) || n.getScope() != NormScope::Full || n.getInput() != la.getOutput())
    return;
  auto g = dyn_cast_or_null<SigmoidGateOp>(soleUser(n.getOutput()));
  if (!g || !follows(la, g) || g.getInput() != n.getOutput())
    return;
  OpBuilder b(g);
  auto fused = FusedRMSNormGateOp::create(b, g.getLoc(), g.getOutput().getType(),
                                          n.getInput(), n.getWeight(), g.getGate(),
                                          n.getEpsAttr());
  g.getOutput().replaceAllUsesWith(fused.getOutput());
  g->erase();
  n->erase();
}

void fuse(LinearAttentionOp la) {
  Value q = la.getQuery(), k = la.getKey();
  SmallVector<Operation *> producers; // erased after the fused op exists
  // RoPE on both q and k with the same rotation.
  Value positions;
  FloatAttr theta;
  RopeStyleAttr style;
  auto rq = q.getDefiningOp<RopeOp>(), rk = k.getDefiningOp<RopeOp>();
  if (rq && rk && rq != rk && q.hasOneUse() && k.hasOneUse() &&
      rq.getPositions() == rk.getPositions() && rq.getTheta() == rk.getTheta() &&
      rq.getStyle() == rk.getStyle()) {
    positions = rq.getPositions();
    theta = rq.getThetaAttr();
    style = rq.getStyleAttr();
    q = rq.getInput();
    k = rk.getInput();
    producers.append({rq, rk});
  }
  // Per-head RMSNorm of both, with the same eps (before the rotation).
  Value qWeight, kWeight;
  FloatAttr qkEps;
  auto nq = q.getDefiningOp<RMSNormOp>(), nk = k.getDefiningOp<RMSNormOp>();
  if (nq && nk && nq != nk && q.hasOneUse() && k.hasOneUse() &&
      nq.getScope() == NormScope::Head && nk.getScope() == NormScope::Head &&
      nq.getEps() == nk.getEps()) {
    qWeight = nq.getWeight();
    kWeight = nk.getWeight();
    qkEps = nq.getEpsAttr();
    q = nq.getInput();
    k = nk.getInput();
    producers.append({nq, nk});
  }
  // The full RMSNorm of the output, then the gate (decode only: at prefill
  // the norm spans heads that other blocks of the chunked kernel compute).
  Value out = la.getOutput();
  Operation *last = la;
  SmallVector<Operation *> consumers;
  Value outWeight, gate;
  FloatAttr outEps;
  bool recurrent = la.getForm() == LinearForm::Recurrent;
  if (auto n = dyn_cast_or_null<RMSNormOp>(soleUser(out));
      recurrent && n && follows(la, n) && n.getScope() == NormScope::Full && n.getInput() == out) {
    outWeight = n.getWeight();
    outEps = n.getEpsAttr();
    out = n.getOutput();
    last = n;
    consumers.push_back(n);
  }
  if (auto g = dyn_cast_or_null<SigmoidGateOp>(soleUser(out));
      recurrent && g && follows(la, g) && g.getInput() == out) {
    gate = g.getGate();
    out = g.getOutput();
    last = g;
    consumers.push_back(g);
  }
  if (!recurrent)
    fuseNormGate(la);
  if (producers.empty() && consumers.empty())
    return; // nothing to fuse: the plain kernel is as good

  OpBuilder b(last);
  auto fused = FusedLinearAttentionOp::create(
      b, la.getLoc(), out.getType(), q, k, la.getValue(), gate, qWeight, kWeight, outWeight,
      positions, la.getState(), la.getSlots(), la.getCuSeqlensQ(), la.getSeqLens(),
      la.getSlopesAttr(), qkEps, outEps, theta, style, la.getScaleAttr(), la.getFormAttr(),
      la.getChunkSizeAttr());
  out.replaceAllUsesWith(fused.getOutput());
  for (Operation *op : llvm::reverse(consumers))
    op->erase();
  la->erase();
  for (Operation *op : producers) // users first: rope before norm
    op->erase();
}

struct SalaFuseLinear : salac::sala::impl::SalaFuseLinearBase<SalaFuseLinear> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<LinearAttentionOp> chains;
    getOperation()->walk([&](LinearAttentionOp op) {
      if (op.getForm() == LinearForm::Recurrent || prefill)
        chains.push_back(op);
    });
    for (LinearAttentionOp la : chains)
      fuse(la);
  }
};

} // namespace
