//===- LinearChunkedKernels.cpp - chunked linear attention (prefill) ------===//
//
// The chunked form, on tensor cores. Per chunk of C = 64 tokens of a sequence
// and head, with L tokens in the chunk:
//   o_i = scale gamma^(i+1) q_i S + sum_{j<=i} A_ij v_j,
//         A_ij = scale gamma^(i-j) q_i . k_j
//   S  <- gamma^L S + sum_j gamma^(L-1-j) k_j^T v_j
// Q, K and V of the chunk (64 x 128 bf16, 16 KiB each, 16-byte chunks
// XOR-swizzled by row, zero rows past L) are brought in by cp.async. All three
// products are mma.sync m16n8k16 (bf16 in, f32 accumulate) over 8 warps; warp w
// owns
//   O   rows 16 (w % 4) .. +15, value columns 64 (w / 4) .. +63:
//       O = diag(scale gamma^(i+1)) Q S   (S as B fragments)
//         + A V                           (A from Q K^T in registers)
//   S   key rows 16 w .. +15, all 128 value columns:
//       S = gamma^L S + (K^T diag(w)) V   (K^T by ldmatrix.trans)
// Operands that are not bf16 to begin with (S, the decayed A, the weighted
// K^T) are split into a bf16 part and a bf16 rounding residue, and each is
// multiplied (two MMAs), so every product keeps ~16 significant bits before
// the f32 accumulation: results agree with the f32 recurrence to ~1e-4.
//
// Two ways to walk a sequence, chosen by the kernel config's `segment`:
// - none (0): a block per (sequence, head) walks its chunks in order, the
//   state carried in the sequence's slot (f32, read and written once per
//   chunk, L2-resident). One long sequence fills only `heads` SMs.
// - segments of `segment` tokens: a block per (segment, sequence, head), so a
//   long prefill fills the GPU. The state stays in registers (the warp's S
//   accumulators) with a bf16 value/residue copy in shared memory for the
//   Q S product. A block first sums its segment's own contribution (the
//   K^T V updates from a zero state), then takes the state at its segment's
//   start from its predecessor, publishes the state at its end for its
//   successor, and only then walks its chunks from the true state. So the
//   chain between blocks is one 64 KiB hand-over per segment, not a walk.
//   Blocks take their order from a ticket counter, not from blockIdx: a block
//   waits only on a block that took an earlier ticket, which is running or
//   done, so the waits cannot deadlock whatever order the GPU starts blocks.
//
//===----------------------------------------------------------------------===//
#include "LinearKernels.h"
#include "MmaEmitter.h"
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <cmath>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {
constexpr int64_t kChunk = 64, kDim = 128, kWarps = 8, kThreads = 32 * kWarps;
/// How long a segment waits for its predecessor before it traps: far above
/// any real wait (a predecessor's own pass over at most 1M tokens, ~16 ms).
constexpr int64_t kSpinLimitNs = 10'000'000'000;
} // namespace

