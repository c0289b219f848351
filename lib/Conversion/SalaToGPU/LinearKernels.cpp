//===- LinearKernels.cpp - linear attention (simple GLA) kernels ----------===//
//
// Recurrent form (decode): a block per (sequence, head), a thread per value
// column of the head's d x d f32 state. Each thread walks the key rows of its
// column, so every row is one coalesced 4*d-byte access; the state is read
// once and written once per token, which is what bounds decode.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <cmath>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

LogicalResult salac::buildLinearRecurrentKernel(Operation *op, KernelBuilder &kb) {
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
  kb.setBlock(d);
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

//===----------------------------------------------------------------------===//
// Chunked form (prefill): a block per (sequence, head), a thread per value
// column; chunks of C tokens in order, the state carried in the slot:
//   o_i = scale (gamma^(i+1) q_i S + sum_{j<=i} gamma^(i-j) (q_i . k_j) v_j)
//   S  <- gamma^L S + sum_j gamma^(L-1-j) k_j^T v_j       (L = tokens in chunk)
// Q and K of the chunk (bf16) and the decayed scores A (f32) live in shared
// memory: exactly 48 KiB for C = 64, d = 128, so rows are not padded; instead
// element x of row r sits at column (x + 2r) mod d, which keeps the 32 rows a
// warp reads at once in 32 different banks. CUDA cores; the tensor-core
// version replaces the three inner products with mma.sync.
//===----------------------------------------------------------------------===//

bool salac::linearChunkedKernelSupports(Operation *op) {
  auto la = cast<sala::LinearAttentionOp>(op);
  auto qt = cast<RankedTensorType>(la.getQuery().getType());
  return qt.getDimSize(2) == 128 && la.getEffectiveChunkSize() == 64 &&
         qt.getElementType().isBF16();
}

LogicalResult salac::buildLinearChunkedKernel(Operation *op, KernelBuilder &kb) {
  auto la = cast<sala::LinearAttentionOp>(op);
  auto qt = cast<RankedTensorType>(la.getQuery().getType());
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
  int64_t c = la.getEffectiveChunkSize();
  Type bf16 = qt.getElementType(), f32 = Float32Type::get(op->getContext());
  Type stateElem = la.getState().getType().getElementType();
  if (!linearChunkedKernelSupports(op))
    return op->emitOpError() << "no chunked GPU kernel for this shape yet (needs "
                                "head_dim 128, chunk 64, bf16)";
  SmallVector<double> log2Gammas;
  for (double s : la.getSlopes())
    log2Gammas.push_back(-s * M_LOG2E);

  SmallVector<Extent> rows = {"tokens", h, d};
  unsigned q = kb.addBuffer("query", bf16, rows, "[tokens, heads, head_dim] q");
  unsigned k = kb.addBuffer("key", bf16, rows, "[tokens, heads, head_dim] k");
  unsigned v = kb.addBuffer("value", bf16, rows, "[tokens, heads, head_dim] v");
  unsigned st = kb.addBuffer("state", stateElem, {"slots", h, d, d},
                             "[slots, heads, head_dim, head_dim] state pool, "
                             "S[dk][dv]; updated in place");
  unsigned sl = kb.addBuffer("slot_ids", IntegerType::get(op->getContext(), 32), {"batch"},
                             "[batch] state slot of each sequence");
  unsigned cu = kb.addCuSeqlens();
  // A sequence with no history (seq_lens == q_len) starts from a zero state.
  unsigned lens = kb.addSeqLens();
  unsigned out = kb.addBuffer("output", bf16, rows, "[tokens, heads, head_dim] o");
  kb.addSize("tokens", "number of tokens");
  kb.addSize("batch", "number of sequences"); // sizes the grid
  unsigned slots = kb.addSize("slots", "slots in the state pool");
  kb.setBlock(d);
  kb.setGrid(GridDim::scaled("batch", h, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value qs = kb.addWorkgroupBuffer(bf16, c * d);
  Value ks = kb.addWorkgroupBuffer(bf16, c * d);
  Value as = kb.addWorkgroupBuffer(f32, c * c);
  auto fadd = [&](Value x, Value y) { return arith::AddFOp::create(b, loc, x, y).getResult(); };
  auto fmul = [&](Value x, Value y) { return arith::MulFOp::create(b, loc, x, y).getResult(); };
  auto barrier = [&] { gpu::BarrierOp::create(b, loc); };
  Value bid = kb.blockId();
  Value seq = kb.div(bid, kb.idx(h));
  Value head = kb.rem(bid, kb.idx(h));
  Value col = kb.threadId();
  // Shared-memory index of element x of chunk row r (rotated rows, see above).
  auto sharedAt = [&](Value r, Value x) {
    Value rot = kb.rem(kb.add(x, kb.mul(r, kb.idx(2))), kb.idx(d));
    return kb.add(kb.mul(r, kb.idx(d)), rot);
  };
  Value log2g = kb.f32(log2Gammas[0]);
  for (int64_t i = 1; i < h; ++i)
    log2g = kb.select(kb.cmp(CmpIPredicate::eq, head, kb.idx(i)), kb.f32(log2Gammas[i]), log2g);
  // gamma^n for an index or f32 exponent n.
  auto gammaPow = [&](Value n) {
    if (n.getType().isIndex())
      n = arith::UIToFPOp::create(b, loc, f32,
                                  arith::IndexCastUIOp::create(b, loc, b.getI64Type(), n));
    return kb.ptxUnaryF32("ex2.approx.ftz.f32", fmul(n, log2g));
  };
  Value scale = kb.f32(la.getEffectiveScale());
  Value start = kb.loadIndex(kb.arg(cu), seq);
  Value qLen = kb.sub(kb.loadIndex(kb.arg(cu), kb.add(seq, kb.idx(1))), start);
  Value fresh = kb.cmp(CmpIPredicate::eq, kb.loadIndex(kb.arg(lens), seq), qLen);
  Value slot = kb.loadIndex(kb.arg(sl), seq);

  kb.ifThen(kb.cmp(CmpIPredicate::ult, slot, kb.arg(slots)), [&] {
    Value base = kb.mul(kb.add(kb.mul(slot, kb.idx(h)), head), kb.idx(d * d));
    auto stateAt = [&](Value dk) { return kb.add(kb.add(base, kb.mul(dk, kb.idx(d))), col); };
    auto rowOf = [&](Value t) { return kb.mul(kb.add(kb.mul(t, kb.idx(h)), head), kb.idx(d)); };
    kb.forLoop(kb.idx(0), qLen, kb.idx(c), {}, [&](Value i0, ValueRange) {
      Value rem = kb.sub(qLen, i0);
      Value len = kb.select(kb.cmp(CmpIPredicate::ult, rem, kb.idx(c)), rem, kb.idx(c));
      Value hasState = arith::OrIOp::create(
          b, loc, arith::XOrIOp::create(b, loc, fresh,
                                        arith::ConstantOp::create(b, loc, b.getBoolAttr(true))),
          kb.cmp(CmpIPredicate::ugt, i0, kb.idx(0)));
      barrier(); // the previous chunk is done with the shared tiles
      // Q and K rows of the chunk, 16 bytes per thread and step, zero past len.
      kb.forLoop(col, kb.idx(c * (d / 8)), kb.idx(d), {}, [&](Value x, ValueRange) {
        Value r = kb.div(x, kb.idx(d / 8)), cc = kb.mul(kb.rem(x, kb.idx(d / 8)), kb.idx(8));
        Value in = kb.cmp(CmpIPredicate::ult, r, len);
        Value src = kb.add(rowOf(kb.add(start, kb.add(i0, kb.select(in, r, kb.idx(0))))), cc);
        auto vt = VectorType::get({8}, bf16);
        Value zero = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vt, b.getZeroAttr(bf16)));
        Value qv = kb.select(in, kb.loadVector(kb.arg(q), src, 8, 16), zero);
        Value kv = kb.select(in, kb.loadVector(kb.arg(k), src, 8, 16), zero);
        for (int64_t e = 0; e < 8; ++e) {
          Value at = sharedAt(r, kb.add(cc, kb.idx(e)));
          kb.store(vector::ExtractOp::create(b, loc, qv, e), qs, at);
          kb.store(vector::ExtractOp::create(b, loc, kv, e), ks, at);
        }
        return SmallVector<Value>{};
      });
      barrier();
      // A[i][j] = scale gamma^(i-j) q_i . k_j for j <= i, else 0.
      kb.forLoop(col, kb.idx(c * c), kb.idx(d), {}, [&](Value e, ValueRange) {
        Value i = kb.div(e, kb.idx(c)), j = kb.rem(e, kb.idx(c));
        auto dot = kb.forLoop(kb.idx(0), kb.idx(d), kb.idx(1), {kb.f32(0.0)},
                              [&](Value x, ValueRange a) {
          Value qx = kb.toF32(kb.load(qs, sharedAt(i, x)));
          Value kx = kb.toF32(kb.load(ks, sharedAt(j, x)));
          return SmallVector<Value>{fadd(a[0], fmul(qx, kx))};
        });
        Value causal = kb.cmp(CmpIPredicate::ule, j, i);
        Value decay = gammaPow(kb.select(causal, kb.sub(i, j), kb.idx(0)));
        Value val = fmul(fmul(dot.getResult(0), decay), scale);
        kb.store(kb.select(causal, val, kb.f32(0.0)), as, e);
        return SmallVector<Value>{};
      });
      barrier();
      // u_i = q_i . S[:, col] (zero without a carried state).
      SmallVector<Value> zeros(c, kb.f32(0.0));
      auto inter = kb.forLoop(kb.idx(0), kb.idx(d), kb.idx(1), zeros, [&](Value dk, ValueRange u) {
        Value sv = kb.select(hasState, kb.toF32(kb.load(kb.arg(st), stateAt(dk))), kb.f32(0.0));
        SmallVector<Value> next;
        for (int64_t i = 0; i < c; ++i)
          next.push_back(fadd(u[i], fmul(kb.toF32(kb.load(qs, sharedAt(kb.idx(i), dk))), sv)));
        return next;
      });
      // o_i = scale gamma^(i+1) u_i + sum_j A[i][j] v_j.
      SmallVector<Value> o;
      for (int64_t i = 0; i < c; ++i)
        o.push_back(fmul(fmul(inter.getResult(i), gammaPow(kb.f32(double(i + 1)))), scale));
      auto intra = kb.forLoop(kb.idx(0), len, kb.idx(1), o, [&](Value j, ValueRange acc) {
        Value vj = kb.toF32(kb.load(kb.arg(v), kb.add(rowOf(kb.add(start, kb.add(i0, j))), col)));
        SmallVector<Value> next;
        for (int64_t i = 0; i < c; ++i)
          next.push_back(fadd(acc[i], fmul(kb.load(as, kb.add(kb.idx(i * c), j)), vj)));
        return next;
      });
      for (int64_t i = 0; i < c; ++i)
        kb.ifThen(kb.cmp(CmpIPredicate::ult, kb.idx(i), len), [&] {
          Value at = kb.add(rowOf(kb.add(start, kb.add(i0, kb.idx(i)))), col);
          kb.store(kb.fromF32(intra.getResult(i), bf16), kb.arg(out), at);
        });
      // S[dk][col] = gamma^len S + sum_j k_j[dk] gamma^(len-1-j) v_j[col].
      Value lenF = arith::UIToFPOp::create(
          b, loc, f32, arith::IndexCastUIOp::create(b, loc, b.getI64Type(), len));
      SmallVector<Value> w;
      for (int64_t j = 0; j < c; ++j) {
        Value in = kb.cmp(CmpIPredicate::ult, kb.idx(j), len);
        Value t = kb.add(start, kb.add(i0, kb.select(in, kb.idx(j), kb.idx(0))));
        Value vj = kb.select(in, kb.toF32(kb.load(kb.arg(v), kb.add(rowOf(t), col))), kb.f32(0.0));
        w.push_back(fmul(vj, gammaPow(arith::SubFOp::create(b, loc, lenF, kb.f32(double(j + 1))))));
      }
      Value carry = gammaPow(lenF);
      kb.forLoop(kb.idx(0), kb.idx(d), kb.idx(1), {}, [&](Value dk, ValueRange) {
        Value old = kb.select(hasState, kb.toF32(kb.load(kb.arg(st), stateAt(dk))), kb.f32(0.0));
        Value acc = fmul(carry, old);
        for (int64_t j = 0; j < c; ++j)
          acc = fadd(acc, fmul(kb.toF32(kb.load(ks, sharedAt(kb.idx(j), dk))), w[j]));
        kb.store(kb.fromF32(acc, stateElem), kb.arg(st), stateAt(dk));
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
  return success();
}
