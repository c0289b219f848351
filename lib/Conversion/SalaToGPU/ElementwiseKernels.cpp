//===- ElementwiseKernels.cpp - RMSNorm, RoPE, sigmoid gate kernels -------===//
//
// Memory-bound kernels over [tokens, heads, head_dim] activations. Consecutive
// threads touch consecutive elements (coalesced); arithmetic is f32, and f64
// where f32 would lose accuracy (RoPE angles at positions up to 1M).
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <cmath>

using namespace mlir;
using namespace salac;

namespace {

struct Shape {
  int64_t heads, headDim;
  Type elementType;
};
Shape shapeOf(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return {t.getDimSize(1), t.getDimSize(2), t.getElementType()};
}
std::string describe(const Shape &s, StringRef what) {
  return ("[tokens, " + std::to_string(s.heads) + ", " + std::to_string(s.headDim) +
          "] " + what)
      .str();
}
SmallVector<Extent> tokensShape(const Shape &s) {
  return {"tokens", s.heads, s.headDim};
}
} // namespace

//===----------------------------------------------------------------------===//
// sala.sigmoid_gate: one element per thread.
//===----------------------------------------------------------------------===//

static LogicalResult buildSigmoidGateKernel(Operation *op, KernelBuilder &kb) {
  auto gate = cast<sala::SigmoidGateOp>(op);
  Shape s = shapeOf(gate.getInput());
  int64_t rowElems = s.heads * s.headDim;
  unsigned x = kb.addBuffer("input", s.elementType, tokensShape(s), describe(s, "values"));
  unsigned z = kb.addBuffer("gate", s.elementType, tokensShape(s), describe(s, "gate logits z"));
  unsigned y = kb.addBuffer("output", s.elementType, tokensShape(s),
                            describe(s, "input * sigmoid(gate); may alias input"));
  unsigned n = kb.addSize("tokens", "number of tokens");
  const int64_t threads = kb.threads(); // the kernel config's
  kb.setGrid(GridDim::scaled("tokens", rowElems, threads));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value i = kb.globalThreadId();
  Value total = arith::MulIOp::create(b, loc, kb.arg(n), kb.idx(rowElems));
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, total);
  auto ifOp = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value xv = kb.toF32(kb.load(kb.arg(x), i));
  Value zv = kb.toF32(kb.load(kb.arg(z), i));
  // x * sigmoid(z) = x / (1 + exp(-z)); exp(-z) = inf gives the exact limit 0.
  Value e = kb.expF32(arith::NegFOp::create(b, loc, zv));
  Value den = arith::AddFOp::create(b, loc, kb.f32(1.0), e);
  Value r = arith::DivFOp::create(b, loc, xv, den);
  kb.store(kb.fromF32(r, s.elementType), kb.arg(y), i);
  b.setInsertionPointAfter(ifOp);
  return success();
}

//===----------------------------------------------------------------------===//
// sala.rms_norm: a group of threads per row (a warp for a 128-channel head, the
// whole block for a 4096-channel token), sum of squares reduced by shuffles and,
// across warps, through workgroup memory.
//===----------------------------------------------------------------------===//

namespace {
/// What a norm kernel computes: RMSNorm of `input` per head or over a whole
/// token with `weight` (its parameter `weightName`), then, with a `gate`,
/// the sigmoid gate (sala.fused_rms_norm_gate).
struct NormSpec {
  Value input, weight, gate;
  bool perHead;
  double eps;
  StringRef weightName;
};
} // namespace