namespace {

/// What the chunked kernel needs of its op: a chunked linear_attention, or a
/// chunked fused_linear_attention, which folds the q/k norms and RoPE in.
struct ChunkedOp {
  Operation *op;
  RankedTensorType query;
  Type stateElem;
  ArrayRef<double> slopes;
  float scale;
  int64_t chunk;
  Value qNormWeight, kNormWeight, positions; // the folded stages, when present
  float qkEps = 0;
  double theta = 0;
  bool neox = true;
  bool unfoldable = false; // an output norm or gate: not this kernel's
};

template <typename OpT>
ChunkedOp describeCommon(OpT o) {
  return {o, cast<RankedTensorType>(o.getQuery().getType()),
          o.getState().getType().getElementType(), o.getSlopes(), o.getEffectiveScale(),
          o.getEffectiveChunkSize(), {}, {}, {}};
}

ChunkedOp describe(Operation *op) {
  if (auto la = dyn_cast<sala::LinearAttentionOp>(op))
    return describeCommon(la);
  auto f = cast<sala::FusedLinearAttentionOp>(op);
  ChunkedOp c = describeCommon(f);
  c.qNormWeight = f.getQNormWeight();
  c.kNormWeight = f.getKNormWeight();
  c.positions = f.getPositions();
  c.qkEps = f.getQkEps().convertToFloat();
  c.theta = f.getTheta().convertToDouble();
  c.neox = f.getRopeStyle() == sala::RopeStyle::NeoX;
  c.unfoldable = f.getOutNormWeight() || f.getGate();
  return c;
}

Type elementOf(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

} // namespace

bool salac::linearChunkedKernelSupports(Operation *op) {
  ChunkedOp c = describe(op);
  bool weightsOk = !c.qNormWeight || (elementOf(c.qNormWeight).isBF16() &&
                                      elementOf(c.kNormWeight).isBF16());
  return c.query.getDimSize(2) == kDim && c.chunk == kChunk &&
         c.query.getElementType().isBF16() && !c.unfoldable && weightsOk;
}

namespace {

/// The chunked kernel's parameters (the folded stages' and the segment
/// chain's only where they are).
struct ChunkedParams {
  unsigned q, k, v, qw = 0, kw = 0, pos = 0, state, slotIds, cu, lens, out, batch, slots;
  unsigned segmentStates = 0, segmentFlags = 0, tickets = 0;
};

ChunkedParams declareChunkedParams(KernelBuilder &kb, const ChunkedOp &c, int64_t segment) {
  int64_t h = c.query.getDimSize(1), d = c.query.getDimSize(2);
  MLIRContext *ctx = c.op->getContext();
  Type bf16 = c.query.getElementType(), i32 = IntegerType::get(ctx, 32);
  Type f32 = Float32Type::get(ctx);
  SmallVector<Extent> rows = {"tokens", h, d};
  ChunkedParams p;
  p.q = kb.addBuffer("query", bf16, rows, "[tokens, heads, head_dim] q");
  p.k = kb.addBuffer("key", bf16, rows, "[tokens, heads, head_dim] k");
  p.v = kb.addBuffer("value", bf16, rows, "[tokens, heads, head_dim] v");
  if (c.qNormWeight) {
    p.qw = kb.addBuffer("q_norm_weight", bf16, {d}, "[head_dim] per-head RMSNorm weight of q");
    p.kw = kb.addBuffer("k_norm_weight", bf16, {d}, "[head_dim] per-head RMSNorm weight of k");
  }
  if (c.positions)
    p.pos = kb.addBuffer("positions", i32, {"tokens"}, "[tokens] RoPE position of each token");
  p.state = kb.addBuffer("state", c.stateElem, {"slots", h, d, d},
                         "[slots, heads, head_dim, head_dim] state pool, "
                         "S[dk][dv]; updated in place");
  p.slotIds = kb.addBuffer("slot_ids", i32, {"batch"}, "[batch] state slot of each sequence");
  p.cu = kb.addCuSeqlens();
  // A sequence with no history (seq_lens == q_len) starts from a zero state.
  p.lens = kb.addSeqLens();
  p.out = kb.addBuffer("output", bf16, rows, "[tokens, heads, head_dim] o");
  if (segment) {
    p.segmentStates = kb.addBuffer(
        "segment_states", f32, {"segment_rows", h, d, d},
        "[segment_rows, heads, head_dim, head_dim] workspace: the state at the end of each "
        "segment that has a successor, for it (row: the segment's first token / segment)");
    p.segmentFlags = kb.addBuffer(
        "segment_flags", i32, {"segment_rows", h},
        "[segment_rows, heads] workspace: zero before the first launch; set when a "
        "segment's state is published, cleared by the one block that reads it");
    p.tickets = kb.addBuffer("tickets", i32, {1},
                             "[1] workspace: zero before the first launch; blocks take "
                             "their order from it, and the last one resets it");
  }
  kb.addSize("tokens", "number of tokens");
  p.batch = kb.addSize("batch", "number of sequences"); // sizes the grid
  p.slots = kb.addSize("slots", "slots in the state pool");
  if (segment) {
    kb.addSize("max_q_len", "the most new tokens of any sequence (sizes the grid)");
    kb.addSize("segment_rows", "rows of the segment chain: ceil(tokens / " +
                                   std::to_string(segment) + ")");
  }
  return p;
}

/// The chunked kernel's body, part by part.
class ChunkedEmitter {
public:
  ChunkedEmitter(const ChunkedOp &c, KernelBuilder &kb, const ChunkedParams &p,
                 int64_t segment, int64_t stages)
      : c(c), kb(kb), b(kb.builder()), loc(kb.getLoc()), p(p), segment(segment), stages(stages),
        h(c.query.getDimSize(1)), d(kDim), bf16(c.query.getElementType()),
        f32(Float32Type::get(c.op->getContext())),
        i32(IntegerType::get(c.op->getContext(), 32)), stateElem(c.stateElem),
        m{kb, kb.builder(), kb.getLoc(), bf16, f32, i32} {}

  void emit();

private:
  static constexpr int64_t kTileElems = kChunk * kDim, kRowChunks = kDim / 8;
  static constexpr int64_t kOTiles = 8, kSTiles = kDim / 8, kStateRegs = 4 * kSTiles;
  Value idx(int64_t x) { return kb.idx(x); }
  void barrier() { gpu::BarrierOp::create(b, loc); }
  Value toF(Value i) {
    return arith::SIToFPOp::create(b, loc, f32,
                                   arith::IndexCastOp::create(b, loc, b.getI64Type(), i))
        .getResult();
  }
  Value gammaPow(Value n) { return m.ex2(m.fmul(n, log2g)); } // n: f32
  /// Swizzled shared index of 16-byte chunk `ch` of tile row `r` (rows of
  /// 128 bf16: the Q, K, V tiles and the state copies alike).
  Value sharedAt(Value r, Value ch) {
    return kb.add(kb.mul(r, idx(kDim)), kb.mul(m.xori(ch, kb.rem(r, idx(8))), idx(8)));
  }
  /// sharedAt in the Q, K or V tile being computed on: the first, or with two
  /// stages the one `tileBase` elements in.
  Value tileAt(Value r, Value ch) {
    Value at = sharedAt(r, ch);
    return tileBase ? kb.add(tileBase, at) : at;
  }
  Value stateAt(Value dk, Value dv) { return kb.add(base, kb.add(kb.mul(dk, idx(d)), dv)); }
  Value rowOf(Value t) { return kb.mul(kb.add(kb.mul(t, idx(h)), head), idx(d)); }
  /// The state element of register 4 n + e of this thread (warp w: key rows
  /// 16 w + quad (+ 8), value columns 8 n + 2 (lane % 4) (+ 1)).
  Value stateRow(int64_t e) { return kb.add(keyRow0, kb.add(quad, idx(8 * (e / 2)))); }
  Value stateCol(int64_t n, int64_t e) {
    return kb.add(idx(8 * n + e % 2), kb.mul(inQuad, idx(2)));
  }
  SmallVector<Value> zeros(int64_t n) { return SmallVector<Value>(n, kb.f32(0.0)); }
  SmallVector<Type> stateTypes() { return SmallVector<Type>(kStateRegs, f32); }

