//===- AttentionKernels.cpp - sparse (stage 2) and dense attention --------===//
//
// One kernel shape serves both: a block of 4 warps per (query token, KV group)
// walks 64-token key tiles -- the selected blocks for sparse attention, every
// block up to the query's own for dense attention -- with an online softmax.
// The group's query heads share every K/V tile they load (GQA): the tile is
// read from the paged cache once per group, not once per head.
//
// Tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulate). The group's heads
// are the 16 rows of the MMA (padded with zero rows below 16 heads). Warp w
// owns keys 16w .. 16w+15 of every tile:
//   S = Q K^T   16 heads x 16 keys, k = 128: Q (staged in shared memory once)
//               and K fragments by ldmatrix (8 + 8 x4 loads, 16 mma per warp
//               and tile);
//   softmax     in registers: rows are spread over quads of lanes, so the row
//               max and sum are two xor-shuffles; P is re-packed from the S
//               accumulators straight into A fragments (no shared memory);
//   O += P V    16 heads x 128 columns, k = 16 keys: V fragments by
//               ldmatrix.trans (8 x4 loads per warp and tile); P is split into
//               its bf16 rounding and the rounding residue, so 2 x 16 mma keep
//               P V f32-accurate (P rounded to bf16 alone would leave
//               outputs that cancel to small values with large errors).
// Each warp keeps its own running max, sum and O (64 f32 a lane) over its keys;
// after the last tile the 4 partial softmaxes are combined through shared
// memory, the same split-K combine as flash-decoding, once per block.
//
// K and V tiles (64 x 128 bf16, 16 KiB each, 16-byte chunks XOR-swizzled by
// row so that ldmatrix and cp.async are free of bank conflicts) are fetched
// with cp.async (zero-filled past the query's position, for -1 blocks and for
// unmapped pages) and overlapped with compute: V of tile i lands while S of
// tile i is computed; K of tile i+1 is issued before P V of tile i with
// whole-tile pages (after it with row-by-row page lookups, where issuing it
// first makes ptxas spill). A split's selected blocks and their pages are
// looked up once, before the first tile. With several splits the block that
// finishes last merges them in one online pass (running max, sum and O), two
// splits' partial O and (max, sum) a step, staged by cp.async one step ahead.
// The MMA helpers are in MmaEmitter.h.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "MmaEmitter.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/TypeSwitch.h"
#include <cmath>
#include <limits>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {
constexpr int64_t kTile = 64;   // keys per tile (a sparse block is 1/2, 1, 2 or 4)
constexpr int64_t kStages = 1;  // K and V of one tile in shared memory
constexpr int64_t kThreads = 128;        // 4 warps
constexpr int64_t kRows = 16;            // MMA rows: the group's heads, padded
constexpr int64_t kMaxDenseTiles = 1024; // a fused fallback's blocks (dense_len <= 64K)
/// Head dims the kernel is built for: whole 16-byte chunks, at least 8 of them
/// per row (the XOR swizzle spans 8), and an output accumulator that fits the
/// registers (head_dim / 2 f32 a lane).
bool supportedHeadDim(int64_t d) { return d == 64 || d == 128; }
int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct AttnShape {
  int64_t heads, kvHeads, group, headDim, pageSize, blockSize, selected;
  Type elem, elemCache;
  bool sparse;
  // sala.fused_sparse_attention: sequences shorter than denseLen (> 0) attend
  // to every block up to the query's own instead of the selected ones, and
  // with `gated` the output is multiplied by sigmoid(gate) before it is stored.
  int64_t denseLen = 0;
  bool gated = false;
};

AttnShape shapeOf(Operation *op) {
  AttnShape s;
  Value q;
  sala::KVCacheType cache;
  auto stage2 = [&](auto sp) {
    q = sp.getQuery();
    cache = sp.getCache().getType();
    s.sparse = true;
    s.blockSize = sp.getBlockSize();
    s.selected = sp.getBlocks().getType().getDimSize(2);
  };
  if (auto sp = dyn_cast<sala::SparseAttentionOp>(op)) {
    stage2(sp);
  } else if (auto f = dyn_cast<sala::FusedSparseAttentionOp>(op)) {
    stage2(f);
    s.denseLen = f.getDenseLen();
    s.gated = bool(f.getGate());
  } else {
    auto de = cast<sala::DenseAttentionOp>(op);
    q = de.getQuery();
    cache = de.getCache().getType();
    s.sparse = false;
    s.blockSize = kTile;
    s.selected = 0;
  }
  auto qt = cast<RankedTensorType>(q.getType());
  s.heads = qt.getDimSize(1);
  s.headDim = qt.getDimSize(2);
  s.kvHeads = cache.getKvHeads();
  s.group = s.heads / s.kvHeads;
  s.pageSize = cache.getPageSize();
  s.elemCache = cache.getElementType();
  s.elem = qt.getElementType();
  return s;
}

} // namespace

/// Rows of sequences at least this long are discarded by the consumer (0: none).
static int64_t discardedFromSeqLen(Operation *op) {
  auto de = dyn_cast<sala::DenseAttentionOp>(op);
  return de ? de.getDiscardedFromSeqLen() : 0;
}

static bool attentionKernelSupports(Operation *op) {
  AttnShape s = shapeOf(op);
  // The group's heads are the 16 rows of an MMA; a 128-wide head is 8 k-steps
  // of S and 16 n-tiles of O; a 64-token tile is 16 keys for each of 4 warps.
  // A fused dense fallback lists its blocks like a selection, in shared
  // memory: at most kMaxDenseTiles of them.
  // A sparse block is 1, 2 or 4 whole tiles (each tile one slot), or the
  // first half of a tile (32 tokens: the rest of the slot is masked).
  bool blockFits = s.blockSize == kTile / 2 ||
                   (s.blockSize % kTile == 0 && s.blockSize <= 4 * kTile);
  return supportedHeadDim(s.headDim) && blockFits && s.group >= 1 &&
         s.group <= kRows && s.elem.isBF16() && s.elemCache.isBF16() &&
         ceilDiv(s.denseLen, kTile) <= kMaxDenseTiles;
}

