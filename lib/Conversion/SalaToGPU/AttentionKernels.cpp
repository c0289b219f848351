//===- AttentionKernels.cpp - sparse (stage 2) and dense attention --------===//
//
// One kernel shape serves both: a block per (query token, KV group) walks
// 64-token key tiles -- the selected blocks for sparse attention, every block
// up to the query's own for dense attention -- with an online softmax. The
// group's query heads share every K/V tile they load (GQA): the tile is read
// from the paged cache once per group, not once per head.
//
// Per tile: K and V (bf16) are staged in shared memory with 16-byte loads;
// scores S[h][r] = scale q_h . k_r (a warp covers 8 keys x 4 heads, so the
// padded K rows and Q rows are read without bank conflicts); a warp per head
// group updates the running max and sum; then each thread owns one output
// column and accumulates P V for all heads of the group in registers.
//
// This is the CUDA-core version: correct for decode and prefill, memory-bound
// for decode. Tensor cores (mma.sync) for prefill come with the fusion work.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <limits>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {
constexpr int64_t kTile = 64;     // keys per tile (= the sparse block)
constexpr int64_t kThreads = 128; // = head_dim: a thread per output column
constexpr int64_t kKStride = 136; // padded bf16 K row: 272 B, 16-byte aligned
constexpr int64_t kQStride = 132; // padded f32 Q row

struct AttnShape {
  int64_t heads, kvHeads, group, headDim, pageSize, blockSize, selected;
  Type elem;
  bool sparse;
};

AttnShape shapeOf(Operation *op) {
  AttnShape s;
  Value q;
  sala::KVCacheType cache;
  if (auto sp = dyn_cast<sala::SparseAttentionOp>(op)) {
    q = sp.getQuery();
    cache = sp.getCache().getType();
    s.sparse = true;
    s.blockSize = sp.getBlockSize();
    s.selected = sp.getBlocks().getType().getDimSize(2);
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
  s.elem = qt.getElementType();
  return s;
}
} // namespace

bool salac::attentionKernelSupports(Operation *op) {
  AttnShape s = shapeOf(op);
  auto cache = isa<sala::SparseAttentionOp>(op)
                   ? cast<sala::SparseAttentionOp>(op).getCache().getType()
                   : cast<sala::DenseAttentionOp>(op).getCache().getType();
  // Shared memory holds a 64 x 128 tile of K and of V in bf16 and the scores
  // of up to 16 heads; one thread per column of a 128-wide head.
  return s.headDim == kThreads && s.blockSize == kTile && s.group % 4 == 0 &&
         s.group <= 16 && s.elem.isBF16() && cache.getElementType().isBF16();
}