  // Common parts.
  void setUp(ArrayRef<double> log2Gammas);
  void assignWarps();
  void locate(Value seqIndex, Value headIndex);
  Value slotBase();
  /// Row of a V (or shared state) ldmatrix.trans: lane l gives row l % 8 of
  /// matrix l / 8, the 8 rows further down for odd matrices.
  Value transRow() { return kb.add(kb.mul(kb.rem(mi, idx(2)), idx(8)), r8); }
  void beginChunk(Value i0);
  void loadChunk(Value i0, bool withQ);
  Value issueChunk(Value i0, Value rows, bool withQ);
  void awaitChunk(Value group, int32_t pending, Value i0, bool withQ);
  void stageChunk(Value i0, Value from, Value to, bool withQ);
  void beginStages(Value from, Value to, bool withQ);
  void endStages();
  void foldStages(Value i0, bool withQ);
  SmallVector<Value, 4> qFrag(int64_t kk);
  void scaleRows(SmallVector<Value> &o);
  SmallVector<Value> intraChunkScores();
  void accumulateAV(SmallVector<Value> &o, ArrayRef<Value> acc);
  void storeO(Value i0, ArrayRef<Value> o);
  SmallVector<Value> decayState(ArrayRef<Value> s, Value factor);
  SmallVector<Value> addChunkToState(SmallVector<Value> s);
  SmallVector<Value> loadState(Value buffer, Value at);
  void storeState(ArrayRef<Value> s, Value buffer, Value at, Type elem);

  // One block a sequence, the state in the slot.
  void emitWhole();
  void chunkThroughSlot(Value i0);
  SmallVector<Value> stateProductFromSlot();
  void updateSlotState();

  // One block a segment, the state in registers.
  void emitSegmented();
  Value claimTicket();
  void walkSegment(Value x);
  SmallVector<Value> segmentDelta(Value segStart);
  SmallVector<Value> awaitPrefix(Value x);
  void publish(Value x, ArrayRef<Value> sEnd);
  SmallVector<Value> chunkInRegisters(Value i0, ValueRange sIn, Value from, Value to);
  void writeStateShared(ArrayRef<Value> s);
  SmallVector<Value> stateProductFromShared();
  /// Segment x's chain flag: its row (its first token in the step over the
  /// segment length; distinct for every segment that has a successor, as
  /// those are whole) and head; and where its state is in the workspace.
  Value chainFlag(Value x) {
    Value row = kb.div(kb.add(start, kb.mul(x, idx(segment))), idx(segment));
    return kb.add(kb.mul(row, idx(h)), head);
  }
  Value chainState(Value x) { return kb.mul(chainFlag(x), idx(d * d)); }