namespace {

/// The kernel's parameters, as argument indices: what the manifest lists and
/// launchers bind by name.
struct AttentionParams {
  unsigned query, kCache, vCache, pageTable, blocks = 0, cu, lens, gate = 0, output;
  unsigned partialO, partialML, counters; // the split-KV workspace
  unsigned batch, maxPages, pages, splits;
};

AttentionParams declareAttentionParams(KernelBuilder &kb, const AttnShape &s, Type i32,
                                       Type f32) {
  int64_t d = s.headDim;
  Type bf16 = s.elem;
  SmallVector<Extent> rows = {"tokens", s.heads, d};
  SmallVector<Extent> pool = {"pages", s.pageSize, s.kvHeads, d};
  AttentionParams p;
  p.query = kb.addBuffer("query", bf16, rows, "[tokens, heads, head_dim] q");
  p.kCache = kb.addBuffer("k_cache", bf16, pool, "[pages, page_size, kv_heads, head_dim] key pool");
  p.vCache = kb.addBuffer("v_cache", bf16, pool, "[pages, page_size, kv_heads, head_dim] value pool");
  p.pageTable = kb.addBuffer("page_table", i32, {"batch", "max_pages"},
                             "[batch, max_pages] physical page of each logical page");
  if (s.sparse)
    p.blocks = kb.addBuffer("blocks", i32, {"tokens", s.kvHeads, s.selected},
                            "[tokens, kv_heads, selected] selected block indices, -1 = none");
  p.cu = kb.addCuSeqlens();
  p.lens = kb.addSeqLens();
  if (s.gated)
    p.gate = kb.addBuffer("gate", bf16, rows, "[tokens, heads, head_dim] gate logits z");
  p.output = kb.addBuffer("output", bf16, rows,
                          s.gated ? "[tokens, heads, head_dim] o * sigmoid(z)"
                                  : "[tokens, heads, head_dim] o");
  // Split-KV: with splits > 1 the tiles of a (token, KV group) are spread over
  // `splits` blocks whose partial results meet in these buffers.
  p.partialO = kb.addBuffer("partial_o", f32, {"split_slots", kRows, d},
                            "[split_slots, 16, head_dim] workspace: each split's output");
  p.partialML = kb.addBuffer("partial_ml", f32, {"split_slots", kRows, 2},
                             "[split_slots, 16, 2] workspace: each split's row max "
                             "(log2 units) and sum");
  p.counters = kb.addBuffer("counters", i32, {"tokens", s.kvHeads},
                            "[tokens, kv_heads] workspace: zero before the first "
                            "launch; every launch leaves it zero");
  kb.addSize("tokens", "number of query tokens");
  p.batch = kb.addSize("batch", "number of sequences");
  p.maxPages = kb.addSize("max_pages", "columns of page_table");
  p.pages = kb.addSize("pages", "pages in the pool");
  p.splits = kb.addSize("splits", "blocks per (token, KV group), at least 1: "
                                  "split-KV for decode, 1 for prefill");
  kb.addSize("split_slots", "rows of the split workspace: tokens * kv_heads * splits when "
                            "splits > 1, else 0 (unused)");
  return p;
}

/// The body of the kernel, part by part (each method emits one part, in
/// program order): where the block's query is, Q staged in shared memory,
/// the split's tiles and their slot table, the paged tile loader (cp.async),
/// the tile loop (S = Q K^T and the online softmax, O += P V), the warps'
/// combine, the output (gated) or the split's partial result, and the
/// last-arriving split's merge.
class AttentionEmitter {
public:
  AttentionEmitter(Operation *op, KernelBuilder &kb, const AttnShape &s,
                   const AttentionParams &p, float scale)
      : op(op), kb(kb), b(kb.builder()), loc(kb.getLoc()), s(s), p(p), scale(scale),
        d(s.headDim), g(s.group), page(s.pageSize), kChunks(d / 8),
        kNTiles(d / 8), kSlot(kTile * d), kCopyRows(kThreads / kChunks),
        rowElems(s.kvHeads * d), i32(IntegerType::get(op->getContext(), 32)),
        f32(Float32Type::get(op->getContext())), bf16(s.elem),
        m{kb, kb.builder(), kb.getLoc(), bf16, f32, i32},
        wholePages(page % kTile == 0) {}

  void emit() {
    allocateShared();
    locateQuery();
    stageQuery();
    splitTiles();
    if (s.sparse)
      fillSlotTable();
    setUpLoader();
    ValueRange res = tileLoop().getResults();
    loadOutputGates();
    combineWarps(res);
    writeOutputOrPartial();
    kb.ifThen(kb.cmp(CmpIPredicate::ugt, nSplits, idx(1)), [&] { mergeSplits(); });
  }

private:
  Value idx(int64_t v) { return kb.idx(v); }
  Value ult(Value x, Value y) { return kb.cmp(CmpIPredicate::ult, x, y); }
  Value minIdx(Value x, Value y) { return kb.select(ult(x, y), x, y); }
  void barrier() { gpu::BarrierOp::create(b, loc); }
  Value toIndex(Value i) { return arith::IndexCastOp::create(b, loc, b.getIndexType(), i); }
  Value toI32(Value i) { return arith::IndexCastOp::create(b, loc, i32, i); }

  void allocateShared();
  void locateQuery();
  void stageQuery();
  std::pair<Value, Value> splitRange(Value n);
  void splitTiles();
  std::pair<Value, Value> physPage(Value logical);
  void fillSlot(Value i, Value raw, int64_t unitTokens);
  int64_t tilesPerBlock() const { return s.sparse ? std::max<int64_t>(1, s.blockSize / kTile) : 1; }
  /// Selected blocks shorter than a tile: each slot holds one block and masks
  /// the keys past it.
  bool partialSlots() const { return s.sparse && s.blockSize < kTile; }
  Value slotVisible(Value row);
  Value selectedTile(Value i);
  void fillSelected(Value l, Value h);
  void fillSlotTable();
  std::pair<Value, Value> tileOf(Value i);
  std::pair<Value, Value> tilePage(Value i, Value valid, Value first);
  void setUpLoader();
  Value issueTile(unsigned cache, int64_t slotBase, Value i, Value valid, Value first);
  void waitGroups(int32_t pending);
  Value fragIndex(int64_t slotBase, Value key, Value chunkIdx);
  Value qIndex(int64_t kk);
  SmallVector<Value> scoreTile(Value first, ValueRange st);
  SmallVector<Value> accumulatePV(ValueRange acc, ValueRange soft);
  scf::ForOp tileLoop();
  Value outAt(Value row, Value col);
  Value loadGate(Value row, Value col);
  Value finishOutput(Value o4, Value z4);
  void loadOutputGates();
  Value statIndex(Value w, Value row);
  void combineWarps(ValueRange res);
  void writeOutputOrPartial();
  Value mergeOSlot(Value buf, int64_t u);
  Value mergeMLSlot(Value buf, int64_t u);
  void issueMergeStep(Value step);
  SmallVector<Value> mergeStep(Value step, ValueRange acc);
  void mergeLastArrival();
  void mergeSplits();

  Operation *op;
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  const AttnShape &s;
  const AttentionParams &p;
  float scale;
  // The tiling of a head_dim-wide row: 16-byte chunks (8 bf16) per row, n8
  // output tiles, a K or V tile's elements, rows one pass of cp.async covers.
  const int64_t d, g, page, kChunks, kNTiles, kSlot, kCopyRows, rowElems;
  Type i32, f32, bf16;
  MmaEmitter m;
  const bool wholePages; // every tile lies in one page
  const float negInf = -std::numeric_limits<float>::infinity();

