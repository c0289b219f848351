//===- MmaEmitter.h - warp-level tensor-core code for sala kernels -*- C++ -*-===//
//
// Small emitters shared by the kernels that use mma.sync m16n8k16 (bf16 in,
// f32 accumulate): ldmatrix fragments, the MMA itself, and the split of f32
// values into bf16 pairs. Private to lib/Conversion/SalaToGPU.
//
// MLIR 22's convert-nvgpu-to-nvvm cannot lower a bf16 nvgpu.mma.sync (it has
// no PTX type for bf16 operands), so the MMA is built as nvvm.mma.sync
// directly; ldmatrix is an nvgpu op.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_CONVERSION_SALATOGPU_MMAEMITTER_H
#define SALAC_LIB_CONVERSION_SALATOGPU_MMAEMITTER_H

#include "salac/Conversion/SalaToGPU/KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <array>
#include <utility>

namespace salac {

// Everything here builds IR in the mlir namespace; keep the names short.
namespace mma_detail {
using mlir::ArrayRef;
using mlir::Location;
using mlir::OpBuilder;
using mlir::SmallVector;
using mlir::Type;
using mlir::TypeRange;
using mlir::Value;
using mlir::ValueRange;
using mlir::VectorType;
using llvm::function_ref;
namespace arith = mlir::arith;
namespace LLVM = mlir::LLVM;
namespace NVVM = mlir::NVVM;
namespace nvgpu = mlir::nvgpu;
namespace scf = mlir::scf;
namespace vector = mlir::vector;

/// Small emitters for the warp-level matrix code.
struct MmaEmitter {
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  Type bf16, f32, i32;

  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value feq(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, y);
  }
  Value xori(Value x, Value y) { return arith::XOrIOp::create(b, loc, x, y); }
  Value andi(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value ori(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value ex2(Value x) { return kb.ptxUnaryF32("ex2.approx.ftz.f32", x); }

  /// A vector<2xbf16> as the 32-bit register the MMA takes.
  Value asI32(Value pair) {
    Value v = vector::BitCastOp::create(b, loc, VectorType::get({1}, i32), pair);
    return vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{0});
  }
  /// Two f32 (x0 in the low half) as two bf16x2 registers whose sum is x to
  /// about 16 significant bits: the rounded values and the rounding residues.
  /// Two MMAs with them keep P V at nearly f32 accuracy (one would round P to
  /// bf16 first: an absolute error of 2^-9 |P| |V| in every output).
  std::pair<Value, Value> packSplit(Value x0, Value x1) {
    auto v2 = VectorType::get({2}, bf16);
    Value h0 = kb.fromF32(x0, bf16), h1 = kb.fromF32(x1, bf16);
    Value r0 = kb.fromF32(fsub(x0, kb.toF32(h0)), bf16);
    Value r1 = kb.fromF32(fsub(x1, kb.toF32(h1)), bf16);
    return {asI32(vector::FromElementsOp::create(b, loc, v2, ValueRange{h0, h1})),
            asI32(vector::FromElementsOp::create(b, loc, v2, ValueRange{r0, r1}))};
  }
  /// ldmatrix .x4 of 8x8 b16 matrices from shared memory; lane l gives the
  /// address of row l % 8 of matrix l / 8. Returns the 4 registers.
  SmallVector<Value, 4> ldmatrix(Value mem, Value index, bool transpose) {
    Value m = nvgpu::LdMatrixOp::create(b, loc, VectorType::get({4, 2}, bf16), mem,
                                        ValueRange{index}, transpose, 4);
    SmallVector<Value, 4> regs;
    for (int64_t j = 0; j < 4; ++j)
      regs.push_back(asI32(vector::ExtractOp::create(b, loc, m, ArrayRef<int64_t>{j})));
    return regs;
  }
  /// D = A B + C, m16n8k16, A row-major 16x16 bf16 (4 regs), B column-major
  /// 16x8 bf16 (2 regs), C/D 16x8 f32 (4 values).
  SmallVector<Value, 4> mma(ArrayRef<Value> a, ArrayRef<Value> bReg, ArrayRef<Value> c) {
    auto resTy = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
    auto op = NVVM::MmaOp::create(
        b, loc, resTy, a, bReg, c, ArrayRef<int64_t>{16, 8, 16}, std::nullopt,
        std::nullopt,
        std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col});
    SmallVector<Value, 4> d;
    for (int64_t j = 0; j < 4; ++j)
      d.push_back(LLVM::ExtractValueOp::create(b, loc, op, ArrayRef<int64_t>{j}));
    return d;
  }
  /// acc[4 j .. 4 j + 3] += (hi + lo) B_j for j = first, first + 1, where B_j
  /// are the two n8 B fragments of an ldmatrix .x4 (registers 2 t, 2 t + 1):
  /// an A operand split into its bf16 value and residue (see packSplit).
  void mmaSplitX4(ArrayRef<Value> hi, ArrayRef<Value> lo, ArrayRef<Value> b4,
                  SmallVector<Value> &acc, int64_t first) {
    for (int64_t t = 0; t < 2; ++t) {
      int64_t j = first + t;
      auto dj = mma(hi, {b4[2 * t], b4[2 * t + 1]}, ArrayRef<Value>(acc).slice(4 * j, 4));
      dj = mma(lo, {b4[2 * t], b4[2 * t + 1]}, dj);
      std::copy(dj.begin(), dj.end(), acc.begin() + 4 * j);
    }
  }
  /// scf.if with results; both bodies return the values to yield.
  ValueRange ifElse(Value cond, TypeRange types,
                    function_ref<SmallVector<Value>()> thenBody,
                    function_ref<SmallVector<Value>()> elseBody) {
    auto op = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&op.getThenRegion().front());
    scf::YieldOp::create(b, loc, thenBody());
    b.setInsertionPointToStart(&op.getElseRegion().front());
    scf::YieldOp::create(b, loc, elseBody());
    return op.getResults();
  }
};

} // namespace mma_detail

using mma_detail::MmaEmitter;

} // namespace salac

#endif
