//===- LinearKernels.cpp - linear attention (simple GLA) kernels ----------===//
//
// Recurrent form (decode): a block per (sequence, head), a thread per value
// column of the head's d x d f32 state. Each thread walks the key rows of its
// column, so every row is one coalesced 4*d-byte access; the state is read
// once and written once per token, which is what bounds decode.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "MmaEmitter.h"
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

//===----------------------------------------------------------------------===//
// Chunked form (prefill), on tensor cores. A block of 8 warps per (sequence,
// head) walks chunks of C = 64 tokens in order; the state is carried in the
// sequence's slot (f32, read and written once per chunk, L2-resident):
//   o_i = scale gamma^(i+1) q_i S + sum_{j<=i} A_ij v_j,
//         A_ij = scale gamma^(i-j) q_i . k_j
//   S  <- gamma^L S + sum_j gamma^(L-1-j) k_j^T v_j     (L = tokens in chunk)
// Q, K and V of the chunk (64 x 128 bf16, 16 KiB each, 16-byte chunks
// XOR-swizzled by row, zero rows past L) are brought in by cp.async. All three
// products are mma.sync m16n8k16 (bf16 in, f32 accumulate); warp w owns
//   O   rows 16 (w % 4) .. +15, value columns 64 (w / 4) .. +63:
//       O = diag(scale gamma^(i+1)) Q S   (S from the slot as B fragments)
//         + A V                           (A from Q K^T in registers)
//   S   key rows 16 w .. +15, all 128 value columns:
//       S = gamma^L S + (K^T diag(w)) V   (K^T by ldmatrix.trans)
// Operands that are not bf16 to begin with (S, the decayed A, the weighted
// K^T) are split into a bf16 part and a bf16 rounding residue, and each is
// multiplied (two MMAs), so every product keeps ~16 significant bits before
// the f32 accumulation: results agree with the f32 recurrence to ~1e-4.
//===----------------------------------------------------------------------===//

namespace {
constexpr int64_t kChunk = 64, kDim = 128, kWarps = 8, kThreads = 32 * kWarps;
} // namespace

static bool linearChunkedKernelSupports(Operation *op) {
  auto la = cast<sala::LinearAttentionOp>(op);
  auto qt = cast<RankedTensorType>(la.getQuery().getType());
  return qt.getDimSize(2) == kDim && la.getEffectiveChunkSize() == kChunk &&
         qt.getElementType().isBF16();
}

namespace {

/// The chunked kernel's parameters.
struct ChunkedParams {
  unsigned q, k, v, state, slotIds, cu, lens, out, slots;
};

ChunkedParams declareChunkedParams(KernelBuilder &kb, sala::LinearAttentionOp la) {
  auto qt = cast<RankedTensorType>(la.getQuery().getType());
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
  Type bf16 = qt.getElementType(), i32 = IntegerType::get(la.getContext(), 32);
  SmallVector<Extent> rows = {"tokens", h, d};
  ChunkedParams p;
  p.q = kb.addBuffer("query", bf16, rows, "[tokens, heads, head_dim] q");
  p.k = kb.addBuffer("key", bf16, rows, "[tokens, heads, head_dim] k");
  p.v = kb.addBuffer("value", bf16, rows, "[tokens, heads, head_dim] v");
  p.state = kb.addBuffer("state", la.getState().getType().getElementType(), {"slots", h, d, d},
                         "[slots, heads, head_dim, head_dim] state pool, "
                         "S[dk][dv]; updated in place");
  p.slotIds = kb.addBuffer("slot_ids", i32, {"batch"}, "[batch] state slot of each sequence");
  p.cu = kb.addCuSeqlens();
  // A sequence with no history (seq_lens == q_len) starts from a zero state.
  p.lens = kb.addSeqLens();
  p.out = kb.addBuffer("output", bf16, rows, "[tokens, heads, head_dim] o");
  kb.addSize("tokens", "number of tokens");
  kb.addSize("batch", "number of sequences"); // sizes the grid
  p.slots = kb.addSize("slots", "slots in the state pool");
  return p;
}

/// The chunked kernel's body, part by part, per chunk of the sequence: Q, K
/// and V in by cp.async; O = diag(scale gamma^(i+1)) Q S; A = Q K^T decayed
/// and masked; O += A V and stored; S = gamma^L S + (K^T diag(w)) V.
class ChunkedEmitter {
public:
  ChunkedEmitter(sala::LinearAttentionOp la, KernelBuilder &kb, const ChunkedParams &p)
      : la(la), kb(kb), b(kb.builder()), loc(kb.getLoc()), p(p),
        h(cast<RankedTensorType>(la.getQuery().getType()).getDimSize(1)), d(kDim),
        bf16(cast<RankedTensorType>(la.getQuery().getType()).getElementType()),
        f32(Float32Type::get(la.getContext())), i32(IntegerType::get(la.getContext(), 32)),
        stateElem(la.getState().getType().getElementType()),
        m{kb, kb.builder(), kb.getLoc(), bf16, f32, i32} {}

