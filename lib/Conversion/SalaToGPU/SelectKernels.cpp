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
// is found by a radix select on order-preserving float bits (4 passes of 8
// bits over a shared-memory histogram), then the winners are written in
// ascending block order ranked by one block-wide scan; ties at the threshold
// go to the lower index.
//
// sala.fused_sparse_select: both, without the serial tail. Thread blocks claim
// work from one global ticket counter, phase A's units first, then phase B's.
// Phase A units (pair, split) compute a split's raw scores (kept in a
// workspace) and per-head statistics. Phase B units (pair, chunk of 512
// blocks) start once every phase A unit is claimed; each
// waits for its pair's splits (they are running, so the wait ends), merges the
// statistics, pools its chunk and keeps the chunk's best K blocks (the global
// top K of a pair is among them); the pair's last chunk selects the final K
// from all chunks' candidates. Claiming by ticket is what makes the waiting
// safe whatever the grid size: a unit is only waited on once a running block
// owns it.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "MmaEmitter.h"
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <cmath>
#include <limits>
#include <tuple>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {
// The unfused kernels' block size (their kernel_config's threads): the block
// that finishes a split stage 1 pools every block of the sequence alone, and
// the top-k block histograms every block 4 times; 16 warps hide more of their
// latency. The fused selection takes its block size from its kernel_config.
constexpr int64_t kUnfusedThreads = 512;
constexpr int64_t kMaxWarps = 32;   // 1024 threads
constexpr int64_t kRadixBins = 256; // selectBest: 8 bits a pass
// selectBest's scratch (i32): a slot per warp for block sums and scans, two
// histograms, two (digit, count) results.
constexpr int64_t selectScratch(int64_t warps) { return warps + 2 * kRadixBins + 4; }
constexpr int64_t kSplitEntries = 2048; // compressed keys per split of stage 1 (at most)
// Candidates of the fused selection's final selection kept in shared memory:
// 32 chunks of 96, 1M tokens at 64-token blocks.
constexpr int64_t kFinalStaged = 32 * 96;
// Candidates the final selection holds in registers a round (4 a thread at
// 16 warps): the keys of 16 chunks' best, 512K tokens at 64-token blocks.
constexpr int64_t kFinalPerRound = 2048;
const float kNegInf = -std::numeric_limits<float>::infinity();

/// Small conveniences over KernelBuilder for the two kernels below.
struct Emitter {
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;

