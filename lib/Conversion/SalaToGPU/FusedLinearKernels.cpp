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

static LogicalResult buildFusedLinearKernel(Operation *op, KernelBuilder &kb) {
  auto f = cast<sala::FusedLinearAttentionOp>(op);
  auto qt = cast<RankedTensorType>(f.getQuery().getType());
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
  if (!fusedLinearKernelSupports(op))
    return op->emitOpError() << "no GPU kernel for head_dim " << d
                             << " yet (needs a multiple of 32, at most 128)";
  MLIRContext *ctx = op->getContext();
  Type elem = qt.getElementType(), f32 = Float32Type::get(ctx), i32 = IntegerType::get(ctx, 32);
  Type stateElem = f.getState().getType().getElementType();
  bool qkNorm = bool(f.getQNormWeight()), rope = bool(f.getPositions());
  bool outNorm = bool(f.getOutNormWeight()), gated = bool(f.getGate());
  int64_t slices = d / kSliceCols, rowsPerWarp = d / kWarps;
  int64_t parts = h * slices; // blocks per sequence
  SmallVector<double> gammas;
  for (double s : f.getSlopes())
    gammas.push_back(std::exp(-s));

  SmallVector<Extent> rows = {"tokens", h, d};
  unsigned q = kb.addBuffer("query", elem, rows, "[tokens, heads, head_dim] q");
  unsigned k = kb.addBuffer("key", elem, rows, "[tokens, heads, head_dim] k");
  unsigned v = kb.addBuffer("value", elem, rows, "[tokens, heads, head_dim] v");
  unsigned z = gated ? kb.addBuffer("gate", elem, rows, "[tokens, heads, head_dim] gate logits z")
                     : 0;
  unsigned qw = 0, kw = 0, ow = 0, pos = 0;
  if (qkNorm) {
    qw = kb.addBuffer("q_norm_weight", cast<RankedTensorType>(f.getQNormWeight().getType()).getElementType(),
                      {d}, "[head_dim] per-head RMSNorm weight of q");
    kw = kb.addBuffer("k_norm_weight", cast<RankedTensorType>(f.getKNormWeight().getType()).getElementType(),
                      {d}, "[head_dim] per-head RMSNorm weight of k");
  }
  if (outNorm)
    ow = kb.addBuffer("out_norm_weight",
                      cast<RankedTensorType>(f.getOutNormWeight().getType()).getElementType(),
                      {h * d}, "[heads * head_dim] RMSNorm weight over all channels");
  if (rope)
    pos = kb.addBuffer("positions", i32, {"tokens"}, "[tokens] RoPE position of each token");
  unsigned st = kb.addBuffer("state", stateElem, {"slots", h, d, d},
                             "[slots, heads, head_dim, head_dim] state pool, "
                             "S[dk][dv]; updated in place");
  unsigned sl = kb.addBuffer("slot_ids", i32, {"batch"}, "[batch] state slot of each sequence");
  unsigned cu = kb.addCuSeqlens();
  unsigned lens = kb.addSeqLens(); // seq_lens == q_len: a fresh sequence, zero state
  unsigned out = kb.addBuffer("output", elem, rows, "[tokens, heads, head_dim] gated output");
  unsigned scratch = 0, partials = 0, counters = 0;
  if (outNorm) {
    scratch = kb.addBuffer("scratch", f32, rows,
                           "[tokens, heads, head_dim] workspace: the output before the norm");
    partials = kb.addBuffer("partials", f32, {"tokens", parts},
                            "[tokens, heads * head_dim / 32] workspace: partial sums of squares");
    counters = kb.addBuffer("counters", i32, {"batch"},
                            "[batch] workspace: zero before the first launch; every launch "
                            "leaves it zero");
  }
  kb.addSize("tokens", "number of tokens");
  kb.addSize("batch", "number of sequences"); // sizes the grid
  unsigned slots = kb.addSize("slots", "slots in the state pool");
  if (failed(kb.requireThreads(op, kWarps * 32)))
    return failure();
  kb.setGrid(GridDim::scaled("batch", parts, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  // 6 blocks a SM (the kernel config): decode is bound by the state traffic.
  auto idx = [&](int64_t x) { return kb.idx(x); };
  auto fadd = [&](Value x, Value y) { return arith::AddFOp::create(b, loc, x, y).getResult(); };
  auto fmul = [&](Value x, Value y) { return arith::MulFOp::create(b, loc, x, y).getResult(); };
  auto barrier = [&] { gpu::BarrierOp::create(b, loc); };
  auto sigmoid = [&](Value x) { // 1 / (1 + e^-x)
    Value e = kb.expF32(arith::NegFOp::create(b, loc, x));
    return arith::DivFOp::create(b, loc, kb.f32(1.0), fadd(kb.f32(1.0), e)).getResult();
  };
  Value qs = kb.addWorkgroupBuffer(f32, d);
  Value ks = kb.addWorkgroupBuffer(f32, d);
  Value red = kb.addWorkgroupBuffer(f32, kWarps * 32); // [warp][lane] partials
  Value flag = kb.addWorkgroupBuffer(i32, 1);

  Value tid = kb.threadId();
  Value lane = kb.rem(tid, idx(32)), warp = kb.div(tid, idx(32));
  Value bid = kb.blockId();
  Value seq = kb.div(bid, idx(parts));
  Value part = kb.rem(bid, idx(parts));
  Value head = kb.div(part, idx(slices)), slice = kb.rem(part, idx(slices));
  Value col = kb.add(kb.mul(slice, idx(kSliceCols)), lane);
  Value gamma = kb.f32(gammas[0]);
  for (int64_t i = 1; i < h; ++i)
    gamma = kb.select(kb.cmp(CmpIPredicate::eq, head, idx(i)), kb.f32(gammas[i]), gamma);
  Value scale = kb.f32(f.getEffectiveScale());
  Value start = kb.loadIndex(kb.arg(cu), seq);
  Value qLen = kb.sub(kb.loadIndex(kb.arg(cu), kb.add(seq, idx(1))), start);
  Value fresh = kb.cmp(CmpIPredicate::eq, kb.loadIndex(kb.arg(lens), seq), qLen);
  Value slot = kb.loadIndex(kb.arg(sl), seq);
  Value channel = kb.cmp(CmpIPredicate::ult, tid, idx(d)); // threads that own a channel
  Value chan = kb.select(channel, tid, idx(0));

  // Sum over the block of one f32 per thread, by warp shuffles then shared
  // memory (same order every time: deterministic). All threads get the sum.
  auto blockSum = [&](Value x) {
    Value w = kb.warpSum(x, 32);
    barrier(); // `red` is free
    kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, idx(0)), [&] { kb.store(w, red, warp); });
    barrier();
    Value total = kb.load(red, idx(0));
    for (int64_t i = 1; i < kWarps; ++i)
      total = fadd(total, kb.load(red, idx(i)));
    return total;
  };

  // A slot outside the pool: every block of the sequence skips, the counter
  // included (uniform over the block, so the barriers are safe).
  kb.ifThen(kb.cmp(CmpIPredicate::ult, slot, kb.arg(slots)), [&] {
    Value base = kb.mul(kb.add(kb.mul(slot, idx(h)), head), idx(d * d));
    kb.forLoop(idx(0), qLen, idx(1), {}, [&](Value j, ValueRange) {
      Value t = kb.add(start, j);
      Value row = kb.mul(kb.add(kb.mul(t, idx(h)), head), idx(d));
      // q and k of the head: normalised, rotated, into shared memory.
      Value x[2] = {kb.toF32(kb.load(kb.arg(q), kb.add(row, chan))),
                    kb.toF32(kb.load(kb.arg(k), kb.add(row, chan)))};
      for (int64_t m = 0; m < 2; ++m)
        x[m] = kb.select(channel, x[m], kb.f32(0.0));
      // Everything else this token reads from global memory, issued now so
      // that the loads overlap the reductions below.
      Value vc = kb.toF32(kb.load(kb.arg(v), kb.add(row, col)));
      Value position = rope ? kb.load(kb.arg(pos), t) : Value();
      Value wq, wk;
      if (qkNorm) {
        wq = kb.toF32(kb.load(kb.arg(qw), chan));
        wk = kb.toF32(kb.load(kb.arg(kw), chan));
      }
      if (qkNorm) {
        float eps = f.getQkEps().convertToFloat();
        Value w[2] = {wq, wk};
        for (int64_t m = 0; m < 2; ++m) {
          Value ms = fmul(blockSum(fmul(x[m], x[m])), kb.f32(1.0 / double(d)));
          Value rstd = kb.rsqrtF32(fadd(ms, kb.f32(eps)));
          x[m] = fmul(fmul(x[m], rstd), w[m]);
        }
      }
      barrier(); // the previous token is done with qs/ks
      kb.ifThen(channel, [&] {
        kb.store(x[0], qs, chan);
        kb.store(x[1], ks, chan);
      });
      if (rope) {
        barrier();
        // NeoX pairs channel i with i + d/2, interleaved 2i with 2i+1.
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
        auto [cs, sn] = kb.ropeCosSin(position, pair,
                                      f.getTheta().convertToDouble(), d);
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
      barrier();
      // The state rows of this warp: all loads first, then the update.
      Value zeroState = arith::AndIOp::create(b, loc, fresh,
                                              kb.cmp(CmpIPredicate::eq, j, idx(0)));
      Value row0 = kb.mul(warp, idx(rowsPerWarp));
      SmallVector<Value> old;
      for (int64_t r = 0; r < rowsPerWarp; ++r) {
        Value at = kb.add(base, kb.add(kb.mul(kb.add(row0, idx(r)), idx(d)), col));
        old.push_back(kb.toF32(kb.load(kb.arg(st), at)));
      }
      Value acc = kb.f32(0.0);
      for (int64_t r = 0; r < rowsPerWarp; ++r) {
        Value dk = kb.add(row0, idx(r));
        Value at = kb.add(base, kb.add(kb.mul(dk, idx(d)), col));
        Value prev = kb.select(zeroState, kb.f32(0.0), old[r]);
        Value upd = fadd(fmul(gamma, prev), fmul(kb.load(ks, dk), vc));
        kb.store(kb.fromF32(upd, stateElem), kb.arg(st), at);
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
          kb.store(o, kb.arg(scratch), kb.add(row, col));
          Value ssq = kb.warpSum(fmul(o, o), 32);
          kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, idx(0)), [&] {
            kb.store(ssq, kb.arg(partials), kb.add(kb.mul(t, idx(parts)), part));
          });
        } else {
          if (gated)
            o = fmul(o, sigmoid(kb.toF32(kb.load(kb.arg(z), kb.add(row, col)))));
          kb.store(kb.fromF32(o, elem), kb.arg(out), kb.add(row, col));
        }
      });
      return SmallVector<Value>{};
    });
    if (!outNorm)
      return;
    // Count this block done; the last of the sequence finishes its outputs.
    kb.ifLastArrival(kb.arg(counters), seq, idx(parts), flag, [&] {
      float eps = f.getOutEps().convertToFloat();
      int64_t width = h * d;
      kb.forLoop(idx(0), qLen, idx(1), {}, [&](Value j, ValueRange) {
        Value t = kb.add(start, j);
        Value rowT = kb.mul(t, idx(width));
        // 8 channels (16-byte bf16, 32-byte f32 accesses) per thread and step,
        // two steps' loads issued together; the first two go out before the
        // partial sums' (they do not depend on the norm). One block does this
        // for the whole sequence, and each round trip on its path costs ~0.6
        // us (all four steps at once spill at the kernel's 80 registers).
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
          raw[i] = kb.loadVector(kb.arg(scratch), at[i], 8, 32);
          wv[i] = kb.loadVector(kb.arg(ow), ch, 8, 16);
          if (gated)
            zv[i] = kb.loadVector(kb.arg(z), at[i], 8, 16);
        };
        for (int64_t i = 0; i < std::min(steps, kInFlight); ++i)
          loadStep(i);
        auto partial = kb.forLoop(tid, idx(parts), idx(kWarps * 32), {kb.f32(0.0)},
                                  [&](Value p, ValueRange a) {
          Value x = kb.load(kb.arg(partials), kb.add(kb.mul(t, idx(parts)), p));
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
            Value y = fmul(fmul(raw[i], vector::BroadcastOp::create(b, loc, v8f, rstd)),
                           widen(wv[i]));
            if (gated) {
              Value zf = widen(zv[i]);
              SmallVector<Value> g;
              for (int64_t e = 0; e < 8; ++e)
                g.push_back(sigmoid(vector::ExtractOp::create(b, loc, zf, e)));
              y = fmul(y, vector::FromElementsOp::create(b, loc, v8f, g));
            }
            Value o = elem.isF32() ? y
                                   : arith::TruncFOp::create(b, loc, VectorType::get({8}, elem), y)
                                         .getResult();
            auto store = [&] { kb.storeVector(o, kb.arg(out), at[i], 16); };
            if (chunks % (kWarps * 32) && (i + 1) * kWarps * 32 > chunks)
              kb.ifThen(kb.cmp(CmpIPredicate::ult, kb.add(tid, idx(i * kWarps * 32)), idx(chunks)),
                        store);
            else
              store();
          }
        }
        return SmallVector<Value>{};
      });
    });
  });
  return success();
}

void salac::populateSalaFusedLinearToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::FusedLinearAttentionOp>(patterns, table, buildFusedLinearKernel, fusedLinearKernelSupports);
}
