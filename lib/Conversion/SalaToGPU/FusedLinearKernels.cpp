//===- FusedLinearKernels.cpp - one kernel per linear-attention decode step ===//
//
// sala.fused_linear_attention (made by sala-fuse-linear): q/k RMSNorm, RoPE,
// the recurrent state update, the output, the full RMSNorm and the gate.
//
// A block of 4 warps per (sequence, head, 32 value columns): the state columns
// are independent, so the d/32 blocks of a head split its state without
// talking to each other, and a single sequence already fills 128 blocks
// (32 heads x 4). Per token, the block normalises and rotates q and k of its
// head in shared memory (each of its 128 threads owns a channel; every block of
// the head repeats this, it is 512 bytes); then warp w updates rows
// 32 w .. 32 w + 31 of the 32 columns -- all 32 state loads of a thread are
// issued before the first is used, each a coalesced 128-byte row segment -- and
// the four warps' partial q . S sums meet in shared memory.
//
// The full RMSNorm needs all 4096 channels of a token, i.e. every block of the
// sequence. Each block writes its raw f32 output and its partial sum of squares
// to scratch buffers, fences, and counts itself done on the sequence's counter;
// the block that finishes last (count = heads x slices) normalises, gates and
// writes the sequence's outputs, then resets the counter to 0 for the next
// launch (so a captured CUDA graph can be replayed). No block waits for
// another: there is no spinning, whatever the launch order.
//
//===----------------------------------------------------------------------===//
#include "LinearKernels.h"
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {
constexpr int64_t kSliceCols = 32; // value columns per block (a warp's lanes)
constexpr int64_t kWarps = 4;      // row groups of the state
} // namespace

static bool fusedLinearKernelSupports(Operation *op) {
  auto f = cast<sala::FusedLinearAttentionOp>(op);
  if (f.getForm() == sala::LinearForm::Chunked) // the chunked kernel, stages folded in
    return linearChunkedKernelSupports(op);
  auto qt = cast<RankedTensorType>(f.getQuery().getType());
  int64_t d = qt.getDimSize(2);
  // A thread per channel of a head (d <= 128 threads); d / 32 column slices
  // and d / 4 state rows per warp.
  // The output norm reads its weight and the gate 8 elements at a time.
  bool weightsOk = !f.getOutNormWeight() ||
                   cast<RankedTensorType>(f.getOutNormWeight().getType()).getElementType() ==
                       qt.getElementType();
  return d % kSliceCols == 0 && d <= kWarps * 32 && weightsOk;
}