  int64_t threads() const { return kb.threads(); } // of the block (kernel_config)
  int64_t warps() const { return threads() / 32; }

  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, kb.f32(kNegInf));
  }
  Value i32(int64_t v) { return kb.i32(v); }
  Value land(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value lnot(Value x) {
    return arith::XOrIOp::create(b, loc, x, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  }
  Value minIdx(Value x, Value y) {
    return kb.select(kb.cmp(CmpIPredicate::ult, x, y), x, y);
  }
  Value lor(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  void barrier() { gpu::BarrierOp::create(b, loc); }

  scf::ForOp loop(Value lb, Value ub, Value step, ValueRange init,
                  function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return kb.forLoop(lb, ub, step, init, body);
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
    for (int64_t k = 0; k < warps(); ++k) {
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

/// The stage-1 code below: bf16 q and keys, whole 16-byte pieces of a head,
/// at most 16 heads per group and 256 channels.
static bool stage1Supported(Value query, sala::CompressedKeysType keys, int64_t group) {
  auto qt = cast<RankedTensorType>(query.getType());
  return qt.getElementType().isBF16() && keys.getElementType().isBF16() &&
         qt.getDimSize(2) % 8 == 0 && group <= 16 && qt.getDimSize(2) <= 256;
}

/// What the stage-1 kernels need (selectKernelSupports).
static constexpr llvm::StringLiteral kSelectRequirement =
    "needs bf16 queries and keys, head_dim a multiple of 8 up to 256, at most 16 query "
    "heads per KV head, and no K2 (lse) normaliser";

static bool selectKernelSupports(Operation *op) {
  // The K2 log-sum-exp option has no GPU kernel yet.
  if (auto bs = dyn_cast<sala::BlockScoresOp>(op))
    return !bs.getLseKeys() &&
           stage1Supported(bs.getQuery(), bs.getKeys().getType(), bs.getGroupSize());
  if (auto fs = dyn_cast<sala::FusedSparseSelectOp>(op))
    return stage1Supported(fs.getQuery(), fs.getKeys().getType(), fs.getGroupSize());
  return isa<sala::TopkBlocksOp>(op);
}

//===----------------------------------------------------------------------===//
// Stage 1 of a (token, KV group), shared by block_scores and the fused select
//===----------------------------------------------------------------------===//

namespace {

/// Order-preserving i32 key of a float score, compared unsigned:
/// bits ^ (negative ? 0xffffffff : 0x80000000). Every float maps above 0, so
/// 0 can stand for "not a candidate".
Value orderKey(Emitter &e, Value score) {
  OpBuilder &b = e.b;
  Type i32 = b.getI32Type();
  Value bits = arith::BitcastOp::create(b, e.loc, i32, score);
  Value sign = arith::ShRSIOp::create(b, e.loc, bits, e.i32(31));
  Value mask = e.lor(sign, e.i32(int32_t(0x80000000u)));
  return arith::XOrIOp::create(b, e.loc, bits, mask);
}

/// The kernel parameters both stage-1 kernels take, in their order: the
/// inputs first (query, compressed keys, their page table, the batch), the
/// sizes after the kernel's own buffers.
struct Stage1Params {
  unsigned query, keys, keyTable, cu, lens;
  unsigned tokens = 0, batch = 0, maxKeyPages = 0, keyPages = 0;

  Stage1Params(KernelBuilder &kb, RankedTensorType qt, sala::CompressedKeysType k) {
    Type i32 = kb.builder().getI32Type();
    int64_t h = qt.getDimSize(1), d = qt.getDimSize(2);
    query = kb.addBuffer("query", qt.getElementType(), {"tokens", h, d},
                         "[tokens, heads, head_dim] q");
    keys = kb.addBuffer("keys", k.getElementType(),
                        {"key_pages", k.getPageSize(), k.getKvHeads(), d},
                        "[key_pages, key_page_size, kv_heads, head_dim] compressed keys");
    keyTable = kb.addBuffer("key_page_table", i32, {"batch", "max_key_pages"},
                            "[batch, max_key_pages] pages of the compressed keys");
    cu = kb.addCuSeqlens();
    lens = kb.addSeqLens();
  }
  void addSizes(KernelBuilder &kb) {
    tokens = kb.addSize("tokens", "number of query tokens");
    batch = kb.addSize("batch", "number of sequences");
    maxKeyPages = kb.addSize("max_key_pages", "columns of key_page_table");
    keyPages = kb.addSize("key_pages", "pages in the compressed-key pool");
  }
};

/// The compressed keys, the queries and the softmax statistics of one
/// (token, KV group) of stage 1: what both kernels below do per pair.
struct Stage1 {
  KernelBuilder &kb;
  Emitter &e;
  OpBuilder &b;
  Location loc;
  int64_t h, d, kvh, g, kpage, kernel, stride;
  const Stage1Params &prm;
  unsigned kArgStats = 0; // the per-split statistics buffer (mergeSplits)
  Value scale;
  Value qs, mW, lW, mAll, lAll; // workgroup buffers
  Value tid, lane, warp;
  Value token, group, seq, pos; // of the current pair (setPair)
  int64_t pieces = 4;           // 16-byte pieces of a key in flight per thread

  Stage1(KernelBuilder &kb, Emitter &e, sala::CompressedKeysType keys, int64_t h, int64_t d,
         int64_t g, float scaleValue, const Stage1Params &prm)
      : kb(kb), e(e), b(e.b), loc(e.loc), h(h), d(d), kvh(keys.getKvHeads()), g(g),
        kpage(keys.getPageSize()), kernel(keys.getKernelSize()),
        stride(keys.getKernelStride()), prm(prm) {
    Type f32 = b.getF32Type();
    scale = kb.f32(scaleValue);
    qs = kb.addWorkgroupBuffer(f32, g * d, 16); // 16-byte aligned: read 4 at a time
    mW = kb.addWorkgroupBuffer(f32, e.warps() * g);
    lW = kb.addWorkgroupBuffer(f32, e.warps() * g);
    mAll = kb.addWorkgroupBuffer(f32, g);
    lAll = kb.addWorkgroupBuffer(f32, g);
    tid = kb.threadId();
    lane = kb.rem(tid, kb.idx(32));
    warp = kb.div(tid, kb.idx(32));
  }

  void setPair(Value tokenV, Value groupV) {
    token = tokenV;
    group = groupV;
    std::tie(seq, pos) =
        kb.queryPosition(kb.arg(prm.cu), kb.arg(prm.lens), kb.arg(prm.batch), token);
  }

  /// The group's queries, f32, into shared memory (barriers on both sides:
  /// the buffer may still be read for the previous pair).
  void loadQuery() {
    e.barrier();
    Value qBase =
        kb.mul(kb.add(kb.mul(token, kb.idx(h)), kb.mul(group, kb.idx(g))), kb.idx(d));
    e.loop(tid, kb.idx(g * d), kb.idx(e.threads()), {}, [&](Value i, ValueRange) {
      kb.store(kb.toF32(kb.load(kb.arg(prm.query), kb.add(qBase, i))), qs, i);
      return SmallVector<Value>{};
    });
    e.barrier();
  }

  /// Entries visible to the query: stride*i + kernel - 1 <= pos.
  Value visible() {
    Value p1 = kb.add(pos, kb.idx(1));
    return kb.select(kb.cmp(CmpIPredicate::slt, p1, kb.idx(kernel)), kb.idx(0),
                     kb.add(kb.div(kb.sub(p1, kb.idx(kernel)), kb.idx(stride)), kb.idx(1)));
  }

  /// Scores of entry i for the group's heads (scaled); `ok` false when the
  /// entry's page is outside the pool.
  std::pair<SmallVector<Value>, Value> scoresOf(Value i) {
    Value logical = kb.div(i, kb.idx(kpage));
    Value inTable = kb.cmp(CmpIPredicate::ult, logical, kb.arg(prm.maxKeyPages));
    Value page = kb.loadIndex(kb.arg(prm.keyTable), kb.add(kb.mul(seq, kb.arg(prm.maxKeyPages)),
                                                  kb.select(inTable, logical, kb.idx(0))));
    Value ok = e.land(inTable, kb.cmp(CmpIPredicate::ult, page, kb.arg(prm.keyPages)));
    Value row = kb.add(kb.mul(kb.add(kb.mul(kb.select(ok, page, kb.idx(0)), kb.idx(kpage)),
                                     kb.rem(i, kb.idx(kpage))),
                              kb.idx(kvh * d)),
                       kb.mul(group, kb.idx(d)));
    // The entry's d channels in 16-byte pieces, all loads issued first (the
    // loop used to wait for each piece in turn).
    // (A loop over groups of pieces, not a full unroll: with every offset
    // static, LLVM hoists all 16 x 128 query loads out of the entry loop.)
    int64_t step = 8 * std::min<int64_t>(pieces, d / 8);
    SmallVector<Value> zeros(g, kb.f32(0.0));
    auto dots = e.loop(kb.idx(0), kb.idx(d), kb.idx(step), zeros, [&](Value c0, ValueRange a) {
      SmallVector<Value> acc(a.begin(), a.end()), pieces;
      for (int64_t c = 0; c < step; c += 8)
        pieces.push_back(kb.loadVector(kb.arg(prm.keys), kb.add(row, kb.add(c0, kb.idx(c))), 8, 16));
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
            acc[hh] = LLVM::FMAOp::create(b, loc, qx, kx, acc[hh]); // one FFMA
          }
        }
      return acc;
    });
    SmallVector<Value> s;
    for (int64_t hh = 0; hh < g; ++hh)
      s.push_back(e.fmul(dots.getResult(hh), scale));
    return {s, ok};
  }

  /// Per-head max and sum of exp over the entries [lo, hi), into mAll/lAll
  /// (block-wide; barriers inside). `onScore(i, s)` sees every entry's scores
  /// (-inf where its page is out of the pool).
  void stats(Value lo, Value hi, function_ref<void(Value, ArrayRef<Value>)> onScore) {
    SmallVector<Value> init;
    for (int64_t hh = 0; hh < g; ++hh)
      init.push_back(kb.f32(kNegInf));
    for (int64_t hh = 0; hh < g; ++hh)
      init.push_back(kb.f32(0.0));
    auto st = e.loop(kb.add(lo, tid), hi, kb.idx(e.threads()), init, [&](Value i, ValueRange a) {
      auto [s, ok] = scoresOf(i);
      SmallVector<Value> sv;
      for (int64_t hh = 0; hh < g; ++hh)
        sv.push_back(kb.select(ok, s[hh], kb.f32(kNegInf)));
      onScore(i, sv);
      SmallVector<Value> next(a.begin(), a.end());
      for (int64_t hh = 0; hh < g; ++hh) {
        Value m = a[hh], l = a[g + hh];
        Value mNew = e.fmax(m, sv[hh]);
        Value safe = kb.select(e.isNegInf(mNew), kb.f32(0.0), mNew);
        next[hh] = mNew;
        next[g + hh] =
            e.fadd(e.fmul(l, kb.expF32(e.fsub(m, safe))), kb.expF32(e.fsub(sv[hh], safe)));
      }
      return next;
    });
    for (int64_t hh = 0; hh < g; ++hh) {
      Value m = st.getResult(hh), l = st.getResult(g + hh);
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
      mergeInto(kb.idx(e.warps()), [&](Value w) { return kb.load(mW, kb.add(kb.mul(w, kb.idx(g)), tid)); },
                [&](Value w) { return kb.load(lW, kb.add(kb.mul(w, kb.idx(g)), tid)); });
    });
    e.barrier();
  }

  /// Whether the tensor-core scoring below applies: 16 heads (the MMA's m)
  /// of 128 channels (4 lanes x 32).
  bool mmaScoring() const { return g == 16 && d == 128; }

  /// stats() on tensor cores: scores of 16 heads x 8 entries per mma.sync
  /// m16n8k16 chain (8 k-steps), each warp taking tiles of 8 entries in turn,
  /// two tiles in flight. The channels are permuted within the dot product so
  /// that every lane loads whole 16-byte pieces of a key (and of q), the 4
  /// lanes of an entry 64 contiguous bytes an instruction: lane (group i,
  /// thread t) holds pieces 4v + t (v = 0..3) and feeds k-step kk with
  /// channels 8 (4 (kk / 2) + t) + 4 (kk % 2) + {0,1} (low half) and + {2,3}
  /// (high half), of entry i for B and of heads i and i + 8 for A. (Pieces
  /// 4t .. 4t + 3 a lane, 32 contiguous channels, spread each instruction
  /// over twice the sectors: 0.5-0.9 us slower.) Results: heads i, i + 8 of
  /// entries 2t, 2t + 1 of the tile.
  /// `onScore(entry, head, s)` sees each (scaled, -inf where invalid) score.
  void statsMma(Value lo, Value hi, function_ref<void(Value, Value, Value)> onScore) {
    MmaEmitter m{kb, b, loc, b.getBF16Type(), b.getF32Type(), b.getI32Type()};
    Value gid = kb.div(lane, kb.idx(4)), tig = kb.rem(lane, kb.idx(4));
    auto regsOf = [&](Value vec8) { // vector<8xbf16> -> 4 x i32
      Value v = vector::BitCastOp::create(b, loc, VectorType::get({4}, b.getI32Type()), vec8);
      SmallVector<Value> r;
      for (int64_t j = 0; j < 4; ++j)
        r.push_back(vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{j}));
      return r;
    };
    // q of heads gid and gid + 8, pieces 4v + tig (v = 0..3): 16 regs each.
    SmallVector<Value> qa[2];
    for (int64_t half = 0; half < 2; ++half) {
      Value head = kb.add(gid, kb.idx(8 * half));
      Value base = kb.add(
          kb.mul(kb.add(kb.add(kb.mul(token, kb.idx(h)), kb.mul(group, kb.idx(g))), head),
                 kb.idx(d)),
          kb.mul(tig, kb.idx(8)));
      for (int64_t v = 0; v < 4; ++v)
        for (Value r : regsOf(kb.loadVector(kb.arg(prm.query), kb.add(base, kb.idx(32 * v)), 8, 16)))
          qa[half].push_back(r);
    }
    // Row of entry i's keys in the pool (page 0 when out of range) and whether
    // it is valid: i < hi and its page in the pool.
    auto keyRow = [&](Value i) -> std::pair<Value, Value> {
      Value logical = kb.div(i, kb.idx(kpage));
      Value inTable = e.land(kb.cmp(CmpIPredicate::ult, i, hi),
                             kb.cmp(CmpIPredicate::ult, logical, kb.arg(prm.maxKeyPages)));
      Value page = kb.loadIndex(kb.arg(prm.keyTable), kb.add(kb.mul(seq, kb.arg(prm.maxKeyPages)),
                                                    kb.select(inTable, logical, kb.idx(0))));
      Value ok = e.land(inTable, kb.cmp(CmpIPredicate::ult, page, kb.arg(prm.keyPages)));
      Value row = kb.add(
          kb.mul(kb.add(kb.mul(kb.select(ok, page, kb.idx(0)), kb.idx(kpage)),
                        kb.rem(kb.select(ok, i, kb.idx(0)), kb.idx(kpage))),
                 kb.idx(kvh * d)),
          kb.mul(group, kb.idx(d)));
      return {row, ok};
    };
    // Tiles of 8 entries in flight per warp: 2 at 16 warps (what their
    // registers allow), more with fewer warps.
    const int64_t kTiles = std::max<int64_t>(1, 1024 / e.threads());
    int64_t span = e.warps() * 8 * kTiles;
    // Online (max, sum of exp) of heads gid and gid + 8 over this lane's entries.
    SmallVector<Value> init = {kb.f32(kNegInf), kb.f32(kNegInf), kb.f32(0.0), kb.f32(0.0)};
    auto st = e.loop(kb.add(lo, kb.mul(warp, kb.idx(8 * kTiles))), hi, kb.idx(span), init,
                     [&](Value t0, ValueRange a) {
      // Every tile's key loads first.
      SmallVector<SmallVector<Value>> keyRegs(kTiles);
      SmallVector<Value> rowOk(kTiles);
      for (int64_t t = 0; t < kTiles; ++t) {
        auto [row, okT] = keyRow(kb.add(t0, kb.add(kb.idx(8 * t), gid)));
        rowOk[t] = okT;
        Value base = kb.add(row, kb.mul(tig, kb.idx(8)));
        for (int64_t v = 0; v < 4; ++v)
          for (Value r : regsOf(kb.loadVector(kb.arg(prm.keys), kb.add(base, kb.idx(32 * v)), 8, 16)))
            keyRegs[t].push_back(r);
      }
      // Whether each entry of a tile is valid, from the B-operand rows (lane
      // 4 e + tig loaded entry e): one ballot a tile, not a page-table load
      // per score.
      SmallVector<Value> okBits(kTiles);
      for (int64_t t = 0; t < kTiles; ++t)
        okBits[t] = LLVM::InlineAsmOp::create(
                        b, loc, b.getI32Type(),
                        ValueRange{arith::ExtUIOp::create(b, loc, b.getI32Type(), rowOk[t])},
                        "{ .reg .pred %p; setp.ne.u32 %p, $1, 0; vote.sync.ballot.b32 $0, %p, "
                        "0xffffffff; }",
                        "=r,r", /*has_side_effects=*/true, false, LLVM::TailCallKind::None,
                        LLVM::AsmDialectAttr(), ArrayAttr())
                        .getResult(0);
      Value tig4 = arith::IndexCastOp::create(b, loc, b.getI32Type(), kb.mul(tig, kb.idx(8)));
      // Scores of the iteration, then one (max, sum of exp) update per head
      // row: one exp per score and one rescale (was two exps per score).
      SmallVector<Value> sv[2];
      for (int64_t t = 0; t < kTiles; ++t) {
        SmallVector<Value> c(4, kb.f32(0.0));
        for (int64_t kk = 0; kk < 8; ++kk)
          c = m.mma({qa[0][2 * kk], qa[1][2 * kk], qa[0][2 * kk + 1], qa[1][2 * kk + 1]},
                    {keyRegs[t][2 * kk], keyRegs[t][2 * kk + 1]}, c);
        for (int64_t x = 0; x < 2; ++x) { // entries 2 tig + x of the tile
          Value i = kb.add(t0, kb.add(kb.idx(8 * t + x), kb.mul(tig, kb.idx(2))));
          // Lane 4 (2 tig + x) loaded entry 2 tig + x: bit 8 tig + 4 x.
          Value bit = arith::AndIOp::create(
              b, loc,
              arith::ShRUIOp::create(b, loc, okBits[t],
                                     arith::AddIOp::create(b, loc, tig4, e.i32(4 * x))),
              e.i32(1));
          Value ok = arith::CmpIOp::create(b, loc, CmpIPredicate::ne, bit, e.i32(0));
          for (int64_t half = 0; half < 2; ++half) { // heads gid + 8 half
            Value v = kb.select(ok, e.fmul(c[2 * half + x], scale), kb.f32(kNegInf));
            onScore(i, kb.add(gid, kb.idx(8 * half)), v);
            sv[half].push_back(v);
          }
        }
      }
      SmallVector<Value> next(a.begin(), a.end());
      for (int64_t half = 0; half < 2; ++half) {
        Value mo = a[half], mNew = mo;
        for (Value v : sv[half])
          mNew = e.fmax(mNew, v);
        Value safe = kb.select(e.isNegInf(mNew), kb.f32(0.0), mNew);
        Value l = e.fmul(a[2 + half], kb.expF32(e.fsub(mo, safe)));
        for (Value v : sv[half])
          l = e.fadd(l, kb.expF32(e.fsub(v, safe)));
        next[half] = mNew;
        next[2 + half] = l;
      }
      return next;
    });
    // Across the 4 lanes of a head row, then the warps (as stats()).
    for (int64_t half = 0; half < 2; ++half) {
      Value mv = st.getResult(half), lv = st.getResult(2 + half);
      Value mw = kb.warpMax(mv, 4);
      Value f = kb.select(e.isNegInf(mv), kb.f32(0.0),
                          kb.expF32(e.fsub(mv, kb.select(e.isNegInf(mw), kb.f32(0.0), mw))));
      Value lw = kb.warpSum(e.fmul(lv, f), 4);
      kb.ifThen(kb.cmp(CmpIPredicate::eq, tig, kb.idx(0)), [&] {
        Value at = kb.add(kb.mul(warp, kb.idx(g)), kb.add(gid, kb.idx(8 * half)));
        kb.store(mw, mW, at);
        kb.store(lw, lW, at);
      });
    }
    e.barrier();
    kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
      mergeInto(kb.idx(e.warps()), [&](Value w) { return kb.load(mW, kb.add(kb.mul(w, kb.idx(g)), tid)); },
                [&](Value w) { return kb.load(lW, kb.add(kb.mul(w, kb.idx(g)), tid)); });
    });
    e.barrier();
  }

  /// For head `tid` (< g): merges n partial (max, sum of exp) pairs into
  /// mAll/lAll.
  void mergeInto(Value n, function_ref<Value(Value)> maxAt, function_ref<Value(Value)> sumAt) {
    auto mx = e.loop(kb.idx(0), n, kb.idx(1), {kb.f32(kNegInf)}, [&](Value k, ValueRange a) {
      return SmallVector<Value>{e.fmax(a[0], maxAt(k))};
    });
    Value m = mx.getResult(0);
    Value safe = kb.select(e.isNegInf(m), kb.f32(0.0), m);
    auto sum = e.loop(kb.idx(0), n, kb.idx(1), {kb.f32(0.0)}, [&](Value k, ValueRange a) {
      Value mk = maxAt(k);
      Value f = kb.select(e.isNegInf(mk), kb.f32(0.0), kb.expF32(e.fsub(mk, safe)));
      return SmallVector<Value>{e.fadd(a[0], e.fmul(sumAt(k), f))};
    });
    kb.store(m, mAll, tid);
    kb.store(sum.getResult(0), lAll, tid);
  }

  /// The final statistics of the group's heads from n splits' (max, sum of
  /// exp) at statAt(split, head) (its max; the sum follows it), into
  /// mAll/lAll: warp w merges heads w, w + warps, ..., its lanes a split
  /// each in turn, then across the warp. (One thread per head walking the
  /// splits waited on one load at a time: 36 us for 64 splits.) The caller
  /// barriers before reading mAll/lAll.
  void mergeSplits(Value n, function_ref<Value(Value, Value)> statAt) {
    auto forEachHead = [&](function_ref<void(Value)> fn) {
      if (g <= e.warps()) { // a warp a head (the loop below, unrolled)
        kb.ifThen(kb.cmp(CmpIPredicate::ult, warp, kb.idx(g)), [&] { fn(warp); });
        return;
      }
      e.loop(warp, kb.idx(g), kb.idx(e.warps()), {}, [&](Value head, ValueRange) {
        fn(head);
        return SmallVector<Value>{};
      });
    };
    forEachHead([&](Value head) {
      // Two splits a lane per trip, both loads issued first (64 splits: one
      // round trip, not two).
      SmallVector<Value> init = {kb.f32(kNegInf), kb.f32(0.0)};
      auto st = e.loop(lane, n, kb.idx(64), init, [&](Value sp, ValueRange a) {
        Value ms[2], ls[2];
        for (int64_t u = 0; u < 2; ++u) {
          Value spu = kb.add(sp, kb.idx(32 * u));
          Value in = kb.cmp(CmpIPredicate::ult, spu, n);
          Value at = statAt(kb.select(in, spu, sp), head);
          ms[u] = kb.select(in, kb.load(kb.arg(kArgStats), at), kb.f32(kNegInf));
          ls[u] = kb.select(in, kb.load(kb.arg(kArgStats), kb.add(at, kb.idx(1))), kb.f32(0.0));
        }
        Value m = a[0], l = a[1];
        for (int64_t u = 0; u < 2; ++u) {
          Value mNew = e.fmax(m, ms[u]);
          Value safe = kb.select(e.isNegInf(mNew), kb.f32(0.0), mNew);
          Value fa = kb.select(e.isNegInf(m), kb.f32(0.0), kb.expF32(e.fsub(m, safe)));
          Value fs = kb.select(e.isNegInf(ms[u]), kb.f32(0.0), kb.expF32(e.fsub(ms[u], safe)));
          l = e.fadd(e.fmul(l, fa), e.fmul(ls[u], fs));
          m = mNew;
        }
        return SmallVector<Value>{m, l};
      });
      Value m = st.getResult(0), l = st.getResult(1);
      Value mw = kb.warpMax(m, 32);
      Value f = kb.select(e.isNegInf(m), kb.f32(0.0),
                          kb.expF32(e.fsub(m, kb.select(e.isNegInf(mw), kb.f32(0.0), mw))));
      Value lw = kb.warpSum(e.fmul(l, f), 32);
      kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, kb.idx(0)), [&] {
        kb.store(mw, mAll, head);
        kb.store(lw, lAll, head);
      });
    });
  }

  /// The group probability of the entries [e0, e0 + chunkEntries) into `pc`
  /// (-inf where not visible), with mAll/lAll the final statistics. Where
  /// `stored`, the raw scores come from `storedAt(i, head)`; else they are
  /// computed again from the keys (the queries must be in shared memory).
  /// Stored scores are read `inFlight` entries (x g heads) at a time.
  void chunkProbs(Value e0, Value visible, Value pc, int64_t chunkEntries, Value stored,
                  int64_t inFlight, function_ref<Value(Value, int64_t)> storedAt) {
    Type f32 = b.getF32Type();
    kb.ifThen(stored, [&] {
      // p = exp(s - M) / L = 2^(s log2(e) - (M log2(e) + log2(L))): one ex2
      // per head and entry, no division.
      SmallVector<Value> bias;
      for (int64_t hh = 0; hh < g; ++hh)
        bias.push_back(e.fadd(e.fmul(kb.load(mAll, kb.idx(hh)), kb.f32(M_LOG2E)),
                              kb.ptxUnaryF32("lg2.approx.f32", kb.load(lAll, kb.idx(hh)))));
      // A thread's entries in groups of `inFlight`, every load of a group
      // issued before its math.
      int64_t perThread = (chunkEntries + e.threads() - 1) / e.threads();
      for (int64_t k0 = 0; k0 < perThread; k0 += inFlight) {
        int64_t k1 = std::min(perThread, k0 + inFlight);
        SmallVector<Value> valid;
        SmallVector<SmallVector<Value>> sv;
        for (int64_t k = k0; k < k1; ++k) {
          Value off = kb.add(tid, kb.idx(k * e.threads()));
          Value i = kb.add(e0, off);
          valid.push_back(e.land(e.land(kb.cmp(CmpIPredicate::ult, off, kb.idx(chunkEntries)),
                                        kb.cmp(CmpIPredicate::sge, i, kb.idx(0))),
                                 kb.cmp(CmpIPredicate::slt, i, visible)));
          Value ic = kb.select(valid.back(), i, kb.idx(0));
          sv.emplace_back();
          for (int64_t hh = 0; hh < g; ++hh)
            sv.back().push_back(storedAt(ic, hh));
        }
        for (int64_t k = k0; k < k1; ++k) {
          ArrayRef<Value> svk = sv[k - k0];
          Value sum = kb.f32(0.0);
          for (int64_t hh = 0; hh < g; ++hh)
            sum = e.fadd(sum, kb.ptxUnaryF32("ex2.approx.ftz.f32",
                                             e.fsub(e.fmul(svk[hh], kb.f32(M_LOG2E)), bias[hh])));
          Value ok = e.land(valid[k - k0], e.lnot(e.isNegInf(svk[0])));
          Value off = kb.add(tid, kb.idx(k * e.threads()));
          auto store = [&] { kb.store(kb.select(ok, sum, kb.f32(kNegInf)), pc, off); };
          if ((k + 1) * e.threads() > chunkEntries)
            kb.ifThen(kb.cmp(CmpIPredicate::ult, off, kb.idx(chunkEntries)), store);
          else
            store();
        }
      }
    });
    kb.ifThen(e.lnot(stored), [&] {
      e.loop(tid, kb.idx(chunkEntries), kb.idx(e.threads()), {}, [&](Value off, ValueRange) {
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
  }

  /// The max-pool of the chunk's block `blk` over `pc` (its pool_kernel
  /// entries from blk * pool_stride).
  Value pooled(Value pc, Value blk, int64_t ps, int64_t pk) {
    Value m = kb.f32(kNegInf);
    for (int64_t k = 0; k < pk; ++k)
      m = e.fmax(m, kb.load(pc, kb.add(kb.mul(blk, kb.idx(ps)), kb.idx(k))));
    return m;
  }
};

/// Selects the `k` largest of the keys keyAt(0 .. n-1) (unsigned; 0 is never
/// selected), ties to the lower position, and calls emit(position, rank) for
/// each winner, ranks 0, 1, ... in ascending position order. Returns how many
/// were selected (index). Block-wide: every thread calls it; `scratch` holds
/// selectScratch(warps) i32.
///
/// The k-th largest key is found by a radix select, 8 bits a pass from the
/// top: each pass histograms the keys that match the digits found so far
/// (shared-memory atomics; one a warp where its keys share the digit), and
/// one warp scans the 256 bins for the digit where the count from the top
/// reaches what is still missing. 4 passes of 2 barriers, where a bit-by-bit
/// search took 33 block-wide counts (8-10 us of a decode step's selection).
/// Winners are then ranked with one block-wide scan of (above, at threshold)
/// counts. A thread holds positions kHeld t .. kHeld t + kHeld - 1 of each
/// round of kHeld * 512 positions; with one round (n <= kHeld * 512) and
/// cacheKeys the keys stay in registers, else each pass reads them again
/// (keys in shared memory are cheaper to read again than to hold).
Value selectBest(Emitter &e, Value n, int64_t k, int64_t kHeld, bool cacheKeys,
                 function_ref<Value(Value)> keyAt, function_ref<void(Value, Value)> emit,
                 Value scratch, Value tid, Value warp, Value lane) {
  KernelBuilder &kb = e.kb;
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Type i32 = b.getI32Type();
  auto ci = [&](int64_t v) { return e.i32(v); };
  auto addI = [&](Value x, Value y) { return arith::AddIOp::create(b, loc, x, y).getResult(); };
  auto subI = [&](Value x, Value y) { return arith::SubIOp::create(b, loc, x, y).getResult(); };
  auto andI = [&](Value x, Value y) { return arith::AndIOp::create(b, loc, x, y).getResult(); };
  auto orI = [&](Value x, Value y) { return arith::OrIOp::create(b, loc, x, y).getResult(); };
  auto shl = [&](Value x, int64_t s) { return arith::ShLIOp::create(b, loc, x, ci(s)).getResult(); };
  auto shr = [&](Value x, int64_t s) { return arith::ShRUIOp::create(b, loc, x, ci(s)).getResult(); };
  auto icmp = [&](CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y).getResult();
  };
  auto boolToI32 = [&](Value x) { return arith::ExtUIOp::create(b, loc, i32, x).getResult(); };
  auto minI = [&](Value x, Value y) { return kb.select(icmp(CmpIPredicate::ult, x, y), x, y); };
  auto falseV = [&] { return arith::ConstantOp::create(b, loc, b.getBoolAttr(false)).getResult(); };

  // The lane read here, volatile: values derived from a hoistable read are
  // hoisted to the kernel's entry and held in registers through the fused
  // kernel's phase A (which then spills).
  Value laneI = LLVM::InlineAsmOp::create(b, loc, i32, ValueRange{}, "mov.u32 $0, %laneid;", "=r",
                                          /*has_side_effects=*/true, false,
                                          LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                                          ArrayAttr())
                    .getResult(0);
  lane = arith::IndexCastOp::create(b, loc, b.getIndexType(), laneI);
  int64_t perRound = kHeld * e.threads();
  // n known to fit one round: no code for more.
  std::optional<int64_t> nConst = getConstantIntValue(n);
  bool oneRound = nConst && *nConst <= perRound;
  Value held = oneRound ? arith::ConstantOp::create(b, loc, b.getBoolAttr(true)).getResult()
                        : kb.cmp(CmpIPredicate::ule, n, kb.idx(perRound));
  Value rounds = kb.div(kb.add(n, kb.idx(perRound - 1)), kb.idx(perRound));
  Value first = kb.mul(tid, kb.idx(kHeld));
  // Keys of round 0: read once into registers (cacheKeys), or again at each
  // use (cheap reads, e.g. from shared memory; no registers held).
  SmallVector<Value> cached;
  auto readKey = [&](Value j, Value in) {
    return kb.select(in, keyAt(kb.select(in, j, kb.idx(0))), ci(0));
  };
  auto heldKey = [&](int64_t r) {
    if (cacheKeys)
      return cached[r];
    Value j = kb.add(first, kb.idx(r));
    return readKey(j, kb.cmp(CmpIPredicate::ult, j, n));
  };
  if (cacheKeys)
    for (int64_t r = 0; r < kHeld; ++r) {
      Value j = kb.add(first, kb.idx(r));
      cached.push_back(readKey(j, e.land(held, kb.cmp(CmpIPredicate::ult, j, n))));
    }
  // fn(position, key) for each of this thread's keys (0 past n), round by
  // round (the same number of calls in every thread).
  auto visitKeys = [&](function_ref<void(Value, Value)> fn) {
    if (oneRound) {
      for (int64_t r = 0; r < kHeld; ++r)
        fn(kb.add(first, kb.idx(r)), heldKey(r));
      return;
    }
    auto ifHeld = scf::IfOp::create(b, loc, TypeRange{}, held, true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifHeld.getThenRegion().front());
      for (int64_t r = 0; r < kHeld; ++r)
        fn(kb.add(first, kb.idx(r)), heldKey(r));
      b.setInsertionPointToStart(&ifHeld.getElseRegion().front());
      e.loop(kb.idx(0), rounds, kb.idx(1), {}, [&](Value round, ValueRange) {
        for (int64_t r = 0; r < kHeld; ++r) {
          Value j = kb.add(kb.mul(round, kb.idx(perRound)), kb.add(first, kb.idx(r)));
          fn(j, readKey(j, kb.cmp(CmpIPredicate::ult, j, n)));
        }
        return SmallVector<Value>{};
      });
    }
  };

  // Radix select of the threshold T, the k-th largest non-zero key (0 when
  // there are fewer than k), and how many keys equal to T are taken.
  auto histAt = [&](int64_t which, Value bin) {
    return kb.add(kb.idx(e.warps() + which * kRadixBins), bin);
  };
  auto resAt = [&](int64_t which, int64_t field) {
    return kb.idx(e.warps() + 2 * kRadixBins + 2 * which + field);
  };
  kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(kRadixBins)),
            [&] { kb.store(ci(0), scratch, histAt(0, tid)); });
  e.barrier();
  Value prefix = ci(0), mask = ci(0), kRem = ci(k), few = falseV();
  for (int64_t pass = 0; pass < 4; ++pass) {
    int64_t shift = 24 - 8 * pass, cur = pass % 2;
    Value curMask = mask, curPrefix = prefix;
    visitKeys([&](Value, Value key) {
      Value match = e.land(icmp(CmpIPredicate::ne, key, ci(0)),
                           icmp(CmpIPredicate::eq, andI(key, curMask), curPrefix));
      Value digit = kb.select(match, andI(shr(key, shift), ci(kRadixBins - 1)), ci(-1));
      // A warp whose keys all fall in one bin (the top digits of scores of
      // one magnitude) adds once; else every lane adds its own (atomics on
      // one shared address serialise; match.any per key cost more).
      Value first0 = gpu::ShuffleOp::create(b, loc, digit, ci(0), ci(32), gpu::ShuffleMode::IDX)
                         .getShuffleResult();
      Value same = LLVM::InlineAsmOp::create(
                       b, loc, i32, ValueRange{boolToI32(icmp(CmpIPredicate::eq, digit, first0))},
                       "{ .reg .pred %p, %q; setp.ne.u32 %p, $1, 0; "
                       "vote.sync.all.pred %q, %p, 0xffffffff; selp.u32 $0, 1, 0, %q; }",
                       "=r,r", /*has_side_effects=*/true, false, LLVM::TailCallKind::None,
                       LLVM::AsmDialectAttr(), ArrayAttr())
                       .getResult(0);
      Value uniform = icmp(CmpIPredicate::ne, same, ci(0));
      Value add = kb.select(uniform, ci(32), ci(1));
      Value adds = e.land(match, e.lor(e.lnot(uniform), icmp(CmpIPredicate::eq, laneI, ci(0))));
      kb.ifThen(adds, [&] {
        kb.atomicAdd(scratch,
                     histAt(cur, arith::IndexCastOp::create(b, loc, b.getIndexType(), digit)), add);
      });
    });
    kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(kRadixBins)),
              [&] { kb.store(ci(0), scratch, histAt(1 - cur, tid)); });
    e.barrier();
    // Warp 0: lane l holds bins 8l .. 8l + 7; the count from the top down to
    // each lane's bins by a suffix scan, then the lane whose bins cross kRem
    // finds the digit.
    Value kRemNow = kRem;
    kb.ifThen(kb.cmp(CmpIPredicate::eq, warp, kb.idx(0)), [&] {
      constexpr int64_t per = kRadixBins / 32;
      SmallVector<Value> h;
      Value sum = ci(0);
      for (int64_t q = 0; q < per; ++q) {
        h.push_back(kb.load(scratch, histAt(cur, kb.add(kb.mul(lane, kb.idx(per)), kb.idx(q)))));
        sum = addI(sum, h.back());
      }
      Value incl = sum; // sum over lanes >= this one
      for (int64_t off = 1; off < 32; off *= 2) {
        auto dn = gpu::ShuffleOp::create(b, loc, incl, ci(off), ci(32), gpu::ShuffleMode::DOWN);
        incl = addI(incl, kb.select(dn.getValid(), dn.getShuffleResult(), ci(0)));
      }
      Value above = subI(incl, sum);
      Value total = gpu::ShuffleOp::create(b, loc, incl, ci(0), ci(32), gpu::ShuffleMode::IDX)
                        .getShuffleResult();
      Value cum = above, found = falseV(), digit = ci(0),
            countAbove = ci(0);
      for (int64_t q = per - 1; q >= 0; --q) {
        Value next = addI(cum, h[q]);
        Value hit = e.land(e.lnot(found), icmp(CmpIPredicate::uge, next, kRemNow));
        digit = kb.select(hit, addI(shl(laneI, 3), ci(q)), digit);
        countAbove = kb.select(hit, cum, countAbove);
        found = e.lor(found, hit);
        cum = next;
      }
      kb.ifThen(e.land(found, icmp(CmpIPredicate::ult, above, kRemNow)), [&] {
        kb.store(digit, scratch, resAt(cur, 0));
        kb.store(countAbove, scratch, resAt(cur, 1));
      });
      kb.ifThen(e.land(kb.cmp(CmpIPredicate::eq, lane, kb.idx(0)),
                       icmp(CmpIPredicate::ult, total, kRemNow)),
                [&] {
        kb.store(ci(-1), scratch, resAt(cur, 0));
        kb.store(ci(0), scratch, resAt(cur, 1));
      });
    });
    e.barrier();
    Value digit = kb.load(scratch, resAt(cur, 0));
    few = e.lor(few, icmp(CmpIPredicate::eq, digit, ci(-1)));
    prefix = orI(prefix, shl(andI(digit, ci(kRadixBins - 1)), shift));
    mask = orI(mask, ci(int64_t(kRadixBins - 1) << shift));
    kRem = subI(kRem, kb.load(scratch, resAt(cur, 1)));
  }
  Value thr = kb.select(few, ci(0), prefix);
  Value needEq = kb.select(few, ci(0), kRem);

  // Rank the winners: a block-wide exclusive scan of (keys above T, keys at
  // T) packed in 16-bit halves (a round has at most 8192 keys).
  auto classify = [&](Value key) -> std::pair<Value, Value> {
    Value live = icmp(CmpIPredicate::ne, key, ci(0));
    return {e.land(live, icmp(CmpIPredicate::ugt, key, thr)),
            e.land(live, e.land(e.lnot(few), icmp(CmpIPredicate::eq, key, thr)))};
  };
  auto rankRound = [&](ArrayRef<Value> js, ArrayRef<Value> ks, Value carryGt, Value carryEq) {
    Value packed = ci(0);
    for (Value key : ks) {
      auto [gt, eq] = classify(key);
      packed = addI(packed, addI(boolToI32(gt), shl(boolToI32(eq), 16)));
    }
    auto [excl, total] = e.blockScan(packed, scratch, warp, lane);
    Value gtB = addI(carryGt, andI(excl, ci(0xffff)));
    Value eqB = addI(carryEq, shr(excl, 16));
    for (size_t r = 0; r < ks.size(); ++r) {
      auto [gt, eq] = classify(ks[r]);
      Value rankGt = addI(gtB, minI(eqB, needEq));
      Value takeEq = e.land(eq, icmp(CmpIPredicate::ult, eqB, needEq));
      Value rankEq = addI(gtB, eqB);
      kb.ifThen(e.lor(gt, takeEq), [&] {
        emit(js[r], arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                               kb.select(gt, rankGt, rankEq)));
      });
      gtB = addI(gtB, boolToI32(gt));
      eqB = addI(eqB, boolToI32(eq));
    }
    return std::make_pair(addI(carryGt, andI(total, ci(0xffff))),
                          addI(carryEq, shr(total, 16)));
  };
  // Round 0 from the held keys: (above T, at T) counts.
  auto rankHeld = [&] {
    SmallVector<Value> js, ks;
    for (int64_t r = 0; r < kHeld; ++r) {
      js.push_back(kb.add(first, kb.idx(r)));
      ks.push_back(heldKey(r));
    }
    return rankRound(js, ks, ci(0), ci(0));
  };
  if (oneRound) {
    auto [gt0, eq0] = rankHeld();
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), addI(gt0, minI(eq0, needEq)));
  }
  auto ranked = scf::IfOp::create(b, loc, TypeRange{i32, i32}, held, true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ranked.getThenRegion().front());
    auto [gt0, eq0] = rankHeld();
    scf::YieldOp::create(b, loc, ValueRange{gt0, eq0});
    b.setInsertionPointToStart(&ranked.getElseRegion().front());
    auto loop = e.loop(kb.idx(0), rounds, kb.idx(1), {ci(0), ci(0)}, [&](Value round, ValueRange a) {
      SmallVector<Value> js, ks;
      for (int64_t r = 0; r < kHeld; ++r) {
        Value j = kb.add(kb.mul(round, kb.idx(perRound)), kb.add(first, kb.idx(r)));
        js.push_back(j);
        ks.push_back(readKey(j, kb.cmp(CmpIPredicate::ult, j, n)));
      }
      auto [g1, q1] = rankRound(js, ks, a[0], a[1]);
      return SmallVector<Value>{g1, q1};
    });
    scf::YieldOp::create(b, loc, loop.getResults());
  }
  Value taken = addI(ranked.getResult(0), minI(ranked.getResult(1), needEq));
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), taken);
}