  // Shared memory: the K tile then the V tile (after the loop the same bytes
  // hold the warps' partial O, f32), Q, the combine's (max, sum) rows and the
  // split merge's staged (m, L) rows; the slot table (sparse).
  Value kv, kvF, qs, stats, mlStage, slotFirst, slotPage;
  // Where the block is: thread, warp and quad; query token, KV head, sequence,
  // position, first element of the group's rows.
  Value tid, lane, warp, quad, inQuad, token, kvHead, seq, pos, qRow0;
  // The split's tiles [lo, hi) (the selection's [loSel, hiSel) and, for a
  // fused fallback, whether the sequence is short), its index and count.
  Value allTiles, split, nSplits, lo, hi, loSel, hiSel, isDense, selRow;
  // The tile loader's per-thread row, chunk and addresses; the last group.
  Value rowLo, chunk, dstBase, colOff, anyToken;
  Type tokenTy;
  // The MMA fragments' per-lane addressing.
  Value r8, keyK, keyV, chunkK, chunkV, qRowL, keyS, scoreScale;
  // The output: per thread its rows, columns and gate logits.
  int64_t kWriteSteps = 0;
  SmallVector<Value> wRow, wCol, wGate;
  // The warps' combine: per row half, the block's factor, max and sum.
  Value factor[2], blockMax[2], blockSum[2];
  // The (token, KV group) pair and this split's first workspace row.
  Value pair, slotRow;
  // The split merge: splits a step, the pair's first workspace row, and a
  // thread's columns and rows.
  static constexpr int64_t kMergeStage = 2;
  Value mergeBase, mergeCol;
  SmallVector<Value> mergeRows;
};

void AttentionEmitter::allocateShared() {
  Value kvBytes = kb.addWorkgroupBuffer(b.getI8Type(), 2 * kSlot * 2, 16);
  kv = kb.viewWorkgroupBuffer(kvBytes, bf16, 2 * kSlot);
  kvF = kb.viewWorkgroupBuffer(kvBytes, f32, kSlot); // the same bytes as f32
  qs = kb.addWorkgroupBuffer(bf16, kRows * d, 16);
  stats = kb.addWorkgroupBuffer(f32, 4 * kRows * 2); // [warp][row] (max, sum)
  mlStage = kb.addWorkgroupBuffer(f32, 4 * kRows * 2, 16); // the split merge's (m, L) rows, 2 x 2 splits
}

void AttentionEmitter::locateQuery() {
  tid = kb.threadId();
  lane = kb.rem(tid, idx(32));
  warp = kb.div(tid, idx(32));
  quad = kb.div(lane, idx(4));
  inQuad = kb.rem(lane, idx(4));
  token = kb.div(kb.blockId(), idx(s.kvHeads));
  kvHead = kb.rem(kb.blockId(), idx(s.kvHeads));
  std::tie(seq, pos) = kb.queryPosition(kb.arg(p.cu), kb.arg(p.lens), kb.arg(p.batch), token);
  qRow0 = kb.mul(kb.add(kb.mul(token, idx(s.heads)), kb.mul(kvHead, idx(g))), idx(d));
}

/// Q of the group (zero rows past it) in shared memory, 16-byte chunks
/// swizzled like the K/V tiles; A fragments come from it by ldmatrix.
void AttentionEmitter::stageQuery() {
  for (int64_t j = 0; j < kRows * kChunks / kThreads; ++j) {
    Value c = kb.add(tid, idx(kThreads * j));
    Value row = kb.div(c, idx(kChunks)), ch = kb.rem(c, idx(kChunks));
    Value ok = ult(row, idx(g));
    Value at = kb.add(qRow0, kb.add(kb.mul(kb.select(ok, row, idx(0)), idx(d)), kb.mul(ch, idx(8))));
    auto v8 = VectorType::get({8}, bf16);
    Value zero8 = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(v8, b.getZeroAttr(bf16)));
    Value x = kb.select(ok, kb.loadVector(kb.arg(p.query), at, 8, 16), zero8);
    Value dst = kb.add(kb.mul(row, idx(d)), kb.mul(m.xori(ch, kb.rem(row, idx(8))), idx(8)));
    kb.storeVector(x, qs, dst, 16);
  }
}

/// Split `split`'s slots [lo, hi) of n tiles.
std::pair<Value, Value> AttentionEmitter::splitRange(Value n) {
  Value perSplit = kb.div(kb.add(n, kb.sub(nSplits, idx(1))), nSplits);
  Value l = minIdx(kb.mul(split, perSplit), n);
  return {l, minIdx(kb.add(l, perSplit), n)};
}

/// The tiles to visit: the selected blocks, or every block up to pos; split
/// `split` of `splits` takes slots [lo, hi).
void AttentionEmitter::splitTiles() {
  allTiles = kb.add(kb.div(pos, idx(kTile)), idx(1));
  Value numTiles = s.sparse ? idx(s.selected * tilesPerBlock()) : allTiles;
  // The dense fallback of a sparse mixer: sequences that take the sparse path
  // (seq_len >= the length_select's threshold) are not attended (zeros).
  if (int64_t skipFrom = discardedFromSeqLen(op))
    numTiles = kb.select(kb.cmp(CmpIPredicate::uge, kb.loadIndex(kb.arg(p.lens), seq),
                                idx(skipFrom)),
                         idx(0), numTiles);
  split = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  nSplits = kb.arg(p.splits);
  std::tie(lo, hi) = splitRange(numTiles);
  // A fused fallback: a short sequence takes every block up to the query's.
  loSel = lo;
  hiSel = hi;
  if (s.denseLen > 0) {
    isDense = ult(kb.loadIndex(kb.arg(p.lens), seq), idx(s.denseLen));
    auto [loAll, hiAll] = splitRange(allTiles);
    lo = kb.select(isDense, loAll, loSel);
    hi = kb.select(isDense, hiAll, hiSel);
  }
  if (s.sparse)
    selRow = kb.mul(kb.add(kb.mul(token, idx(s.kvHeads)), kvHead), idx(s.selected));
}

/// Logical page -> (whether it is in the table and the pool, physical page).
std::pair<Value, Value> AttentionEmitter::physPage(Value logical) {
  Value inTable = ult(logical, kb.arg(p.maxPages));
  Value phys = kb.loadIndex(kb.arg(p.pageTable), kb.add(kb.mul(seq, kb.arg(p.maxPages)),
                                                        kb.select(inTable, logical, idx(0))));
  return {m.andi(inTable, ult(phys, kb.arg(p.pages))), phys};
}

/// Slot i of unit `raw` (-1: none), a unit being `unitTokens` keys: a tile,
/// or a block shorter than one.
void AttentionEmitter::fillSlot(Value i, Value raw, int64_t unitTokens) {
  Value nonNeg = arith::CmpIOp::create(b, loc, CmpIPredicate::sge, raw, kb.i32(0));
  Value first = kb.mul(toIndex(kb.select(nonNeg, raw, kb.i32(0))), idx(unitTokens));
  Value valid = m.andi(nonNeg, kb.cmp(CmpIPredicate::sle, first, pos));
  Value slot = kb.sub(i, lo);
  kb.store(kb.select(valid, toI32(first), kb.i32(-1)), slotFirst, slot);
  if (wholePages) {
    auto [ok, phys] = physPage(kb.div(first, idx(page)));
    kb.store(kb.select(m.andi(valid, ok), toI32(phys), kb.i32(-1)), slotPage, slot);
  }
}

