//===- ElementwiseOps.cpp - rms_norm, rope, sigmoid_gate to loops ---------===//
#include "LoopEmitter.h"

#include "salac/Conversion/SalaToLoops/SalaToLoops.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace salac;
using namespace salac::loops;

namespace {

/// [tokens, heads, head_dim] of an activation operand.
struct TokenDims {
  int64_t heads, headDim;
  explicit TokenDims(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    heads = type.getDimSize(1);
    headDim = type.getDimSize(2);
  }
};

/// y = x / sqrt(mean(x^2) + eps) * w over one head (`head`) or all channels of
/// a token (`full`), in f32.
struct RMSNormToLoops : OpConversionPattern<sala::RMSNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::RMSNormOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    TokenDims dims(op.getInput());
    bool perHead = op.getScope() == sala::NormScope::Head;
    LoopEmitter e(rewriter, op.getLoc());
    Type f32 = e.b.getF32Type();
    Value x = single(adaptor.getInput()), w = single(adaptor.getWeight());
    Value out = e.allocLike(
        cast<MemRefType>(getTypeConverter()->convertType(op.getOutput().getType())), x);
    Value eps = e.f32(op.getEps().convertToFloat());
    int64_t width = perHead ? dims.headDim : dims.heads * dims.headDim;
    Value invWidth = e.f32(1.0 / double(width));

    // Normalises heads [h0, h0 + count) of token t together.
    auto normalise = [&](Value t, Value h0, int64_t count) {
      Value squares = e.sum(e.idx(0), e.idx(count), e.f32(0.0), [&](Value hh) {
        Value h = e.add(h0, hh);
        return e.sum(e.idx(0), e.idx(dims.headDim), e.f32(0.0), [&](Value d) {
          Value v = e.loadAs(f32, x, {t, h, d});
          return e.fmul(v, v);
        });
      });
      Value inv = e.fdiv(e.f32(1.0), e.sqrt(e.fadd(e.fmul(squares, invWidth), eps)));
      e.loop(count, [&](Value hh) {
        Value h = e.add(h0, hh);
        e.loop(dims.headDim, [&](Value d) {
          Value channel = perHead ? d : e.add(e.mul(h, e.idx(dims.headDim)), d);
          Value y = e.fmul(e.fmul(e.loadAs(f32, x, {t, h, d}), inv),
                           e.loadAs(f32, w, channel));
          e.storeAs(y, out, {t, h, d});
        });
      });
    };
    e.loop(e.idx(0), e.dim(x, 0), [&](Value t) {
      if (perHead)
        e.loop(dims.heads, [&](Value h) { normalise(t, h, 1); });
      else
        normalise(t, e.idx(0), dims.heads);
    });
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// Pair i of every head rotates by positions[t] * theta^(-2i/D); angles and
/// rotations in f64 (an f32 angle is far off at long positions).
struct RopeToLoops : OpConversionPattern<sala::RopeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::RopeOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    TokenDims dims(op.getInput());
    bool neox = op.getStyle() == sala::RopeStyle::NeoX;
    int64_t half = dims.headDim / 2;
    LoopEmitter e(rewriter, op.getLoc());
    Type f64 = e.b.getF64Type(), i64 = e.b.getI64Type();
    Value x = single(adaptor.getInput()), positions = single(adaptor.getPositions());
    Value out = e.allocLike(
        cast<MemRefType>(getTypeConverter()->convertType(op.getOutput().getType())), x);
    Value theta = e.f64(double(op.getTheta().convertToFloat()));

    e.loop(e.idx(0), e.dim(x, 0), [&](Value t) {
      Value pos = arith::SIToFPOp::create(e.b, f64, e.load(positions, t));
      e.loop(half, [&](Value i) {
        Value iF = arith::UIToFPOp::create(e.b, f64,
                                           arith::IndexCastUIOp::create(e.b, i64, i));
        Value exponent = e.fdiv(e.fmul(e.f64(-2.0), iF), e.f64(double(dims.headDim)));
        Value angle = e.fmul(pos, math::PowFOp::create(e.b, theta, exponent));
        Value cos = math::CosOp::create(e.b, angle), sin = math::SinOp::create(e.b, angle);
        Value ia = neox ? i : e.mul(i, e.idx(2));
        Value ib = neox ? e.add(i, e.idx(half)) : e.add(ia, e.idx(1));
        e.loop(dims.heads, [&](Value h) {
          Value a = e.loadAs(f64, x, {t, h, ia}), b = e.loadAs(f64, x, {t, h, ib});
          e.storeAs(e.fsub(e.fmul(a, cos), e.fmul(b, sin)), out, {t, h, ia});
          e.storeAs(e.fadd(e.fmul(b, cos), e.fmul(a, sin)), out, {t, h, ib});
        });
      });
    });
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// y = x * sigmoid(z) in f32.
struct SigmoidGateToLoops : OpConversionPattern<sala::SigmoidGateOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(sala::SigmoidGateOp op, OneToNOpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    TokenDims dims(op.getInput());
    LoopEmitter e(rewriter, op.getLoc());
    Type f32 = e.b.getF32Type();
    Value x = single(adaptor.getInput()), z = single(adaptor.getGate());
    Value out = e.allocLike(
        cast<MemRefType>(getTypeConverter()->convertType(op.getOutput().getType())), x);
    e.loop(e.idx(0), e.dim(x, 0), [&](Value t) {
      e.loop(dims.heads, [&](Value h) {
        e.loop(dims.headDim, [&](Value d) {
          Value zv = e.loadAs(f32, z, {t, h, d});
          Value negZ = arith::NegFOp::create(e.b, zv);
          Value sig = e.fdiv(e.f32(1.0), e.fadd(e.f32(1.0), e.exp(negZ)));
          e.storeAs(e.fmul(e.loadAs(f32, x, {t, h, d}), sig), out, {t, h, d});
        });
      });
    });
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void salac::populateSalaElementwiseOpsToLoopsPatterns(const TypeConverter &converter,
                                                      RewritePatternSet &patterns) {
  patterns.add<RMSNormToLoops, RopeToLoops, SigmoidGateToLoops>(converter,
                                                               patterns.getContext());
}
