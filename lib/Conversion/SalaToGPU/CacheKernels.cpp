//===- CacheKernels.cpp - KV append and key compression kernels -----------===//
//
// Both kernels read the paged layout directly: a token at position p of
// sequence b lives in page page_table[b][p / page_size], row p % page_size.
// Page indices outside the pool are skipped rather than written (the runtime
// validates page tables and reports them; the kernel must not corrupt memory).
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <tuple>

using namespace mlir;
using namespace salac;
using arith::CmpIPredicate;

namespace {

/// Elements per 16-byte access, or 1 when a row cannot be split that way.
int64_t vectorWidth(Type elementType, int64_t rowElems) {
  int64_t bytes = elementType.getIntOrFloatBitWidth() / 8;
  int64_t n = 16 / bytes;
  return rowElems % n == 0 ? n : 1;
}

/// The common metadata parameters of a ragged batch over a paged cache.
struct BatchParams {
  unsigned pageTable, cu, lens;
};
BatchParams addBatchParams(KernelBuilder &kb, Type i32) {
  BatchParams p;
  p.pageTable = kb.addBuffer("page_table", i32, {"batch", "max_pages"},
                             "[batch, max_pages] physical page of each logical page");
  p.cu = kb.addCuSeqlens();
  p.lens = kb.addSeqLens();
  return p;
}

/// The row of logical position `p` of sequence `seq` in a paged pool
/// (`table` [batch, maxPages] -> pages of `pageSize` rows, `pages` of them),
/// and whether it is there. An entry past the table's row or a page outside
/// the pool (unsigned: negative too) gives row 0 and false; the table is not
/// read out of its row.
std::pair<Value, Value> pagedRow(KernelBuilder &kb, Value table, Value maxPages, Value pages,
                                 int64_t pageSize, Value seq, Value p) {
  Value logical = kb.div(p, kb.idx(pageSize));
  Value inTable = kb.cmp(CmpIPredicate::ult, logical, maxPages);
  Value phys = kb.loadIndex(table, kb.add(kb.mul(seq, maxPages),
                                          kb.select(inTable, logical, kb.idx(0))));
  Value ok = arith::AndIOp::create(kb.builder(), kb.getLoc(), inTable,
                                   kb.cmp(CmpIPredicate::ult, phys, pages));
  Value safe = kb.select(ok, phys, kb.idx(0));
  return {kb.add(kb.mul(safe, kb.idx(pageSize)), kb.rem(p, kb.idx(pageSize))), ok};
}

/// Of sequence `seq`: its first new token's row, its new tokens, and its
/// length before this step.
struct NewTokens {
  Value start, qLen, oldLen;
};
NewTokens newTokens(KernelBuilder &kb, const BatchParams &bp, Value seq) {
  NewTokens n;
  n.start = kb.loadIndex(kb.arg(bp.cu), seq);
  n.qLen = kb.sub(kb.loadIndex(kb.arg(bp.cu), kb.add(seq, kb.idx(1))), n.start);
  n.oldLen = kb.sub(kb.loadIndex(kb.arg(bp.lens), seq), n.qLen);
  return n;
}
} // namespace

//===----------------------------------------------------------------------===//
// sala.kv_append: one thread per 16 bytes of a token's K (and V) row.
//===----------------------------------------------------------------------===//