/// The tile of selection slot i (-1: none): selected block i / m's tile
/// i % m, with m tiles a block.
Value AttentionEmitter::selectedTile(Value i) {
  int64_t m = tilesPerBlock();
  if (m == 1)
    return kb.load(kb.arg(p.blocks), kb.add(selRow, i));
  Value raw = kb.load(kb.arg(p.blocks), kb.add(selRow, kb.div(i, idx(m))));
  Value tile = kb.add(kb.mul(toIndex(raw), idx(m)), kb.rem(i, idx(m)));
  Value none = arith::CmpIOp::create(b, loc, CmpIPredicate::slt, raw, kb.i32(0));
  return kb.select(none, kb.i32(-1), toI32(tile));
}

void AttentionEmitter::fillSelected(Value l, Value h) {
  kb.forLoop(kb.add(l, tid), h, idx(kThreads), {}, [&](Value i, ValueRange) {
    fillSlot(i, selectedTile(i), std::min(s.blockSize, kTile));
    return SmallVector<Value>{};
  });
}

/// Sparse: the split's selected blocks, looked up once before the first
/// tile, all in parallel: a slot's first key position (-1: nothing to attend)
/// and, with whole-tile pages, its physical page (-1: unmapped). (Looking
/// them up tile by tile put two dependent loads on the path of every tile's
/// copy.)
void AttentionEmitter::fillSlotTable() {
  int64_t slots = std::max(s.selected * tilesPerBlock(), ceilDiv(s.denseLen, kTile));
  slotFirst = kb.addWorkgroupBuffer(i32, slots, 16);
  slotPage = kb.addWorkgroupBuffer(i32, slots, 16);
  if (!isDense) {
    fillSelected(lo, hi);
  } else {
    // The fused fallback. A long sequence's slot of this thread (at most one
    // when the selection fits the block) is loaded before the length is
    // known: waiting for it put a round trip on the path to the first tile.
    // A short sequence's blocks are 0, 1, ..., and its selection is not used.
    bool oneEach = s.selected * tilesPerBlock() <= kThreads;
    Value iSel = kb.add(loSel, tid), inSel = ult(iSel, hiSel), rawSel;
    if (oneEach)
      rawSel = selectedTile(kb.select(inSel, iSel, idx(0)));
    kb.ifThenElse(isDense, [&] {
      kb.forLoop(kb.add(lo, tid), hi, idx(kThreads), {}, [&](Value i, ValueRange) {
        fillSlot(i, toI32(i), kTile);
        return SmallVector<Value>{};
      });
    }, [&] {
      if (oneEach)
        kb.ifThen(inSel, [&] { fillSlot(iSel, rawSel, std::min(s.blockSize, kTile)); });
      else
        fillSelected(lo, hi);
    });
  }
  barrier();
}

/// Tile slot i -> (whether it has visible keys, its first position). Slots
/// past the end (the pipeline's look-ahead) are invalid.
std::pair<Value, Value> AttentionEmitter::tileOf(Value i) {
  Value inRange = ult(i, hi);
  if (!s.sparse)
    return {inRange, kb.mul(i, idx(kTile))};
  Value raw = kb.load(slotFirst, kb.select(inRange, kb.sub(i, lo), idx(0)));
  Value valid = m.andi(inRange, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, raw,
                                                      kb.i32(0)));
  Value first = toIndex(kb.select(valid, raw, kb.i32(0)));
  return {valid, first};
}

/// The physical page of tile slot i with whole-tile pages, and whether it is
/// mapped (valid: the slot's tile has visible keys).
std::pair<Value, Value> AttentionEmitter::tilePage(Value i, Value valid, Value first) {
  if (!s.sparse) {
    auto [ok, phys] = physPage(kb.div(first, idx(page)));
    return {m.andi(valid, ok), phys};
  }
  Value raw = kb.load(slotPage, kb.select(valid, kb.sub(i, lo), idx(0)));
  Value ok = m.andi(valid, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, raw, kb.i32(0)));
  return {ok, toIndex(kb.select(ok, raw, kb.i32(0)))};
}

/// The paged tile loader's per-thread addressing: thread tid copies rows
/// tid / chunks + kCopyRows j, chunk tid % chunks, stored at chunk
/// (chunk ^ row % 8) (XOR-swizzled: ldmatrix and cp.async free of bank
/// conflicts). Then the MMA fragments' per-lane addresses.
void AttentionEmitter::setUpLoader() {
  tokenTy = nvgpu::DeviceAsyncTokenType::get(op->getContext());
  rowLo = kb.div(tid, idx(kChunks));
  chunk = kb.rem(tid, idx(kChunks));
  dstBase = kb.add(kb.mul(rowLo, idx(d)),
                   kb.mul(m.xori(chunk, kb.rem(rowLo, idx(8))), idx(8)));
  colOff = kb.add(kb.mul(kvHead, idx(d)), kb.mul(chunk, idx(8)));
  // Per lane fragment addresses (bf16 elements in a slot). K, non-transposed:
  // matrix mi = lane / 8 is keys 16 warp + 8 (mi / 2) .. +7, chunk 2 kk + mi % 2.
  // V, transposed: keys 16 warp + 8 (mi % 2) .. +7, chunk 2 jj + mi / 2.
  Value mi = kb.div(lane, idx(8));
  r8 = kb.rem(lane, idx(8));
  keyK = kb.add(kb.add(kb.mul(warp, idx(16)), kb.mul(kb.div(mi, idx(2)), idx(8))), r8);
  keyV = kb.add(kb.add(kb.mul(warp, idx(16)), kb.mul(kb.rem(mi, idx(2)), idx(8))), r8);
  chunkK = kb.rem(mi, idx(2));
  chunkV = kb.div(mi, idx(2));
  // Q, non-transposed: matrix mi is rows 8 (mi % 2) .. +7, chunk 2 kk + mi / 2.
  qRowL = kb.rem(lane, idx(16));
  // Key positions of this lane's S values: 16 warp + 8 n + 2 inQuad + e.
  keyS = kb.add(kb.mul(warp, idx(16)), kb.mul(inQuad, idx(2)));
  scoreScale = kb.f32(double(scale) * M_LOG2E); // scores in log2 units
}