/// Forced blocks of a query whose own block is `own`: j < initBlocks or
/// j > own - localBlocks; their key is +inf's.
Value blockKey(Emitter &e, Value score, Value j, Value own, int64_t initBlocks,
               int64_t localBlocks) {
  KernelBuilder &kb = e.kb;
  Value localStart = kb.sub(kb.add(own, kb.idx(1)), kb.idx(localBlocks));
  Value forced = e.lor(kb.cmp(CmpIPredicate::slt, j, kb.idx(initBlocks)),
                       kb.cmp(CmpIPredicate::sge, j, localStart));
  return orderKey(e, kb.select(forced, kb.f32(std::numeric_limits<float>::infinity()), score));
}

} // namespace

//===----------------------------------------------------------------------===//
// sala.block_scores
//===----------------------------------------------------------------------===//

static LogicalResult buildBlockScoresKernel(Operation *op, KernelBuilder &kb) {
  auto bs = cast<sala::BlockScoresOp>(op);
  auto qt = cast<RankedTensorType>(bs.getQuery().getType());
  sala::CompressedKeysType keys = bs.getKeys().getType();
  int64_t h = qt.getDimSize(1), d = qt.getDimSize(2), kvh = keys.getKvHeads();
  int64_t g = bs.getGroupSize();
  int64_t block = bs.getBlockSize(), ps = bs.getPoolStride(), pk = bs.getPoolKernel(),
          pad = bs.getPoolPadding();
  int64_t chunkEntries = ps * kUnfusedThreads + pk;
  Type f32 = Float32Type::get(op->getContext());
  Type i32 = IntegerType::get(op->getContext(), 32);

  Stage1Params prm(kb, qt, keys);
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
  prm.addSizes(kb);
  unsigned maxBlocks = kb.addSize("max_blocks", "last dimension of scores");
  unsigned splits = kb.addSize("splits", "blocks per (token, KV group), at least 1; split "
                                         "mode needs splits * 2048 >= the visible entries "
                                         "(else one block does it all)");
  kb.addSize("split_slots", "rows of the split workspace: tokens * kv_heads * splits when "
                            "splits > 1, else 0 (unused)");
  if (failed(kb.requireThreads(op, kUnfusedThreads)))
    return failure();
  kb.setGrid(GridDim::scaled("tokens", kvh, 1), GridDim::scaled("splits", 1, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Emitter e{kb, b, loc};
  Stage1 st(kb, e, keys, h, d, g, bs.getEffectiveScale(), prm);
  st.kArgStats = partML;
  Value pc = kb.addWorkgroupBuffer(f32, chunkEntries);
  Value tid = st.tid;
  st.setPair(kb.div(kb.blockId(), kb.idx(kvh)), kb.rem(kb.blockId(), kb.idx(kvh)));
  Value token = st.token, group = st.group;
  st.loadQuery();
  Value visible = st.visible();

  // Split mode: this block's entries [lo, hi); its raw scores go to the
  // workspace, [slot][head][entry - lo].
  Value split = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value nSplits = kb.arg(splits);
  Value per = kb.div(kb.add(visible, kb.sub(nSplits, kb.idx(1))), nSplits);
  Value splitMode = e.land(kb.cmp(CmpIPredicate::ugt, nSplits, kb.idx(1)),
                           kb.cmp(CmpIPredicate::ule, per, kb.idx(kSplitEntries)));
  Value pairIdx = kb.add(kb.mul(token, kb.idx(kvh)), group);
  Value slotBase = kb.mul(pairIdx, nSplits); // split slot of split 0
  Value lo = kb.select(splitMode, e.minIdx(kb.mul(split, per), visible), kb.idx(0));
  Value hi = kb.select(splitMode, e.minIdx(kb.add(lo, per), visible), visible);
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
    st.stats(lo, hi, [&](Value i, ArrayRef<Value> s) {
      kb.ifThen(splitMode, [&] {
        for (int64_t hh = 0; hh < g; ++hh)
          kb.store(s[hh], kb.arg(partS), wsAt(i, hh));
      });
    });

    // Split mode: publish this split's statistics, count it done; the block
    // that finishes last merges them and goes on to pass 2 (the others stop).
    Value flag = pc; // pass 2's chunk buffer is free until then
    kb.store(kb.f32(1.0), flag, kb.idx(0)); // uniform default: go on
    kb.ifThen(splitMode, [&] {
      Value mySlot = kb.add(slotBase, split);
      kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
        Value at = kb.mul(kb.add(kb.mul(mySlot, kb.idx(g)), tid), kb.idx(2));
        kb.store(kb.load(st.mAll, tid), kb.arg(partML), at);
        kb.store(kb.load(st.lAll, tid), kb.arg(partML), kb.add(at, kb.idx(1)));
      });
      kb.ifLastArrival(kb.arg(counters), pairIdx, nSplits, flag, [&] {
        st.mergeSplits(nSplits, [&](Value sp, Value head) {
          return kb.mul(kb.add(kb.mul(kb.add(slotBase, sp), kb.idx(g)), head), kb.idx(2));
        });
      });
    });
    e.barrier();
    Value goOn = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                       kb.load(flag, kb.idx(0)), kb.f32(1.0));
    e.barrier(); // everyone has read the flag before pass 2 reuses the buffer
    kb.ifThen(goOn, [&] {
      // Pass 2: group probabilities per entry, max-pooled onto blocks in chunks.
      Value rowOut = kb.mul(pairIdx, kb.arg(maxBlocks));
      Value nOwn = kb.add(kb.div(st.pos, kb.idx(block)), kb.idx(1));
      Value nWrite = e.minIdx(nOwn, kb.arg(maxBlocks));
      e.loop(kb.idx(0), nWrite, kb.idx(e.threads()), {}, [&](Value j0, ValueRange) {
        Value e0 = kb.sub(kb.mul(j0, kb.idx(ps)), kb.idx(pad));
        // Three of a thread's entries (48 loads) in flight at once: this
        // block pools the whole sequence alone (all five spill).
        st.chunkProbs(e0, visible, pc, chunkEntries, splitMode, 3,
                      [&](Value i, int64_t hh) {
          return kb.load(kb.arg(partS), wsAt(i, hh));
        });
        e.barrier();
        Value j = kb.add(j0, tid);
        kb.ifThen(kb.cmp(CmpIPredicate::ult, j, nWrite), [&] {
          kb.store(st.pooled(pc, tid, ps, pk), kb.arg(out), kb.add(rowOut, j));
        });
        e.barrier();
        return SmallVector<Value>{};
      });
      // Blocks past the query's own block.
      e.loop(kb.add(nWrite, tid), kb.arg(maxBlocks), kb.idx(e.threads()), {},
             [&](Value j, ValueRange) {
               kb.store(kb.f32(kNegInf), kb.arg(out), kb.add(rowOut, j));
               return SmallVector<Value>{};
             });
    });
  });
  return success();
}

