//===- SparseOps.cpp - block_scores and topk_blocks to loops --------------===//
//
// Stage 1 of InfLLM-V2 (DESIGN.md 2.2-2.5): compressed-key scores, softmax per
// head, summed over the KV group, max-pooled onto blocks; then the per-token,
// per-group top-k selection with forced initial and local blocks.
//
//===----------------------------------------------------------------------===//
#include "LoopEmitter.h"

#include "salac/Conversion/SalaToLoops/SalaToLoops.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include <limits>

using namespace mlir;
using namespace salac;
using namespace salac::loops;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// One compressed-key store as the loops see it.
struct KeyStore {
  Value buffer, pages;
  int64_t kernel, stride, pageSize;
};

/// scores[i] = scale * q . K[i] for the visible entries i < count of KV head g;
/// returns logsumexp over them (-inf when count is 0), as the reference's
/// logSumExp does: max first, then the shifted sum.
Value scoreEntries(LoopEmitter &e, const KeyStore &store, Value seq, Value g,
                   Value qRow, int64_t headDim, Value scale, Value count,
                   Value scores) {
  Type f32 = e.b.getF32Type();
  e.loop(e.idx(0), count, [&](Value i) {
    auto [page, row] = e.pageRow(store.pages, seq, i, store.pageSize);
    Value dot = e.sum(e.idx(0), e.idx(headDim), e.f32(0.0), [&](Value d) {
      return e.fmul(e.load(qRow, d), e.loadAs(f32, store.buffer, {page, row, g, d}));
    });
    e.store(e.fmul(scale, dot), scores, i);
  });
  Value maxScore =
      e.loopCarry(e.idx(0), count, e.f32(-kInf), [&](Value i, ValueRange acc) {
         return SmallVector<Value>{e.fmax(acc[0], e.load(scores, i))};
       }).front();
  Value total = e.sum(e.idx(0), count, e.f32(0.0), [&](Value i) {
    return e.exp(e.fsub(e.load(scores, i), maxScore));
  });
  return e.fadd(maxScore, e.log(total));
}

