//===- SelectKernels.cpp - stage-1 block scores and top-k selection -------===//
//
// sala.block_scores: a block per (query token, KV group). Pass 1 streams the
// visible compressed keys once for every head's softmax statistics (max and sum,
// online, then combined across threads); pass 2 streams them again, sums the
// group's normalised probabilities per entry into shared memory in chunks of
// 512 blocks, and max-pools each chunk onto its blocks. Exact softmax,
// deterministic. For decode, the entries of a (token, KV group) are split over
// `splits` blocks (at most 2048 entries each): each writes its raw scores and
// per-head statistics to a workspace, and the block that finishes last (an
// atomic count between fences) merges the statistics and does pass 2 from the
// stored scores.
//
// sala.topk_blocks: a block per (query token, KV group). The K-th largest key
// is found by a 32-step binary search on order-preserving float bits (counting
// with the whole block), then the winners are written in ascending block order
// with block-wide prefix sums; ties at the threshold go to the lower index.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <cmath>
#include <limits>
#include <tuple>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {
// 16 warps: the block that finishes a split stage 1 pools every block of the
// sequence alone, and the top-k block counts over every block 33 times; more
// warps hide more of their latency.
constexpr int64_t kThreads = 512;
constexpr int64_t kWarps = kThreads / 32;
constexpr int64_t kSplitEntries = 2048; // compressed keys per split of stage 1 (at most)
const float kNegInf = -std::numeric_limits<float>::infinity();

/// Small conveniences over KernelBuilder for the two kernels below.
struct Emitter {
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;

  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, kb.f32(kNegInf));
  }
  Value i32(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v)); }
  Value land(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value lor(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  void barrier() { gpu::BarrierOp::create(b, loc); }

  scf::ForOp loop(Value lb, Value ub, Value step, ValueRange init,
                  function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return kb.forLoop(lb, ub, step, init, body);
  }

  /// Sum over the block of an i32 per thread; `scratch` holds kWarps i32.
  Value blockSum(Value v, Value scratch, Value warp, Value lane) {
    Value w = kb.warpSum(v, 32);
    kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, kb.idx(0)),
              [&] { kb.store(w, scratch, warp); });
    barrier();
    Value total = i32(0);
    for (int64_t k = 0; k < kWarps; ++k)
      total = arith::AddIOp::create(b, loc, total, kb.load(scratch, kb.idx(k)));
    barrier(); // scratch may be reused right after
    return total;
  }

  /// Exclusive prefix sum over the block (thread order) of an i32 0/1 flag,
  /// and the block total.
  std::pair<Value, Value> blockScan(Value flag, Value scratch, Value warp, Value lane) {
    Value width = i32(32);
    Value incl = flag;
    for (int64_t off = 1; off < 32; off *= 2) {
      auto up = gpu::ShuffleOp::create(b, loc, incl, i32(off), width, gpu::ShuffleMode::UP);
      Value has = kb.cmp(CmpIPredicate::uge, lane, kb.idx(off));
      incl = arith::AddIOp::create(b, loc, incl,
                                   kb.select(has, up.getShuffleResult(), i32(0)));
    }
    kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, kb.idx(31)),
              [&] { kb.store(incl, scratch, warp); });
    barrier();
    Value before = i32(0), total = i32(0);
    for (int64_t k = 0; k < kWarps; ++k) {
      Value t = kb.load(scratch, kb.idx(k));
      before = arith::AddIOp::create(
          b, loc, before, kb.select(kb.cmp(CmpIPredicate::ugt, warp, kb.idx(k)), t, i32(0)));
      total = arith::AddIOp::create(b, loc, total, t);
    }
    barrier();
    Value excl = arith::SubIOp::create(b, loc, arith::AddIOp::create(b, loc, before, incl), flag);
    return {excl, total};
  }
};

} // namespace

bool salac::selectKernelSupports(Operation *op) {
  if (auto bs = dyn_cast<sala::BlockScoresOp>(op)) {
    auto qt = cast<RankedTensorType>(bs.getQuery().getType());
    // The K2 log-sum-exp option has no GPU kernel yet.
    return !bs.getLseKeys() && qt.getElementType().isBF16() &&
           bs.getKeys().getType().getElementType().isBF16() && qt.getDimSize(2) % 8 == 0 &&
           bs.getGroupSize() <= 16 && qt.getDimSize(2) <= 256;
  }
  return isa<sala::TopkBlocksOp>(op);
}