//===----------------------------------------------------------------------===//
// sala.topk_blocks
//===----------------------------------------------------------------------===//

static LogicalResult buildTopkBlocksKernel(Operation *op, KernelBuilder &kb) {
  auto tk = cast<sala::TopkBlocksOp>(op);
  int64_t kvh = tk.getScores().getType().getDimSize(1);
  int64_t kSel = tk.getTopk() + tk.getLocalBlocks();
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
  if (failed(kb.requireThreads(op, kUnfusedThreads)))
    return failure();
  kb.setGrid(GridDim::scaled("tokens", kvh, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Emitter e{kb, b, loc};
  Value scratch = kb.addWorkgroupBuffer(i32, selectScratch(e.warps()), 16);
  Value tid = kb.threadId();
  Value lane = kb.rem(tid, kb.idx(32)), warp = kb.div(tid, kb.idx(32));
  Value token = kb.div(kb.blockId(), kb.idx(kvh));
  Value group = kb.rem(kb.blockId(), kb.idx(kvh));
  Value seq, pos; // plain values: lambdas below capture them
  std::tie(seq, pos) = kb.queryPosition(kb.arg(cu), kb.arg(lens), kb.arg(batch), token);
  Value own = kb.div(pos, kb.idx(tk.getBlockSize()));
  Value nCand = kb.add(own, kb.idx(1));
  Value rowIn = kb.mul(kb.add(kb.mul(token, kb.idx(kvh)), group), kb.arg(maxBlocks));
  Value rowOut = kb.mul(kb.add(kb.mul(token, kb.idx(kvh)), group), kb.idx(kSel));

  auto keyAt = [&](Value j) {
    Value inScores = kb.cmp(CmpIPredicate::ult, j, kb.arg(maxBlocks));
    Value raw = kb.load(kb.arg(sc), kb.add(rowIn, kb.select(inScores, j, kb.idx(0))));
    return blockKey(e, kb.select(inScores, raw, kb.f32(kNegInf)), j, own, tk.getInitBlocks(),
                    tk.getLocalBlocks());
  };
  // 16 keys a thread: 8192 candidates, 512K tokens at 64-token blocks.
  Value taken = selectBest(
      e, nCand, kSel, 16, /*cacheKeys=*/true, keyAt,
      [&](Value j, Value rank) {
        kb.store(arith::IndexCastOp::create(b, loc, i32, j), kb.arg(out), kb.add(rowOut, rank));
      },
      scratch, tid, warp, lane);
  e.loop(kb.add(taken, tid), kb.idx(kSel), kb.idx(e.threads()), {}, [&](Value r, ValueRange) {
    kb.store(e.i32(-1), kb.arg(out), kb.add(rowOut, r));
    return SmallVector<Value>{};
  });
  return success();
}

//===----------------------------------------------------------------------===//
// sala.fused_sparse_select
//===----------------------------------------------------------------------===//

namespace {

/// A loop over work units claimed from the global ticket counter
/// tickets[0], one unit per trip for the whole block: tickets in [lo, hi)
/// are this loop's units (unit = ticket - lo); the loop ends at the first
/// ticket past them, which stays in `claim`. With `continueClaim` the first
/// trip takes that ticket, left by the loop before (which ended on it),
/// instead of claiming another: the two phases share one counter, so the
/// ticket that ends phase A is a phase B unit, not a second round trip.
void claimLoop(KernelBuilder &kb, Emitter &e, Value tickets, Value lo, Value hi, Value claim,
               bool continueClaim, function_ref<void(Value)> body) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Type indexType = b.getIndexType();
  Value fresh0 = arith::ConstantOp::create(b, loc, b.getBoolAttr(!continueClaim));
  auto w = scf::WhileOp::create(b, loc, TypeRange{indexType}, ValueRange{fresh0});
  OpBuilder::InsertionGuard guard(b);
  Block *before = b.createBlock(&w.getBefore(), {}, TypeRange{b.getI1Type()}, {loc});
  b.setInsertionPointToStart(before);
  e.barrier(); // the previous claim has been read by everyone
  kb.ifThen(e.land(before->getArgument(0), kb.cmp(CmpIPredicate::eq, kb.threadId(), kb.idx(0))),
            [&] { kb.store(kb.atomicAdd(tickets, kb.idx(0), e.i32(1)), claim, kb.idx(0)); });
  e.barrier();
  Value ticket = kb.loadIndex(claim, kb.idx(0));
  scf::ConditionOp::create(b, loc, kb.cmp(CmpIPredicate::ult, ticket, hi),
                           ValueRange{kb.sub(ticket, lo)});
  Block *after = b.createBlock(&w.getAfter(), {}, TypeRange{indexType}, {loc});
  b.setInsertionPointToStart(after);
  body(after->getArgument(0));
  scf::YieldOp::create(b, loc, ValueRange{arith::ConstantOp::create(b, loc, b.getBoolAttr(true))});
}

/// Thread 0 waits until counters[index] >= target (atomic reads, with a
/// back-off), then the block acquires what the counted blocks released.
void waitForCount(KernelBuilder &kb, Emitter &e, Value counters, Value index, Value target) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  kb.ifThen(kb.cmp(CmpIPredicate::eq, kb.threadId(), kb.idx(0)), [&] {
    auto w = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(b.createBlock(&w.getBefore()));
      Value seen = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                              kb.atomicAdd(counters, index, e.i32(0)));
      scf::ConditionOp::create(b, loc, kb.cmp(CmpIPredicate::ult, seen, target), ValueRange{});
      b.setInsertionPointToStart(b.createBlock(&w.getAfter()));
      LLVM::InlineAsmOp::create(b, loc, Type(), ValueRange{}, "nanosleep.u32 64;", "",
                                /*has_side_effects=*/true, /*is_align_stack=*/false,
                                LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
      scf::YieldOp::create(b, loc, ValueRange{});
    }
    kb.fenceGpu(); // acquires for the block: the barrier below orders the rest
  });
  e.barrier();
}

} // namespace