  const ChunkedOp &c;
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  const ChunkedParams &p;
  const int64_t segment, stages;
  const int64_t h, d;
  Type bf16, f32, i32, stateElem;
  MmaEmitter m;
  SmallVector<double> log2GammaOf;
  Value qs, ks, vs, sHi, sLo, ticketCell;
  Value tileBase; // with two stages: where the tiles being computed on start
  Value tid, lane, warp, quad, inQuad, mi, r8;
  Value seq, head, log2g, scale, start, qLen, fresh, slot;
  Type tokenTy;
  // Warp w's O rows 16 (w % 4) .. +15 and columns 64 (w / 4) .. +63; its S
  // key rows 16 w .. +15.
  Value rowBlock, colHalf, rowA0, colO0, keyRow0;
  // Of the slot and the current chunk.
  Value base, len, lenF, hasState;
};

void ChunkedEmitter::setUp(ArrayRef<double> log2Gammas) {
  log2GammaOf.assign(log2Gammas.begin(), log2Gammas.end());
  qs = kb.addWorkgroupBuffer(bf16, stages * kTileElems, 16);
  ks = kb.addWorkgroupBuffer(bf16, stages * kTileElems, 16);
  vs = kb.addWorkgroupBuffer(bf16, stages * kTileElems, 16);
  if (segment) {
    sHi = kb.addWorkgroupBuffer(bf16, kDim * kDim, 16);
    sLo = kb.addWorkgroupBuffer(bf16, kDim * kDim, 16);
    ticketCell = kb.addWorkgroupBuffer(i32, 1);
  }
  tid = kb.threadId();
  lane = kb.rem(tid, idx(32));
  warp = kb.div(tid, idx(32));
  quad = kb.div(lane, idx(4));
  inQuad = kb.rem(lane, idx(4));
  mi = kb.div(lane, idx(8));
  r8 = kb.rem(lane, idx(8));
}

/// What each warp owns.
void ChunkedEmitter::assignWarps() {
  tokenTy = nvgpu::DeviceAsyncTokenType::get(c.op->getContext());
  rowBlock = kb.rem(warp, idx(4));
  colHalf = kb.div(warp, idx(4));
  rowA0 = kb.mul(rowBlock, idx(16)); // first O row of this warp
  colO0 = kb.mul(colHalf, idx(64));  // first O column of this warp
  keyRow0 = kb.mul(warp, idx(16));   // first S row (key dim) of this warp
}

/// The sequence and head this block works on, and what follows from them.
void ChunkedEmitter::locate(Value seqIndex, Value headIndex) {
  seq = seqIndex;
  head = headIndex;
  log2g = kb.f32(log2GammaOf[0]);
  for (int64_t i = 1; i < h; ++i)
    log2g = kb.select(kb.cmp(CmpIPredicate::eq, head, idx(i)), kb.f32(log2GammaOf[i]), log2g);
  scale = kb.f32(c.scale);
  start = kb.loadIndex(kb.arg(p.cu), seq);
  qLen = kb.sub(kb.loadIndex(kb.arg(p.cu), kb.add(seq, idx(1))), start);
  fresh = kb.cmp(CmpIPredicate::eq, kb.loadIndex(kb.arg(p.lens), seq), qLen);
  slot = kb.loadIndex(kb.arg(p.slotIds), seq);
}

Value ChunkedEmitter::slotBase() {
  return kb.mul(kb.add(kb.mul(slot, idx(h)), head), idx(d * d));
}

void ChunkedEmitter::emit() {
  SmallVector<double> log2Gammas;
  for (double sl : c.slopes)
    log2Gammas.push_back(-sl * M_LOG2E);
  setUp(log2Gammas);
  if (segment)
    emitSegmented();
  else
    emitWhole();
}

/// The chunk at token i0 of the sequence: its length, and whether a state
/// precedes it (a continuing sequence, or a chunk past the first).
void ChunkedEmitter::beginChunk(Value i0) {
  Value rem = kb.sub(qLen, i0);
  len = kb.select(kb.cmp(CmpIPredicate::ult, rem, idx(kChunk)), rem, idx(kChunk));
  lenF = toF(len);
  hasState = arith::OrIOp::create(
      b, loc, arith::XOrIOp::create(b, loc, fresh,
                                    arith::ConstantOp::create(b, loc, b.getBoolAttr(true))),
      kb.cmp(CmpIPredicate::ugt, i0, idx(0)));
}

/// K, V (and Q) of the chunk (zero rows past its length), then the folded
/// stages on them.
void ChunkedEmitter::loadChunk(Value i0, bool withQ) {
  awaitChunk(issueChunk(i0, len, withQ), 0, i0, withQ);
}

/// Issues the copies of `rows` rows of the chunk at i0 (zero rows past them)
/// and commits them as one group, which it returns: thread copies rows
/// tid / 16 + 16 j, chunk tid % 16.
Value ChunkedEmitter::issueChunk(Value i0, Value rows, bool withQ) {
  SmallVector<Value> copies;
  Value cr = kb.div(tid, idx(kRowChunks)), cc = kb.rem(tid, idx(kRowChunks));
  SmallVector<std::pair<Value, unsigned>> tiles;
  if (withQ)
    tiles.push_back({qs, p.q});
  tiles.append({{ks, p.k}, {vs, p.v}});
  for (int64_t j = 0; j < kChunk * kRowChunks / kThreads; ++j) {
    Value r = kb.add(cr, idx(j * kThreads / kRowChunks));
    Value in = kb.cmp(CmpIPredicate::ult, r, rows);
    Value src = kb.add(rowOf(kb.add(start, kb.add(i0, kb.select(in, r, idx(0))))),
                       kb.mul(cc, idx(8)));
    Value n = kb.select(in, idx(8), idx(0));
    for (auto [buf, arg] : tiles)
      copies.push_back(nvgpu::DeviceAsyncCopyOp::create(
          b, loc, tokenTy, buf, ValueRange{tileAt(r, cc)}, kb.arg(arg), ValueRange{src},
          b.getIndexAttr(8), n, b.getUnitAttr()));
  }
  return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenTy, copies);
}

/// Waits until at most `pending` groups are in flight, then makes the tiles
/// visible to the block and applies the folded stages.
void ChunkedEmitter::awaitChunk(Value group, int32_t pending, Value i0, bool withQ) {
  nvgpu::DeviceAsyncWaitOp::create(b, loc, group, b.getI32IntegerAttr(pending));
  barrier();
  if (c.qNormWeight || c.positions)
    foldStages(i0, withQ);
}

/// Two stages over chunks [from, to): the first chunk's copies into the
/// first buffer, before the loop.
void ChunkedEmitter::beginStages(Value from, Value to, bool withQ) {
  if (stages == 1)
    return;
  tileBase = idx(0);
  Value rows = kb.sub(to, from);
  issueChunk(from, kb.select(kb.cmp(CmpIPredicate::ult, rows, idx(kChunk)), rows,
                             idx(kChunk)),
             withQ);
}

/// The tiles of the chunk at i0 of [from, to), ready: one stage loads them
/// now; two stages issue the next chunk's copies into the other buffer (zero
/// rows past `to`), then wait for this chunk's. Call where the block is done
/// with the other buffer.
void ChunkedEmitter::stageChunk(Value i0, Value from, Value to, bool withQ) {
  if (stages == 1)
    return loadChunk(i0, withQ);
  Value cur = kb.rem(kb.div(kb.sub(i0, from), idx(kChunk)), idx(2));
  Value next = kb.add(i0, idx(kChunk));
  Value more = kb.cmp(CmpIPredicate::ult, next, to);
  Value left = kb.select(more, kb.sub(to, next), idx(0));
  Value rows = kb.select(kb.cmp(CmpIPredicate::ult, left, idx(kChunk)), left, idx(kChunk));
  tileBase = kb.mul(kb.sub(idx(1), cur), idx(kTileElems));
  // Past `to` no row is copied; the addresses stay inside the segment.
  Value group = issueChunk(kb.select(more, next, from), rows, withQ);
  tileBase = kb.mul(cur, idx(kTileElems));
  awaitChunk(group, 1, i0, withQ);
}

/// Two stages: no copy left in flight (the last chunk's empty prefetch).
void ChunkedEmitter::endStages() {
  if (stages == 1)
    return;
  Value none = nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenTy, ValueRange{});
  nvgpu::DeviceAsyncWaitOp::create(b, loc, none, b.getI32IntegerAttr(0));
  tileBase = Value();
}