namespace {

/// The kernel's parameters (argument indices; 0 where a stage is not fused).
struct FusedLinearParams {
  unsigned q, k, v, z = 0, qw = 0, kw = 0, ow = 0, pos = 0, state, slotIds, cu, lens, out;
  unsigned scratch = 0, partials = 0, counters = 0; // the output norm's workspace
  unsigned slots;
};

Type elementOf(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

FusedLinearParams declareFusedLinearParams(KernelBuilder &kb, sala::FusedLinearAttentionOp f,
                                           int64_t parts) {
  auto qt = cast<RankedTensorType>(f.getQuery().getType());
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
  MLIRContext *ctx = f.getContext();
  Type elem = qt.getElementType(), f32 = Float32Type::get(ctx), i32 = IntegerType::get(ctx, 32);
  SmallVector<Extent> rows = {"tokens", h, d};
  FusedLinearParams p;
  p.q = kb.addBuffer("query", elem, rows, "[tokens, heads, head_dim] q");
  p.k = kb.addBuffer("key", elem, rows, "[tokens, heads, head_dim] k");
  p.v = kb.addBuffer("value", elem, rows, "[tokens, heads, head_dim] v");
  if (f.getGate())
    p.z = kb.addBuffer("gate", elem, rows, "[tokens, heads, head_dim] gate logits z");
  if (f.getQNormWeight()) {
    p.qw = kb.addBuffer("q_norm_weight", elementOf(f.getQNormWeight()), {d},
                        "[head_dim] per-head RMSNorm weight of q");
    p.kw = kb.addBuffer("k_norm_weight", elementOf(f.getKNormWeight()), {d},
                        "[head_dim] per-head RMSNorm weight of k");
  }
  if (f.getOutNormWeight())
    p.ow = kb.addBuffer("out_norm_weight", elementOf(f.getOutNormWeight()), {h * d},
                        "[heads * head_dim] RMSNorm weight over all channels");
  if (f.getPositions())
    p.pos = kb.addBuffer("positions", i32, {"tokens"}, "[tokens] RoPE position of each token");
  p.state = kb.addBuffer("state", f.getState().getType().getElementType(), {"slots", h, d, d},
                         "[slots, heads, head_dim, head_dim] state pool, "
                         "S[dk][dv]; updated in place");
  p.slotIds = kb.addBuffer("slot_ids", i32, {"batch"}, "[batch] state slot of each sequence");
  p.cu = kb.addCuSeqlens();
  p.lens = kb.addSeqLens(); // seq_lens == q_len: a fresh sequence, zero state
  p.out = kb.addBuffer("output", elem, rows, "[tokens, heads, head_dim] gated output");
  if (f.getOutNormWeight()) {
    p.scratch = kb.addBuffer("scratch", f32, rows,
                             "[tokens, heads, head_dim] workspace: the output before the norm");
    p.partials = kb.addBuffer("partials", f32, {"tokens", parts},
                              "[tokens, heads * head_dim / 32] workspace: partial sums of squares");
    p.counters = kb.addBuffer("counters", i32, {"batch"},
                              "[batch] workspace: zero before the first launch; every launch "
                              "leaves it zero");
  }
  kb.addSize("tokens", "number of tokens");
  kb.addSize("batch", "number of sequences"); // sizes the grid
  p.slots = kb.addSize("slots", "slots in the state pool");
  return p;
}

/// The body, part by part: where the block is (sequence, head, column
/// slice), then per token q/k loaded and RMS-normed, rotated, the state rows
/// updated and the output reduced (gated, or stashed for the output norm);
/// then the output norm and gate by the sequence's last block.
class FusedLinearEmitter {
public:
  FusedLinearEmitter(sala::FusedLinearAttentionOp f, KernelBuilder &kb,
                     const FusedLinearParams &p, int64_t parts)
      : f(f), kb(kb), b(kb.builder()), loc(kb.getLoc()), p(p),
        qt(cast<RankedTensorType>(f.getQuery().getType())), h(qt.getDimSize(1)),
        d(qt.getDimSize(2)), slices(d / kSliceCols), rowsPerWarp(d / kWarps), parts(parts),
        elem(qt.getElementType()), f32(Float32Type::get(f.getContext())),
        i32(IntegerType::get(f.getContext(), 32)),
        stateElem(f.getState().getType().getElementType()), qkNorm(bool(f.getQNormWeight())),
        rope(bool(f.getPositions())), outNorm(bool(f.getOutNormWeight())),
        gated(bool(f.getGate())) {}

  void emit();

private:
  Value idx(int64_t x) { return kb.idx(x); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y).getResult(); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y).getResult(); }
  void barrier() { gpu::BarrierOp::create(b, loc); }
  Value sigmoid(Value x);
  Value blockSum(Value x);
  void locate();
  void tokenStep(Value j);
  void normQK(Value x[2], Value wq, Value wk);
  void rotateQK(Value x[2], Value position);
  void updateState(Value j, Value t, Value row, Value vc);
  void finishOutNorm();
  void outNormToken(Value j);

  sala::FusedLinearAttentionOp f;
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  const FusedLinearParams &p;
  RankedTensorType qt;
  const int64_t h, d, slices, rowsPerWarp, parts;
  Type elem, f32, i32, stateElem;
  const bool qkNorm, rope, outNorm, gated;
  // Shared memory: q and k of the token, the block reduction's partials and
  // the last-arrival flag.
  Value qs, ks, red, flag;
  // The thread, the block's sequence, head and slice, its column of v, the
  // head's decay and the scale; the sequence's tokens and state slot; the
  // thread's channel of q and k (threads past head_dim own none).
  Value tid, lane, warp, seq, part, head, col, gamma, scale, start, qLen, fresh, slot;
  Value channel, chan, base;
};

/// 1 / (1 + e^-x).
Value FusedLinearEmitter::sigmoid(Value x) {
  Value e = kb.expF32(arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, kb.f32(1.0), fadd(kb.f32(1.0), e)).getResult();
}

/// Sum over the block of one f32 per thread, by warp shuffles then shared
/// memory (same order every time: deterministic). All threads get the sum.
Value FusedLinearEmitter::blockSum(Value x) {
  Value w = kb.warpSum(x, 32);
  barrier(); // `red` is free
  kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, idx(0)), [&] { kb.store(w, red, warp); });
  barrier();
  Value total = kb.load(red, idx(0));
  for (int64_t i = 1; i < kWarps; ++i)
    total = fadd(total, kb.load(red, idx(i)));
  return total;
}

