//===- LoopEmitter.cpp - helpers for writing host loop nests --------------===//
#include "LoopEmitter.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace salac::loops;

//===----------------------------------------------------------------------===//
// Constants and scalar arithmetic
//===----------------------------------------------------------------------===//

Value LoopEmitter::idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
Value LoopEmitter::f32(double v) { return constFloat(b.getF32Type(), v); }
Value LoopEmitter::f64(double v) { return constFloat(b.getF64Type(), v); }
Value LoopEmitter::i32(int32_t v) {
  return arith::ConstantIntOp::create(b, b.getI32Type(), v);
}
Value LoopEmitter::constFloat(Type type, double v) {
  auto floatType = cast<FloatType>(type);
  APFloat value(v);
  bool lost;
  value.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
  return arith::ConstantFloatOp::create(b, floatType, value);
}

Value LoopEmitter::add(Value a, Value c) { return arith::AddIOp::create(b, a, c); }
Value LoopEmitter::sub(Value a, Value c) { return arith::SubIOp::create(b, a, c); }
Value LoopEmitter::mul(Value a, Value c) { return arith::MulIOp::create(b, a, c); }
Value LoopEmitter::div(Value a, Value c) { return arith::DivUIOp::create(b, a, c); }
Value LoopEmitter::rem(Value a, Value c) { return arith::RemUIOp::create(b, a, c); }
Value LoopEmitter::min(Value a, Value c) { return arith::MinSIOp::create(b, a, c); }
Value LoopEmitter::max(Value a, Value c) { return arith::MaxSIOp::create(b, a, c); }
Value LoopEmitter::lt(Value a, Value c) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, a, c);
}
Value LoopEmitter::le(Value a, Value c) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::sle, a, c);
}
Value LoopEmitter::select(Value cond, Value a, Value c) {
  return arith::SelectOp::create(b, cond, a, c);
}

Value LoopEmitter::numWindows(Value n, int64_t kernel, int64_t stride) {
  // (n - kernel) / stride + 1 with signed division; selected away when negative.
  Value shifted = arith::SubIOp::create(b, n, idx(kernel));
  Value count = add(arith::DivSIOp::create(b, shifted, idx(stride)), idx(1));
  return select(lt(n, idx(kernel)), idx(0), count);
}

Value LoopEmitter::fadd(Value a, Value c) { return arith::AddFOp::create(b, a, c); }
Value LoopEmitter::fsub(Value a, Value c) { return arith::SubFOp::create(b, a, c); }
Value LoopEmitter::fmul(Value a, Value c) { return arith::MulFOp::create(b, a, c); }
Value LoopEmitter::fdiv(Value a, Value c) { return arith::DivFOp::create(b, a, c); }
Value LoopEmitter::fmax(Value a, Value c) {
  Value less = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, a, c);
  return select(less, c, a);
}
Value LoopEmitter::exp(Value a) { return math::ExpOp::create(b, a); }
Value LoopEmitter::log(Value a) { return math::LogOp::create(b, a); }
Value LoopEmitter::sqrt(Value a) { return math::SqrtOp::create(b, a); }

Value LoopEmitter::castFloat(Value v, Type type) {
  auto from = cast<FloatType>(v.getType());
  auto to = cast<FloatType>(type);
  if (from == to)
    return v;
  if (from.getWidth() < to.getWidth())
    return arith::ExtFOp::create(b, to, v);
  if (!from.isF64() || to.isF32())
    return arith::TruncFOp::create(b, to, v);
  // f64 -> 16-bit: round to f32 with round-to-odd (f32 keeps more than two
  // extra bits), then round to nearest even. `r` is RNE; when inexact, step
  // one ulp towards zero if it rounded away from zero, then set the sticky
  // bit.
  Type f32Type = b.getF32Type(), i32Type = b.getI32Type();
  Value r = arith::TruncFOp::create(b, f32Type, v);
  Value back = arith::ExtFOp::create(b, from, r);
  Value inexact = arith::CmpFOp::create(b, arith::CmpFPredicate::ONE, back, v);
  Value away = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT,
                                     math::AbsFOp::create(b, back),
                                     math::AbsFOp::create(b, v));
  Value bits = arith::BitcastOp::create(b, i32Type, r);
  Value one = i32(1);
  Value towardZero = select(away, arith::SubIOp::create(b, bits, one), bits);
  Value odd = arith::OrIOp::create(b, towardZero, one);
  Value rounded = arith::BitcastOp::create(b, f32Type, select(inexact, odd, bits));
  return arith::TruncFOp::create(b, to, rounded);
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

