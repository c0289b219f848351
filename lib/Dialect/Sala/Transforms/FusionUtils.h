//===- FusionUtils.h - helpers shared by the sala fusion passes -*- C++ -*-===//
//
// Small queries the fusion passes ask of the IR around a chain they fold.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_DIALECT_SALA_TRANSFORMS_FUSIONUTILS_H
#define SALAC_LIB_DIALECT_SALA_TRANSFORMS_FUSIONUTILS_H

#include "mlir/IR/Operation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace salac::sala::fusion {

/// The single user of `v`, when it has exactly one use.
inline mlir::Operation *soleUser(mlir::Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

/// Whether every op strictly between `from` and `to` (same block, `from`
/// first) is free of memory effects.
inline bool onlyPureBetween(mlir::Operation *from, mlir::Operation *to) {
  for (mlir::Operation *op = from->getNextNode(); op && op != to; op = op->getNextNode())
    if (!mlir::isMemoryEffectFree(op))
      return false;
  return true;
}

/// Whether an op strictly between `from` and `to` (same block, `from` first)
/// may write memory; ops of unknown effect count as writers.
inline bool writesBetween(mlir::Operation *from, mlir::Operation *to) {
  for (mlir::Operation *op = from->getNextNode(); op && op != to; op = op->getNextNode()) {
    if (mlir::isMemoryEffectFree(op))
      continue;
    auto iface = mlir::dyn_cast<mlir::MemoryEffectOpInterface>(op);
    if (!iface || iface.hasEffect<mlir::MemoryEffects::Write>())
      return true;
  }
  return false;
}

} // namespace salac::sala::fusion

#endif