void FusedLinearEmitter::locate() {
  SmallVector<double> gammas;
  for (double sl : f.getSlopes())
    gammas.push_back(std::exp(-sl));
  qs = kb.addWorkgroupBuffer(f32, d);
  ks = kb.addWorkgroupBuffer(f32, d);
  red = kb.addWorkgroupBuffer(f32, kWarps * 32); // [warp][lane] partials
  flag = kb.addWorkgroupBuffer(i32, 1);
  tid = kb.threadId();
  lane = kb.rem(tid, idx(32));
  warp = kb.div(tid, idx(32));
  Value bid = kb.blockId();
  seq = kb.div(bid, idx(parts));
  part = kb.rem(bid, idx(parts));
  head = kb.div(part, idx(slices));
  Value slice = kb.rem(part, idx(slices));
  col = kb.add(kb.mul(slice, idx(kSliceCols)), lane);
  gamma = kb.f32(gammas[0]);
  for (int64_t i = 1; i < h; ++i)
    gamma = kb.select(kb.cmp(CmpIPredicate::eq, head, idx(i)), kb.f32(gammas[i]), gamma);
  scale = kb.f32(f.getEffectiveScale());
  start = kb.loadIndex(kb.arg(p.cu), seq);
  qLen = kb.sub(kb.loadIndex(kb.arg(p.cu), kb.add(seq, idx(1))), start);
  fresh = kb.cmp(CmpIPredicate::eq, kb.loadIndex(kb.arg(p.lens), seq), qLen);
  slot = kb.loadIndex(kb.arg(p.slotIds), seq);
  channel = kb.cmp(CmpIPredicate::ult, tid, idx(d)); // threads that own a channel
  chan = kb.select(channel, tid, idx(0));
}

void FusedLinearEmitter::emit() {
  locate();
  // A slot outside the pool: every block of the sequence skips, the counter
  // included (uniform over the block, so the barriers are safe).
  kb.ifThen(kb.cmp(CmpIPredicate::ult, slot, kb.arg(p.slots)), [&] {
    base = kb.mul(kb.add(kb.mul(slot, idx(h)), head), idx(d * d));
    kb.forLoop(idx(0), qLen, idx(1), {}, [&](Value j, ValueRange) {
      tokenStep(j);
      return SmallVector<Value>{};
    });
    if (outNorm)
      finishOutNorm();
  });
}

/// Per-head RMSNorm of q and k (x[0], x[1]) with their weights.
void FusedLinearEmitter::normQK(Value x[2], Value wq, Value wk) {
  float eps = f.getQkEps().convertToFloat();
  Value w[2] = {wq, wk};
  for (int64_t m = 0; m < 2; ++m) {
    Value ms = fmul(blockSum(fmul(x[m], x[m])), kb.f32(1.0 / double(d)));
    Value rstd = kb.rsqrtF32(fadd(ms, kb.f32(eps)));
    x[m] = fmul(fmul(x[m], rstd), w[m]);
  }
}

/// RoPE of q and k in shared memory: NeoX pairs channel i with i + d/2,
/// interleaved 2i with 2i+1.
void FusedLinearEmitter::rotateQK(Value x[2], Value position) {
  barrier();
  bool neox = f.getRopeStyle() == sala::RopeStyle::NeoX;
  int64_t half = d / 2;
  Value pair, partner, first;
  if (neox) {
    first = kb.cmp(CmpIPredicate::ult, chan, idx(half));
    pair = kb.rem(chan, idx(half));
    partner = kb.select(first, kb.add(chan, idx(half)), kb.sub(chan, idx(half)));
  } else {
    first = kb.cmp(CmpIPredicate::eq, kb.rem(chan, idx(2)), idx(0));
    pair = kb.div(chan, idx(2));
    partner = kb.select(first, kb.add(chan, idx(1)), kb.sub(chan, idx(1)));
  }
  auto [cs, sn] = kb.ropeCosSin(position, pair, f.getTheta().convertToDouble(), d);
  // first: x cos - x' sin; second: x cos + x' sin.
  Value sgn = kb.select(first, arith::NegFOp::create(b, loc, sn), sn);
  Value y[2];
  Value buf[2] = {qs, ks};
  for (int64_t m = 0; m < 2; ++m)
    y[m] = fadd(fmul(x[m], cs), fmul(kb.load(buf[m], partner), sgn));
  barrier();
  kb.ifThen(channel, [&] {
    kb.store(y[0], qs, chan);
    kb.store(y[1], ks, chan);
  });
}