/// cp.async of one 64-key tile of `cache` into the slot at `slotBase`. Rows
/// that are not visible are zero-filled (source size 0).
Value AttentionEmitter::issueTile(unsigned cache, int64_t slotBase, Value i, Value valid,
                                  Value first) {
  SmallVector<Value> copies;
  Value pagePhys, pageOk, rowInPage0;
  if (wholePages) {
    std::tie(pageOk, pagePhys) = tilePage(i, valid, first);
    rowInPage0 = kb.rem(first, idx(page));
  }
  // Rows past the query read nothing (source size 0); their address only has
  // to be formed, so within a mapped page it is not masked.
  Value tileSrc;
  if (wholePages) {
    tileSrc = kb.select(pageOk, kb.add(kb.mul(kb.add(kb.mul(pagePhys, idx(page)),
                                                     kb.add(rowInPage0, rowLo)),
                                              idx(rowElems)),
                                       colOff),
                        idx(0));
  }
  for (int64_t j = 0; j < kTile / kCopyRows; ++j) {
    Value r = kb.add(rowLo, idx(kCopyRows * j));
    Value keyPos = kb.add(first, r);
    Value ok, src;
    if (wholePages) {
      ok = pageOk;
      src = kb.add(tileSrc, idx(kCopyRows * j * rowElems));
    } else {
      Value phys;
      std::tie(ok, phys) = physPage(kb.div(keyPos, idx(page)));
      ok = m.andi(valid, ok);
      src = kb.add(kb.mul(kb.add(kb.mul(phys, idx(page)), kb.rem(keyPos, idx(page))),
                          idx(rowElems)),
                   colOff);
      src = kb.select(ok, src, idx(0));
    }
    ok = m.andi(ok, kb.cmp(CmpIPredicate::ule, keyPos, pos));
    if (partialSlots())
      ok = m.andi(ok, slotVisible(r));
    copies.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, loc, tokenTy, kv, ValueRange{kb.add(dstBase, idx(slotBase + kCopyRows * j * d))},
        kb.arg(cache), ValueRange{src}, b.getIndexAttr(8), kb.select(ok, idx(8), idx(0)),
        b.getUnitAttr()));
  }
  return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenTy, copies).getResult();
}

/// Whether row `row` of a slot holds a key of its block: with blocks shorter
/// than a tile only the first block_size rows do, except in a fused
/// fallback's dense tiles.
Value AttentionEmitter::slotVisible(Value row) {
  Value inBlock = ult(row, idx(s.blockSize));
  return isDense ? m.ori(inBlock, isDense) : inBlock;
}

/// Wait until at most `pending` groups of this thread are in flight. (The
/// token only orders the op; the count is what the instruction waits for.)
void AttentionEmitter::waitGroups(int32_t pending) {
  nvgpu::DeviceAsyncWaitOp::create(b, loc, anyToken, b.getI32IntegerAttr(pending));
}

Value AttentionEmitter::fragIndex(int64_t slotBase, Value key, Value chunkIdx) {
  return kb.add(idx(slotBase), kb.add(kb.mul(key, idx(d)),
                                      kb.mul(m.xori(chunkIdx, r8), idx(8))));
}

Value AttentionEmitter::qIndex(int64_t kk) {
  Value ch = kb.add(kb.div(lane, idx(16)), idx(2 * kk));
  return kb.add(kb.mul(qRowL, idx(d)), kb.mul(m.xori(ch, r8), idx(8)));
}

/// S = Q K^T of one tile on tensor cores, scaled to log2 units and masked
/// past the query, then the online softmax update of rows quad and quad + 8
/// (`mOld`, `lOld`: their running max and partial sum). Returns P as A
/// fragments (4 bf16x2 rounded, 4 residues), the new max and sum of both row
/// halves and their correction factors.
SmallVector<Value> AttentionEmitter::scoreTile(Value first, ValueRange st) {
  Value mOld[2] = {st[4 * kNTiles], st[4 * kNTiles + 1]};
  Value lOld[2] = {st[4 * kNTiles + 2], st[4 * kNTiles + 3]};
  SmallVector<Value> sc[2] = {SmallVector<Value>(4, kb.f32(0.0)),
                              SmallVector<Value>(4, kb.f32(0.0))};
  for (int64_t kk = 0; kk < d / 16; ++kk) {
    auto qf = m.ldmatrix(qs, qIndex(kk), false);
    auto kf = m.ldmatrix(kv, fragIndex(0, keyK, kb.add(chunkK, idx(2 * kk))), false);
    sc[0] = m.mma(qf, {kf[0], kf[1]}, sc[0]);
    sc[1] = m.mma(qf, {kf[2], kf[3]}, sc[1]);
  }
  // Scale to log2 units and mask keys after the query.
  Value x[2][4];
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t e = 0; e < 4; ++e) {
      Value row = kb.add(keyS, idx(8 * n + e % 2));
      Value keyPos = kb.add(first, row);
      Value scaled = m.fmul(sc[n][e], scoreScale);
      Value visible = kb.cmp(CmpIPredicate::ule, keyPos, pos);
      if (partialSlots())
        visible = m.andi(visible, slotVisible(row));
      x[n][e] = kb.select(visible, scaled, kb.f32(negInf));
    }
  SmallVector<Value> res(8);
  Value mNew[2], lNew[2], alpha[2], pr[2][4];
  for (int64_t h = 0; h < 2; ++h) { // row quad (e = 0, 1), row quad + 8 (e = 2, 3)
    Value mx = m.fmax(m.fmax(x[0][2 * h], x[0][2 * h + 1]), m.fmax(x[1][2 * h], x[1][2 * h + 1]));
    mNew[h] = m.fmax(mOld[h], kb.warpMax(mx, 4));
    Value none = m.feq(mNew[h], kb.f32(negInf));
    Value safe = kb.select(none, kb.f32(0.0), mNew[h]);
    alpha[h] = kb.select(none, kb.f32(1.0), m.ex2(m.fsub(mOld[h], safe)));
    Value sum = lOld[h];
    sum = m.fmul(sum, alpha[h]);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t e = 2 * h; e < 2 * h + 2; ++e) {
        pr[n][e] = m.ex2(m.fsub(x[n][e], safe));
        sum = m.fadd(sum, pr[n][e]);
      }
    lNew[h] = sum;
  }
  // A fragment of P (16 heads x 16 keys): register r is row half r % 2, key
  // half r / 2 (the S accumulators' layout).
  for (int64_t r = 0; r < 4; ++r)
    std::tie(res[r], res[4 + r]) = m.packSplit(pr[r / 2][2 * (r % 2)], pr[r / 2][2 * (r % 2) + 1]);
  res.append({mNew[0], mNew[1], lNew[0], lNew[1], alpha[0], alpha[1]});
  return res;
}

/// O = O * correction + P V for one tile (V fragments by ldmatrix.trans; P
/// split into its bf16 rounding and residue keeps P V f32-accurate).
SmallVector<Value> AttentionEmitter::accumulatePV(ValueRange acc, ValueRange soft) {
  SmallVector<Value> o;
  for (int64_t j = 0; j < kNTiles; ++j)
    for (int64_t e = 0; e < 4; ++e)
      o.push_back(m.fmul(acc[4 * j + e], soft[12 + e / 2]));
  SmallVector<Value> pHi(soft.take_front(4)), pLo(soft.slice(4, 4));
  for (int64_t jj = 0; jj < kNTiles / 2; ++jj) {
    auto vf = m.ldmatrix(kv, fragIndex(kSlot, keyV, kb.add(chunkV, idx(2 * jj))), true);
    m.mmaSplitX4(pHi, pLo, vf, o, 2 * jj);
  }
  return o;
}