static LogicalResult buildNormKernel(const NormSpec &spec, KernelBuilder &kb) {
  Shape s = shapeOf(spec.input);
  bool perHead = spec.perHead;
  int64_t rowLen = perHead ? s.headDim : s.heads * s.headDim;
  int64_t rowsPerToken = perHead ? s.heads : 1;
  const int64_t threads = kb.threads(); // the kernel config's
  int64_t tpr = rowLen >= 1024 ? threads : 32; // threads per row
  int64_t rowsPerBlock = threads / tpr;
  int64_t warpsPerRow = tpr / 32;
  Type wType = cast<RankedTensorType>(spec.weight.getType()).getElementType();

  unsigned x = kb.addBuffer("input", s.elementType, tokensShape(s), describe(s, "values"));
  unsigned w = kb.addBuffer(spec.weightName, wType, {rowLen},
                            "[" + std::to_string(rowLen) + "] norm weight");
  unsigned z = 0;
  if (spec.gate)
    z = kb.addBuffer("gate", s.elementType, tokensShape(s), describe(s, "gate logits z"));
  unsigned y = kb.addBuffer("output", s.elementType, tokensShape(s),
                            spec.gate ? describe(s, "normalised values * sigmoid(gate); may "
                                                    "alias input")
                                      : describe(s, "normalised values; may alias input"));
  unsigned n = kb.addSize("tokens", "number of tokens");
  kb.setGrid(GridDim::scaled("tokens", rowsPerToken, rowsPerBlock));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value partials;
  if (warpsPerRow > 1)
    partials = kb.addWorkgroupBuffer(b.getF32Type(), threads / 32);
  Value tid = kb.threadId();
  Value lane = arith::RemUIOp::create(b, loc, tid, kb.idx(tpr));
  Value rowInBlock = arith::DivUIOp::create(b, loc, tid, kb.idx(tpr));
  Value row = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, kb.blockId(), kb.idx(rowsPerBlock)),
      rowInBlock);
  Value rows = arith::MulIOp::create(b, loc, kb.arg(n), kb.idx(rowsPerToken));
  // Uniform per row group (a whole block when warpsPerRow > 1), so the barrier
  // below is reached by all threads of the block or by none.
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row, rows);
  auto ifOp = scf::IfOp::create(b, loc, inRange, false);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value base = arith::MulIOp::create(b, loc, row, kb.idx(rowLen));

  auto sumLoop = scf::ForOp::create(b, loc, lane, kb.idx(rowLen), kb.idx(tpr),
                                    ValueRange{kb.f32(0.0)});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(sumLoop.getBody());
    Value c = sumLoop.getInductionVar();
    Value v = kb.toF32(kb.load(kb.arg(x), arith::AddIOp::create(b, loc, base, c)));
    Value acc = arith::AddFOp::create(b, loc, sumLoop.getRegionIterArgs()[0],
                                      arith::MulFOp::create(b, loc, v, v));
    scf::YieldOp::create(b, loc, acc);
  }
  Value sum = kb.warpSum(sumLoop.getResult(0), std::min<int64_t>(tpr, 32));
  if (warpsPerRow > 1) {
    Value warp = arith::DivUIOp::create(b, loc, tid, kb.idx(32));
    Value isLead = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(b, loc, tid, kb.idx(32)), kb.idx(0));
    auto lead = scf::IfOp::create(b, loc, isLead, false);
    b.setInsertionPointToStart(lead.thenBlock());
    kb.store(sum, partials, warp);
    b.setInsertionPointAfter(lead);
    gpu::BarrierOp::create(b, loc);
    Value first = arith::MulIOp::create(b, loc, rowInBlock, kb.idx(warpsPerRow));
    sum = kb.f32(0.0);
    for (int64_t k = 0; k < warpsPerRow; ++k)
      sum = arith::AddFOp::create(
          b, loc, sum,
          kb.load(partials, arith::AddIOp::create(b, loc, first, kb.idx(k))));
  }
  Value mean = arith::DivFOp::create(b, loc, sum, kb.f32(double(rowLen)));
  Value eps = kb.f32(spec.eps);
  Value inv = kb.rsqrtF32(arith::AddFOp::create(b, loc, mean, eps));

  auto outLoop = scf::ForOp::create(b, loc, lane, kb.idx(rowLen), kb.idx(tpr));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(outLoop.getBody());
    Value c = outLoop.getInductionVar();
    Value at = arith::AddIOp::create(b, loc, base, c);
    Value v = kb.toF32(kb.load(kb.arg(x), at));
    Value wv = kb.toF32(kb.load(kb.arg(w), c));
    Value r = arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, v, inv), wv);
    if (spec.gate) { // as the gate kernel: r / (1 + exp(-z))
      Value zv = kb.toF32(kb.load(kb.arg(z), at));
      Value e = kb.expF32(arith::NegFOp::create(b, loc, zv));
      r = arith::DivFOp::create(b, loc, r, arith::AddFOp::create(b, loc, kb.f32(1.0), e));
    }
    kb.store(kb.fromF32(r, s.elementType), kb.arg(y), at);
  }
  b.setInsertionPointAfter(ifOp);
  return success();
}

