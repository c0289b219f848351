//===- AttentionOps.cpp - sparse/dense attention, length_select to loops --===//
//
// Stage 2 of InfLLM-V2 (exact attention over the tokens of the selected
// blocks), the dense causal fallback, and the per-sequence select between
// them. Both attentions share one row kernel: scores, max, exp and sum, then
// the weighted sum of V rows, in f32, like the reference's attendRows.
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

/// What one query row attends over: the paged cache of one sequence and KV
/// head, plus the scratch buffers of the op.
struct AttendContext {
  Value k, v, pages, seq, g;
  int64_t pageSize, headDim;
  Value scale;
  Value qRow;   ///< [D] f32, the query row
  Value scores; ///< [>= count] f32
  Value acc;    ///< [D] f32
};

/// out[row, h, :] = softmax(scale * q . K[p]) V[p] over p = position(n),
/// n < count; zero when count is 0.
void attendRow(LoopEmitter &e, const AttendContext &c, Value count,
               llvm::function_ref<Value(Value)> position, Value out, Value row,
               Value h) {
  Type f32 = e.b.getF32Type();
  e.loop(e.idx(0), count, [&](Value n) {
    auto [page, slot] = e.pageRow(c.pages, c.seq, position(n), c.pageSize);
    Value dot = e.sum(e.idx(0), e.idx(c.headDim), e.f32(0.0), [&](Value d) {
      return e.fmul(e.load(c.qRow, d), e.loadAs(f32, c.k, {page, slot, c.g, d}));
    });
    e.store(e.fmul(c.scale, dot), c.scores, n);
  });
  Value maxScore =
      e.loopCarry(e.idx(0), count, e.f32(-std::numeric_limits<double>::infinity()),
                  [&](Value n, ValueRange acc) {
                    return SmallVector<Value>{e.fmax(acc[0], e.load(c.scores, n))};
                  })
          .front();
  Value denom = e.sum(e.idx(0), count, e.f32(0.0), [&](Value n) {
    Value w = e.exp(e.fsub(e.load(c.scores, n), maxScore));
    e.store(w, c.scores, n);
    return w;
  });
  e.loop(c.headDim, [&](Value d) { e.store(e.f32(0.0), c.acc, d); });
  e.loop(e.idx(0), count, [&](Value n) {
    auto [page, slot] = e.pageRow(c.pages, c.seq, position(n), c.pageSize);
    Value w = e.fdiv(e.load(c.scores, n), denom);
    e.loop(c.headDim, [&](Value d) {
      Value term = e.fmul(w, e.loadAs(f32, c.v, {page, slot, c.g, d}));
      e.store(e.fadd(e.load(c.acc, d), term), c.acc, d);
    });
  });
  e.loop(c.headDim, [&](Value d) { e.storeAs(e.load(c.acc, d), out, {row, h, d}); });
}

void loadRow(LoopEmitter &e, Value q, Value row, Value h, int64_t headDim,
             Value qRow) {
  e.loop(headDim, [&](Value d) {
    e.store(e.loadAs(e.b.getF32Type(), q, {row, h, d}), qRow, d);
  });
}

/// The scratch buffers and shapes both attention ops need.
struct AttentionSetup {
  AttendContext ctx;
  int64_t heads, group;
  Value out, maxLen;

  template <typename OpTy>
  AttentionSetup(LoopEmitter &e, OpTy op, typename OpTy::template GenericAdaptor<
                                              ArrayRef<ValueRange>> adaptor,
                 const TypeConverter *converter) {
    auto cacheType = op.getCache().getType();
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    heads = qType.getDimSize(1);
    group = heads / cacheType.getKvHeads();
    Value q = single(adaptor.getQuery());
    out = e.allocLike(cast<MemRefType>(converter->convertType(op.getOutput().getType())),
                      q);
    maxLen = e.maxSeqLen(single(adaptor.getSeqLens()));
    Type f32 = e.b.getF32Type();
    ctx.k = adaptor.getCache()[0];
    ctx.v = adaptor.getCache()[1];
    ctx.pages = single(adaptor.getPageTable());
    ctx.pageSize = cacheType.getPageSize();
    ctx.headDim = cacheType.getHeadDim();
    ctx.scale = e.f32(op.getEffectiveScale());
    ctx.qRow = e.scratch(f32, {ctx.headDim});
    ctx.acc = e.scratch(f32, {ctx.headDim});
    ctx.scores = e.scratch(f32, {ShapedType::kDynamic}, e.max(maxLen, e.idx(1)));
  }

  void release(LoopEmitter &e) {
    for (Value buffer : {ctx.qRow, ctx.acc, ctx.scores})
      e.dealloc(buffer);
  }
};