namespace {

/// The fused selection's parameters beyond stage 1's: the output and the
/// workspaces its two phases meet in, and its sizes.
struct FusedSelectParams {
  unsigned out, partS, partML, cand, counters, tickets, maxBlocks, splits;
};

FusedSelectParams declareFusedSelectParams(KernelBuilder &kb, Stage1Params &prm, int64_t kvh,
                                           int64_t g, int64_t kSel, Type i32, Type f32) {
  FusedSelectParams p;
  p.out = kb.addBuffer("blocks", i32, {"tokens", kvh, kSel},
                       "[tokens, kv_heads, selected] selected blocks, ascending, "
                       "-1 padded");
  p.partS = kb.addBuffer("partial_scores", f32, {"select_slots", g, kSelectPartEntries},
                         "[select_slots, group, 512] workspace: each split's raw "
                         "scores");
  p.partML = kb.addBuffer("partial_stats", f32, {"tokens", kvh, "select_splits", g, 2},
                          "[tokens, kv_heads, select_splits, group, 2] workspace: each "
                          "split's per-head max and sum of exp");
  p.cand = kb.addBuffer("candidates", i32, {"tokens", kvh, "max_blocks", 2},
                        "[tokens, kv_heads, max_blocks, 2] workspace: each chunk of "
                        "512 blocks' best blocks (key, index)");
  p.counters = kb.addBuffer("counters", i32, {"tokens", kvh, 2},
                            "[tokens, kv_heads, 2] workspace: zero before the first "
                            "launch; every launch leaves it zero");
  p.tickets = kb.addBuffer("tickets", i32, {3},
                           "[3] workspace: zero before the first launch; every "
                           "launch leaves it zero");
  prm.addSizes(kb);
  p.maxBlocks = kb.addSize("max_blocks", "blocks of the longest sequence (at least)");
  p.splits = kb.addSize(
      "select_splits", "parts each (token, KV group)'s compressed keys are split into, at "
                       "least 1 (any value is correct; one part per 512 entries is fast); a "
                       "part's scores are kept, not computed twice, when select_splits > 1 "
                       "and it has at most 512 entries");
  kb.addSize("select_slots", "rows of the score workspace: tokens * kv_heads * select_splits "
                             "when select_splits > 1, else 0 (unused)");
  return p;
}

/// The body of the fused selection, part by part: phase A units (a pair's
/// split: its scores and per-head statistics), phase B units (a pair's chunk
/// of 512 blocks: pooled, forced and its best kept as candidates, or the
/// selection itself for a one-chunk pair), the final selection among a pair's
/// candidates by its last chunk, and the tickets' reset.
class FusedSelectEmitter {
public:
  FusedSelectEmitter(sala::FusedSparseSelectOp fs, KernelBuilder &kb, const Stage1Params &prm,
                     const FusedSelectParams &p)
      : fs(fs), kb(kb), b(kb.builder()), loc(kb.getLoc()), prm(prm), p(p),
        qt(cast<RankedTensorType>(fs.getQuery().getType())), keys(fs.getKeys().getType()),
        kvh(keys.getKvHeads()), g(fs.getGroupSize()), block(fs.getBlockSize()),
        ps(fs.getPoolStride()), pk(fs.getPoolKernel()), pad(fs.getPoolPadding()),
        kSel(fs.getTopk() + fs.getLocalBlocks()), chunkBlocks(fusedSelectChunkBlocks(kb.threads())),
        blocksPerThread(chunkBlocks / kb.threads()), kc(std::min<int64_t>(kSel, chunkBlocks)),
        chunkEntries(ps * chunkBlocks + pk), f32(Float32Type::get(fs.getContext())),
        i32(IntegerType::get(fs.getContext(), 32)), e{kb, kb.builder(), kb.getLoc()},
        st(kb, e, keys, qt.getDimSize(1), qt.getDimSize(2), g, fs.getEffectiveScale(), prm) {}