struct BlockScoresToLoops : OpConversionPattern<sala::BlockScoresOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::BlockScoresOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto keysType = op.getKeys().getType();
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    int64_t headDim = qType.getDimSize(2);
    int64_t kvHeads = keysType.getKvHeads(), group = int64_t(op.getGroupSize());
    int64_t blockSize = int64_t(op.getBlockSize());
    int64_t poolKernel = int64_t(op.getPoolKernel());
    int64_t poolStride = int64_t(op.getPoolStride());
    int64_t poolPadding = int64_t(op.getPoolPadding());
    auto resultType =
        cast<MemRefType>(getTypeConverter()->convertType(op.getScores().getType()));

    LoopEmitter e(rewriter, op.getLoc());
    Type f32 = e.b.getF32Type();
    Value q = single(adaptor.getQuery());
    Value cu = single(adaptor.getCuSeqlensQ()), lens = single(adaptor.getSeqLens());
    KeyStore k1{single(adaptor.getKeys()), single(adaptor.getKeyPageTable()),
                keysType.getKernelSize(), keysType.getKernelStride(),
                keysType.getPageSize()};
    std::optional<KeyStore> k2;
    if (op.getLseKeys()) {
      auto t = cast<sala::CompressedKeysType>(op.getLseKeys().getType());
      k2 = KeyStore{single(adaptor.getLseKeys()), single(adaptor.getLseKeyPageTable()),
                    t.getKernelSize(), t.getKernelStride(), t.getPageSize()};
    }

    // Result [tokens, kv_heads, blocks]; blocks cover the longest sequence.
    Value maxLen = e.maxSeqLen(lens);
    Value numBlocks = e.div(e.add(maxLen, e.idx(blockSize - 1)), e.idx(blockSize));
    SmallVector<Value> sizes;
    if (resultType.isDynamicDim(0))
      sizes.push_back(e.dim(q, 0));
    if (resultType.isDynamicDim(1))
      sizes.push_back(e.idx(kvHeads));
    if (resultType.isDynamicDim(2))
      sizes.push_back(numBlocks);
    Value out = e.alloc(resultType, sizes);
    Value outBlocks = e.dim(out, 2);
    e.loop(e.idx(0), e.dim(out, 0), [&](Value t) {
      e.loop(kvHeads, [&](Value g) {
        e.loop(e.idx(0), outBlocks,
               [&](Value j) { e.store(e.f32(-kInf), out, {t, g, j}); });
      });
    });

    // Scratch: the query row, per-entry scores and group probabilities.
    Value maxEntries = e.max(e.numWindows(maxLen, k1.kernel, k1.stride), e.idx(1));
    Value qRow = e.scratch(f32, {headDim});
    Value scores = e.scratch(f32, {ShapedType::kDynamic}, maxEntries);
    Value probs = e.scratch(f32, {ShapedType::kDynamic}, maxEntries);
    Value scores2;
    if (k2)
      scores2 = e.scratch(f32, {ShapedType::kDynamic},
                          e.max(e.numWindows(maxLen, k2->kernel, k2->stride), e.idx(1)));
    Value scale = e.f32(op.getEffectiveScale());

    e.forEachToken(cu, lens, [&](const TokenRef &tok) {
      Value visible = e.add(tok.pos, e.idx(1));
      Value m1 = e.numWindows(visible, k1.kernel, k1.stride);
      Value ownBlock = e.div(tok.pos, e.idx(blockSize));
      e.loop(kvHeads, [&](Value g) {
        e.loop(e.idx(0), m1, [&](Value i) { e.store(e.f32(0.0), probs, i); });
        e.loop(group, [&](Value hh) {
          Value h = e.add(e.mul(g, e.idx(group)), hh);
          e.loop(headDim, [&](Value d) {
            e.store(e.loadAs(f32, q, {tok.row, h, d}), qRow, d);
          });
          Value lse = scoreEntries(e, k1, tok.seq, g, qRow, headDim, scale, m1, scores);
          if (k2) {
            // The K2 normaliser, once a K2 window is visible.
            Value m2 = e.numWindows(visible, k2->kernel, k2->stride);
            Value lse2 =
                scoreEntries(e, *k2, tok.seq, g, qRow, headDim, scale, m2, scores2);
            lse = e.select(e.lt(e.idx(0), m2), lse2, lse);
          }
          e.loop(e.idx(0), m1, [&](Value i) {
            Value p = e.exp(e.fsub(e.load(scores, i), lse));
            e.store(e.fadd(e.load(probs, i), p), probs, i);
          });
        });
        // Max-pool onto blocks j <= own block: entries [stride*j - padding,
        // stride*j - padding + kernel - 1] that are visible.
        Value lastBlock = e.min(e.add(ownBlock, e.idx(1)), outBlocks);
        e.loop(e.idx(0), lastBlock, [&](Value j) {
          Value lo = e.sub(e.mul(j, e.idx(poolStride)), e.idx(poolPadding));
          Value begin = e.max(lo, e.idx(0));
          Value end = e.min(e.add(lo, e.idx(poolKernel)), m1);
          Value best =
              e.loopCarry(begin, end, e.f32(-kInf), [&](Value i, ValueRange acc) {
                 return SmallVector<Value>{e.fmax(acc[0], e.load(probs, i))};
               }).front();
          e.store(best, out, {tok.row, g, j});
        });
      });
    });
    for (Value buffer : {qRow, scores, probs, scores2})
      if (buffer)
        e.dealloc(buffer);
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// Per token (position p, own block c = p / block_size) and KV group: when at
/// most K = topk + local_blocks blocks exist, all of them; else the K best by
/// key (forced blocks +inf, NaN as -inf), ties to the lower index. A block is
/// selected when fewer than K blocks rank before it, which is the stable sort
/// of the reference without sorting. Indices ascending, then -1.
struct TopkBlocksToLoops : OpConversionPattern<sala::TopkBlocksOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::TopkBlocksOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    int64_t blockSize = int64_t(op.getBlockSize());
    int64_t initBlocks = int64_t(op.getInitBlocks());
    int64_t localBlocks = int64_t(op.getLocalBlocks());
    int64_t k = int64_t(op.getTopk()) + localBlocks;
    auto resultType =
        cast<MemRefType>(getTypeConverter()->convertType(op.getBlocks().getType()));
    LoopEmitter e(rewriter, op.getLoc());
    Value scores = single(adaptor.getScores());
    Value out = e.allocLike(resultType, scores);
    Value kvHeads = e.dim(out, 1);
    Value kValue = e.idx(k);
    Type i32 = e.b.getI32Type();
    auto asI32 = [&](Value v) { return arith::IndexCastOp::create(e.b, i32, v); };

    e.forEachToken(
        single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
        [&](const TokenRef &tok) {
          Value cur = e.div(tok.pos, e.idx(blockSize));
          Value candidates = e.add(cur, e.idx(1));
          Value firstLocal = e.sub(e.add(cur, e.idx(1)), e.idx(localBlocks));
          auto key = [&](Value g, Value j) {
            Value s = e.load(scores, {tok.row, g, j});
            Value isNan = arith::CmpFOp::create(e.b, arith::CmpFPredicate::UNO, s, s);
            Value forced = arith::OrIOp::create(e.b, e.lt(j, e.idx(initBlocks)),
                                                e.le(firstLocal, j));
            Value sane = e.select(isNan, e.f32(-kInf), s);
            return e.select(forced, e.f32(kInf), sane);
          };
          e.loop(e.idx(0), kvHeads, [&](Value g) {
            e.loop(k, [&](Value s) { e.store(e.i32(-1), out, {tok.row, g, s}); });
            e.ifThen(e.le(candidates, kValue), [&] {
              e.loop(e.idx(0), candidates,
                     [&](Value j) { e.store(asI32(j), out, {tok.row, g, j}); });
            });
            e.ifThen(e.lt(kValue, candidates), [&] {
              e.loopCarry(e.idx(0), candidates, e.idx(0), [&](Value j, ValueRange n) {
                Value keyJ = key(g, j);
                Value rank = e.loopCarry(
                                  e.idx(0), candidates, e.idx(0),
                                  [&](Value other, ValueRange r) {
                                    Value keyO = key(g, other);
                                    Value above = arith::CmpFOp::create(
                                        e.b, arith::CmpFPredicate::OGT, keyO, keyJ);
                                    Value tie = arith::AndIOp::create(
                                        e.b,
                                        arith::CmpFOp::create(
                                            e.b, arith::CmpFPredicate::OEQ, keyO, keyJ),
                                        e.lt(other, j));
                                    Value before = arith::OrIOp::create(e.b, above, tie);
                                    return SmallVector<Value>{
                                        e.select(before, e.add(r[0], e.idx(1)), r[0])};
                                  })
                                 .front();
                Value selected = e.lt(rank, kValue);
                e.ifThen(selected, [&] { e.store(asI32(j), out, {tok.row, g, n[0]}); });
                return SmallVector<Value>{e.select(selected, e.add(n[0], e.idx(1)), n[0])};
              });
            });
          });
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void salac::populateSalaSparseOpsToLoopsPatterns(const TypeConverter &converter,
                                                 RewritePatternSet &patterns) {
  patterns.add<BlockScoresToLoops, TopkBlocksToLoops>(converter, patterns.getContext());
}
