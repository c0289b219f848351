//===- LinearOps.cpp - linear_attention (recurrent, chunked) to loops -----===//
//
// Simple gated linear attention with a fixed per-head decay (DESIGN.md 3):
//   S_t = gamma S_{t-1} + k_t^T v_t,   o_t = scale q_t S_t,  gamma = exp(-slope)
// per sequence and head, S [D, D] in f32 (key dim major). The initial state is
// the slot's content when the sequence has history and zero for a fresh one;
// the final state goes back to the slot. Sequences without new tokens leave
// their slot alone.
//
// `recurrent` walks the tokens. `chunked` is the chunk-parallel form: per
// chunk of C tokens, an intra-chunk score matrix A[i][j] = (q_i . k_j)
// gamma^(i-j) (j <= i), outputs gamma^(i+1) q_i S + sum_j A[i][j] v_j, then one
// state update S = gamma^C S + sum_j gamma^(C-1-j) k_j^T v_j.
//
//===----------------------------------------------------------------------===//
#include "LoopEmitter.h"

#include "salac/Conversion/SalaToLoops/SalaToLoops.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

using namespace mlir;
using namespace salac;
using namespace salac::loops;

namespace {

/// The token rows of one head of one sequence.
struct HeadRows {
  Value q, k, v, out; ///< [T, H, D] buffers
  Value h, qStart;
  int64_t headDim;
  Value scale; ///< f32
};

Value element(LoopEmitter &e, Value buffer, const HeadRows &r, Value token, Value d) {
  return e.loadAs(e.b.getF32Type(), buffer, {e.add(r.qStart, token), r.h, d});
}

void runRecurrent(LoopEmitter &e, const HeadRows &r, Value length, Value gamma,
                  Value state) {
  int64_t dim = r.headDim;
  e.loop(e.idx(0), length, [&](Value t) {
    e.loop(dim, [&](Value a) {
      Value ka = element(e, r.k, r, t, a);
      e.loop(dim, [&](Value c) {
        Value decayed = e.fmul(gamma, e.load(state, {a, c}));
        e.store(e.fadd(decayed, e.fmul(ka, element(e, r.v, r, t, c))), state, {a, c});
      });
    });
    e.loop(dim, [&](Value c) {
      Value acc = e.sum(e.idx(0), e.idx(dim), e.f32(0.0), [&](Value a) {
        return e.fmul(element(e, r.q, r, t, a), e.load(state, {a, c}));
      });
      e.storeAs(e.fmul(r.scale, acc), r.out, {e.add(r.qStart, t), r.h, c});
    });
  });
}

/// `decay[n]` = gamma^n for n in [0, chunk]; `scores` is [chunk, chunk].
void runChunked(LoopEmitter &e, const HeadRows &r, Value length, int64_t chunk,
                Value decay, Value scores, Value state) {
  int64_t dim = r.headDim;
  e.loop(
      e.idx(0), length,
      [&](Value c0) {
        Value rows = e.min(e.idx(chunk), e.sub(length, c0));
        auto tok = [&](Value i) { return e.add(c0, i); };
        // Intra-chunk scores with the decay mask.
        e.loop(e.idx(0), rows, [&](Value i) {
          e.loop(e.idx(0), e.add(i, e.idx(1)), [&](Value j) {
            Value dot = e.sum(e.idx(0), e.idx(dim), e.f32(0.0), [&](Value a) {
              return e.fmul(element(e, r.q, r, tok(i), a), element(e, r.k, r, tok(j), a));
            });
            e.store(e.fmul(dot, e.load(decay, e.sub(i, j))), scores, {i, j});
          });
        });
        // Outputs: the carried state decayed to token i, plus the chunk.
        e.loop(e.idx(0), rows, [&](Value i) {
          Value carried = e.load(decay, e.add(i, e.idx(1)));
          e.loop(dim, [&](Value c) {
            Value inter = e.sum(e.idx(0), e.idx(dim), e.f32(0.0), [&](Value a) {
              return e.fmul(element(e, r.q, r, tok(i), a), e.load(state, {a, c}));
            });
            Value intra = e.sum(e.idx(0), e.add(i, e.idx(1)), e.f32(0.0), [&](Value j) {
              return e.fmul(e.load(scores, {i, j}), element(e, r.v, r, tok(j), c));
            });
            Value o = e.fadd(e.fmul(carried, inter), intra);
            e.storeAs(e.fmul(r.scale, o), r.out, {e.add(r.qStart, tok(i)), r.h, c});
          });
        });
        // State at the end of the chunk.
        Value whole = e.load(decay, rows);
        Value last = e.sub(rows, e.idx(1));
        e.loop(dim, [&](Value a) {
          e.loop(dim, [&](Value c) {
            Value update = e.sum(e.idx(0), rows, e.f32(0.0), [&](Value j) {
              Value w = e.load(decay, e.sub(last, j));
              Value ka = e.fmul(w, element(e, r.k, r, tok(j), a));
              return e.fmul(ka, element(e, r.v, r, tok(j), c));
            });
            e.store(e.fadd(e.fmul(whole, e.load(state, {a, c})), update), state, {a, c});
          });
        });
      },
      e.idx(chunk));
}

struct LinearAttentionToLoops : OpConversionPattern<sala::LinearAttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::LinearAttentionOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    int64_t heads = qType.getDimSize(1), dim = qType.getDimSize(2);
    bool chunked = op.getForm() == sala::LinearForm::Chunked;
    int64_t chunk = op.getEffectiveChunkSize();
    LoopEmitter e(rewriter, op.getLoc());
    Type f32 = e.b.getF32Type(), f64 = e.b.getF64Type();
    Value q = single(adaptor.getQuery());
    Value pool = single(adaptor.getState()), slots = single(adaptor.getSlots());
    Value out = e.allocLike(
        cast<MemRefType>(getTypeConverter()->convertType(op.getOutput().getType())), q);