/// The split's tiles in order, K and V copies overlapped with compute: V of
/// tile i lands while S of tile i is computed; K of tile i+1 is issued before
/// P V of tile i with whole-tile pages (after it with row-by-row page
/// lookups, where issuing it first makes ptxas spill). Loop state: O (n-tiles
/// x 4), then max and partial sum of rows quad and quad + 8.
scf::ForOp AttentionEmitter::tileLoop() {
  {
    auto [valid0, first0] = tileOf(lo);
    anyToken = issueTile(p.kCache, 0, lo, valid0, first0);
    issueTile(p.vCache, kSlot, lo, valid0, first0);
  }
  SmallVector<Value> init(4 * kNTiles, kb.f32(0.0));
  init.append({kb.f32(negInf), kb.f32(negInf), kb.f32(0.0), kb.f32(0.0)});
  return kb.forLoop(lo, hi, idx(1), init, [&](Value i, ValueRange st) {
    auto [valid, first] = tileOf(i);
    ValueRange acc = st.take_front(4 * kNTiles);
    waitGroups(1); // K of tile i
    barrier();
    SmallVector<Type> softTypes(8, i32);
    softTypes.append(6, f32);
    ValueRange soft = m.ifElse(valid, softTypes, [&]() { return scoreTile(first, st); },
                               [&]() -> SmallVector<Value> {
      Value z = kb.i32(0);
      SmallVector<Value> res(8, z);
      res.append({st[4 * kNTiles], st[4 * kNTiles + 1], st[4 * kNTiles + 2],
                  st[4 * kNTiles + 3], kb.f32(1.0), kb.f32(1.0)});
      return res;
    });
    waitGroups(0); // V of tile i
    barrier();     // ... and every warp is done with K
    Value iNext = kb.add(i, idx(1));
    auto [validNext, firstNext] = tileOf(iNext);
    if (wholePages)
      issueTile(p.kCache, 0, iNext, validNext, firstNext);
    SmallVector<Type> accTypes(4 * kNTiles, f32);
    ValueRange accNew = m.ifElse(valid, accTypes, [&]() { return accumulatePV(acc, soft); },
                                 [&]() -> SmallVector<Value> { return SmallVector<Value>(acc); });
    if (!wholePages)
      issueTile(p.kCache, 0, iNext, validNext, firstNext);
    barrier(); // every warp is done with V
    issueTile(p.vCache, kSlot, iNext, validNext, firstNext);
    SmallVector<Value> next(accNew);
    next.append({soft[8], soft[9], soft[10], soft[11]});
    return next;
  });
}

Value AttentionEmitter::outAt(Value row, Value col) {
  return kb.add(qRow0, kb.add(kb.mul(row, idx(d)), col));
}

/// Gated: the logits of output columns col..col+3 of group row `row`, loaded
/// well before they are needed (each load behind its own branch at the end
/// put a round trip a row on the path; rows past the group read row 0).
Value AttentionEmitter::loadGate(Value row, Value col) {
  if (!s.gated)
    return Value();
  return kb.loadVector(kb.arg(p.gate), outAt(kb.select(ult(row, idx(g)), row, idx(0)), col),
                       4, 8);
}

/// Four output columns as stored: rounded to bf16; gated, times sigmoid(z)
/// of the rounded value, x * rcp(1 + exp(-z)), and rounded again.
/// (sala.sigmoid_gate's kernel divides, x / (1 + exp(-z)); the 16 IEEE
/// divisions a thread cost the split merge ~0.6 us, and the approximate
/// reciprocal's error, about an f32 ulp, rarely changes a bf16 result.)
Value AttentionEmitter::finishOutput(Value o4, Value z4) {
  auto v4f = VectorType::get({4}, f32);
  auto v4bf = VectorType::get({4}, bf16);
  Value r = arith::TruncFOp::create(b, loc, v4bf, o4);
  if (!s.gated)
    return r;
  Value x = arith::ExtFOp::create(b, loc, v4f, r);
  Value z = arith::ExtFOp::create(b, loc, v4f, z4);
  SmallVector<Value> y;
  for (int64_t e = 0; e < 4; ++e) {
    Value ze = vector::ExtractOp::create(b, loc, z, e);
    Value den = arith::AddFOp::create(b, loc, kb.f32(1.0),
                                      kb.expF32(arith::NegFOp::create(b, loc, ze)));
    y.push_back(arith::MulFOp::create(b, loc, vector::ExtractOp::create(b, loc, x, e),
                                      kb.ptxUnaryF32("rcp.approx.ftz.f32", den)));
  }
  return arith::TruncFOp::create(b, loc, v4bf, vector::FromElementsOp::create(b, loc, v4f, y));
}

/// The one-split write's rows and columns: a thread handles 4 columns of rows
/// (tid + 128 j) / (head_dim / 4); their gate logits are in flight during the
/// combine. Every split loads them, though only a single split uses them:
/// loading them only then measured slower (bench/RESULTS.md).
void AttentionEmitter::loadOutputGates() {
  kWriteSteps = kRows * d / 4 / kThreads;
  wRow.resize(kWriteSteps);
  wCol.resize(kWriteSteps);
  wGate.resize(kWriteSteps);
  for (int64_t j = 0; j < kWriteSteps; ++j) {
    Value e = kb.add(tid, idx(kThreads * j));
    wRow[j] = kb.div(e, idx(d / 4));
    wCol[j] = kb.mul(kb.rem(e, idx(d / 4)), idx(4));
    wGate[j] = loadGate(wRow[j], wCol[j]);
  }
}

Value AttentionEmitter::statIndex(Value w, Value row) {
  return kb.mul(kb.add(kb.mul(w, idx(kRows)), row), idx(2));
}