/// The folded stages on the tiles as they arrived: each thread takes the
/// 16-byte chunks it copied (rows tid / 16 + 16 j, chunk tid % 16; a row's 16
/// chunks are 16 neighbouring lanes), RMS-normalises them by the row's sum of
/// squares over those lanes, rotates them (NeoX: chunk c with chunk c ^ 8,
/// by a shuffle; interleaved: within the chunk) and writes them back: one
/// bf16 rounding after both stages. Rows past the chunk stay zero.
void ChunkedEmitter::foldStages(Value i0, bool withQ) {
  Value cr = kb.div(tid, idx(kRowChunks)), cc = kb.rem(tid, idx(kRowChunks));
  auto f8 = VectorType::get({8}, f32);
  SmallVector<std::pair<Value, unsigned>> tiles;
  if (withQ)
    tiles.push_back({qs, p.qw});
  tiles.push_back({ks, p.kw});
  Value shuffleWidth = kb.i32(32), eight = kb.i32(8);
  // A loop, not unrolled: one row's values live at a time, beside the state
  // registers of the segmented kernel.
  int64_t rowsPerThread = kChunk * kRowChunks / kThreads;
  kb.forLoop(idx(0), idx(rowsPerThread), idx(1), {}, [&](Value j, ValueRange) {
    Value r = kb.add(cr, kb.mul(j, idx(kThreads / kRowChunks)));
    Value at = tileAt(r, cc);
    // Both tiles' chunks, normalised: x[t][e].
    SmallVector<SmallVector<Value, 8>> x;
    for (auto [tile, weight] : tiles) {
      Value raw = arith::ExtFOp::create(b, loc, f8, kb.loadVector(tile, at, 8, 16));
      SmallVector<Value, 8> xt;
      for (int64_t e = 0; e < 8; ++e)
        xt.push_back(vector::ExtractOp::create(b, loc, raw, ArrayRef<int64_t>{e}));
      if (c.qNormWeight) {
        Value ss = kb.f32(0.0);
        for (Value xe : xt)
          ss = m.fadd(ss, m.fmul(xe, xe));
        Value ms = m.fmul(kb.warpSum(ss, kRowChunks), kb.f32(1.0 / double(d)));
        Value rstd = kb.rsqrtF32(m.fadd(ms, kb.f32(c.qkEps)));
        Value w = arith::ExtFOp::create(
            b, loc, f8, kb.loadVector(kb.arg(weight), kb.mul(cc, idx(8)), 8, 16));
        for (int64_t e = 0; e < 8; ++e)
          xt[e] = m.fmul(m.fmul(xt[e], rstd),
                         vector::ExtractOp::create(b, loc, w, ArrayRef<int64_t>{e}));
      }
      x.push_back(xt);
    }
    if (c.positions) {
      // One angle a channel pair, for both tiles: the first of a pair takes
      // x cos - x' sin, the second x cos + x' sin.
      Value in = kb.cmp(CmpIPredicate::ult, r, len);
      Value token = kb.add(start, kb.add(i0, kb.select(in, r, idx(0))));
      Value position = kb.load(kb.arg(p.pos), token);
      SmallVector<SmallVector<Value, 8>> y(x.size(), SmallVector<Value, 8>(8));
      for (int64_t e = 0; e < 8; ++e) {
        // NeoX: pair (c % 8) * 8 + e, partner chunk c ^ 8 (lane ^ 8);
        // interleaved: pair c * 4 + e / 2, partner element e ^ 1.
        Value pair = c.neox ? kb.add(kb.mul(kb.rem(cc, idx(8)), idx(8)), idx(e))
                            : kb.add(kb.mul(cc, idx(4)), idx(e / 2));
        auto [cs, sn] = kb.ropeCosSin(position, pair, c.theta, d);
        Value first = c.neox ? kb.cmp(CmpIPredicate::ult, cc, idx(8))
                             : arith::ConstantOp::create(b, loc, b.getBoolAttr(e % 2 == 0));
        Value sgn = kb.select(first, arith::NegFOp::create(b, loc, sn), sn);
        for (size_t t = 0; t < x.size(); ++t) {
          Value partner = c.neox ? gpu::ShuffleOp::create(b, loc, x[t][e], eight,
                                                          shuffleWidth, gpu::ShuffleMode::XOR)
                                       .getShuffleResult()
                                 : x[t][e ^ 1];
          y[t][e] = m.fadd(m.fmul(x[t][e], cs), m.fmul(partner, sgn));
        }
      }
      x = y;
    }
    for (size_t t = 0; t < x.size(); ++t)
      kb.storeVector(arith::TruncFOp::create(b, loc, VectorType::get({8}, bf16),
                                             vector::FromElementsOp::create(b, loc, f8, x[t])),
                     tiles[t].first, at, 16);
    return SmallVector<Value>{};
  });
  barrier();
}

/// Q fragments (A operand, rows 16 (w % 4) ..) for k-step kk.
SmallVector<Value, 4> ChunkedEmitter::qFrag(int64_t kk) {
  Value r = kb.add(rowA0, kb.rem(lane, idx(16)));
  return m.ldmatrix(qs, tileAt(r, kb.add(kb.div(lane, idx(16)), idx(2 * kk))), false);
}

/// Row i = 16 (w % 4) + quad (+ 8) of Q S: scale gamma^(i+1).
void ChunkedEmitter::scaleRows(SmallVector<Value> &o) {
  Value f[2];
  for (int64_t hh = 0; hh < 2; ++hh)
    f[hh] = m.fmul(scale, gammaPow(toF(kb.add(rowA0, kb.add(quad, idx(8 * hh + 1))))));
  for (int64_t x = 0; x < 4 * kOTiles; ++x)
    o[x] = m.fmul(o[x], f[(x % 4) / 2]);
}