static LogicalResult buildKVAppendKernel(Operation *op, KernelBuilder &kb) {
  auto append = cast<sala::KVAppendOp>(op);
  sala::KVCacheType cache = append.getCache().getType();
  int64_t kvh = cache.getKvHeads(), d = cache.getHeadDim(), page = cache.getPageSize();
  int64_t rowElems = kvh * d;
  Type elem = cache.getElementType();
  Type i32 = IntegerType::get(op->getContext(), 32);
  int64_t vec = vectorWidth(elem, rowElems);
  int64_t chunks = rowElems / vec;

  SmallVector<Extent> rows = {"tokens", kvh, d};
  SmallVector<Extent> pool = {"pages", page, kvh, d};
  unsigned k = kb.addBuffer("key", elem, rows, "[tokens, kv_heads, head_dim] new keys");
  unsigned v = kb.addBuffer("value", elem, rows, "[tokens, kv_heads, head_dim] new values");
  unsigned kc = kb.addBuffer("k_cache", elem, pool, "[pages, page_size, kv_heads, head_dim] key pool");
  unsigned vc = kb.addBuffer("v_cache", elem, pool, "[pages, page_size, kv_heads, head_dim] value pool");
  BatchParams bp = addBatchParams(kb, i32);
  unsigned tokens = kb.addSize("tokens", "number of new tokens (rows of key/value)");
  unsigned batch = kb.addSize("batch", "number of sequences");
  unsigned maxPages = kb.addSize("max_pages", "columns of page_table");
  unsigned pages = kb.addSize("pages", "pages in the pool");
  const int64_t threads = kb.threads(); // the kernel config's
  kb.setGrid(GridDim::scaled("tokens", chunks, threads));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value g = kb.globalThreadId();
  Value total = kb.mul(kb.arg(tokens), kb.idx(chunks));
  kb.ifThen(kb.cmp(CmpIPredicate::ult, g, total), [&] {
    Value t = kb.div(g, kb.idx(chunks));
    Value c = kb.mul(kb.rem(g, kb.idx(chunks)), kb.idx(vec));
    Value seq = kb.findSequence(kb.arg(bp.cu), kb.arg(batch), t);
    NewTokens nt = newTokens(kb, bp, seq);
    Value pos = kb.add(nt.oldLen, kb.sub(t, nt.start));
    Value slot, ok; // plain values: lambdas capture them
    std::tie(slot, ok) = pagedRow(kb, kb.arg(bp.pageTable), kb.arg(maxPages), kb.arg(pages), page,
                                  seq, pos);
    kb.ifThen(ok, [&] {
      Value dst = kb.add(kb.mul(slot, kb.idx(rowElems)), c);
      Value src = kb.add(kb.mul(t, kb.idx(rowElems)), c);
      int64_t align = vec * elem.getIntOrFloatBitWidth() / 8;
      kb.storeVector(kb.loadVector(kb.arg(k), src, vec, align), kb.arg(kc), dst, align);
      kb.storeVector(kb.loadVector(kb.arg(v), src, vec, align), kb.arg(vc), dst, align);
    });
  });
  (void)b;
  (void)loc;
  return success();
}

//===----------------------------------------------------------------------===//
// sala.compress_keys: a block per (sequence, new entry), a thread per channel.
// Entry i = mean of K[stride*i .. stride*i + kernel - 1]; a step appending
// q_len tokens completes at most ceil(q_len / stride) entries (window ends are
// `stride` apart), which bounds the grid.
//===----------------------------------------------------------------------===//