/// Per token and KV group, the positions of the selected blocks (ascending
/// block indices, -1 skipped) that are <= the token's position are gathered
/// once; every query head of the group then attends over them.
struct SparseAttentionToLoops : OpConversionPattern<sala::SparseAttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::SparseAttentionOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LoopEmitter e(rewriter, op.getLoc());
    AttentionSetup setup(e, op, adaptor, getTypeConverter());
    int64_t blockSize = int64_t(op.getBlockSize());
    Value q = single(adaptor.getQuery()), blocks = single(adaptor.getBlocks());
    auto blocksType = cast<MemRefType>(blocks.getType());
    int64_t selected = blocksType.getDimSize(2);
    Value selectedCount =
        ShapedType::isDynamic(selected) ? e.dim(blocks, 2) : e.idx(selected);
    Value positions = e.scratch(e.b.getIndexType(), {ShapedType::kDynamic},
                                e.max(setup.maxLen, e.idx(1)));
    AttendContext ctx = setup.ctx;
    int64_t kvHeads = op.getCache().getType().getKvHeads();

    e.forEachToken(
        single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
        [&](const TokenRef &tok) {
          Value limit = e.add(tok.pos, e.idx(1));
          ctx.seq = tok.seq;
          e.loop(kvHeads, [&](Value g) {
            ctx.g = g;
            Value count =
                e.loopCarry(e.idx(0), selectedCount, e.idx(0), [&](Value s, ValueRange n) {
                   Value raw = e.load(blocks, {tok.row, g, s});
                   Value valid = arith::CmpIOp::create(e.b, arith::CmpIPredicate::sge,
                                                       raw, e.i32(0));
                   Value block = arith::IndexCastOp::create(e.b, e.b.getIndexType(), raw);
                   Value start = e.mul(block, e.idx(blockSize));
                   Value end = e.min(e.add(start, e.idx(blockSize)), limit);
                   end = e.select(valid, e.max(end, start), start);
                   e.loop(start, end, [&](Value p) {
                     e.store(p, positions, e.add(n[0], e.sub(p, start)));
                   });
                   return SmallVector<Value>{e.add(n[0], e.sub(end, start))};
                 }).front();
            e.loop(setup.group, [&](Value hh) {
              Value h = e.add(e.mul(g, e.idx(setup.group)), hh);
              loadRow(e, q, tok.row, h, ctx.headDim, ctx.qRow);
              attendRow(e, ctx, count, [&](Value n) { return e.load(positions, n); },
                        setup.out, tok.row, h);
            });
          });
        });
    e.dealloc(positions);
    setup.release(e);
    rewriter.replaceOp(op, setup.out);
    return success();
  }
};

/// Causal GQA attention: token at position p, head h attends to positions
/// 0..p of KV head h / group.
struct DenseAttentionToLoops : OpConversionPattern<sala::DenseAttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::DenseAttentionOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LoopEmitter e(rewriter, op.getLoc());
    AttentionSetup setup(e, op, adaptor, getTypeConverter());
    Value q = single(adaptor.getQuery());
    AttendContext ctx = setup.ctx;
    e.forEachToken(single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
                   [&](const TokenRef &tok) {
                     ctx.seq = tok.seq;
                     e.loop(setup.heads, [&](Value h) {
                       ctx.g = e.div(h, e.idx(setup.group));
                       loadRow(e, q, tok.row, h, ctx.headDim, ctx.qRow);
                       attendRow(e, ctx, e.add(tok.pos, e.idx(1)),
                                 [](Value n) { return n; }, setup.out, tok.row, h);
                     });
                   });
    setup.release(e);
    rewriter.replaceOp(op, setup.out);
    return success();
  }
};

/// Rows of sequence b from `short_value` when seq_lens[b] < threshold, else
/// from `long_value`.
struct LengthSelectToLoops : OpConversionPattern<sala::LengthSelectOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::LengthSelectOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LoopEmitter e(rewriter, op.getLoc());
    Value shortValue = single(adaptor.getShortValue());
    Value longValue = single(adaptor.getLongValue());
    auto type = cast<MemRefType>(getTypeConverter()->convertType(op.getType()));
    Value out = e.allocLike(type, shortValue);
    Value threshold = e.idx(int64_t(op.getThreshold()));
    e.forEachSequence(
        single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
        [&](const SeqRef &s) {
          Value isShort = e.lt(s.seqLen, threshold);
          e.loop(s.qStart, e.add(s.qStart, s.qLen), [&](Value row) {
            e.loop(e.idx(0), e.dim(out, 1), [&](Value h) {
              e.loop(e.idx(0), e.dim(out, 2), [&](Value d) {
                e.store(e.select(isShort, e.load(shortValue, {row, h, d}),
                                 e.load(longValue, {row, h, d})),
                        out, {row, h, d});
              });
            });
          });
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void salac::populateSalaAttentionOpsToLoopsPatterns(const TypeConverter &converter,
                                                    RewritePatternSet &patterns) {
  patterns.add<SparseAttentionToLoops, DenseAttentionToLoops, LengthSelectToLoops>(
      converter, patterns.getContext());
}