  void emit();

private:
  static constexpr int64_t kTileElems = kChunk * kDim, kRowChunks = kDim / 8;
  static constexpr int64_t kOTiles = 8, kSTiles = kDim / 8;
  Value idx(int64_t x) { return kb.idx(x); }
  void barrier() { gpu::BarrierOp::create(b, loc); }
  Value toF(Value i) {
    return arith::SIToFPOp::create(b, loc, f32,
                                   arith::IndexCastOp::create(b, loc, b.getI64Type(), i))
        .getResult();
  }
  Value gammaPow(Value n) { return m.ex2(m.fmul(n, log2g)); } // n: f32
  /// Swizzled shared index of 16-byte chunk `ch` of tile row `r`.
  Value sharedAt(Value r, Value ch) {
    return kb.add(kb.mul(r, idx(kDim)), kb.mul(m.xori(ch, kb.rem(r, idx(8))), idx(8)));
  }
  Value stateAt(Value dk, Value dv) { return kb.add(base, kb.add(kb.mul(dk, idx(d)), dv)); }
  Value rowOf(Value t) { return kb.mul(kb.add(kb.mul(t, idx(h)), head), idx(d)); }
  SmallVector<Value, 4> qFrag(int64_t kk);
  void locate(ArrayRef<double> log2Gammas);
  void chunk(Value i0);
  void loadChunk(Value i0);
  SmallVector<Value> stateProduct();
  SmallVector<Value> intraChunkScores();
  void accumulateAV(SmallVector<Value> &o, ArrayRef<Value> acc);
  void storeO(Value i0, ArrayRef<Value> o);
  void updateState();

  sala::LinearAttentionOp la;
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  const ChunkedParams &p;
  const int64_t h, d;
  Type bf16, f32, i32, stateElem;
  MmaEmitter m;
  Value qs, ks, vs;
  Value tid, lane, warp, quad, inQuad, mi, r8, seq, head, log2g, scale, start, qLen, fresh,
      slot;
  Type tokenTy;
  // Warp w's O rows 16 (w % 4) .. +15 and columns 64 (w / 4) .. +63; its S
  // key rows 16 w .. +15.
  Value rowBlock, colHalf, rowA0, colO0, keyRow0;
  // Of the slot and the current chunk.
  Value base, len, lenF, hasState, keyV;
};

void ChunkedEmitter::locate(ArrayRef<double> log2Gammas) {
  qs = kb.addWorkgroupBuffer(bf16, kTileElems, 16);
  ks = kb.addWorkgroupBuffer(bf16, kTileElems, 16);
  vs = kb.addWorkgroupBuffer(bf16, kTileElems, 16);
  tid = kb.threadId();
  lane = kb.rem(tid, idx(32));
  warp = kb.div(tid, idx(32));
  quad = kb.div(lane, idx(4));
  inQuad = kb.rem(lane, idx(4));
  mi = kb.div(lane, idx(8));
  r8 = kb.rem(lane, idx(8));
  seq = kb.div(kb.blockId(), idx(h));
  head = kb.rem(kb.blockId(), idx(h));
  log2g = kb.f32(log2Gammas[0]);
  for (int64_t i = 1; i < h; ++i)
    log2g = kb.select(kb.cmp(CmpIPredicate::eq, head, idx(i)), kb.f32(log2Gammas[i]), log2g);
  scale = kb.f32(la.getEffectiveScale());
  start = kb.loadIndex(kb.arg(p.cu), seq);
  qLen = kb.sub(kb.loadIndex(kb.arg(p.cu), kb.add(seq, idx(1))), start);
  fresh = kb.cmp(CmpIPredicate::eq, kb.loadIndex(kb.arg(p.lens), seq), qLen);
  slot = kb.loadIndex(kb.arg(p.slotIds), seq);
  tokenTy = nvgpu::DeviceAsyncTokenType::get(la.getContext());
  rowBlock = kb.rem(warp, idx(4));
  colHalf = kb.div(warp, idx(4));
  rowA0 = kb.mul(rowBlock, idx(16)); // first O row of this warp
  colO0 = kb.mul(colHalf, idx(64));  // first O column of this warp
  keyRow0 = kb.mul(warp, idx(16));   // first S row (key dim) of this warp
}

void ChunkedEmitter::emit() {
  SmallVector<double> log2Gammas;
  for (double sl : la.getSlopes())
    log2Gammas.push_back(-sl * M_LOG2E);
  locate(log2Gammas);
  kb.ifThen(kb.cmp(CmpIPredicate::ult, slot, kb.arg(p.slots)), [&] {
    base = kb.mul(kb.add(kb.mul(slot, idx(h)), head), idx(d * d));
    kb.forLoop(idx(0), qLen, idx(kChunk), {}, [&](Value i0, ValueRange) {
      chunk(i0);
      return SmallVector<Value>{};
    });
  });
}

/// Q, K, V of the chunk (zero rows past its length): thread copies rows
/// tid / 16 + 16 j, chunk tid % 16.
void ChunkedEmitter::loadChunk(Value i0) {
  SmallVector<Value> copies;
  Value cr = kb.div(tid, idx(kRowChunks)), cc = kb.rem(tid, idx(kRowChunks));
  for (int64_t j = 0; j < kChunk * kRowChunks / kThreads; ++j) {
    Value r = kb.add(cr, idx(j * kThreads / kRowChunks));
    Value in = kb.cmp(CmpIPredicate::ult, r, len);
    Value src = kb.add(rowOf(kb.add(start, kb.add(i0, kb.select(in, r, idx(0))))),
                       kb.mul(cc, idx(8)));
    Value n = kb.select(in, idx(8), idx(0));
    for (auto [buf, arg] : {std::pair{qs, p.q}, std::pair{ks, p.k}, std::pair{vs, p.v}})
      copies.push_back(nvgpu::DeviceAsyncCopyOp::create(
          b, loc, tokenTy, buf, ValueRange{sharedAt(r, cc)}, kb.arg(arg), ValueRange{src},
          b.getIndexAttr(8), n, b.getUnitAttr()));
  }
  Value group = nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenTy, copies);
  nvgpu::DeviceAsyncWaitOp::create(b, loc, group, b.getI32IntegerAttr(0));
  barrier();
}