  void emit();

private:
  /// What a unit of either phase knows of its pair.
  struct Pair {
    Value index, visible, per, perSafe, stored, live;
  };
  Pair openPair(Value pair);
  Value wsAt(const Pair &pr, Value i, int64_t hh);
  Value statAt(const Pair &pr, Value sp, Value head);
  void scoreUnit(Value u);
  void chunkUnit(Value u);
  void keepChunkBest(const Pair &pr, Value c, Value j0, Value nChunks);
  void finalSelection(const Pair &pr, Value nChunks);
  void resetTickets();

  sala::FusedSparseSelectOp fs;
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  const Stage1Params &prm;
  const FusedSelectParams &p;
  RankedTensorType qt;
  sala::CompressedKeysType keys;
  const int64_t kvh, g, block, ps, pk, pad;
  const int64_t kSel;         // blocks selected
  const int64_t chunkBlocks;     // blocks of a phase B unit
  const int64_t blocksPerThread; // of the chunk's blocks
  const int64_t kc;           // candidates a chunk keeps
  const int64_t chunkEntries; // pooled entries of a chunk
  Type f32, i32;
  Emitter e;
  Stage1 st;
  // Shared memory: the chunk's probabilities, its blocks' keys, the staged
  // candidates (keys, indices), the radix select's scratch, the claimed unit
  // and the last-arrival flag.
  Value pc, keysW, staged, stagedIndex, scratch, claim, flag, tid;
  Value nSplits, pairs, maxChunks;
  // Sequences shorter than this take the dense path of the stage 2 that reads
  // the selection (FusedSparseSelectOp::getUnusedBelowSeqLen): their pairs
  // are skipped, rows left unwritten, counters untouched.
  int64_t skipBelow = 0;
  // Of the current chunk unit: its pair's candidate row and base, output row.
  Value candRow, candBase, rowOut;
};

FusedSelectEmitter::Pair FusedSelectEmitter::openPair(Value pair) {
  st.setPair(kb.div(pair, kb.idx(kvh)), kb.rem(pair, kb.idx(kvh)));
  Pair pr;
  pr.index = pair;
  pr.live = skipBelow ? kb.cmp(CmpIPredicate::uge, kb.loadIndex(kb.arg(prm.lens), st.seq),
                               kb.idx(skipBelow))
                      : arith::ConstantOp::create(b, loc, b.getBoolAttr(true)).getResult();
  pr.visible = st.visible();
  pr.per = kb.div(kb.add(pr.visible, kb.sub(nSplits, kb.idx(1))), nSplits);
  pr.perSafe = kb.select(kb.cmp(CmpIPredicate::eq, pr.per, kb.idx(0)), kb.idx(1), pr.per);
  pr.stored = e.land(kb.cmp(CmpIPredicate::ugt, nSplits, kb.idx(1)),
                     kb.cmp(CmpIPredicate::ule, pr.per, kb.idx(kSelectPartEntries)));
  return pr;
}

/// Workspace index of entry i's raw score for a head: [slot][head][i - lo].
Value FusedSelectEmitter::wsAt(const Pair &pr, Value i, int64_t hh) {
  Value head = kb.idx(hh);
  Value sp = kb.div(i, pr.perSafe);
  Value row = kb.add(kb.mul(kb.add(kb.mul(pr.index, nSplits), sp), kb.idx(g)), head);
  return kb.add(kb.mul(row, kb.idx(kSelectPartEntries)), kb.sub(i, kb.mul(sp, pr.perSafe)));
}

Value FusedSelectEmitter::statAt(const Pair &pr, Value sp, Value head) {
  return kb.mul(kb.add(kb.mul(kb.add(kb.mul(pr.index, nSplits), sp), kb.idx(g)), head),
                kb.idx(2));
}

void FusedSelectEmitter::emit() {
  st.kArgStats = p.partML;
  st.pieces = 2; // 4 spill at the 128 registers of 512 threads
  pc = kb.addWorkgroupBuffer(f32, chunkEntries);
  keysW = kb.addWorkgroupBuffer(i32, chunkBlocks);
  staged = kb.addWorkgroupBuffer(i32, kFinalStaged, 16);
  stagedIndex = kb.addWorkgroupBuffer(i32, kFinalStaged, 16);
  scratch = kb.addWorkgroupBuffer(i32, selectScratch(e.warps()), 16);
  claim = kb.addWorkgroupBuffer(i32, 1);
  flag = kb.addWorkgroupBuffer(i32, 1);
  tid = st.tid;
  nSplits = kb.arg(p.splits);
  pairs = kb.mul(kb.arg(prm.tokens), kb.idx(kvh));
  maxChunks = kb.div(kb.add(kb.arg(p.maxBlocks), kb.idx(chunkBlocks - 1)), kb.idx(chunkBlocks));
  skipBelow = fs.getUnusedBelowSeqLen();

  // Phase A, unit (pair, split). Units are claimed from a ticket, so every
  // claimed unit belongs to a running block and finishes without waiting on
  // anything.
  Value totalA = kb.mul(pairs, nSplits);
  claimLoop(kb, e, kb.arg(p.tickets), kb.idx(0), totalA, claim, false,
            [&](Value u) { scoreUnit(u); });
  // Phase B, unit (pair, chunk of 512 blocks): once the pair's phase A is
  // done (every phase A unit is claimed by now, so the wait ends).
  claimLoop(kb, e, kb.arg(p.tickets), totalA, kb.add(totalA, kb.mul(pairs, maxChunks)), claim,
            true, [&](Value u) { chunkUnit(u); });
  resetTickets();
}

/// Phase A, unit (pair, split): the split's scores (kept in the workspace
/// where they fit) and per-head statistics, then the split counts itself done.
void FusedSelectEmitter::scoreUnit(Value u) {
  Pair pr = openPair(kb.div(u, nSplits));
  Value split = kb.rem(u, nSplits);
  // (A skipped pair's units do nothing; the condition is the block's.)
  kb.ifThen(pr.live, [&] {
    if (!st.mmaScoring()) // the tensor-core scoring reads q into registers itself
      st.loadQuery();
    Value lo = e.minIdx(kb.mul(split, pr.per), pr.visible);
    Value hi = e.minIdx(kb.add(lo, pr.per), pr.visible);
    // The unit's scores go to its own workspace rows, [slot][head][i - lo]
    // (what wsAt gives, without its division by the split length per score).
    Value slotBase = kb.mul(kb.add(kb.mul(pr.index, nSplits), split), kb.idx(g));
    auto unitAt = [&](Value i, Value head) {
      return kb.add(kb.mul(kb.add(slotBase, head), kb.idx(kSelectPartEntries)), kb.sub(i, lo));
    };
    if (st.mmaScoring()) {
      st.statsMma(lo, hi, [&](Value i, Value head, Value sv) {
        kb.ifThen(e.land(pr.stored, kb.cmp(CmpIPredicate::ult, i, hi)),
                  [&] { kb.store(sv, kb.arg(p.partS), unitAt(i, head)); });
      });
    } else {
      st.stats(lo, hi, [&](Value i, ArrayRef<Value> sc) {
        kb.ifThen(pr.stored, [&] {
          for (int64_t hh = 0; hh < g; ++hh)
            kb.store(sc[hh], kb.arg(p.partS), unitAt(i, kb.idx(hh)));
        });
      });
    }
    kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
      Value at = statAt(pr, split, tid);
      kb.store(kb.load(st.mAll, tid), kb.arg(p.partML), at);
      kb.store(kb.load(st.lAll, tid), kb.arg(p.partML), kb.add(at, kb.idx(1)));
    });
    e.barrier(); // every thread's stores, then thread 0 releases them all
    kb.ifThen(kb.cmp(CmpIPredicate::eq, tid, kb.idx(0)), [&] {
      kb.fenceGpu();
      kb.atomicAdd(kb.arg(p.counters), kb.mul(pr.index, kb.idx(2)), e.i32(1));
    });
  });
}