//===----------------------------------------------------------------------===//
// sala.block_scores
//===----------------------------------------------------------------------===//

LogicalResult salac::buildBlockScoresKernel(Operation *op, KernelBuilder &kb) {
  auto bs = cast<sala::BlockScoresOp>(op);
  auto qt = cast<RankedTensorType>(bs.getQuery().getType());
  sala::CompressedKeysType keys = bs.getKeys().getType();
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2), kvh = keys.getKvHeads();
  int64_t g = bs.getGroupSize(), kpage = keys.getPageSize();
  int64_t kernel = keys.getKernelSize(), stride = keys.getKernelStride();
  int64_t block = bs.getBlockSize(), ps = bs.getPoolStride(), pk = bs.getPoolKernel(),
          pad = bs.getPoolPadding();
  int64_t chunkEntries = ps * kThreads + pk;
  Type bf16 = qt.getElementType(), f32 = Float32Type::get(op->getContext());
  Type i32 = IntegerType::get(op->getContext(), 32);

  unsigned qArg = kb.addBuffer("query", bf16, {"tokens", h, d}, "[tokens, heads, head_dim] q");
  unsigned kArg = kb.addBuffer("keys", bf16, {"key_pages", kpage, kvh, d},
                               "[key_pages, key_page_size, kv_heads, head_dim] compressed keys");
  unsigned kpt = kb.addBuffer("key_page_table", i32, {"batch", "max_key_pages"},
                              "[batch, max_key_pages] pages of the compressed keys");
  unsigned cu = kb.addCuSeqlens();
  unsigned lens = kb.addSeqLens();
  unsigned out = kb.addBuffer("scores", f32, {"tokens", kvh, "max_blocks"},
                              "[tokens, kv_heads, max_blocks] block scores (-inf past a "
                              "query's own block)");
  // Split stage 1: with splits > 1 the visible entries of a (token, KV group)
  // are spread over `splits` blocks of at most kSplitEntries each, whose raw
  // scores and softmax statistics meet in these buffers.
  unsigned partS = kb.addBuffer("partial_scores", f32, {"split_slots", g, kSplitEntries},
                                "[split_slots, group, 2048] workspace: each split's raw scores");
  unsigned partML = kb.addBuffer("partial_stats", f32, {"split_slots", g, 2},
                                 "[split_slots, group, 2] workspace: each split's per-head "
                                 "max and sum of exp");
  unsigned counters = kb.addBuffer("counters", i32, {"tokens", kvh},
                                   "[tokens, kv_heads] workspace: zero before the first "
                                   "launch; every launch leaves it zero");
  kb.addSize("tokens", "number of query tokens");
  unsigned batch = kb.addSize("batch", "number of sequences");
  unsigned maxKeyPages = kb.addSize("max_key_pages", "columns of key_page_table");
  unsigned keyPages = kb.addSize("key_pages", "pages in the compressed-key pool");
  unsigned maxBlocks = kb.addSize("max_blocks", "last dimension of scores");
  unsigned splits = kb.addSize("splits", "blocks per (token, KV group), at least 1; split "
                                         "mode needs splits * 2048 >= the visible entries "
                                         "(else one block does it all)");
  kb.addSize("split_slots", "rows of the split workspace: tokens * kv_heads * splits when "
                            "splits > 1, else 0 (unused)");
  kb.setBlock(kThreads);
  kb.setGrid(GridDim::scaled("tokens", kvh, 1), GridDim::scaled("splits", 1, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Emitter e{kb, b, loc};
  Value qs = kb.addWorkgroupBuffer(f32, g * d, 16); // 16-byte aligned: read 4 at a time
  Value mW = kb.addWorkgroupBuffer(f32, kWarps * g);
  Value lW = kb.addWorkgroupBuffer(f32, kWarps * g);
  Value mAll = kb.addWorkgroupBuffer(f32, g);
  Value lAll = kb.addWorkgroupBuffer(f32, g);
  Value pc = kb.addWorkgroupBuffer(f32, chunkEntries);
  Value tid = kb.threadId();
  Value lane = kb.rem(tid, kb.idx(32)), warp = kb.div(tid, kb.idx(32));
  Value token = kb.div(kb.blockId(), kb.idx(kvh));
  Value group = kb.rem(kb.blockId(), kb.idx(kvh));
  Value seq, pos; // plain values: lambdas below capture them
  std::tie(seq, pos) = kb.queryPosition(kb.arg(cu), kb.arg(lens), kb.arg(batch), token);
  Value scale = kb.f32(bs.getEffectiveScale());

  // The group's queries, f32, in shared memory.
  Value qBase = kb.mul(kb.add(kb.mul(token, kb.idx(h)), kb.mul(group, kb.idx(g))), kb.idx(d));
  e.loop(tid, kb.idx(g * d), kb.idx(kThreads), {}, [&](Value i, ValueRange) {
    kb.store(kb.toF32(kb.load(kb.arg(qArg), kb.add(qBase, i))), qs, i);
    return SmallVector<Value>{};
  });
  e.barrier();

  // Entries visible to position p: stride*i + kernel - 1 <= p.
  Value p1 = kb.add(pos, kb.idx(1));
  Value visible = kb.select(kb.cmp(CmpIPredicate::slt, p1, kb.idx(kernel)), kb.idx(0),
                            kb.add(kb.div(kb.sub(p1, kb.idx(kernel)), kb.idx(stride)), kb.idx(1)));

  // Scores of entry i for the group's heads (scaled); `ok` false when the
  // entry's page is outside the pool.
  auto scoresOf = [&](Value i) -> std::pair<SmallVector<Value>, Value> {
    Value logical = kb.div(i, kb.idx(kpage));
    Value inTable = kb.cmp(CmpIPredicate::ult, logical, kb.arg(maxKeyPages));
    Value page = kb.loadIndex(kb.arg(kpt), kb.add(kb.mul(seq, kb.arg(maxKeyPages)),
                                                  kb.select(inTable, logical, kb.idx(0))));
    Value ok = e.land(inTable, kb.cmp(CmpIPredicate::ult, page, kb.arg(keyPages)));
    Value row = kb.add(kb.mul(kb.add(kb.mul(kb.select(ok, page, kb.idx(0)), kb.idx(kpage)),
                                     kb.rem(i, kb.idx(kpage))),
                              kb.idx(kvh * d)),
                       kb.mul(group, kb.idx(d)));
    // The entry's d channels in 16-byte pieces, all loads issued first (the
    // loop used to wait for each piece in turn).
    // (A loop over groups of pieces, not a full unroll: with every offset
    // static, LLVM hoists all 16 x 128 query loads out of the entry loop.)
    constexpr int64_t kPieces = 4; // 16-byte pieces in flight per thread
    int64_t step = 8 * std::min<int64_t>(kPieces, d / 8);
    SmallVector<Value> zeros(g, kb.f32(0.0));
    auto dots = e.loop(kb.idx(0), kb.idx(d), kb.idx(step), zeros, [&](Value c0, ValueRange a) {
      SmallVector<Value> acc(a.begin(), a.end()), pieces;
      for (int64_t c = 0; c < step; c += 8)
        pieces.push_back(kb.loadVector(kb.arg(kArg), kb.add(row, kb.add(c0, kb.idx(c))), 8, 16));
      // q from shared memory 4 floats per access (the scalar loads made this
      // loop shared-memory bound).
      for (int64_t c = 0; c < step; c += 8)
        for (int64_t hh = 0; hh < g; ++hh) {
          Value qv[2];
          for (int64_t half = 0; half < 2; ++half)
            qv[half] = kb.loadVector(qs, kb.add(c0, kb.idx(hh * d + c + 4 * half)), 4, 16);
          for (int64_t x = 0; x < 8; ++x) {
            Value kx = kb.toF32(vector::ExtractOp::create(b, loc, pieces[c / 8], x));
            Value qx = vector::ExtractOp::create(b, loc, qv[x / 4], x % 4);
            acc[hh] = e.fadd(acc[hh], e.fmul(qx, kx));
          }
        }
      return acc;
    });
    SmallVector<Value> acc(dots.getResults());
    SmallVector<Value> s;
    for (int64_t hh = 0; hh < g; ++hh)
      s.push_back(e.fmul(acc[hh], scale));
    return {s, ok};
  };

  // Split mode: this block's entries [lo, hi); its raw scores go to the
  // workspace, [slot][head][entry - lo].
  Value split = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value nSplits = kb.arg(splits);
  Value per = kb.div(kb.add(visible, kb.sub(nSplits, kb.idx(1))), nSplits);
  Value splitMode = e.land(kb.cmp(CmpIPredicate::ugt, nSplits, kb.idx(1)),
                           kb.cmp(CmpIPredicate::ule, per, kb.idx(kSplitEntries)));
  Value pairIdx = kb.add(kb.mul(token, kb.idx(kvh)), group);
  Value slotBase = kb.mul(pairIdx, nSplits); // split slot of split 0
  auto minIdx = [&](Value x, Value y) {
    return kb.select(kb.cmp(CmpIPredicate::ult, x, y), x, y);
  };
  Value lo = kb.select(splitMode, minIdx(kb.mul(split, per), visible), kb.idx(0));
  Value hi = kb.select(splitMode, minIdx(kb.add(lo, per), visible), visible);
  Value perSafe = kb.select(kb.cmp(CmpIPredicate::eq, per, kb.idx(0)), kb.idx(1), per);
  auto wsAt = [&](Value i, int64_t hh) { // workspace index of entry i, head hh
    Value sp = kb.div(i, perSafe);
    Value row = kb.add(kb.mul(kb.add(slotBase, sp), kb.idx(g)), kb.idx(hh));
    return kb.add(kb.mul(row, kb.idx(kSplitEntries)), kb.sub(i, kb.mul(sp, perSafe)));
  };
  // Outside split mode only split 0 works (the whole range, as with splits = 1).
  Value active = e.lor(splitMode, kb.cmp(CmpIPredicate::eq, split, kb.idx(0)));
  kb.ifThen(active, [&] {

  // Pass 1: per-head max and sum of exp over the visible entries.
  SmallVector<Value> init;
  for (int64_t hh = 0; hh < g; ++hh)
    init.push_back(kb.f32(kNegInf));
  for (int64_t hh = 0; hh < g; ++hh)
    init.push_back(kb.f32(0.0));
  auto stats = e.loop(kb.add(lo, tid), hi, kb.idx(kThreads), init, [&](Value i, ValueRange st) {
    auto [s, ok] = scoresOf(i);
    kb.ifThen(splitMode, [&] {
      for (int64_t hh = 0; hh < g; ++hh)
        kb.store(kb.select(ok, s[hh], kb.f32(kNegInf)), kb.arg(partS), wsAt(i, hh));
    });
    SmallVector<Value> next(st.begin(), st.end());
    for (int64_t hh = 0; hh < g; ++hh) {
      Value m = st[hh], l = st[g + hh];
      Value sv = kb.select(ok, s[hh], kb.f32(kNegInf));
      Value mNew = e.fmax(m, sv);
      Value safe = kb.select(e.isNegInf(mNew), kb.f32(0.0), mNew);
      next[hh] = mNew;
      next[g + hh] = e.fadd(e.fmul(l, kb.expF32(e.fsub(m, safe))), kb.expF32(e.fsub(sv, safe)));
    }
    return next;
  });
  for (int64_t hh = 0; hh < g; ++hh) {
    Value m = stats.getResult(hh), l = stats.getResult(g + hh);
    Value mw = kb.warpMax(m, 32);
    Value f = kb.select(e.isNegInf(m), kb.f32(0.0),
                        kb.expF32(e.fsub(m, kb.select(e.isNegInf(mw), kb.f32(0.0), mw))));
    Value lw = kb.warpSum(e.fmul(l, f), 32);
    kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, kb.idx(0)), [&] {
      kb.store(mw, mW, kb.add(kb.mul(warp, kb.idx(g)), kb.idx(hh)));
      kb.store(lw, lW, kb.add(kb.mul(warp, kb.idx(g)), kb.idx(hh)));
    });
  }
  e.barrier();
  kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
    Value m = kb.f32(kNegInf);
    for (int64_t w = 0; w < kWarps; ++w)
      m = e.fmax(m, kb.load(mW, kb.add(kb.idx(w * g), tid)));
    Value safe = kb.select(e.isNegInf(m), kb.f32(0.0), m);
    Value l = kb.f32(0.0);
    for (int64_t w = 0; w < kWarps; ++w) {
      Value mw = kb.load(mW, kb.add(kb.idx(w * g), tid));
      Value f = kb.select(e.isNegInf(mw), kb.f32(0.0), kb.expF32(e.fsub(mw, safe)));
      l = e.fadd(l, e.fmul(kb.load(lW, kb.add(kb.idx(w * g), tid)), f));
    }
    kb.store(m, mAll, tid);
    kb.store(l, lAll, tid);
  });
  e.barrier();

  // Split mode: publish this split's statistics, count it done; the block
  // that finishes last merges them and goes on to pass 2 (the others stop).
  Value flag = pc; // pass 2's chunk buffer is free until then
  kb.store(kb.f32(1.0), flag, kb.idx(0)); // uniform default: go on
  kb.ifThen(splitMode, [&] {
    Value mySlot = kb.add(slotBase, split);
    kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
      Value at = kb.mul(kb.add(kb.mul(mySlot, kb.idx(g)), tid), kb.idx(2));
      kb.store(kb.load(mAll, tid), kb.arg(partML), at);
      kb.store(kb.load(lAll, tid), kb.arg(partML), kb.add(at, kb.idx(1)));
    });
    kb.ifLastArrival(kb.arg(counters), pairIdx, nSplits, flag, [&] {
      kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
        auto mx = e.loop(kb.idx(0), nSplits, kb.idx(1), {kb.f32(kNegInf)}, [&](Value sp, ValueRange a) {
          Value at = kb.mul(kb.add(kb.mul(kb.add(slotBase, sp), kb.idx(g)), tid), kb.idx(2));
          return SmallVector<Value>{e.fmax(a[0], kb.load(kb.arg(partML), at))};
        });
        Value m = mx.getResult(0);
        Value safe = kb.select(e.isNegInf(m), kb.f32(0.0), m);
        auto sum = e.loop(kb.idx(0), nSplits, kb.idx(1), {kb.f32(0.0)}, [&](Value sp, ValueRange a) {
          Value at = kb.mul(kb.add(kb.mul(kb.add(slotBase, sp), kb.idx(g)), tid), kb.idx(2));
          Value ms = kb.load(kb.arg(partML), at);
          Value f = kb.select(e.isNegInf(ms), kb.f32(0.0), kb.expF32(e.fsub(ms, safe)));
          return SmallVector<Value>{e.fadd(a[0], e.fmul(kb.load(kb.arg(partML), kb.add(at, kb.idx(1))), f))};
        });
        kb.store(m, mAll, tid);
        kb.store(sum.getResult(0), lAll, tid);
      });
    });
  });
  e.barrier();
  Value goOn = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, kb.load(flag, kb.idx(0)),
                                     kb.f32(1.0));
  e.barrier(); // everyone has read the flag before pass 2 reuses the buffer
  kb.ifThen(goOn, [&] {

  // Pass 2: group probabilities per entry, max-pooled onto blocks in chunks.
  Value rowOut = kb.mul(kb.add(kb.mul(token, kb.idx(kvh)), group), kb.arg(maxBlocks));
  Value own = kb.div(pos, kb.idx(block));
  Value nOwn = kb.add(own, kb.idx(1));
  Value nWrite = kb.select(kb.cmp(CmpIPredicate::ult, nOwn, kb.arg(maxBlocks)), nOwn,
                           kb.arg(maxBlocks));
  e.loop(kb.idx(0), nWrite, kb.idx(kThreads), {}, [&](Value j0, ValueRange) {
    Value e0 = kb.sub(kb.mul(j0, kb.idx(ps)), kb.idx(pad));
    // Split mode: the chunk's raw scores from the workspace, every load of a
    // thread's entries issued before the math (one block does this for the
    // whole sequence: it must not wait on one entry at a time).
    kb.ifThen(splitMode, [&] {
      int64_t perThread = (chunkEntries + kThreads - 1) / kThreads;
      SmallVector<Value> valid(perThread);
      SmallVector<SmallVector<Value>> sv(perThread);
      for (int64_t k = 0; k < perThread; ++k) {
        Value off = kb.add(tid, kb.idx(k * kThreads));
        Value i = kb.add(e0, off);
        valid[k] = e.land(e.land(kb.cmp(CmpIPredicate::ult, off, kb.idx(chunkEntries)),
                                 kb.cmp(CmpIPredicate::sge, i, kb.idx(0))),
                          kb.cmp(CmpIPredicate::slt, i, visible));
        Value ic = kb.select(valid[k], i, kb.idx(0));
        for (int64_t hh = 0; hh < g; ++hh)
          sv[k].push_back(kb.load(kb.arg(partS), wsAt(ic, hh)));
      }
      // p = exp(s - M) / L = 2^(s log2(e) - (M log2(e) + log2(L))): one ex2
      // per head and entry, no division (this loop is the serial tail).
      SmallVector<Value> bias;
      for (int64_t hh = 0; hh < g; ++hh)
        bias.push_back(e.fadd(e.fmul(kb.load(mAll, kb.idx(hh)), kb.f32(M_LOG2E)),
                              kb.ptxUnaryF32("lg2.approx.f32", kb.load(lAll, kb.idx(hh)))));
      for (int64_t k = 0; k < perThread; ++k) {
        Value sum = kb.f32(0.0);
        for (int64_t hh = 0; hh < g; ++hh)
          sum = e.fadd(sum, kb.ptxUnaryF32("ex2.approx.ftz.f32",
                                           e.fsub(e.fmul(sv[k][hh], kb.f32(M_LOG2E)), bias[hh])));
        Value ok = e.land(valid[k], arith::XOrIOp::create(
                                        b, loc, e.isNegInf(sv[k][0]),
                                        arith::ConstantOp::create(b, loc, b.getBoolAttr(true))));
        Value off = kb.add(tid, kb.idx(k * kThreads));
        auto store = [&] { kb.store(kb.select(ok, sum, kb.f32(kNegInf)), pc, off); };
        if ((k + 1) * kThreads > chunkEntries)
          kb.ifThen(kb.cmp(CmpIPredicate::ult, off, kb.idx(chunkEntries)), store);
        else
          store();
      }
    });
    kb.ifThen(arith::XOrIOp::create(b, loc, splitMode,
                                    arith::ConstantOp::create(b, loc, b.getBoolAttr(true))), [&] {
    e.loop(tid, kb.idx(chunkEntries), kb.idx(kThreads), {}, [&](Value off, ValueRange) {
      Value i = kb.add(e0, off);
      Value inRange = e.land(kb.cmp(CmpIPredicate::sge, i, kb.idx(0)),
                             kb.cmp(CmpIPredicate::slt, i, visible));
      auto prob = scf::IfOp::create(b, loc, TypeRange{f32}, inRange, true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&prob.getThenRegion().front());
        auto [s, ok] = scoresOf(i);
        Value sum = kb.f32(0.0);
        for (int64_t hh = 0; hh < g; ++hh) {
          Value p = arith::DivFOp::create(
              b, loc, kb.expF32(e.fsub(s[hh], kb.load(mAll, kb.idx(hh)))),
              kb.load(lAll, kb.idx(hh)));
          sum = e.fadd(sum, p);
        }
        scf::YieldOp::create(b, loc, ValueRange{kb.select(ok, sum, kb.f32(kNegInf))});
        b.setInsertionPointToStart(&prob.getElseRegion().front());
        scf::YieldOp::create(b, loc, ValueRange{kb.f32(kNegInf)});
      }
      kb.store(prob.getResult(0), pc, off);
      return SmallVector<Value>{};
    });
    });
    e.barrier();
    Value j = kb.add(j0, tid);
    kb.ifThen(kb.cmp(CmpIPredicate::ult, j, nWrite), [&] {
      Value m = kb.f32(kNegInf);
      for (int64_t k = 0; k < pk; ++k)
        m = e.fmax(m, kb.load(pc, kb.add(kb.mul(tid, kb.idx(ps)), kb.idx(k))));
      kb.store(m, kb.arg(out), kb.add(rowOut, j));
    });
    e.barrier();
    return SmallVector<Value>{};
  });
  // Blocks past the query's own block.
  e.loop(kb.add(nWrite, tid), kb.arg(maxBlocks), kb.idx(kThreads), {}, [&](Value j, ValueRange) {
    kb.store(kb.f32(kNegInf), kb.arg(out), kb.add(rowOut, j));
    return SmallVector<Value>{};
  });
  }); // goOn
  }); // active
  return success();
}