/// Q fragments (A operand, rows 16 (w % 4) ..) for k-step kk.
SmallVector<Value, 4> ChunkedEmitter::qFrag(int64_t kk) {
  Value r = kb.add(rowA0, kb.rem(lane, idx(16)));
  return m.ldmatrix(qs, sharedAt(r, kb.add(kb.div(lane, idx(16)), idx(2 * kk))), false);
}

/// O = diag(scale gamma^(i+1)) Q S, B fragments of S straight from the slot:
/// b0 = S[16 kk + 2 t + {0,1}][col], b1 = the same 8 rows further down.
SmallVector<Value> ChunkedEmitter::stateProduct() {
  SmallVector<Value> o(4 * kOTiles, kb.f32(0.0));
  for (int64_t kk = 0; kk < kDim / 16; ++kk) {
    auto a = qFrag(kk);
    Value dk = kb.add(idx(16 * kk), kb.mul(inQuad, idx(2)));
    for (int64_t j = 0; j < kOTiles; ++j) {
      Value dv = kb.add(colO0, kb.add(idx(8 * j), quad));
      Value sv[4];
      for (int64_t e = 0; e < 4; ++e)
        sv[e] = kb.toF32(kb.load(kb.arg(p.state), stateAt(kb.add(dk, idx(e % 2 + 8 * (e / 2))), dv)));
      auto [b0hi, b0lo] = m.packSplit(sv[0], sv[1]);
      auto [b1hi, b1lo] = m.packSplit(sv[2], sv[3]);
      auto dj = m.mma(a, {b0hi, b1hi}, ArrayRef<Value>(o).slice(4 * j, 4));
      dj = m.mma(a, {b0lo, b1lo}, dj);
      std::copy(dj.begin(), dj.end(), o.begin() + 4 * j);
    }
  }
  // Row i = 16 (w % 4) + quad (+ 8): scale gamma^(i+1).
  Value f[2];
  for (int64_t hh = 0; hh < 2; ++hh)
    f[hh] = m.fmul(scale, gammaPow(toF(kb.add(rowA0, kb.add(quad, idx(8 * hh + 1))))));
  for (int64_t x = 0; x < 4 * kOTiles; ++x)
    o[x] = m.fmul(o[x], f[(x % 4) / 2]);
  return o;
}