/// Phase B, unit (pair, chunk of 512 blocks): merge the splits' statistics,
/// pool the chunk's blocks (scores kept or recomputed), force the initial and
/// local blocks, and keep the chunk's best; the last chunk of a pair to
/// finish selects among all of them.
void FusedSelectEmitter::chunkUnit(Value u) {
  Pair pr = openPair(kb.div(u, maxChunks));
  Value c = kb.rem(u, maxChunks);
  Value own = kb.div(st.pos, kb.idx(block));
  Value nCand = e.minIdx(kb.add(own, kb.idx(1)), kb.arg(p.maxBlocks));
  Value nChunks = kb.select(pr.live,
                            kb.div(kb.add(nCand, kb.idx(chunkBlocks - 1)), kb.idx(chunkBlocks)),
                            kb.idx(0));
  kb.ifThen(kb.cmp(CmpIPredicate::ult, c, nChunks), [&] {
    waitForCount(kb, e, kb.arg(p.counters), kb.mul(pr.index, kb.idx(2)), nSplits);
    st.mergeSplits(nSplits, [&](Value sp, Value head) { return statAt(pr, sp, head); });
    e.barrier(); // publishes mAll/lAll
    kb.ifThen(e.lnot(pr.stored), [&] { st.loadQuery(); }); // for recomputed scores
    Value j0 = kb.mul(c, kb.idx(chunkBlocks));
    Value e0 = kb.sub(kb.mul(j0, kb.idx(ps)), kb.idx(pad));
    // Three entries (48 loads) a thread in flight at 16 warps, what their
    // registers allow; fewer warps have more registers for more.
    int64_t inFlight = std::max<int64_t>(1, 3 * 512 / e.threads());
    st.chunkProbs(e0, pr.visible, pc, chunkEntries, pr.stored, inFlight,
                  [&](Value i, int64_t hh) { return kb.load(kb.arg(p.partS), wsAt(pr, i, hh)); });
    e.barrier();
    // Thread t pools and keys the chunk's blocks t, t + threads, ...
    for (int64_t r = 0; r < blocksPerThread; ++r) {
      Value local = kb.add(tid, kb.idx(r * e.threads()));
      Value j = kb.add(j0, local);
      Value key = blockKey(e, st.pooled(pc, local, ps, pk), j, own, fs.getInitBlocks(),
                           fs.getLocalBlocks());
      kb.store(kb.select(kb.cmp(CmpIPredicate::ult, j, nCand), key, e.i32(0)), keysW, local);
    }
    e.barrier();
    keepChunkBest(pr, c, j0, nChunks);
  });
}

