//===- CacheOps.cpp - kv_append and compress_keys to loops ----------------===//
//
// Both ops write paged stores in place; neither has a result.
//
//===----------------------------------------------------------------------===//
#include "LoopEmitter.h"

#include "salac/Conversion/SalaToLoops/SalaToLoops.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

using namespace mlir;
using namespace salac;
using namespace salac::loops;

namespace {

/// For every new token (position p of sequence b), copy its key and value rows
/// into row p % page_size of page page_table[b, p / page_size]. Key, value and
/// cache share one element type (verified), so rows are copied unchanged.
struct KVAppendToLoops : OpConversionPattern<sala::KVAppendOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::KVAppendOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto cacheType = op.getCache().getType();
    ValueRange cache = adaptor.getCache();
    Value key = single(adaptor.getKey()), value = single(adaptor.getValue());
    Value pages = single(adaptor.getPageTable());
    LoopEmitter e(rewriter, op.getLoc());
    e.forEachToken(single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
                   [&](const TokenRef &t) {
                     auto [page, row] =
                         e.pageRow(pages, t.seq, t.pos, cacheType.getPageSize());
                     e.loop(cacheType.getKvHeads(), [&](Value g) {
                       e.loop(cacheType.getHeadDim(), [&](Value d) {
                         e.store(e.load(key, {t.row, g, d}), cache[0], {page, row, g, d});
                         e.store(e.load(value, {t.row, g, d}), cache[1],
                                 {page, row, g, d});
                       });
                     });
                   });
    rewriter.eraseOp(op);
    return success();
  }
};

/// For every sequence, the entries i in [m(history), m(seq_len)) (the windows
/// this step completed) become the mean of K rows [stride*i, stride*i + kernel).
/// The sum of the window is taken in f64 and the mean correctly rounded to the
/// store's element type, which makes the stored keys bit-identical to the
/// reference's (it rounds the double mean the same way).
struct CompressKeysToLoops : OpConversionPattern<sala::CompressKeysOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::CompressKeysOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto cacheType = op.getCache().getType();
    auto keysType = op.getKeys().getType();
    int64_t kernel = keysType.getKernelSize(), stride = keysType.getKernelStride();
    Value k = adaptor.getCache()[0];
    Value pages = single(adaptor.getPageTable());
    Value keys = single(adaptor.getKeys());
    Value keyPages = single(adaptor.getKeyPageTable());
    LoopEmitter e(rewriter, op.getLoc());
    Type f64 = e.b.getF64Type();
    Value inverse = e.f64(1.0 / double(kernel));
    bool exactInverse = (kernel & (kernel - 1)) == 0;
    e.forEachSequence(
        single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
        [&](const SeqRef &s) {
          Value first = e.numWindows(s.history, kernel, stride);
          Value last = e.numWindows(s.seqLen, kernel, stride);
          e.loop(first, last, [&](Value i) {
            auto [dstPage, dstRow] =
                e.pageRow(keyPages, s.seq, i, keysType.getPageSize());
            Value start = e.mul(i, e.idx(stride));
            e.loop(cacheType.getKvHeads(), [&](Value g) {
              e.loop(cacheType.getHeadDim(), [&](Value d) {
                Value total = e.sum(e.idx(0), e.idx(kernel), e.f64(0.0), [&](Value r) {
                  auto [page, row] =
                      e.pageRow(pages, s.seq, e.add(start, r), cacheType.getPageSize());
                  return e.loadAs(f64, k, {page, row, g, d});
                });
                // sum / kernel: a multiplication when that is exact.
                Value mean = exactInverse ? e.fmul(total, inverse)
                                          : e.fdiv(total, e.f64(double(kernel)));
                e.storeAs(mean, keys, {dstPage, dstRow, g, d});
              });
            });
          });
        });
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void salac::populateSalaCacheOpsToLoopsPatterns(const TypeConverter &converter,
                                                RewritePatternSet &patterns) {
  patterns.add<KVAppendToLoops, CompressKeysToLoops>(converter, patterns.getContext());
}