/// A = Q K^T over the chunk's 64 keys (8 n-tiles), decayed and masked.
SmallVector<Value> ChunkedEmitter::intraChunkScores() {
  SmallVector<Value> acc(4 * 8, kb.f32(0.0));
  Value keyK = kb.add(kb.mul(kb.div(mi, idx(2)), idx(8)), r8);
  for (int64_t kk = 0; kk < kDim / 16; ++kk) {
    auto a = qFrag(kk);
    for (int64_t np = 0; np < 4; ++np) {
      auto kf = m.ldmatrix(ks, sharedAt(kb.add(keyK, idx(16 * np)),
                                        kb.add(kb.rem(mi, idx(2)), idx(2 * kk))), false);
      for (int64_t t = 0; t < 2; ++t) {
        int64_t n = 2 * np + t;
        auto dn = m.mma(a, {kf[2 * t], kf[2 * t + 1]}, ArrayRef<Value>(acc).slice(4 * n, 4));
        std::copy(dn.begin(), dn.end(), acc.begin() + 4 * n);
      }
    }
  }
  for (int64_t n = 0; n < 8; ++n)
    for (int64_t e = 0; e < 4; ++e) {
      Value i = kb.add(rowA0, kb.add(quad, idx(8 * (e / 2))));
      Value j = kb.add(kb.mul(inQuad, idx(2)), idx(8 * n + e % 2));
      Value causal = kb.cmp(CmpIPredicate::ule, j, i);
      Value decay = gammaPow(toF(kb.select(causal, kb.sub(i, j), idx(0))));
      acc[4 * n + e] = kb.select(causal, m.fmul(m.fmul(acc[4 * n + e], decay), scale),
                                 kb.f32(0.0));
    }
  return acc;
}

/// O += A V: A re-packed from the accumulators (register r: row half r % 2,
/// key half r / 2), V by ldmatrix.trans.
void ChunkedEmitter::accumulateAV(SmallVector<Value> &o, ArrayRef<Value> acc) {
  keyV = kb.add(kb.mul(kb.rem(mi, idx(2)), idx(8)), r8);
  for (int64_t kk = 0; kk < kChunk / 16; ++kk) {
    SmallVector<Value> aHi(4), aLo(4);
    for (int64_t r = 0; r < 4; ++r) {
      int64_t n = 2 * kk + r / 2, e = 2 * (r % 2);
      std::tie(aHi[r], aLo[r]) = m.packSplit(acc[4 * n + e], acc[4 * n + e + 1]);
    }
    for (int64_t jj = 0; jj < kOTiles / 2; ++jj) {
      Value ch = kb.add(kb.add(kb.mul(colHalf, idx(8)), idx(2 * jj)), kb.div(mi, idx(2)));
      auto vf = m.ldmatrix(vs, sharedAt(kb.add(keyV, idx(16 * kk)), ch), true);
      m.mmaSplitX4(aHi, aLo, vf, o, 2 * jj);
    }
  }
}

/// Store O rows inside the chunk: two bf16 per lane and row.
void ChunkedEmitter::storeO(Value i0, ArrayRef<Value> o) {
  for (int64_t hh = 0; hh < 2; ++hh) {
    Value i = kb.add(rowA0, kb.add(quad, idx(8 * hh)));
    kb.ifThen(kb.cmp(CmpIPredicate::ult, i, len), [&] {
      Value row = rowOf(kb.add(start, kb.add(i0, i)));
      for (int64_t j = 0; j < kOTiles; ++j) {
        Value col = kb.add(colO0, kb.add(idx(8 * j), kb.mul(inQuad, idx(2))));
        Value two = vector::FromElementsOp::create(
            b, loc, VectorType::get({2}, bf16),
            ValueRange{kb.fromF32(o[4 * j + 2 * hh], bf16), kb.fromF32(o[4 * j + 2 * hh + 1], bf16)});
        kb.storeVector(two, kb.arg(p.out), kb.add(row, col), 4);
      }
    });
  }
}