/// Token j of the sequence: q and k normalised, rotated, into shared memory;
/// then the state update and the output.
void FusedLinearEmitter::tokenStep(Value j) {
  Value t = kb.add(start, j);
  Value row = kb.mul(kb.add(kb.mul(t, idx(h)), head), idx(d));
  Value x[2] = {kb.toF32(kb.load(kb.arg(p.q), kb.add(row, chan))),
                kb.toF32(kb.load(kb.arg(p.k), kb.add(row, chan)))};
  for (int64_t m = 0; m < 2; ++m)
    x[m] = kb.select(channel, x[m], kb.f32(0.0));
  // Everything else this token reads from global memory, issued now so that
  // the loads overlap the reductions below.
  Value vc = kb.toF32(kb.load(kb.arg(p.v), kb.add(row, col)));
  Value position = rope ? kb.load(kb.arg(p.pos), t) : Value();
  Value wq, wk;
  if (qkNorm) {
    wq = kb.toF32(kb.load(kb.arg(p.qw), chan));
    wk = kb.toF32(kb.load(kb.arg(p.kw), chan));
    normQK(x, wq, wk);
  }
  barrier(); // the previous token is done with qs/ks
  kb.ifThen(channel, [&] {
    kb.store(x[0], qs, chan);
    kb.store(x[1], ks, chan);
  });
  if (rope)
    rotateQK(x, position);
  barrier();
  updateState(j, t, row, vc);
}

/// The state rows of this warp (all loads first, then the update), the
/// output column reduced over the warps, then gated and stored, or stashed
/// with its sum of squares for the output norm.
void FusedLinearEmitter::updateState(Value j, Value t, Value row, Value vc) {
  Value zeroState = arith::AndIOp::create(b, loc, fresh, kb.cmp(CmpIPredicate::eq, j, idx(0)));
  Value row0 = kb.mul(warp, idx(rowsPerWarp));
  SmallVector<Value> old;
  for (int64_t r = 0; r < rowsPerWarp; ++r) {
    Value at = kb.add(base, kb.add(kb.mul(kb.add(row0, idx(r)), idx(d)), col));
    old.push_back(kb.toF32(kb.load(kb.arg(p.state), at)));
  }
  Value acc = kb.f32(0.0);
  for (int64_t r = 0; r < rowsPerWarp; ++r) {
    Value dk = kb.add(row0, idx(r));
    Value at = kb.add(base, kb.add(kb.mul(dk, idx(d)), col));
    Value prev = kb.select(zeroState, kb.f32(0.0), old[r]);
    Value upd = fadd(fmul(gamma, prev), fmul(kb.load(ks, dk), vc));
    kb.store(kb.fromF32(upd, stateElem), kb.arg(p.state), at);
    acc = fadd(acc, fmul(kb.load(qs, dk), upd));
  }
  kb.store(acc, red, tid);
  barrier();
  kb.ifThen(kb.cmp(CmpIPredicate::eq, warp, idx(0)), [&] {
    Value o = kb.load(red, lane);
    for (int64_t w = 1; w < kWarps; ++w)
      o = fadd(o, kb.load(red, kb.add(idx(32 * w), lane)));
    o = fmul(o, scale);
    if (outNorm) {
      kb.store(o, kb.arg(p.scratch), kb.add(row, col));
      Value ssq = kb.warpSum(fmul(o, o), 32);
      kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, idx(0)), [&] {
        kb.store(ssq, kb.arg(p.partials), kb.add(kb.mul(t, idx(parts)), part));
      });
    } else {
      if (gated)
        o = fmul(o, sigmoid(kb.toF32(kb.load(kb.arg(p.z), kb.add(row, col)))));
      kb.store(kb.fromF32(o, elem), kb.arg(p.out), kb.add(row, col));
    }
  });
}

/// Count this block done; the last of the sequence finishes its outputs.
void FusedLinearEmitter::finishOutNorm() {
  kb.ifLastArrival(kb.arg(p.counters), seq, idx(parts), flag, [&] {
    kb.forLoop(idx(0), qLen, idx(1), {}, [&](Value j, ValueRange) {
      outNormToken(j);
      return SmallVector<Value>{};
    });
  });
}