/// Combine the 4 warps' softmaxes: M = max m_w, L = sum l_w 2^(m_w - M),
/// O = sum O_w 2^(m_w - M) / L (rows that saw no key, M = -inf, give 0); the
/// warps' scaled partial O (f32) go to shared memory as
/// [warp][row][column ^ 8 (row % 8)] over the tile slots.
void AttentionEmitter::combineWarps(ValueRange res) {
  Value mOwn[2] = {res[4 * kNTiles], res[4 * kNTiles + 1]};
  Value lOwn[2] = {kb.warpSum(res[4 * kNTiles + 2], 4), kb.warpSum(res[4 * kNTiles + 3], 4)};
  kb.ifThen(kb.cmp(CmpIPredicate::eq, inQuad, idx(0)), [&] {
    for (int64_t h = 0; h < 2; ++h) {
      Value at = statIndex(warp, kb.add(quad, idx(8 * h)));
      kb.store(mOwn[h], stats, at);
      kb.store(lOwn[h], stats, kb.add(at, idx(1)));
    }
  });
  waitGroups(0); // the look-ahead copies write into the tile slots
  barrier();
  for (int64_t h = 0; h < 2; ++h) {
    Value row = kb.add(quad, idx(8 * h));
    Value mw[4], lw[4];
    Value mAll = kb.f32(negInf);
    for (int64_t w = 0; w < 4; ++w) {
      Value at = statIndex(idx(w), row);
      mw[w] = kb.load(stats, at);
      lw[w] = kb.load(stats, kb.add(at, idx(1)));
      mAll = m.fmax(mAll, mw[w]);
    }
    Value none = m.feq(mAll, kb.f32(negInf));
    Value safe = kb.select(none, kb.f32(0.0), mAll);
    Value total = kb.f32(0.0);
    for (int64_t w = 0; w < 4; ++w)
      total = m.fadd(total, m.fmul(lw[w], m.ex2(m.fsub(mw[w], safe))));
    Value empty = m.feq(total, kb.f32(0.0));
    Value own = arith::DivFOp::create(b, loc, m.ex2(m.fsub(mOwn[h], safe)), total);
    factor[h] = kb.select(empty, kb.f32(0.0), own);
    blockMax[h] = mAll;
    blockSum[h] = total;
  }
  auto v2f = VectorType::get({2}, f32), v4h = VectorType::get({4}, bf16);
  for (int64_t j = 0; j < kNTiles; ++j)
    for (int64_t h = 0; h < 2; ++h) {
      Value row = kb.add(quad, idx(8 * h));
      Value col = m.xori(kb.add(idx(8 * j), kb.mul(inQuad, idx(2))), kb.mul(quad, idx(8)));
      Value at = kb.mul(kb.add(kb.mul(kb.add(kb.mul(warp, idx(kRows)), row), idx(d)), col), idx(2));
      Value two = vector::FromElementsOp::create(
          b, loc, v2f,
          ValueRange{m.fmul(res[4 * j + 2 * h], factor[h]), m.fmul(res[4 * j + 2 * h + 1], factor[h])});
      kb.storeVector(vector::BitCastOp::create(b, loc, v4h, two), kv, at, 8);
    }
  barrier();
}

/// Sum the 4 partials: a thread handles 4 columns of rows (tid + 128 j) /
/// (head_dim / 4). One split: into the output. Several: into the split's
/// workspace row, and the block that finishes last merges the splits.
void AttentionEmitter::writeOutputOrPartial() {
  auto v4f = VectorType::get({4}, f32);
  Value single = kb.cmp(CmpIPredicate::eq, nSplits, idx(1));
  pair = kb.add(kb.mul(token, idx(s.kvHeads)), kvHead);
  slotRow = kb.mul(kb.add(kb.mul(pair, nSplits), split), idx(kRows));
  for (int64_t j = 0; j < kWriteSteps; ++j) {
    Value row = wRow[j], col = wCol[j];
    Value physCol = m.xori(col, kb.mul(kb.rem(row, idx(8)), idx(8)));
    auto body = [&] {
      Value sum;
      for (int64_t w = 0; w < 4; ++w) {
        Value at = kb.mul(kb.add(kb.mul(kb.add(idx(w * kRows), row), idx(d)), physCol), idx(2));
        Value part = vector::BitCastOp::create(b, loc, v4f, kb.loadVector(kv, at, 8, 16));
        sum = w ? m.fadd(sum, part) : part;
      }
      kb.ifThen(single, [&] {
        kb.storeVector(finishOutput(sum, wGate[j]), kb.arg(p.output), outAt(row, col), 8);
      });
      kb.ifThen(arith::XOrIOp::create(b, loc, single,
                                      arith::ConstantOp::create(b, loc, b.getBoolAttr(true))),
                [&] {
        kb.storeVector(sum, kb.arg(p.partialO),
                       kb.add(kb.mul(kb.add(slotRow, row), idx(d)), col), 16);
      });
    };
    if (g == kRows)
      body();
    else
      kb.ifThen(ult(row, idx(g)), body);
  }
}

/// Where split u of a merge step in buffer `buf` lands: its O in kvF, its
/// (m, L) rows in mlStage.
Value AttentionEmitter::mergeOSlot(Value buf, int64_t u) {
  return kb.add(kb.mul(buf, idx(kMergeStage * kRows * d)), idx(u * kRows * d));
}
Value AttentionEmitter::mergeMLSlot(Value buf, int64_t u) {
  return kb.add(kb.mul(buf, idx(kMergeStage * kRows * 2)), idx(u * kRows * 2));
}

/// The splits' partial O (rows x head_dim f32 each) and (m, L) rows of merge
/// step `step` by cp.async into the tile slots and mlStage, two splits a
/// step, double-buffered: step t + 1's copies are in flight while step t is
/// merged (4 splits a step, each waiting for its own copies, left a round
/// trip a step on the path). Splits past the last copy nothing (zero-fill).
void AttentionEmitter::issueMergeStep(Value step) {
  Value buf = kb.rem(step, idx(2));
  SmallVector<Value> copies;
  for (int64_t u = 0; u < kMergeStage; ++u) {
    Value sp = kb.add(kb.mul(step, idx(kMergeStage)), idx(u));
    Value ok = ult(sp, nSplits);
    Value spc = kb.select(ok, sp, idx(0));
    Value srcN = kb.select(ok, idx(4), idx(0));
    Value oBase = kb.mul(kb.add(mergeBase, kb.mul(spc, idx(kRows))), idx(d));
    Value dstO = mergeOSlot(buf, u);
    for (int64_t q = 0; q < kRows * d / 4 / kThreads; ++q) {
      Value c4 = kb.mul(kb.add(tid, idx(kThreads * q)), idx(4));
      copies.push_back(nvgpu::DeviceAsyncCopyOp::create(
          b, loc, tokenTy, kvF, ValueRange{kb.add(dstO, c4)}, kb.arg(p.partialO),
          ValueRange{kb.add(oBase, c4)}, b.getIndexAttr(4), srcN, b.getUnitAttr()));
    }
    // (m, L) of the split's 16 rows: 128 bytes, 8 lanes of warp u.
    kb.ifThen(m.andi(kb.cmp(CmpIPredicate::eq, warp, idx(u)), ult(lane, idx(8))), [&] {
      Value c4 = kb.mul(lane, idx(4));
      Value dstML = mergeMLSlot(buf, u);
      Value mlAt = kb.mul(kb.add(mergeBase, kb.add(kb.mul(spc, idx(kRows)), idx(0))), idx(2));
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, tokenTy, mlStage, ValueRange{kb.add(dstML, c4)}, kb.arg(p.partialML),
          ValueRange{kb.add(mlAt, c4)}, b.getIndexAttr(4), srcN, b.getUnitAttr());
    });
  }
  anyToken = nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenTy, copies).getResult();
}