static LogicalResult buildRMSNormKernel(Operation *op, KernelBuilder &kb) {
  auto norm = cast<sala::RMSNormOp>(op);
  return buildNormKernel({norm.getInput(), norm.getWeight(), Value(),
                          norm.getScope() == sala::NormScope::Head,
                          norm.getEps().convertToDouble(), "weight"},
                         kb);
}

static LogicalResult buildFusedRMSNormGateKernel(Operation *op, KernelBuilder &kb) {
  auto f = cast<sala::FusedRMSNormGateOp>(op);
  return buildNormKernel({f.getInput(), f.getWeight(), f.getGate(), /*perHead=*/false,
                          f.getEps().convertToDouble(), "out_norm_weight"},
                         kb);
}

//===----------------------------------------------------------------------===//
// sala.rope: one channel pair per thread. The angle pos * theta^(-2i/d) is
// formed in f64 (theta^(-2i/d) by binary powering of exact constants, no
// libdevice) and reduced to [-pi, pi) before sin/cos.approx, so the error stays
// ~1e-6 absolute at positions near 1M, where an f32 angle would be off by ~0.1.
//===----------------------------------------------------------------------===//

static LogicalResult buildRopeKernel(Operation *op, KernelBuilder &kb) {
  auto rope = cast<sala::RopeOp>(op);
  Shape s = shapeOf(rope.getInput());
  int64_t half = s.headDim / 2;
  bool neox = rope.getStyle() == sala::RopeStyle::NeoX;
  double theta = rope.getTheta().convertToDouble();

  unsigned x = kb.addBuffer("input", s.elementType, tokensShape(s), describe(s, "values"));
  unsigned p = kb.addBuffer("positions", IntegerType::get(op->getContext(), 32), {"tokens"},
                            "[tokens] position of each token");
  unsigned y = kb.addBuffer("output", s.elementType, tokensShape(s),
                            describe(s, "rotated values; may alias input"));
  unsigned n = kb.addSize("tokens", "number of tokens");
  const int64_t threads = kb.threads(); // the kernel config's
  kb.setGrid(GridDim::scaled("tokens", s.heads * half, threads));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value g = kb.globalThreadId();
  Value pairs = arith::MulIOp::create(b, loc, kb.arg(n), kb.idx(s.heads * half));
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, g, pairs);
  auto ifOp = scf::IfOp::create(b, loc, inRange, false);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value row = arith::DivUIOp::create(b, loc, g, kb.idx(half));
  Value i = arith::RemUIOp::create(b, loc, g, kb.idx(half));
  Value token = arith::DivUIOp::create(b, loc, row, kb.idx(s.heads));
  Value base = arith::MulIOp::create(b, loc, row, kb.idx(s.headDim));
  Value i1, i2;
  if (neox) {
    i1 = arith::AddIOp::create(b, loc, base, i);
    i2 = arith::AddIOp::create(b, loc, i1, kb.idx(half));
  } else {
    i1 = arith::AddIOp::create(b, loc, base,
                               arith::MulIOp::create(b, loc, i, kb.idx(2)));
    i2 = arith::AddIOp::create(b, loc, i1, kb.idx(1));
  }

  auto [cs, sn] = kb.ropeCosSin(kb.load(kb.arg(p), token), i, theta, s.headDim);

  Value x1 = kb.toF32(kb.load(kb.arg(x), i1));
  Value x2 = kb.toF32(kb.load(kb.arg(x), i2));
  Value o1 = arith::SubFOp::create(b, loc, arith::MulFOp::create(b, loc, x1, cs),
                                   arith::MulFOp::create(b, loc, x2, sn));
  Value o2 = arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, x2, cs),
                                   arith::MulFOp::create(b, loc, x1, sn));
  kb.store(kb.fromF32(o1, s.elementType), kb.arg(y), i1);
  kb.store(kb.fromF32(o2, s.elementType), kb.arg(y), i2);
  b.setInsertionPointAfter(ifOp);
  return success();
}