/// The chunk's best kc blocks: the selection itself for a pair of one chunk
/// (up to 512 blocks, 32K tokens: written out directly, with no candidates,
/// arrival or final selection, ~5 us), else the chunk's candidates.
void FusedSelectEmitter::keepChunkBest(const Pair &pr, Value c, Value j0, Value nChunks) {
  candRow = kb.mul(pr.index, kb.mul(kb.arg(p.maxBlocks), kb.idx(2)));
  candBase = kb.add(candRow, kb.mul(c, kb.idx(2 * kc)));
  rowOut = kb.mul(pr.index, kb.idx(kSel));
  Value single = kc == kSel ? kb.cmp(CmpIPredicate::eq, nChunks, kb.idx(1))
                            : arith::ConstantOp::create(b, loc, b.getBoolAttr(false)).getResult();
  Value taken = selectBest(
      e, kb.idx(chunkBlocks), kc, blocksPerThread, /*cacheKeys=*/false,
      [&](Value pos) { return kb.load(keysW, pos); },
      [&](Value pos, Value rank) {
        Value blk = arith::IndexCastOp::create(b, loc, i32, kb.add(j0, pos));
        kb.ifThen(single, [&] { kb.store(blk, kb.arg(p.out), kb.add(rowOut, rank)); });
        kb.ifThen(e.lnot(single), [&] {
          Value at = kb.add(candBase, kb.mul(rank, kb.idx(2)));
          kb.store(kb.load(keysW, pos), kb.arg(p.cand), at);
          kb.store(blk, kb.arg(p.cand), kb.add(at, kb.idx(1)));
        });
      },
      scratch, tid, st.warp, st.lane);
  e.loop(kb.add(taken, tid), kb.idx(kc), kb.idx(e.threads()), {}, [&](Value r, ValueRange) {
    kb.ifThen(single, [&] { kb.store(e.i32(-1), kb.arg(p.out), kb.add(rowOut, r)); });
    kb.ifThen(e.lnot(single), [&] {
      Value at = kb.add(candBase, kb.mul(r, kb.idx(2)));
      kb.store(e.i32(0), kb.arg(p.cand), at);
      kb.store(e.i32(-1), kb.arg(p.cand), kb.add(at, kb.idx(1)));
    });
    return SmallVector<Value>{};
  });
  kb.ifThen(e.land(single, kb.cmp(CmpIPredicate::eq, tid, kb.idx(0))), [&] {
    kb.store(e.i32(0), kb.arg(p.counters), kb.mul(pr.index, kb.idx(2)));
  });
  // The pair's last chunk: the final selection among every chunk's
  // candidates (in ascending block order, chunk after chunk).
  kb.ifThen(e.lnot(single), [&] {
    kb.ifLastArrival(kb.arg(p.counters), kb.add(kb.mul(pr.index, kb.idx(2)), kb.idx(1)),
                     nChunks, flag, [&] { finalSelection(pr, nChunks); });
  });
}

/// The final selection among a pair's candidates, by its last chunk.
void FusedSelectEmitter::finalSelection(const Pair &pr, Value nChunks) {
  kb.ifThen(kb.cmp(CmpIPredicate::eq, tid, kb.idx(0)), [&] {
    kb.store(e.i32(0), kb.arg(p.counters), kb.mul(pr.index, kb.idx(2)));
  });
  Value all = kb.mul(nChunks, kb.idx(kc));
  // The candidates (key, index) into shared memory (as many as fit; 32
  // chunks, 1M tokens at 64-token blocks): the selection holds up to 4 keys a
  // thread in registers (more are read again at each pass), and the winners'
  // indices come without another round trip to global memory (3.9-4.5 -> 3.5
  // us for the final selection).
  e.loop(tid, e.minIdx(all, kb.idx(kFinalStaged)), kb.idx(e.threads()), {},
         [&](Value pos, ValueRange) {
    Value two = kb.loadVector(kb.arg(p.cand), kb.add(candRow, kb.mul(pos, kb.idx(2))), 2, 8);
    kb.store(vector::ExtractOp::create(b, loc, two, ArrayRef<int64_t>{0}), staged, pos);
    kb.store(vector::ExtractOp::create(b, loc, two, ArrayRef<int64_t>{1}), stagedIndex, pos);
    return SmallVector<Value>{};
  });
  e.barrier();
  // Field `field` (0 key, 1 index) of candidate pos: from shared memory where
  // staged, else from the workspace.
  auto candidate = [&](Value staging, Value pos, int64_t field) {
    auto r = scf::IfOp::create(b, loc, TypeRange{i32},
                               kb.cmp(CmpIPredicate::ult, pos, kb.idx(kFinalStaged)), true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&r.getThenRegion().front());
    scf::YieldOp::create(b, loc, ValueRange{kb.load(staging, pos)});
    b.setInsertionPointToStart(&r.getElseRegion().front());
    Value at = kb.add(candRow, kb.mul(pos, kb.idx(2)));
    if (field)
      at = kb.add(at, kb.idx(field));
    scf::YieldOp::create(b, loc, ValueRange{kb.load(kb.arg(p.cand), at)});
    return r.getResult(0);
  };
  Value n = selectBest(
      e, all, kSel, std::max<int64_t>(1, kFinalPerRound / e.threads()), /*cacheKeys=*/true,
      [&](Value pos) { return candidate(staged, pos, 0); },
      [&](Value pos, Value rank) {
        kb.store(candidate(stagedIndex, pos, 1), kb.arg(p.out), kb.add(rowOut, rank));
      },
      scratch, tid, st.warp, st.lane);
  e.loop(kb.add(n, tid), kb.idx(kSel), kb.idx(e.threads()), {}, [&](Value r, ValueRange) {
    kb.store(e.i32(-1), kb.arg(p.out), kb.add(rowOut, r));
    return SmallVector<Value>{};
  });
  e.barrier();
}

/// The last block out resets the tickets for the next launch.
void FusedSelectEmitter::resetTickets() {
  kb.fenceGpu();
  e.barrier();
  kb.ifThen(kb.cmp(CmpIPredicate::eq, tid, kb.idx(0)), [&] {
    Value blocks = kb.mul(gpu::GridDimOp::create(b, loc, gpu::Dimension::x),
                          gpu::GridDimOp::create(b, loc, gpu::Dimension::y));
    Value before = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                              kb.atomicAdd(kb.arg(p.tickets), kb.idx(2), e.i32(1)));
    kb.ifThen(kb.cmp(CmpIPredicate::eq, before, kb.sub(blocks, kb.idx(1))), [&] {
      kb.fenceGpu();
      for (int64_t t = 0; t < 3; ++t)
        kb.store(e.i32(0), kb.arg(p.tickets), kb.idx(t));
    });
  });
}

} // namespace

/// The fused selection takes any whole number of warps from 4 to 32 (its
/// kernel_config), with the selected blocks at most half a chunk's: a chunk
/// of C >= 512 blocks (fusedSelectChunkBlocks) keeps min(selected, C) candidates, and the
/// candidates of all chunks must fit the max_blocks rows of their workspace
/// (n chunks keep n * selected <= (n - 1) * C + 1 of them).
static LogicalResult checkFusedSelectThreads(sala::FusedSparseSelectOp fs, int64_t threads) {
  if (threads % 32 != 0 || threads < 128 || threads > 32 * kMaxWarps)
    return fs.emitOpError() << "kernel_config threads = " << threads
                            << ": the fused selection needs a multiple of 32 from 128 to "
                            << 32 * kMaxWarps;
  int64_t selected = fs.getTopk() + fs.getLocalBlocks();
  int64_t chunk = fusedSelectChunkBlocks(threads);
  if (2 * selected > chunk)
    return fs.emitOpError() << "selects " << selected << " blocks (topk + local_blocks), more "
                            << "than half of the " << chunk << " blocks of a chunk ("
                            << threads << " threads)";
  return success();
}

static LogicalResult buildFusedSparseSelectKernel(Operation *op, KernelBuilder &kb) {
  auto fs = cast<sala::FusedSparseSelectOp>(op);
  auto qt = cast<RankedTensorType>(fs.getQuery().getType());
  sala::CompressedKeysType keys = fs.getKeys().getType();
  Stage1Params prm(kb, qt, keys);
  FusedSelectParams params = declareFusedSelectParams(
      kb, prm, keys.getKvHeads(), fs.getGroupSize(), fs.getTopk() + fs.getLocalBlocks(),
      IntegerType::get(op->getContext(), 32), Float32Type::get(op->getContext()));
  if (failed(checkFusedSelectThreads(fs, kb.threads())))
    return failure();
  kb.setGrid(GridDim::scaled("tokens", keys.getKvHeads(), 1),
             GridDim::scaled("select_splits", 1, 1));
  kb.begin();
  FusedSelectEmitter(fs, kb, prm, params).emit();
  return success();
}

void salac::populateSalaSelectToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::BlockScoresOp>(patterns, table, buildBlockScoresKernel, selectKernelSupports,
      kSelectRequirement);
  addFormKernelPattern<sala::TopkBlocksOp>(patterns, table, buildTopkBlocksKernel);
  addFormKernelPattern<sala::FusedSparseSelectOp>(patterns, table, buildFusedSparseSelectKernel, selectKernelSupports,
      kSelectRequirement);
}