/// The output norm and gate of token j over all heads: 8 channels (16-byte
/// bf16, 32-byte f32 accesses) per thread and step, two steps' loads issued
/// together; the first two go out before the partial sums' (they do not
/// depend on the norm). One block does this for the whole sequence, and each
/// round trip on its path costs ~0.6 us (all four steps at once spill at the
/// kernel's 80 registers).
void FusedLinearEmitter::outNormToken(Value j) {
  float eps = f.getOutEps().convertToFloat();
  int64_t width = h * d;
  Value t = kb.add(start, j);
  Value rowT = kb.mul(t, idx(width));
  int64_t chunks = width / 8, steps = (chunks + kWarps * 32 - 1) / (kWarps * 32);
  constexpr int64_t kInFlight = 2; // steps whose loads are issued together
  auto v8f = VectorType::get({8}, f32);
  SmallVector<Value> at(steps), raw(steps), wv(steps), zv(steps);
  auto loadStep = [&](int64_t i) {
    Value c = kb.add(tid, idx(i * kWarps * 32));
    if (chunks % (kWarps * 32))
      c = kb.select(kb.cmp(CmpIPredicate::ult, c, idx(chunks)), c, idx(0));
    Value ch = kb.mul(c, idx(8));
    at[i] = kb.add(rowT, ch);
    raw[i] = kb.loadVector(kb.arg(p.scratch), at[i], 8, 32);
    wv[i] = kb.loadVector(kb.arg(p.ow), ch, 8, 16);
    if (gated)
      zv[i] = kb.loadVector(kb.arg(p.z), at[i], 8, 16);
  };
  for (int64_t i = 0; i < std::min(steps, kInFlight); ++i)
    loadStep(i);
  auto partial = kb.forLoop(tid, idx(parts), idx(kWarps * 32), {kb.f32(0.0)},
                            [&](Value pp, ValueRange a) {
    Value x = kb.load(kb.arg(p.partials), kb.add(kb.mul(t, idx(parts)), pp));
    return SmallVector<Value>{fadd(a[0], x)};
  });
  Value ms = fmul(blockSum(partial.getResult(0)), kb.f32(1.0 / double(width)));
  Value rstd = kb.rsqrtF32(fadd(ms, kb.f32(eps)));
  for (int64_t i0 = 0; i0 < steps; i0 += kInFlight) {
    int64_t i1 = std::min(steps, i0 + kInFlight);
    if (i0 > 0) // the first steps were loaded before the sum
      for (int64_t i = i0; i < i1; ++i)
        loadStep(i);
    for (int64_t i = i0; i < i1; ++i) {
      auto widen = [&](Value x) -> Value {
        return elem.isF32() ? x : arith::ExtFOp::create(b, loc, v8f, x).getResult();
      };
      Value y = fmul(fmul(raw[i], vector::BroadcastOp::create(b, loc, v8f, rstd)), widen(wv[i]));
      if (gated) {
        Value zf = widen(zv[i]);
        SmallVector<Value> g;
        for (int64_t e = 0; e < 8; ++e)
          g.push_back(sigmoid(vector::ExtractOp::create(b, loc, zf, e)));
        y = fmul(y, vector::FromElementsOp::create(b, loc, v8f, g));
      }
      Value o = elem.isF32()
                    ? y
                    : arith::TruncFOp::create(b, loc, VectorType::get({8}, elem), y).getResult();
      auto store = [&] { kb.storeVector(o, kb.arg(p.out), at[i], 16); };
      if (chunks % (kWarps * 32) && (i + 1) * kWarps * 32 > chunks)
        kb.ifThen(kb.cmp(CmpIPredicate::ult, kb.add(tid, idx(i * kWarps * 32)), idx(chunks)),
                  store);
      else
        store();
    }
  }
}

} // namespace

static LogicalResult buildFusedLinearKernel(Operation *op, KernelBuilder &kb) {
  auto f = cast<sala::FusedLinearAttentionOp>(op);
  if (f.getForm() == sala::LinearForm::Chunked)
    return buildLinearChunkedKernel(op, kb);
  auto qt = cast<RankedTensorType>(f.getQuery().getType());
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
  if (!fusedLinearKernelSupports(op))
    return op->emitOpError() << "no GPU kernel for head_dim " << d
                             << " yet (needs a multiple of 32, at most 128)";
  int64_t parts = h * (d / kSliceCols); // blocks per sequence
  FusedLinearParams params = declareFusedLinearParams(kb, f, parts);
  if (failed(kb.requireThreads(op, kWarps * 32)))
    return failure();
  kb.setGrid(GridDim::scaled("batch", parts, 1));
  kb.begin(); // 6 blocks a SM (the kernel config): decode is bound by the state traffic
  FusedLinearEmitter(f, kb, params, parts).emit();
  return success();
}

void salac::populateSalaFusedLinearToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::FusedLinearAttentionOp>(patterns, table, buildFusedLinearKernel, fusedLinearKernelSupports,
      "recurrent: needs head_dim a multiple of 32, at most 128, and an output-norm "
      "weight of the activations' type; chunked: head_dim 128, chunk 64, bf16, "
      "no output norm or gate");
}