//===----------------------------------------------------------------------===//
// sala.length_select: 16 bytes per thread, the sequence found by binary search.
//===----------------------------------------------------------------------===//

static LogicalResult buildLengthSelectKernel(Operation *op, KernelBuilder &kb) {
  auto ls = cast<sala::LengthSelectOp>(op);
  Shape s = shapeOf(ls.getShortValue());
  int64_t rowElems = s.heads * s.headDim;
  int64_t bytes = s.elementType.getIntOrFloatBitWidth() / 8;
  int64_t vec = rowElems % (16 / bytes) == 0 ? 16 / bytes : 1;
  int64_t chunks = rowElems / vec;
  unsigned sv = kb.addBuffer("short_value", s.elementType, tokensShape(s),
                             describe(s, "rows for sequences shorter than the threshold"));
  unsigned lv = kb.addBuffer("long_value", s.elementType, tokensShape(s),
                             describe(s, "rows for the other sequences"));
  unsigned cu = kb.addCuSeqlens();
  unsigned lens = kb.addSeqLens();
  unsigned y = kb.addBuffer("output", s.elementType, tokensShape(s), describe(s, "result"));
  unsigned n = kb.addSize("tokens", "number of tokens");
  unsigned batch = kb.addSize("batch", "number of sequences");
  const int64_t threads = kb.threads(); // the kernel config's
  kb.setGrid(GridDim::scaled("tokens", chunks, threads));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value g = kb.globalThreadId();
  kb.ifThen(kb.cmp(arith::CmpIPredicate::ult, g, kb.mul(kb.arg(n), kb.idx(chunks))), [&] {
    Value token = kb.div(g, kb.idx(chunks));
    Value seq = kb.findSequence(kb.arg(cu), kb.arg(batch), token);
    Value isShort = kb.cmp(arith::CmpIPredicate::slt, kb.loadIndex(kb.arg(lens), seq),
                           kb.idx(ls.getThreshold()));
    Value at = kb.mul(g, kb.idx(vec));
    int64_t align = vec * bytes;
    Value a = kb.loadVector(kb.arg(sv), at, vec, align);
    Value c = kb.loadVector(kb.arg(lv), at, vec, align);
    kb.storeVector(arith::SelectOp::create(b, loc, isShort, a, c), kb.arg(y), at, align);
  });
  return success();
}

void salac::populateSalaElementwiseToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::RMSNormOp>(patterns, table, buildRMSNormKernel);
  addFormKernelPattern<sala::FusedRMSNormGateOp>(patterns, table, buildFusedRMSNormGateKernel);
  addFormKernelPattern<sala::RopeOp>(patterns, table, buildRopeKernel);
  addFormKernelPattern<sala::SigmoidGateOp>(patterns, table, buildSigmoidGateKernel);
  addFormKernelPattern<sala::LengthSelectOp>(patterns, table, buildLengthSelectKernel);
}