LogicalResult salac::buildAttentionKernel(Operation *op, KernelBuilder &kb) {
  AttnShape s = shapeOf(op);
  if (!attentionKernelSupports(op))
    return op->emitOpError() << "no GPU kernel for this shape yet (needs head_dim 128, "
                                "64-token blocks, 4..16 query heads per KV head, bf16)";
  float scaleValue = s.sparse ? cast<sala::SparseAttentionOp>(op).getEffectiveScale()
                              : cast<sala::DenseAttentionOp>(op).getEffectiveScale();
  int64_t d = s.headDim, g = s.group, page = s.pageSize;
  int64_t rowElems = s.kvHeads * d;
  Type i32 = IntegerType::get(op->getContext(), 32);
  Type f32 = Float32Type::get(op->getContext());
  Type bf16 = s.elem;

  SmallVector<Extent> rows = {"tokens", s.heads, d};
  SmallVector<Extent> pool = {"pages", page, s.kvHeads, d};
  unsigned qArg = kb.addBuffer("query", bf16, rows, "[tokens, heads, head_dim] q");
  unsigned kc = kb.addBuffer("k_cache", bf16, pool, "[pages, page_size, kv_heads, head_dim] key pool");
  unsigned vc = kb.addBuffer("v_cache", bf16, pool, "[pages, page_size, kv_heads, head_dim] value pool");
  unsigned pt = kb.addBuffer("page_table", i32, {"batch", "max_pages"},
                             "[batch, max_pages] physical page of each logical page");
  unsigned sel = 0;
  if (s.sparse)
    sel = kb.addBuffer("blocks", i32, {"tokens", s.kvHeads, s.selected},
                       "[tokens, kv_heads, selected] selected block indices, -1 = none");
  unsigned cu = kb.addCuSeqlens();
  unsigned lens = kb.addSeqLens();
  unsigned out = kb.addBuffer("output", bf16, rows, "[tokens, heads, head_dim] o");
  unsigned tokens = kb.addSize("tokens", "number of query tokens");
  unsigned batch = kb.addSize("batch", "number of sequences");
  unsigned maxPages = kb.addSize("max_pages", "columns of page_table");
  unsigned pages = kb.addSize("pages", "pages in the pool");
  (void)tokens;
  kb.setBlock(kThreads);
  kb.setGrid(GridDim::scaled("tokens", s.kvHeads, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value qs = kb.addWorkgroupBuffer(f32, g * kQStride);
  Value ks = kb.addWorkgroupBuffer(bf16, kTile * kKStride);
  Value vs = kb.addWorkgroupBuffer(bf16, kTile * d);
  Value ps = kb.addWorkgroupBuffer(f32, g * kTile);
  Value mS = kb.addWorkgroupBuffer(f32, g);
  Value lS = kb.addWorkgroupBuffer(f32, g);
  Value corr = kb.addWorkgroupBuffer(f32, g);
  const float negInf = -std::numeric_limits<float>::infinity();
  auto barrier = [&] { gpu::BarrierOp::create(b, loc); };
  auto fmul = [&](Value x, Value y) { return arith::MulFOp::create(b, loc, x, y).getResult(); };
  auto fadd = [&](Value x, Value y) { return arith::AddFOp::create(b, loc, x, y).getResult(); };
  auto fsub = [&](Value x, Value y) { return arith::SubFOp::create(b, loc, x, y).getResult(); };
  auto fcmp = [&](arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y).getResult();
  };
  auto forLoop = [&](Value lb, Value ub, Value step, ValueRange init,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return kb.forLoop(lb, ub, step, init, body);
  };


  Value tid = kb.threadId();
  Value lane = kb.rem(tid, kb.idx(32)), warp = kb.div(tid, kb.idx(32));
  Value token = kb.div(kb.blockId(), kb.idx(s.kvHeads));
  Value kvHead = kb.rem(kb.blockId(), kb.idx(s.kvHeads));
  auto [seq, pos] = kb.queryPosition(kb.arg(cu), kb.arg(lens), kb.arg(batch), token);

  // Stage the group's queries (f32) and reset the softmax state.
  Value qRow0 = kb.mul(kb.add(kb.mul(token, kb.idx(s.heads)), kb.mul(kvHead, kb.idx(g))),
                       kb.idx(d));
  for (int64_t h = 0; h < g; ++h) {
    Value x = kb.toF32(kb.load(kb.arg(qArg), kb.add(qRow0, kb.add(kb.idx(h * d), tid))));
    kb.store(x, qs, kb.add(kb.idx(h * kQStride), tid));
  }
  kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(g)), [&] {
    kb.store(kb.f32(negInf), mS, tid);
    kb.store(kb.f32(0.0), lS, tid);
  });

  // The tiles to visit: the selected blocks, or every block up to pos.
  Value numTiles = s.sparse ? kb.idx(s.selected) : kb.add(kb.div(pos, kb.idx(kTile)), kb.idx(1));
  Value selRow = s.sparse ? kb.mul(kb.add(kb.mul(token, kb.idx(s.kvHeads)), kvHead),
                                   kb.idx(s.selected))
                          : Value();
  SmallVector<Value> zeros(g, kb.f32(0.0));
  auto tiles = forLoop(kb.idx(0), numTiles, kb.idx(1), zeros, [&](Value i, ValueRange acc) {
    Value block = i;
    Value valid = kb.cmp(CmpIPredicate::ule, kb.mul(i, kb.idx(kTile)), pos);
    if (s.sparse) {
      Value raw = kb.load(kb.arg(sel), kb.add(selRow, i));
      block = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
      Value nonNeg = arith::CmpIOp::create(
          b, loc, CmpIPredicate::sge, raw,
          arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)));
      valid = arith::AndIOp::create(
          b, loc, nonNeg, kb.cmp(CmpIPredicate::sle, kb.mul(block, kb.idx(kTile)), pos));
    }
    auto ifValid = scf::IfOp::create(b, loc, TypeRange(SmallVector<Type>(g, f32)), valid,
                                     /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifValid.getElseRegion().front());
      scf::YieldOp::create(b, loc, acc);
      b.setInsertionPointToStart(&ifValid.getThenRegion().front());
      Value first = kb.mul(block, kb.idx(kTile));
      barrier(); // the previous tile is fully consumed
      // K/V tile: 64 rows x 16 chunks of 8 bf16 for each of K and V.
      forLoop(tid, kb.idx(kTile * (d / 8)), kb.idx(kThreads), {}, [&](Value c, ValueRange) {
        Value r = kb.div(c, kb.idx(d / 8)), col = kb.mul(kb.rem(c, kb.idx(d / 8)), kb.idx(8));
        Value p = kb.add(first, r);
        Value logical = kb.div(p, kb.idx(page));
        Value inTable = kb.cmp(CmpIPredicate::ult, logical, kb.arg(maxPages));
        Value safeLogical = kb.select(inTable, logical, kb.idx(0));
        Value phys = kb.loadIndex(kb.arg(pt), kb.add(kb.mul(seq, kb.arg(maxPages)), safeLogical));
        Value ok = arith::AndIOp::create(
            b, loc, arith::AndIOp::create(b, loc, inTable,
                                          kb.cmp(CmpIPredicate::ult, phys, kb.arg(pages))),
            kb.cmp(CmpIPredicate::ule, p, pos));
        Value src = kb.add(kb.mul(kb.add(kb.mul(kb.select(ok, phys, kb.idx(0)), kb.idx(page)),
                                         kb.rem(p, kb.idx(page))),
                                  kb.idx(rowElems)),
                           kb.add(kb.mul(kvHead, kb.idx(d)), col));
        auto vecT = VectorType::get({8}, bf16);
        Value zero = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(
                                                           vecT, b.getZeroAttr(bf16)));
        auto load = scf::IfOp::create(b, loc, TypeRange{vecT, vecT}, ok, true);
        {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPointToStart(&load.getThenRegion().front());
          scf::YieldOp::create(b, loc, ValueRange{kb.loadVector(kb.arg(kc), src, 8, 16),
                                                  kb.loadVector(kb.arg(vc), src, 8, 16)});
          b.setInsertionPointToStart(&load.getElseRegion().front());
          scf::YieldOp::create(b, loc, ValueRange{zero, zero});
        }
        kb.storeVector(load.getResult(0), ks, kb.add(kb.mul(r, kb.idx(kKStride)), col), 16);
        kb.storeVector(load.getResult(1), vs, kb.add(kb.mul(r, kb.idx(d)), col), 16);
        return SmallVector<Value>{};
      });
      barrier();
      // Scores: pair P -> head (P % 4) + 4 (P / 256), key (P / 4) % 64.
      forLoop(tid, kb.idx(g * kTile), kb.idx(kThreads), {}, [&](Value pIdx, ValueRange) {
        Value h = kb.add(kb.rem(pIdx, kb.idx(4)), kb.mul(kb.div(pIdx, kb.idx(4 * kTile)), kb.idx(4)));
        Value r = kb.rem(kb.div(pIdx, kb.idx(4)), kb.idx(kTile));
        auto dot = forLoop(kb.idx(0), kb.idx(d), kb.idx(1), {kb.f32(0.0)},
                           [&](Value c, ValueRange a) {
                             Value qv = kb.load(qs, kb.add(kb.mul(h, kb.idx(kQStride)), c));
                             Value kv = kb.toF32(kb.load(ks, kb.add(kb.mul(r, kb.idx(kKStride)), c)));
                             return SmallVector<Value>{fadd(a[0], fmul(qv, kv))};
                           });
        Value sc = fmul(dot.getResult(0), kb.f32(scaleValue));
        Value visible = kb.cmp(CmpIPredicate::ule, kb.add(first, r), pos);
        kb.store(kb.select(visible, sc, kb.f32(negInf)), ps,
                 kb.add(kb.mul(h, kb.idx(kTile)), r));
        return SmallVector<Value>{};
      });
      barrier();
      // Online softmax: a warp per head (4 warps cycle over the group).
      forLoop(warp, kb.idx(g), kb.idx(kThreads / 32), {}, [&](Value h, ValueRange) {
        Value at0 = kb.add(kb.mul(h, kb.idx(kTile)), lane);
        Value at1 = kb.add(at0, kb.idx(32));
        Value s0 = kb.load(ps, at0), s1 = kb.load(ps, at1);
        Value tmax = kb.warpMax(arith::MaximumFOp::create(b, loc, s0, s1), 32);
        Value mOld = kb.load(mS, h);
        Value mNew = arith::MaximumFOp::create(b, loc, mOld, tmax);
        Value none = fcmp(arith::CmpFPredicate::OEQ, mNew, kb.f32(negInf));
        Value safeMax = kb.select(none, kb.f32(0.0), mNew);
        Value p0 = kb.expF32(fsub(s0, safeMax)), p1 = kb.expF32(fsub(s1, safeMax));
        Value alpha = kb.select(none, kb.f32(1.0), kb.expF32(fsub(mOld, safeMax)));
        Value tsum = kb.warpSum(fadd(p0, p1), 32);
        kb.store(p0, ps, at0);
        kb.store(p1, ps, at1);
        kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, kb.idx(0)), [&] {
          kb.store(mNew, mS, h);
          kb.store(fadd(fmul(kb.load(lS, h), alpha), tsum), lS, h);
          kb.store(alpha, corr, h);
        });
        return SmallVector<Value>{};
      });
      barrier();
      // O[h][col] = O[h][col] * alpha_h + sum_r P[h][r] V[r][col].
      SmallVector<Value> scaled;
      for (int64_t h = 0; h < g; ++h)
        scaled.push_back(fmul(acc[h], kb.load(corr, kb.idx(h))));
      auto pv = forLoop(kb.idx(0), kb.idx(kTile), kb.idx(1), scaled, [&](Value r, ValueRange a) {
        Value vv = kb.toF32(kb.load(vs, kb.add(kb.mul(r, kb.idx(d)), tid)));
        SmallVector<Value> next;
        for (int64_t h = 0; h < g; ++h)
          next.push_back(fadd(a[h], fmul(kb.load(ps, kb.add(kb.idx(h * kTile), r)), vv)));
        return next;
      });
      scf::YieldOp::create(b, loc, pv.getResults());
    }
    return SmallVector<Value>(ifValid.getResults());
  });

  barrier();
  for (int64_t h = 0; h < g; ++h) {
    Value l = kb.load(lS, kb.idx(h));
    Value empty = fcmp(arith::CmpFPredicate::OEQ, l, kb.f32(0.0));
    Value o = kb.select(empty, kb.f32(0.0),
                        arith::DivFOp::create(b, loc, tiles.getResult(h), l));
    kb.store(kb.fromF32(o, bf16), kb.arg(out), kb.add(qRow0, kb.add(kb.idx(h * d), tid)));
  }
  return success();
}