Value LoopEmitter::dim(Value memref, int64_t d) {
  return memref::DimOp::create(b, memref, d);
}
Value LoopEmitter::load(Value memref, ValueRange indices) {
  return memref::LoadOp::create(b, memref, indices);
}
Value LoopEmitter::loadAs(Type type, Value memref, ValueRange indices) {
  return castFloat(load(memref, indices), type);
}
Value LoopEmitter::loadIndex(Value memref, ValueRange indices) {
  return arith::IndexCastOp::create(b, b.getIndexType(), load(memref, indices));
}
void LoopEmitter::store(Value v, Value memref, ValueRange indices) {
  memref::StoreOp::create(b, v, memref, indices);
}
void LoopEmitter::storeAs(Value v, Value memref, ValueRange indices) {
  store(castFloat(v, cast<MemRefType>(memref.getType()).getElementType()), memref,
        indices);
}
Value LoopEmitter::alloc(MemRefType type, ValueRange dynSizes) {
  return memref::AllocOp::create(b, type, dynSizes);
}
Value LoopEmitter::scratch(Type elementType, ArrayRef<int64_t> shape,
                           ValueRange dynSizes) {
  return alloc(MemRefType::get(shape, elementType), dynSizes);
}
void LoopEmitter::dealloc(Value memref) { memref::DeallocOp::create(b, memref); }
Value LoopEmitter::allocLike(MemRefType type, Value like) {
  llvm::SmallVector<Value> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(dim(like, d));
  return alloc(type, sizes);
}

//===----------------------------------------------------------------------===//
// Control flow
//===----------------------------------------------------------------------===//

void LoopEmitter::loop(Value lb, Value ub, llvm::function_ref<void(Value)> body,
                       Value step) {
  auto forOp = scf::ForOp::create(b, lb, ub, step ? step : idx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forOp.getBody()->getTerminator());
  body(forOp.getInductionVar());
}

llvm::SmallVector<Value> LoopEmitter::loopCarry(
    Value lb, Value ub, ValueRange init,
    llvm::function_ref<llvm::SmallVector<Value>(Value, ValueRange)> body) {
  auto forOp = scf::ForOp::create(
      b, lb, ub, idx(1), init,
      [&](OpBuilder &nested, Location, Value iv, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToEnd(nested.getInsertionBlock());
        scf::YieldOp::create(b, body(iv, args));
      });
  return llvm::SmallVector<Value>(forOp.getResults());
}

Value LoopEmitter::sum(Value lb, Value ub, Value zero,
                       llvm::function_ref<Value(Value)> body) {
  return loopCarry(lb, ub, zero, [&](Value i, ValueRange acc) {
           return llvm::SmallVector<Value>{fadd(acc[0], body(i))};
         })
      .front();
}

void LoopEmitter::ifThen(Value cond, llvm::function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  body();
}

//===----------------------------------------------------------------------===//
// Ragged batch and paging
//===----------------------------------------------------------------------===//

SeqRef LoopEmitter::sequence(Value cuSeqlens, Value seqLens, Value seq) {
  SeqRef s;
  s.seq = seq;
  s.qStart = loadIndex(cuSeqlens, seq);
  s.qLen = sub(loadIndex(cuSeqlens, add(seq, idx(1))), s.qStart);
  s.seqLen = loadIndex(seqLens, seq);
  s.history = sub(s.seqLen, s.qLen);
  return s;
}

void LoopEmitter::forEachSequence(Value cuSeqlens, Value seqLens,
                                  llvm::function_ref<void(const SeqRef &)> body) {
  loop(idx(0), dim(seqLens, 0),
       [&](Value seq) { body(sequence(cuSeqlens, seqLens, seq)); });
}

void LoopEmitter::forEachToken(Value cuSeqlens, Value seqLens,
                               llvm::function_ref<void(const TokenRef &)> body) {
  forEachSequence(cuSeqlens, seqLens, [&](const SeqRef &s) {
    loop(idx(0), s.qLen, [&](Value j) {
      body(TokenRef{s.seq, add(s.qStart, j), add(s.history, j)});
    });
  });
}

Value LoopEmitter::maxSeqLen(Value seqLens) {
  return loopCarry(idx(0), dim(seqLens, 0), idx(0), [&](Value seq, ValueRange acc) {
           return llvm::SmallVector<Value>{max(acc[0], loadIndex(seqLens, seq))};
         })
      .front();
}

std::pair<Value, Value> LoopEmitter::pageRow(Value pageTable, Value seq, Value entry,
                                             int64_t pageSize) {
  if (pageSize == 1)
    return {loadIndex(pageTable, {seq, entry}), idx(0)};
  Value size = idx(pageSize);
  return {loadIndex(pageTable, {seq, div(entry, size)}), rem(entry, size)};
}