/// S = gamma^L S + (K^T diag(gamma^(L-1-j))) V for key rows 16 w .. +15.
void ChunkedEmitter::updateState() {
  Value carry = gammaPow(lenF);
  SmallVector<Value> s(4 * kSTiles);
  for (int64_t n = 0; n < kSTiles; ++n)
    for (int64_t e = 0; e < 4; ++e) {
      Value dk = kb.add(keyRow0, kb.add(quad, idx(8 * (e / 2))));
      Value dv = kb.add(idx(8 * n + e % 2), kb.mul(inQuad, idx(2)));
      Value old = kb.select(hasState, kb.toF32(kb.load(kb.arg(p.state), stateAt(dk, dv))),
                            kb.f32(0.0));
      s[4 * n + e] = m.fmul(carry, old);
    }
  // K^T fragments: matrix mi holds tokens 16 kk + 8 (mi / 2) .., key columns
  // 16 w + 8 (mi % 2) ..; register r covers tokens 2 t + 8 (r / 2).
  Value tokK = kb.add(kb.mul(kb.div(mi, idx(2)), idx(8)), r8);
  Value chK = kb.add(kb.mul(warp, idx(2)), kb.rem(mi, idx(2)));
  auto v2 = VectorType::get({2}, bf16);
  for (int64_t kk = 0; kk < kChunk / 16; ++kk) {
    auto kt = m.ldmatrix(ks, sharedAt(kb.add(tokK, idx(16 * kk)), chK), true);
    SmallVector<Value> kHi(4), kLo(4);
    for (int64_t r = 0; r < 4; ++r) {
      Value two = vector::BitCastOp::create(b, loc, v2,
          vector::FromElementsOp::create(b, loc, VectorType::get({1}, i32), ValueRange{kt[r]}));
      Value x[2];
      for (int64_t e = 0; e < 2; ++e) {
        Value tok = kb.add(kb.mul(inQuad, idx(2)), idx(16 * kk + 8 * (r / 2) + e));
        Value expo = m.fsub(m.fsub(lenF, kb.f32(1.0)), toF(tok));
        Value w = gammaPow(arith::MaximumFOp::create(b, loc, expo, kb.f32(0.0)));
        x[e] = m.fmul(kb.toF32(vector::ExtractOp::create(b, loc, two, ArrayRef<int64_t>{e})), w);
      }
      std::tie(kHi[r], kLo[r]) = m.packSplit(x[0], x[1]);
    }
    for (int64_t jj = 0; jj < kSTiles / 2; ++jj) {
      Value ch = kb.add(idx(2 * jj), kb.div(mi, idx(2)));
      auto vf = m.ldmatrix(vs, sharedAt(kb.add(keyV, idx(16 * kk)), ch), true);
      m.mmaSplitX4(kHi, kLo, vf, s, 2 * jj);
    }
  }
  for (int64_t n = 0; n < kSTiles; ++n)
    for (int64_t e = 0; e < 4; ++e) {
      Value dk = kb.add(keyRow0, kb.add(quad, idx(8 * (e / 2))));
      Value dv = kb.add(idx(8 * n + e % 2), kb.mul(inQuad, idx(2)));
      kb.store(kb.fromF32(s[4 * n + e], stateElem), kb.arg(p.state), stateAt(dk, dv));
    }
}

/// One chunk starting at token i0 of the sequence.
void ChunkedEmitter::chunk(Value i0) {
  Value rem = kb.sub(qLen, i0);
  len = kb.select(kb.cmp(CmpIPredicate::ult, rem, idx(kChunk)), rem, idx(kChunk));
  lenF = toF(len);
  hasState = arith::OrIOp::create(
      b, loc, arith::XOrIOp::create(b, loc, fresh,
                                    arith::ConstantOp::create(b, loc, b.getBoolAttr(true))),
      kb.cmp(CmpIPredicate::ugt, i0, idx(0)));
  barrier(); // the previous chunk is done with the tiles and the slot
  loadChunk(i0);
  SmallVector<Type> oTypes(4 * kOTiles, f32);
  ValueRange qsProd = m.ifElse(hasState, oTypes, [&]() { return stateProduct(); },
                               [&]() -> SmallVector<Value> {
    return SmallVector<Value>(4 * kOTiles, kb.f32(0.0));
  });
  SmallVector<Value> o(qsProd);
  SmallVector<Value> acc = intraChunkScores();
  accumulateAV(o, acc);
  storeO(i0, o);
  barrier(); // every warp is done reading the slot
  updateState();
}

} // namespace

static LogicalResult buildLinearChunkedKernel(Operation *op, KernelBuilder &kb) {
  auto la = cast<sala::LinearAttentionOp>(op);
  if (!linearChunkedKernelSupports(op))
    return op->emitOpError() << "no chunked GPU kernel for this shape yet (needs "
                                "head_dim 128, chunk 64, bf16)";
  ChunkedParams params = declareChunkedParams(kb, la);
  if (failed(kb.requireThreads(op, kThreads)) || failed(kb.requireTiling(op, kChunk, 1)))
    return failure();
  kb.setGrid(GridDim::scaled("batch", cast<RankedTensorType>(la.getQuery().getType()).getDimSize(1), 1));
  kb.begin();
  ChunkedEmitter(la, kb, params).emit();
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