    // Per-head slopes as a small table so that the head loop stays a loop.
    Value slopes = e.scratch(f64, {heads});
    for (auto [h, slope] : llvm::enumerate(op.getSlopes()))
      e.store(e.f64(slope), slopes, e.idx(int64_t(h)));
    Value state = e.scratch(f32, {dim, dim});
    Value decay, scores;
    if (chunked) {
      decay = e.scratch(f32, {chunk + 1});
      scores = e.scratch(f32, {chunk, chunk});
    }

    HeadRows rows{q, single(adaptor.getKey()), single(adaptor.getValue()), out,
                  Value(), Value(), dim, e.f32(op.getEffectiveScale())};
    e.forEachSequence(
        single(adaptor.getCuSeqlensQ()), single(adaptor.getSeqLens()),
        [&](const SeqRef &s) {
          e.ifThen(e.lt(e.idx(0), s.qLen), [&] {
            Value slot = e.loadIndex(slots, s.seq);
            Value fresh = e.le(s.history, e.idx(0));
            rows.qStart = s.qStart;
            e.loop(heads, [&](Value h) {
              rows.h = h;
              e.loop(dim, [&](Value a) {
                e.loop(dim, [&](Value c) {
                  Value held = e.loadAs(f32, pool, {slot, h, a, c});
                  e.store(e.select(fresh, e.f32(0.0), held), state, {a, c});
                });
              });
              Value negSlope = arith::NegFOp::create(e.b, e.load(slopes, h));
              if (chunked) {
                e.loop(chunk + 1, [&](Value n) {
                  Value steps = arith::UIToFPOp::create(
                      e.b, f64,
                      arith::IndexCastUIOp::create(e.b, e.b.getI64Type(), n));
                  e.store(e.castFloat(e.exp(e.fmul(negSlope, steps)), f32), decay, n);
                });
                runChunked(e, rows, s.qLen, chunk, decay, scores, state);
              } else {
                Value gamma = e.castFloat(e.exp(negSlope), f32);
                runRecurrent(e, rows, s.qLen, gamma, state);
              }
              e.loop(dim, [&](Value a) {
                e.loop(dim, [&](Value c) {
                  e.storeAs(e.load(state, {a, c}), pool, {slot, h, a, c});
                });
              });
            });
          });
        });
    for (Value buffer : {slopes, state, decay, scores})
      if (buffer)
        e.dealloc(buffer);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void salac::populateSalaLinearOpsToLoopsPatterns(const TypeConverter &converter,
                                                 RewritePatternSet &patterns) {
  patterns.add<LinearAttentionToLoops>(converter, patterns.getContext());
}
