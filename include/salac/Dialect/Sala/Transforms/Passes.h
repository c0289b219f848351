//===- Passes.h - sala transformation passes --------------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_TRANSFORMS_PASSES_H
#define SALAC_DIALECT_SALA_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
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
