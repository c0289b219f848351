//===- SalaTypes.h - sala types and attributes ------------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALATYPES_H
#define SALAC_DIALECT_SALA_IR_SALATYPES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Types.h"

#define GET_TYPEDEF_CLASSES
#include "salac/Dialect/Sala/IR/SalaTypes.h.inc"

namespace salac::sala {
/// tensor<?xi32>: cumulative lengths, lengths, positions, slots.
mlir::RankedTensorType getIndexVectorType(mlir::MLIRContext *ctx);
bool isIndexVector(mlir::Type type);
/// tensor<?x?xi32>: [batch, max_pages] page tables.
mlir::RankedTensorType getPageTableType(mlir::MLIRContext *ctx);
bool isPageTable(mlir::Type type);
/// The element types the pipeline lowers: bf16, f16, f32.
bool isLowerableFloat(mlir::Type type);
/// [tokens, heads, head_dim] activations: a lowerable float, heads and
/// head_dim static within SalaLimits.h, tokens dynamic or static.
bool isTokenTensor(mlir::Type type);
} // namespace salac::sala

#endif