//===----------------------------------------------------------------------===//
// sala.topk_blocks
//===----------------------------------------------------------------------===//

LogicalResult salac::buildTopkBlocksKernel(Operation *op, KernelBuilder &kb) {
  auto tk = cast<sala::TopkBlocksOp>(op);
  int64_t kvh = tk.getScores().getType().getDimSize(1);
  int64_t kSel = tk.getTopk() + tk.getLocalBlocks();
  int64_t block = tk.getBlockSize(), initBlocks = tk.getInitBlocks(),
          local = tk.getLocalBlocks();
  Type f32 = Float32Type::get(op->getContext()), i32 = IntegerType::get(op->getContext(), 32);

  unsigned sc = kb.addBuffer("scores", f32, {"tokens", kvh, "max_blocks"},
                             "[tokens, kv_heads, max_blocks] block scores");
  unsigned cu = kb.addCuSeqlens();
  unsigned lens = kb.addSeqLens();
  unsigned out = kb.addBuffer("blocks", i32, {"tokens", kvh, kSel},
                              "[tokens, kv_heads, selected] selected blocks, ascending, "
                              "-1 padded");
  kb.addSize("tokens", "number of query tokens");
  unsigned batch = kb.addSize("batch", "number of sequences");
  unsigned maxBlocks = kb.addSize("max_blocks", "last dimension of scores");
  kb.setBlock(kThreads);
  kb.setGrid(GridDim::scaled("tokens", kvh, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Emitter e{kb, b, loc};
  Value scratch = kb.addWorkgroupBuffer(i32, kWarps);
  Value tid = kb.threadId();
  Value lane = kb.rem(tid, kb.idx(32)), warp = kb.div(tid, kb.idx(32));
  Value token = kb.div(kb.blockId(), kb.idx(kvh));
  Value group = kb.rem(kb.blockId(), kb.idx(kvh));
  Value seq, pos; // plain values: lambdas below capture them
  std::tie(seq, pos) = kb.queryPosition(kb.arg(cu), kb.arg(lens), kb.arg(batch), token);
  Value own = kb.div(pos, kb.idx(block));
  Value nCand = kb.add(own, kb.idx(1));
  Value rowIn = kb.mul(kb.add(kb.mul(token, kb.idx(kvh)), group), kb.arg(maxBlocks));
  Value rowOut = kb.mul(kb.add(kb.mul(token, kb.idx(kvh)), group), kb.idx(kSel));
  // Forced: j < init_blocks or j > own - local_blocks.
  Value localStart = kb.sub(nCand, kb.idx(local));

  // Order-preserving i32 key of block j's score (+inf when forced), compared
  // unsigned: bits ^ (negative ? 0xffffffff : 0x80000000).
  auto keyOf = [&](Value j) {
    Value inScores = kb.cmp(CmpIPredicate::ult, j, kb.arg(maxBlocks));
    Value raw = kb.load(kb.arg(sc), kb.add(rowIn, kb.select(inScores, j, kb.idx(0))));
    Value s = kb.select(inScores, raw, kb.f32(kNegInf));
    Value forced = e.lor(kb.cmp(CmpIPredicate::slt, j, kb.idx(initBlocks)),
                         kb.cmp(CmpIPredicate::sge, j, localStart));
    s = kb.select(forced, kb.f32(std::numeric_limits<float>::infinity()), s);
    Value bits = arith::BitcastOp::create(b, loc, i32, s);
    Value sign = arith::ShRSIOp::create(b, loc, bits, e.i32(31));
    Value mask = e.lor(sign, e.i32(int32_t(0x80000000u)));
    return arith::XOrIOp::create(b, loc, bits, mask).getResult();
  };
  // Up to kHeld keys per thread (kHeld * 512 candidates, 512K tokens of
  // context at 64-token blocks) are read once into registers, so the 33
  // counting passes below do not go back to memory; past that, each pass reads
  // the scores again. A key that is not a candidate is 0, which no count
  // includes (every threshold tried and compared against is above 0).
  constexpr int64_t kHeld = 16;
  Value held = kb.cmp(CmpIPredicate::ule, nCand, kb.idx(kHeld * kThreads));
  SmallVector<Value> keys;
  for (int64_t r = 0; r < kHeld; ++r) {
    Value j = kb.add(tid, kb.idx(r * kThreads));
    Value in = e.land(held, kb.cmp(CmpIPredicate::ult, j, nCand));
    keys.push_back(kb.select(in, keyOf(kb.select(in, j, kb.idx(0))), e.i32(0)));
  }
  auto count = [&](function_ref<Value(Value)> pred) {
    auto local = scf::IfOp::create(b, loc, TypeRange{i32}, held, true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&local.getThenRegion().front());
      Value n = e.i32(0);
      for (Value key : keys)
        n = arith::AddIOp::create(b, loc, n, arith::ExtUIOp::create(b, loc, i32, pred(key)));
      scf::YieldOp::create(b, loc, ValueRange{n});
      b.setInsertionPointToStart(&local.getElseRegion().front());
      auto loop = e.loop(tid, nCand, kb.idx(kThreads), {e.i32(0)}, [&](Value j, ValueRange a) {
        Value add = arith::ExtUIOp::create(b, loc, i32, pred(keyOf(j)));
        return SmallVector<Value>{arith::AddIOp::create(b, loc, a[0], add)};
      });
      scf::YieldOp::create(b, loc, loop.getResults());
    }
    return e.blockSum(local.getResult(0), scratch, warp, lane);
  };

  Value kConst = e.i32(kSel);
  // threshold: the largest T with #{key >= T} >= K (unsigned), bit by bit.
  auto search = e.loop(kb.idx(0), kb.idx(32), kb.idx(1), {e.i32(0)}, [&](Value it, ValueRange a) {
    Value bit = arith::ShLIOp::create(
        b, loc, e.i32(1),
        arith::SubIOp::create(b, loc, e.i32(31),
                              arith::IndexCastOp::create(b, loc, i32, it)));
    Value cand = e.lor(a[0], bit);
    Value n = count([&](Value key) {
      return arith::CmpIOp::create(b, loc, CmpIPredicate::uge, key, cand).getResult();
    });
    return SmallVector<Value>{
        kb.select(arith::CmpIOp::create(b, loc, CmpIPredicate::uge, n, kConst), cand, a[0])};
  });
  Value thr = search.getResult(0);
  Value nAbove = count([&](Value key) {
    return arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, key, thr).getResult();
  });
  // With no more candidates than K every candidate is selected.
  Value all = kb.cmp(CmpIPredicate::ule, nCand, kb.idx(kSel));
  Value needEq = arith::SubIOp::create(b, loc, kConst, nAbove);

  auto emit = e.loop(kb.idx(0), nCand, kb.idx(kThreads), {e.i32(0), e.i32(0)},
                     [&](Value j0, ValueRange a) {
    Value j = kb.add(j0, tid);
    Value inR = kb.cmp(CmpIPredicate::ult, j, nCand);
    Value key = keyOf(kb.select(inR, j, kb.idx(0)));
    Value gt = e.land(inR, arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, key, thr));
    Value eq = e.land(inR, arith::CmpIOp::create(b, loc, CmpIPredicate::eq, key, thr));
    auto [eqRank, eqTotal] =
        e.blockScan(arith::ExtUIOp::create(b, loc, i32, eq), scratch, warp, lane);
    Value eqTaken = arith::AddIOp::create(b, loc, a[0], eqRank);
    Value take = e.lor(e.land(inR, all),
                       e.lor(gt, e.land(eq, arith::CmpIOp::create(b, loc, CmpIPredicate::slt,
                                                                  eqTaken, needEq))));
    auto [rank, takeTotal] =
        e.blockScan(arith::ExtUIOp::create(b, loc, i32, take), scratch, warp, lane);
    kb.ifThen(take, [&] {
      Value at = kb.add(rowOut, arith::IndexCastOp::create(
                                    b, loc, b.getIndexType(),
                                    arith::AddIOp::create(b, loc, a[1], rank)));
      kb.store(arith::IndexCastOp::create(b, loc, i32, j), kb.arg(out), at);
    });
    return SmallVector<Value>{arith::AddIOp::create(b, loc, a[0], eqTotal),
                              arith::AddIOp::create(b, loc, a[1], takeTotal)};
  });
  Value taken = arith::IndexCastOp::create(b, loc, b.getIndexType(), emit.getResult(1));
  e.loop(kb.add(taken, tid), kb.idx(kSel), kb.idx(kThreads), {}, [&](Value r, ValueRange) {
    kb.store(e.i32(-1), kb.arg(out), kb.add(rowOut, r));
    return SmallVector<Value>{};
  });
  return success();
}
