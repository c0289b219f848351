//===- LinearKernels.cpp - linear attention (simple GLA) kernels ----------===//
//
// Recurrent form (decode): a block per (sequence, head), a thread per value
// column of the head's d x d f32 state. Each thread walks the key rows of its
// column, so every row is one coalesced 4*d-byte access; the state is read
// once and written once per token, which is what bounds decode. The chunked
// form (prefill) is built in LinearChunkedKernels.cpp.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "LinearKernels.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <cmath>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

static LogicalResult buildLinearRecurrentKernel(Operation *op, KernelBuilder &kb) {
  auto la = cast<sala::LinearAttentionOp>(op);
  auto qt = cast<RankedTensorType>(la.getQuery().getType());
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
  Type elem = qt.getElementType();
  Type stateElem = la.getState().getType().getElementType();
  Type i32 = IntegerType::get(op->getContext(), 32);
  if (d > 1024)
    return op->emitOpError() << "head_dim " << d
                             << " exceeds the 1024 threads of a block";
  SmallVector<double> gammas;
  for (double s : la.getSlopes())
    gammas.push_back(std::exp(-s));

  SmallVector<Extent> rows = {"tokens", h, d};
  unsigned q = kb.addBuffer("query", elem, rows, "[tokens, heads, head_dim] q");
  unsigned k = kb.addBuffer("key", elem, rows, "[tokens, heads, head_dim] k");
  unsigned v = kb.addBuffer("value", elem, rows, "[tokens, heads, head_dim] v");
  unsigned st = kb.addBuffer("state", stateElem, {"slots", h, d, d},
                             "[slots, heads, head_dim, head_dim] state pool, "
                             "S[dk][dv]; updated in place");
  unsigned sl = kb.addBuffer("slot_ids", i32, {"batch"}, "[batch] state slot of each sequence");
  unsigned cu = kb.addCuSeqlens();
  // A sequence with no history (seq_lens == q_len) starts from a zero state.
  unsigned lens = kb.addSeqLens();
  unsigned out = kb.addBuffer("output", elem, rows, "[tokens, heads, head_dim] o");
  unsigned tokens = kb.addSize("tokens", "number of tokens");
  unsigned batch = kb.addSize("batch", "number of sequences");
  unsigned slots = kb.addSize("slots", "slots in the state pool");
  (void)tokens;
  if (failed(kb.requireThreads(op, d)))
    return failure();
  kb.setGrid(GridDim::scaled("batch", h, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value qs = kb.addWorkgroupBuffer(b.getF32Type(), d);
  Value ks = kb.addWorkgroupBuffer(b.getF32Type(), d);
  Value bid = kb.blockId();
  Value seq = kb.div(bid, kb.idx(h));
  Value head = kb.rem(bid, kb.idx(h));
  Value col = kb.threadId();
  (void)batch;
  // gamma_h from the op's slopes, baked into the kernel.
  Value gamma = kb.f32(gammas[0]);
  for (int64_t i = 1; i < h; ++i)
    gamma = arith::SelectOp::create(b, loc, kb.cmp(CmpIPredicate::eq, head, kb.idx(i)),
                                    kb.f32(gammas[i]), gamma);
  Value scale = kb.f32(la.getEffectiveScale());
  Value start = kb.loadIndex(kb.arg(cu), seq);
  Value qLen = kb.sub(kb.loadIndex(kb.arg(cu), kb.add(seq, kb.idx(1))), start);
  Value fresh = kb.cmp(CmpIPredicate::eq, kb.loadIndex(kb.arg(lens), seq), qLen);
  Value slot = kb.loadIndex(kb.arg(sl), seq);
  // A slot outside the pool: the whole block skips (uniform, so barriers are safe).
  kb.ifThen(kb.cmp(CmpIPredicate::ult, slot, kb.arg(slots)), [&] {
    Value base = kb.mul(kb.add(kb.mul(slot, kb.idx(h)), head), kb.idx(d * d));
    auto tokensLoop = scf::ForOp::create(b, loc, kb.idx(0), qLen, kb.idx(1));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(tokensLoop.getBody());
    Value j = tokensLoop.getInductionVar();
    Value row = kb.mul(kb.add(kb.mul(kb.add(start, j), kb.idx(h)), head), kb.idx(d));
    gpu::BarrierOp::create(b, loc); // the previous token is done with qs/ks
    kb.store(kb.toF32(kb.load(kb.arg(q), kb.add(row, col))), qs, col);
    kb.store(kb.toF32(kb.load(kb.arg(k), kb.add(row, col))), ks, col);
    gpu::BarrierOp::create(b, loc);
    Value vj = kb.toF32(kb.load(kb.arg(v), kb.add(row, col)));
    Value zeroState = arith::AndIOp::create(
        b, loc, fresh, kb.cmp(CmpIPredicate::eq, j, kb.idx(0)));
    auto rowsLoop = scf::ForOp::create(b, loc, kb.idx(0), kb.idx(d), kb.idx(1),
                                       ValueRange{kb.f32(0.0)});
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(rowsLoop.getBody());
      Value dk = rowsLoop.getInductionVar();
      Value at = kb.add(kb.add(base, kb.mul(dk, kb.idx(d))), col);
      Value old = arith::SelectOp::create(b, loc, zeroState, kb.f32(0.0),
                                          kb.toF32(kb.load(kb.arg(st), at)));
      Value upd = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, gamma, old),
          arith::MulFOp::create(b, loc, kb.load(ks, dk), vj));
      kb.store(kb.fromF32(upd, stateElem), kb.arg(st), at);
      Value acc = arith::AddFOp::create(
          b, loc, rowsLoop.getRegionIterArgs()[0],
          arith::MulFOp::create(b, loc, kb.load(qs, dk), upd));
      scf::YieldOp::create(b, loc, acc);
    }
    Value o = arith::MulFOp::create(b, loc, rowsLoop.getResult(0), scale);
    kb.store(kb.fromF32(o, elem), kb.arg(out), kb.add(row, col));
  });
  return success();
}

/// The recurrent form always has a kernel; the chunked one for the shapes
/// linearChunkedKernelSupports accepts.
static bool linearKernelSupports(Operation *op) {
  return cast<sala::LinearAttentionOp>(op).getForm() == sala::LinearForm::Recurrent ||
         linearChunkedKernelSupports(op);
}

static LogicalResult buildLinearKernel(Operation *op, KernelBuilder &kb) {
  return cast<sala::LinearAttentionOp>(op).getForm() == sala::LinearForm::Recurrent
             ? buildLinearRecurrentKernel(op, kb)
             : buildLinearChunkedKernel(op, kb);
}

void salac::populateSalaLinearToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::LinearAttentionOp>(patterns, table, buildLinearKernel,
                                                linearKernelSupports,
      "the chunked form needs head_dim 128, chunk_size 64, bf16");
}
