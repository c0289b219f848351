//===- Passes.h - sala transformation passes --------------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_TRANSFORMS_PASSES_H
#define SALAC_DIALECT_SALA_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace salac::sala {

#define GEN_PASS_DECL
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"

/// Patterns that expand the composite mixer ops (used by sala-decompose).
void populateDecomposePatterns(mlir::RewritePatternSet &patterns);
/// Fused ops -> the chains of primitive ops they stand for (sala-unfuse).
void populateUnfusePatterns(mlir::RewritePatternSet &patterns);

} // namespace salac::sala

#endif