static LogicalResult buildCompressKeysKernel(Operation *op, KernelBuilder &kb) {
  auto compress = cast<sala::CompressKeysOp>(op);
  sala::KVCacheType cache = compress.getCache().getType();
  sala::CompressedKeysType keys = compress.getKeys().getType();
  int64_t kvh = cache.getKvHeads(), d = cache.getHeadDim(), page = cache.getPageSize();
  int64_t kpage = keys.getPageSize();
  int64_t kernel = keys.getKernelSize(), stride = keys.getKernelStride();
  int64_t rowElems = kvh * d;
  Type elem = cache.getElementType(), kelem = keys.getElementType();
  Type i32 = IntegerType::get(op->getContext(), 32);

  unsigned kc = kb.addBuffer("k_cache", elem, {"pages", page, kvh, d},
                             "[pages, page_size, kv_heads, head_dim] key pool");
  unsigned ck = kb.addBuffer("keys", kelem, {"key_pages", kpage, kvh, d},
                             "[key_pages, key_page_size, kv_heads, head_dim] "
                             "compressed-key pool");
  BatchParams bp = addBatchParams(kb, i32);
  unsigned kpt = kb.addBuffer("key_page_table", i32, {"batch", "max_key_pages"},
                              "[batch, max_key_pages] pages of the compressed keys");
  kb.addSize("batch", "number of sequences"); // sizes the grid
  unsigned maxPages = kb.addSize("max_pages", "columns of page_table");
  unsigned maxKeyPages = kb.addSize("max_key_pages", "columns of key_page_table");
  unsigned maxQ = kb.addSize("max_q_len", "longest query length in the batch");
  unsigned pages = kb.addSize("pages", "pages in the key pool");
  unsigned keyPages = kb.addSize("key_pages", "pages in the compressed-key pool");
  const int64_t threads = kb.threads(); // the kernel config's
  // The entries on x (up to 2^31 - 1 blocks), the sequences on y: grid y
  // stays within CUDA's 65535 at any prompt length.
  kb.setGrid(GridDim::scaled("max_q_len", 1, stride), GridDim::scaled("batch", 1, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value j = kb.blockId();
  Value seq = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  (void)maxQ;
  NewTokens nt = newTokens(kb, bp, seq);
  Value oldLen = nt.oldLen, newLen = kb.add(nt.oldLen, nt.qLen);
  // Entries complete for a length n: n < kernel ? 0 : (n - kernel) / stride + 1.
  auto complete = [&](Value n) {
    Value enough = kb.cmp(CmpIPredicate::sge, n, kb.idx(kernel));
    Value m = kb.add(kb.div(kb.sub(n, kb.idx(kernel)), kb.idx(stride)), kb.idx(1));
    return arith::SelectOp::create(b, loc, enough, m, kb.idx(0)).getResult();
  };
  Value entry = kb.add(complete(oldLen), j);
  kb.ifThen(kb.cmp(CmpIPredicate::slt, entry, complete(newLen)), [&] {
    Value first = kb.mul(entry, kb.idx(stride));
    // A thread per channel (looping when a row is wider than the block).
    auto channels = scf::ForOp::create(b, loc, kb.threadId(), kb.idx(rowElems),
                                       kb.idx(threads));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(channels.getBody());
    Value c = channels.getInductionVar();
    auto sum = scf::ForOp::create(b, loc, kb.idx(0), kb.idx(kernel), kb.idx(1),
                                  ValueRange{kb.f32(0.0)});
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(sum.getBody());
      Value pos = kb.add(first, sum.getInductionVar());
      // Out-of-pool pages read as zero instead of faulting.
      Value slot, ok; // plain values: lambdas capture them
      std::tie(slot, ok) = pagedRow(kb, kb.arg(bp.pageTable), kb.arg(maxPages), kb.arg(pages),
                                    page, seq, pos);
      Value x = kb.toF32(kb.load(kb.arg(kc), kb.add(kb.mul(slot, kb.idx(rowElems)), c)));
      x = arith::SelectOp::create(b, loc, ok, x, kb.f32(0.0));
      scf::YieldOp::create(
          b, loc, ValueRange{arith::AddFOp::create(b, loc, sum.getRegionIterArgs()[0], x)});
    }
    Value mean = arith::DivFOp::create(b, loc, sum.getResult(0), kb.f32(double(kernel)));
    // Where the entry goes (looked up here, after the sum: fewer live registers).
    Value keySlot, keyPageOk; // plain values: lambdas capture them
    std::tie(keySlot, keyPageOk) = pagedRow(kb, kb.arg(kpt), kb.arg(maxKeyPages),
                                            kb.arg(keyPages), kpage, seq, entry);
    kb.ifThen(keyPageOk, [&] {
      kb.store(kb.fromF32(mean, kelem), kb.arg(ck),
               kb.add(kb.mul(keySlot, kb.idx(rowElems)), c));
    });
  });
  return success();
}

//===----------------------------------------------------------------------===//
// sala.fused_kv_update: a block per (sequence, new token). The token's K and V
// rows are written once (a thread per 16 bytes); when the token ends a
// compression window, the block reduces that window (a thread per channel),
// taking the window's new keys from the input rather than from the cache the
// same launch writes, and every position's load issued before the sum. Each
// completed window ends at exactly one new token, so every entry is written
// once; the sum runs in the same order as compress_keys', so the entries are
// the same bits.
//===----------------------------------------------------------------------===//

/// The compression window is unrolled: at most 64 keys.
static bool fusedKVUpdateKernelSupports(Operation *op) {
  return cast<sala::FusedKVUpdateOp>(op).getKeys().getType().getKernelSize() <= 64;
}

static LogicalResult buildFusedKVUpdateKernel(Operation *op, KernelBuilder &kb) {
  auto fused = cast<sala::FusedKVUpdateOp>(op);
  sala::KVCacheType cache = fused.getCache().getType();
  sala::CompressedKeysType keys = fused.getKeys().getType();
  int64_t kvh = cache.getKvHeads(), d = cache.getHeadDim(), page = cache.getPageSize();
  int64_t kpage = keys.getPageSize();
  int64_t kernel = keys.getKernelSize(), stride = keys.getKernelStride();
  int64_t rowElems = kvh * d;
  Type elem = cache.getElementType(), kelem = keys.getElementType();
  Type i32 = IntegerType::get(op->getContext(), 32);
  int64_t vec = vectorWidth(elem, rowElems);
  int64_t chunks = rowElems / vec;
  int64_t align = vec * elem.getIntOrFloatBitWidth() / 8;

  SmallVector<Extent> rows = {"tokens", kvh, d};
  SmallVector<Extent> pool = {"pages", page, kvh, d};
  unsigned k = kb.addBuffer("key", elem, rows, "[tokens, kv_heads, head_dim] new keys");
  unsigned v = kb.addBuffer("value", elem, rows, "[tokens, kv_heads, head_dim] new values");
  unsigned kc = kb.addBuffer("k_cache", elem, pool, "[pages, page_size, kv_heads, head_dim] key pool");
  unsigned vc = kb.addBuffer("v_cache", elem, pool, "[pages, page_size, kv_heads, head_dim] value pool");
  BatchParams bp = addBatchParams(kb, i32);
  unsigned ck = kb.addBuffer("keys", kelem, {"key_pages", kpage, kvh, d},
                             "[key_pages, key_page_size, kv_heads, head_dim] "
                             "compressed-key pool");
  unsigned kpt = kb.addBuffer("key_page_table", i32, {"batch", "max_key_pages"},
                              "[batch, max_key_pages] pages of the compressed keys");
  kb.addSize("tokens", "number of new tokens (rows of key/value)");
  kb.addSize("batch", "number of sequences"); // sizes the grid
  unsigned maxPages = kb.addSize("max_pages", "columns of page_table");
  unsigned pages = kb.addSize("pages", "pages in the pool");
  unsigned maxKeyPages = kb.addSize("max_key_pages", "columns of key_page_table");
  unsigned keyPages = kb.addSize("key_pages", "pages in the compressed-key pool");
  kb.addSize("max_q_len", "longest query length in the batch (at least)");
  // The kernel config gives a thread per column of a cache row where it can
  // (sala-choose-kernel-config says why).
  const int64_t threads = kb.threads();
  // The tokens on x (up to 2^31 - 1 blocks), the sequences on y: grid y
  // stays within CUDA's 65535 at any prompt length.
  kb.setGrid(GridDim::scaled("max_q_len", 1, 1), GridDim::scaled("batch", 1, 1));

  OpBuilder &b = kb.begin();
  Location loc = kb.getLoc();
  Value j = kb.blockId();
  Value seq = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value tid = kb.threadId();
  NewTokens nt = newTokens(kb, bp, seq);
  Value start = nt.start, qLen = nt.qLen, oldLen = nt.oldLen;
  auto slotOf = [&](Value p) {
    return pagedRow(kb, kb.arg(bp.pageTable), kb.arg(maxPages), kb.arg(pages), page, seq, p);
  };
  kb.ifThen(kb.cmp(CmpIPredicate::ult, j, qLen), [&] {
    Value t = kb.add(start, j);
    Value pos = kb.add(oldLen, j);
    // The append: threads [0, chunks) the key row, [chunks, 2 chunks) the value's.
    kb.ifThen(kb.cmp(CmpIPredicate::ult, tid, kb.idx(2 * chunks)), [&] {
      auto [slot, ok] = slotOf(pos);
      kb.ifThen(ok, [&] {
        Value isValue = kb.cmp(CmpIPredicate::uge, tid, kb.idx(chunks));
        Value c = kb.mul(kb.rem(tid, kb.idx(chunks)), kb.idx(vec));
        Value dst = kb.add(kb.mul(slot, kb.idx(rowElems)), c);
        Value src = kb.add(kb.mul(t, kb.idx(rowElems)), c);
        kb.ifThen(isValue, [&] {
          kb.storeVector(kb.loadVector(kb.arg(v), src, vec, align), kb.arg(vc), dst, align);
        });
        kb.ifThen(arith::XOrIOp::create(b, loc, isValue,
                                        arith::ConstantOp::create(b, loc, b.getBoolAttr(true))),
                  [&] {
          kb.storeVector(kb.loadVector(kb.arg(k), src, vec, align), kb.arg(kc), dst, align);
        });
      });
    });
    // The window ending at pos, if any: entry (pos + 1 - kernel) / stride.
    Value end = kb.add(pos, kb.idx(1));
    Value full = kb.cmp(CmpIPredicate::uge, end, kb.idx(kernel));
    Value offset = kb.sub(end, kb.idx(kernel));
    Value ends = arith::AndIOp::create(
        b, loc, full, kb.cmp(CmpIPredicate::eq, kb.rem(offset, kb.idx(stride)), kb.idx(0)));
    kb.ifThen(ends, [&] {
      Value entry = kb.div(offset, kb.idx(stride));
      Value keySlot, keyPageOk; // plain values: lambdas capture them
      std::tie(keySlot, keyPageOk) = pagedRow(kb, kb.arg(kpt), kb.arg(maxKeyPages),
                                              kb.arg(keyPages), kpage, seq, entry);
      Value first = kb.mul(entry, kb.idx(stride));
      // Where each position of the window is: its row in the input (new) or
      // in the pool (older), and whether it can be read.
      SmallVector<Value> at, isNew, ok;
      for (int64_t x = 0; x < kernel; ++x) {
        Value p = kb.add(first, kb.idx(x));
        Value fresh = kb.cmp(CmpIPredicate::uge, p, oldLen);
        auto [slot, inPool] = slotOf(p);
        at.push_back(arith::SelectOp::create(b, loc, fresh,
                                             kb.add(start, kb.sub(p, oldLen)), slot));
        isNew.push_back(fresh);
        ok.push_back(arith::OrIOp::create(b, loc, fresh, inPool));
      }
      kb.forLoop(tid, kb.idx(rowElems), kb.idx(threads), {}, [&](Value c, ValueRange) {
        SmallVector<Value> xs;
        for (int64_t x = 0; x < kernel; ++x) {
          Value idx = kb.add(kb.mul(at[x], kb.idx(rowElems)), c);
          auto r = scf::IfOp::create(b, loc, TypeRange{b.getF32Type()}, isNew[x], true);
          {
            OpBuilder::InsertionGuard g2(b);
            b.setInsertionPointToStart(&r.getThenRegion().front());
            scf::YieldOp::create(b, loc, ValueRange{kb.toF32(kb.load(kb.arg(k), idx))});
            b.setInsertionPointToStart(&r.getElseRegion().front());
            // Out-of-pool pages read as zero instead of faulting.
            Value safe = arith::SelectOp::create(b, loc, ok[x], idx, c);
            Value y = kb.toF32(kb.load(kb.arg(kc), safe));
            scf::YieldOp::create(b, loc,
                                 ValueRange{arith::SelectOp::create(b, loc, ok[x], y,
                                                                    kb.f32(0.0))});
          }
          xs.push_back(r.getResult(0));
        }
        Value sum = kb.f32(0.0);
        for (Value x : xs)
          sum = arith::AddFOp::create(b, loc, sum, x);
        Value mean = arith::DivFOp::create(b, loc, sum, kb.f32(double(kernel)));
        kb.ifThen(keyPageOk, [&] {
          kb.store(kb.fromF32(mean, kelem), kb.arg(ck),
                   kb.add(kb.mul(keySlot, kb.idx(rowElems)), c));
        });
        return SmallVector<Value>{};
      });
    });
  });
  return success();
}

void salac::populateSalaCacheToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  addFormKernelPattern<sala::KVAppendOp>(patterns, table, buildKVAppendKernel);
  addFormKernelPattern<sala::CompressKeysOp>(patterns, table, buildCompressKeysKernel);
  addFormKernelPattern<sala::FusedKVUpdateOp>(patterns, table, buildFusedKVUpdateKernel, fusedKVUpdateKernelSupports,
      "needs a compression window (kernel_size) of at most 64 keys");
}