/// A = Q K^T over the chunk's 64 keys (8 n-tiles), decayed and masked.
SmallVector<Value> ChunkedEmitter::intraChunkScores() {
  SmallVector<Value> acc = zeros(4 * 8);
  Value keyK = kb.add(kb.mul(kb.div(mi, idx(2)), idx(8)), r8);
  for (int64_t kk = 0; kk < kDim / 16; ++kk) {
    auto a = qFrag(kk);
    for (int64_t np = 0; np < 4; ++np) {
      auto kf = m.ldmatrix(ks, tileAt(kb.add(keyK, idx(16 * np)),
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
  Value keyV = transRow();
  for (int64_t kk = 0; kk < kChunk / 16; ++kk) {
    SmallVector<Value> aHi(4), aLo(4);
    for (int64_t r = 0; r < 4; ++r) {
      int64_t n = 2 * kk + r / 2, e = 2 * (r % 2);
      std::tie(aHi[r], aLo[r]) = m.packSplit(acc[4 * n + e], acc[4 * n + e + 1]);
    }
    for (int64_t jj = 0; jj < kOTiles / 2; ++jj) {
      Value ch = kb.add(kb.add(kb.mul(colHalf, idx(8)), idx(2 * jj)), kb.div(mi, idx(2)));
      auto vf = m.ldmatrix(vs, tileAt(kb.add(keyV, idx(16 * kk)), ch), true);
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

SmallVector<Value> ChunkedEmitter::decayState(ArrayRef<Value> s, Value factor) {
  SmallVector<Value> out;
  for (Value x : s)
    out.push_back(m.fmul(factor, x));
  return out;
}

/// s += (K^T diag(gamma^(L-1-j))) V over the chunk, for this warp's key rows
/// 16 w .. +15. K^T fragments: matrix mi holds tokens 16 kk + 8 (mi / 2) ..,
/// key columns 16 w + 8 (mi % 2) ..; register r covers tokens 2 t + 8 (r / 2).
SmallVector<Value> ChunkedEmitter::addChunkToState(SmallVector<Value> s) {
  Value keyV = transRow();
  Value tokK = kb.add(kb.mul(kb.div(mi, idx(2)), idx(8)), r8);
  Value chK = kb.add(kb.mul(warp, idx(2)), kb.rem(mi, idx(2)));
  auto v2 = VectorType::get({2}, bf16);
  for (int64_t kk = 0; kk < kChunk / 16; ++kk) {
    auto kt = m.ldmatrix(ks, tileAt(kb.add(tokK, idx(16 * kk)), chK), true);
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
      auto vf = m.ldmatrix(vs, tileAt(kb.add(keyV, idx(16 * kk)), ch), true);
      m.mmaSplitX4(kHi, kLo, vf, s, 2 * jj);
    }
  }
  return s;
}

/// This thread's state registers from a [head_dim, head_dim] state at `at`.
SmallVector<Value> ChunkedEmitter::loadState(Value buffer, Value at) {
  SmallVector<Value> s(kStateRegs);
  for (int64_t n = 0; n < kSTiles; ++n)
    for (int64_t e = 0; e < 4; ++e)
      s[4 * n + e] = kb.toF32(kb.load(
          buffer, kb.add(at, kb.add(kb.mul(stateRow(e), idx(d)), stateCol(n, e)))));
  return s;
}

void ChunkedEmitter::storeState(ArrayRef<Value> s, Value buffer, Value at, Type elem) {
  for (int64_t n = 0; n < kSTiles; ++n)
    for (int64_t e = 0; e < 4; ++e)
      kb.store(kb.fromF32(s[4 * n + e], elem), buffer,
               kb.add(at, kb.add(kb.mul(stateRow(e), idx(d)), stateCol(n, e))));
}

//===----------------------------------------------------------------------===//
// One block a sequence: the state carried in the slot.
//===----------------------------------------------------------------------===//

void ChunkedEmitter::emitWhole() {
  Value sequence = kb.div(kb.blockId(), idx(h)); // in this order: argument
  Value headIndex = kb.rem(kb.blockId(), idx(h)); // order is unspecified
  locate(sequence, headIndex);
  assignWarps();
  kb.ifThen(kb.cmp(CmpIPredicate::ult, slot, kb.arg(p.slots)), [&] {
    base = slotBase();
    kb.forLoop(idx(0), qLen, idx(kChunk), {}, [&](Value i0, ValueRange) {
      chunkThroughSlot(i0);
      return SmallVector<Value>{};
    });
  });
}

/// O = Q S with B fragments of S straight from the slot:
/// b0 = S[16 kk + 2 t + {0,1}][col], b1 = the same 8 rows further down.
SmallVector<Value> ChunkedEmitter::stateProductFromSlot() {
  SmallVector<Value> o = zeros(4 * kOTiles);
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
  scaleRows(o);
  return o;
}

/// S = gamma^L S + (K^T diag(gamma^(L-1-j))) V, read from and written to the
/// slot.
void ChunkedEmitter::updateSlotState() {
  Value carry = gammaPow(lenF);
  SmallVector<Value> s(kStateRegs);
  for (int64_t n = 0; n < kSTiles; ++n)
    for (int64_t e = 0; e < 4; ++e) {
      Value old = kb.select(
          hasState, kb.toF32(kb.load(kb.arg(p.state), stateAt(stateRow(e), stateCol(n, e)))),
          kb.f32(0.0));
      s[4 * n + e] = m.fmul(carry, old);
    }
  s = addChunkToState(s);
  storeState(s, kb.arg(p.state), base, stateElem);
}

/// One chunk starting at token i0 of the sequence.
void ChunkedEmitter::chunkThroughSlot(Value i0) {
  beginChunk(i0);
  barrier(); // the previous chunk is done with the tiles and the slot
  loadChunk(i0, /*withQ=*/true);
  SmallVector<Type> oTypes(4 * kOTiles, f32);
  ValueRange qsProd = m.ifElse(hasState, oTypes, [&]() { return stateProductFromSlot(); },
                               [&]() { return zeros(4 * kOTiles); });
  SmallVector<Value> o(qsProd);
  SmallVector<Value> acc = intraChunkScores();
  accumulateAV(o, acc);
  storeO(i0, o);
  barrier(); // every warp is done reading the slot
  updateSlotState();
}

//===----------------------------------------------------------------------===//
// One block a segment: the state in registers, chained across blocks.
//===----------------------------------------------------------------------===//

void ChunkedEmitter::emitSegmented() {
  // Ticket t: segment t / (batch heads), then sequence, then head, so a
  // segment's predecessor always has an earlier ticket.
  Value ticket = claimTicket();
  Value perSegment = kb.mul(kb.arg(p.batch), idx(h));
  Value x = kb.div(ticket, perSegment), rest = kb.rem(ticket, perSegment);
  Value sequence = kb.div(rest, idx(h));
  locate(sequence, kb.rem(rest, idx(h)));
  assignWarps();
  base = slotBase();
  Value segStart = kb.mul(x, idx(segment));
  Value live = arith::AndIOp::create(b, loc, kb.cmp(CmpIPredicate::ult, segStart, qLen),
                                     kb.cmp(CmpIPredicate::ult, slot, kb.arg(p.slots)));
  kb.ifThen(live, [&] { walkSegment(x); });
}

/// Thread 0 takes the block's ticket; the block that takes the last one
/// resets the counter for the next launch (every block has taken its own).
Value ChunkedEmitter::claimTicket() {
  Value total = kb.idx(1);
  for (gpu::Dimension dim : {gpu::Dimension::x, gpu::Dimension::y, gpu::Dimension::z})
    total = kb.mul(total, gpu::GridDimOp::create(b, loc, dim));
  kb.ifThen(kb.cmp(CmpIPredicate::eq, tid, idx(0)), [&] {
    Value t = kb.atomicAdd(kb.arg(p.tickets), idx(0), kb.i32(1));
    kb.store(t, ticketCell, idx(0));
    Value tIdx = arith::IndexCastOp::create(b, loc, b.getIndexType(), t);
    kb.ifThen(kb.cmp(CmpIPredicate::eq, tIdx, kb.sub(total, idx(1))),
              [&] { kb.store(kb.i32(0), kb.arg(p.tickets), idx(0)); });
  });
  barrier();
  return kb.loadIndex(ticketCell, idx(0));
}

/// Segment x of the sequence: its own contribution, the chain, its chunks.
void ChunkedEmitter::walkSegment(Value x) {
  Value segStart = kb.mul(x, idx(segment));
  Value segEnd = kb.add(segStart, idx(segment));
  Value last = kb.cmp(CmpIPredicate::uge, segEnd, qLen);
  Value notLast = arith::XOrIOp::create(b, loc, last,
                                        arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  segEnd = kb.select(last, qLen, segEnd);
  // A segment with a successor is whole: its contribution from a zero state,
  // parked in its own chain row (not yet flagged) so that it holds no
  // registers while the block waits.
  kb.ifThen(notLast, [&] {
    storeState(segmentDelta(segStart), kb.arg(p.segmentStates), chainState(x), f32);
  });
  SmallVector<Value> s0(m.ifElse(
      kb.cmp(CmpIPredicate::eq, x, idx(0)), stateTypes(),
      [&] {
        return SmallVector<Value>(m.ifElse(fresh, stateTypes(),
                                           [&] { return zeros(kStateRegs); },
                                           [&] { return loadState(kb.arg(p.state), base); }));
      },
      [&] { return awaitPrefix(x); }));
  kb.ifThen(notLast, [&] {
    // Each thread reads back what it wrote itself: no fence needed.
    SmallVector<Value> own = loadState(kb.arg(p.segmentStates), chainState(x));
    SmallVector<Value> sEnd = decayState(s0, gammaPow(kb.f32(double(segment))));
    for (int64_t i = 0; i < kStateRegs; ++i)
      sEnd[i] = m.fadd(sEnd[i], own[i]);
    publish(x, sEnd);
  });
  barrier(); // the chain's loads and the last phase are done with the tiles
  beginStages(segStart, segEnd, /*withQ=*/true);
  scf::ForOp chunks = kb.forLoop(segStart, segEnd, idx(kChunk), s0, [&](Value i0, ValueRange s) {
    return chunkInRegisters(i0, s, segStart, segEnd);
  });
  endStages();
  kb.ifThen(last, [&] {
    storeState(SmallVector<Value>(chunks.getResults()), kb.arg(p.state), base, stateElem);
  });
}

/// The segment's own contribution: the state update of its chunks from a
/// zero state (K and V only).
SmallVector<Value> ChunkedEmitter::segmentDelta(Value segStart) {
  Value segEnd = kb.add(segStart, idx(segment));
  beginStages(segStart, segEnd, /*withQ=*/false);
  scf::ForOp loop = kb.forLoop(
      segStart, segEnd, idx(kChunk), zeros(kStateRegs), [&](Value i0, ValueRange s) {
        beginChunk(i0);
        barrier(); // the previous chunk is done with the tiles
        stageChunk(i0, segStart, segEnd, /*withQ=*/false);
        return addChunkToState(decayState(SmallVector<Value>(s), gammaPow(lenF)));
      });
  endStages();
  return SmallVector<Value>(loop.getResults());
}

/// The state at the start of segment x > 0, once its predecessor has
/// published it; the flag is cleared for the next launch (this block is its
/// only reader). A predecessor that never publishes -- the chain's workspace
/// left dirty by an aborted launch, which DecodeStep.reset_workspaces()
/// clears -- makes the block trap after kSpinLimitNs: the launch fails with
/// an error instead of hanging.
SmallVector<Value> ChunkedEmitter::awaitPrefix(Value x) {
  Value flagAt = chainFlag(kb.sub(x, idx(1)));
  kb.ifThen(kb.cmp(CmpIPredicate::eq, tid, idx(0)), [&] {
    Type i64 = b.getI64Type();
    Value since = NVVM::GlobalTimerOp::create(b, loc, i64);
    scf::WhileOp::create(
        b, loc, TypeRange{}, ValueRange{},
        [&](OpBuilder &, Location, ValueRange) {
          Value seen = kb.atomicAdd(kb.arg(p.segmentFlags), flagAt, kb.i32(0));
          Value waited = arith::SubIOp::create(b, loc, NVVM::GlobalTimerOp::create(b, loc, i64),
                                               since);
          Value limit = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(kSpinLimitNs));
          kb.ifThen(kb.cmp(CmpIPredicate::ugt, waited, limit),
                    [&] { LLVM::Trap::create(b, loc); });
          scf::ConditionOp::create(b, loc, kb.cmp(CmpIPredicate::eq, seen, kb.i32(0)),
                                   ValueRange{});
        },
        [&](OpBuilder &, Location, ValueRange) { scf::YieldOp::create(b, loc); });
    kb.store(kb.i32(0), kb.arg(p.segmentFlags), flagAt);
  });
  barrier();
  kb.fenceGpu(); // acquire: the predecessor's state, as ifLastArrival does
  return loadState(kb.arg(p.segmentStates), chainState(kb.sub(x, idx(1))));
}

/// Publishes the state at the end of segment x for its successor: every
/// thread writes and fences its part, then thread 0 sets the flag.
void ChunkedEmitter::publish(Value x, ArrayRef<Value> sEnd) {
  Value flagAt = chainFlag(x);
  storeState(sEnd, kb.arg(p.segmentStates), chainState(x), f32);
  kb.fenceGpu();
  barrier();
  kb.ifThen(kb.cmp(CmpIPredicate::eq, tid, idx(0)),
            [&] { kb.atomicAdd(kb.arg(p.segmentFlags), flagAt, kb.i32(1)); });
}

/// The state as B operands of Q S: its bf16 value and residue, [dk][dv] in
/// shared memory (rows swizzled as the tiles are).
void ChunkedEmitter::writeStateShared(ArrayRef<Value> s) {
  auto v2 = VectorType::get({2}, bf16);
  auto asPair = [&](Value reg) {
    return vector::BitCastOp::create(
        b, loc, v2, vector::FromElementsOp::create(b, loc, VectorType::get({1}, i32),
                                                   ValueRange{reg}));
  };
  for (int64_t n = 0; n < kSTiles; ++n)
    for (int64_t e = 0; e < 4; e += 2) {
      Value col = stateCol(n, e);
      Value at = kb.add(sharedAt(stateRow(e), kb.div(col, idx(8))), kb.rem(col, idx(8)));
      auto [hi, lo] = m.packSplit(s[4 * n + e], s[4 * n + e + 1]);
      kb.storeVector(asPair(hi), sHi, at, 4);
      kb.storeVector(asPair(lo), sLo, at, 4);
    }
}

/// O = Q S from the shared copies: B fragments by ldmatrix.trans, as V's.
SmallVector<Value> ChunkedEmitter::stateProductFromShared() {
  SmallVector<Value> o = zeros(4 * kOTiles);
  for (int64_t kk = 0; kk < kDim / 16; ++kk) {
    auto a = qFrag(kk);
    for (int64_t jj = 0; jj < kOTiles / 2; ++jj) {
      Value ch = kb.add(kb.add(kb.mul(colHalf, idx(8)), idx(2 * jj)), kb.div(mi, idx(2)));
      Value at = sharedAt(kb.add(transRow(), idx(16 * kk)), ch);
      auto hi = m.ldmatrix(sHi, at, true), lo = m.ldmatrix(sLo, at, true);
      for (int64_t t = 0; t < 2; ++t) {
        int64_t j = 2 * jj + t;
        auto dj = m.mma(a, {hi[2 * t], hi[2 * t + 1]}, ArrayRef<Value>(o).slice(4 * j, 4));
        dj = m.mma(a, {lo[2 * t], lo[2 * t + 1]}, dj);
        std::copy(dj.begin(), dj.end(), o.begin() + 4 * j);
      }
    }
  }
  scaleRows(o);
  return o;
}

/// One chunk starting at token i0, the state in and out in registers.
SmallVector<Value> ChunkedEmitter::chunkInRegisters(Value i0, ValueRange sIn, Value from,
                                                    Value to) {
  SmallVector<Value> s(sIn);
  beginChunk(i0);
  barrier(); // the previous chunk is done with the tiles and the shared state
  writeStateShared(s);
  stageChunk(i0, from, to, /*withQ=*/true); // ends in a barrier: the shared state is complete
  SmallVector<Type> oTypes(4 * kOTiles, f32);
  SmallVector<Value> o(m.ifElse(hasState, oTypes, [&]() { return stateProductFromShared(); },
                                [&]() { return zeros(4 * kOTiles); }));
  SmallVector<Value> acc = intraChunkScores();
  accumulateAV(o, acc);
  storeO(i0, o);
  return addChunkToState(decayState(s, gammaPow(lenF)));
}

} // namespace

LogicalResult salac::buildLinearChunkedKernel(Operation *op, KernelBuilder &kb) {
  if (!linearChunkedKernelSupports(op))
    return op->emitOpError() << "no chunked GPU kernel for this shape yet (needs "
                                "head_dim 128, chunk 64, bf16, no output norm or gate)";
  ChunkedOp c = describe(op);
  int64_t segment = kb.segmentTokens();
  // Two stages (the next chunk's tiles load while this one computes) in
  // segments only: the state is then in registers, not read from the slot.
  int64_t stages = segment && kb.tileStages() == 2 ? 2 : 1;
  ChunkedParams params = declareChunkedParams(kb, c, segment);
  if (failed(kb.requireThreads(op, kThreads)) ||
      failed(kb.requireTiling(op, kChunk, stages)))
    return failure();
  int64_t h = c.query.getDimSize(1);
  // Segments: batch x heads blocks a segment along x, the segments along y
  // (at most 2^20 / 64 = 16384 of them for a 1M-token sequence).
  if (segment)
    kb.setGrid(GridDim::scaled("batch", h, 1), GridDim::scaled("max_q_len", 1, segment));
  else
    kb.setGrid(GridDim::scaled("batch", h, 1));
  kb.begin();
  ChunkedEmitter(c, kb, params, segment, stages).emit();
  return success();
}