/// One merge step: for each of its splits, each of this thread's rows folds
/// the split in online (running max M, sum L, O rescaled as M grows).
SmallVector<Value> AttentionEmitter::mergeStep(Value step, ValueRange acc) {
  auto v4f = VectorType::get({4}, f32);
  Value buf = kb.rem(step, idx(2));
  SmallVector<Value> next(acc.begin(), acc.end());
  int64_t passes = mergeRows.size();
  for (int64_t u = 0; u < kMergeStage; ++u) {
    Value ok = ult(kb.add(kb.mul(step, idx(kMergeStage)), idx(u)), nSplits);
    for (int64_t j = 0; j < passes; ++j) {
      Value at = kb.add(mergeMLSlot(buf, u), kb.mul(mergeRows[j], idx(2)));
      // Past the last split: (m, L) = (-inf, 0), which changes nothing.
      Value ms = kb.select(ok, kb.load(mlStage, at), kb.f32(negInf));
      Value ls = kb.select(ok, kb.load(mlStage, kb.add(at, idx(1))), kb.f32(0.0));
      Value mOld = next[passes + 2 * j], lOld = next[passes + 1 + 2 * j];
      Value mNew = m.fmax(mOld, ms);
      Value safe = kb.select(m.feq(mNew, kb.f32(negInf)), kb.f32(0.0), mNew);
      Value fOld = m.ex2(m.fsub(mOld, safe)); // 0 while nothing seen (mOld = -inf)
      Value w = m.fmul(ls, m.ex2(m.fsub(ms, safe)));
      Value o = kb.loadVector(
          kvF, kb.add(mergeOSlot(buf, u), kb.add(kb.mul(mergeRows[j], idx(d)), mergeCol)), 4,
          16);
      auto bc = [&](Value x) { return vector::BroadcastOp::create(b, loc, v4f, x); };
      next[j] = m.fadd(m.fmul(next[j], bc(fOld)), m.fmul(o, bc(w)));
      next[passes + 2 * j] = mNew;
      next[passes + 1 + 2 * j] = m.fadd(m.fmul(lOld, fOld), w);
    }
  }
  return next;
}

/// O = sum_s O_s L_s 2^(m_s - M) / sum_s L_s 2^(m_s - M) over the splits, in
/// order (deterministic), by the block that arrives last, with every load of
/// a step in flight at once (a thread walking the splits one load after
/// another cost ~0.33 us a split; a first pass over the splits' (m, L) for
/// the final M and L cost ~1.6 us of loads and shuffles before any O).
void AttentionEmitter::mergeLastArrival() {
  auto v4f = VectorType::get({4}, f32);
  mergeBase = kb.mul(kb.mul(pair, nSplits), idx(kRows));
  // Rows tid / (d / 4) + rowsPerPass j, columns 4 (tid % (d / 4)) + 0..3.
  const int64_t rowsPerPass = kThreads / (d / 4), passes = kRows / rowsPerPass;
  mergeCol = kb.mul(kb.rem(tid, idx(d / 4)), idx(4));
  SmallVector<Value> zOf(passes);
  mergeRows.resize(passes);
  for (int64_t j = 0; j < passes; ++j) {
    mergeRows[j] = kb.add(kb.div(tid, idx(d / 4)), idx(rowsPerPass * j));
    zOf[j] = loadGate(mergeRows[j], mergeCol); // lands during the merge
  }
  Value nSteps = kb.div(kb.add(nSplits, idx(kMergeStage - 1)), idx(kMergeStage));
  issueMergeStep(idx(0));
  Value outerToken = anyToken; // what a wait outside the loop below names
  Value zero4 = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(v4f, b.getF32FloatAttr(0.0f)));
  SmallVector<Value> init(passes, zero4);
  for (int64_t j = 0; j < passes; ++j)
    init.append({kb.f32(negInf), kb.f32(0.0)});
  auto acc = kb.forLoop(idx(0), nSteps, idx(1), init, [&](Value step, ValueRange a) {
    issueMergeStep(kb.add(step, idx(1))); // past the end: nothing copied (zero-filled)
    waitGroups(1);                        // this step's copies
    barrier();
    SmallVector<Value> next = mergeStep(step, a);
    barrier(); // before step + 2's copies land in this buffer
    return next;
  });
  anyToken = outerToken;
  waitGroups(0); // the last (empty) step's copies
  for (int64_t j = 0; j < passes; ++j) {
    kb.ifThen(ult(mergeRows[j], idx(g)), [&] {
      Value l = acc.getResult(passes + 1 + 2 * j); // 0: the row saw no key, O = 0
      Value inv = kb.select(m.feq(l, kb.f32(0.0)), kb.f32(0.0),
                            arith::DivFOp::create(b, loc, kb.f32(1.0), l));
      Value res = m.fmul(acc.getResult(j), vector::BroadcastOp::create(b, loc, v4f, inv));
      kb.storeVector(finishOutput(res, zOf[j]), kb.arg(p.output), outAt(mergeRows[j], mergeCol),
                     8);
    });
  }
  barrier();
}

/// With several splits: this split's row statistics (lanes of quad position
/// 0 of warp 0 hold rows quad and quad + 8), then the split counts itself
/// done and the last to arrive merges them.
void AttentionEmitter::mergeSplits() {
  kb.ifThen(kb.cmp(CmpIPredicate::eq, kb.add(warp, inQuad), idx(0)), [&] {
    for (int64_t h = 0; h < 2; ++h) {
      Value at = kb.mul(kb.add(slotRow, kb.add(quad, idx(8 * h))), idx(2));
      kb.store(blockMax[h], kb.arg(p.partialML), at);
      kb.store(blockSum[h], kb.arg(p.partialML), kb.add(at, idx(1)));
    }
  });
  // The stats were read before the last barrier: its first word is the flag.
  kb.ifLastArrival(kb.arg(p.counters), pair, nSplits, stats, [&] { mergeLastArrival(); });
}

} // namespace

/// What the kernel needs (attentionKernelSupports), for the conversion's
/// report of ops it leaves without one.
static constexpr llvm::StringLiteral kAttentionRequirement =
    "needs head_dim 64 or 128, blocks of 32, 64, 128 or 256 tokens, 1..16 query heads per "
    "KV head, bf16, "
    "dense_len <= 65536";

static LogicalResult buildAttentionKernel(Operation *op, KernelBuilder &kb) {
  AttnShape s = shapeOf(op);
  if (!attentionKernelSupports(op))
    return op->emitOpError() << "no GPU kernel for this shape yet (" << kAttentionRequirement
                             << ")";
  float scale =
      llvm::TypeSwitch<Operation *, float>(op)
          .Case<sala::SparseAttentionOp, sala::DenseAttentionOp, sala::FusedSparseAttentionOp>(
              [](auto o) { return o.getEffectiveScale(); });
  MLIRContext *ctx = op->getContext();
  AttentionParams params =
      declareAttentionParams(kb, s, IntegerType::get(ctx, 32), Float32Type::get(ctx));
  if (failed(kb.requireThreads(op, kThreads)) || failed(kb.requireTiling(op, kTile, kStages)))
    return failure();
  kb.setGrid(GridDim::scaled("tokens", s.kvHeads, 1), GridDim::scaled("splits", 1, 1));
  kb.begin();
  AttentionEmitter(op, kb, s, params, scale).emit();
  return success();
}

void salac::populateSalaAttentionToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::SparseAttentionOp>(patterns, table, buildAttentionKernel, attentionKernelSupports,
      kAttentionRequirement);
  addFormKernelPattern<sala::DenseAttentionOp>(patterns, table, buildAttentionKernel, attentionKernelSupports,
      kAttentionRequirement);
  addFormKernelPattern<sala::FusedSparseAttentionOp>(patterns, table, buildAttentionKernel, attentionKernelSupports,
      kAttentionRequirement);
}
