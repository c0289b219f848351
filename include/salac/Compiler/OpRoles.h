//===- OpRoles.h - the operands of sala ops by their kernels' names -*- C++ -*-===//
#ifndef SALAC_COMPILER_OPROLES_H
#define SALAC_COMPILER_OPROLES_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"
#include <string>

namespace salac {

/// An operand or result of a sala op under the name its kernel's parameter
/// has (`query`, `cache`, `slot_ids`, `output`...).
struct OpRole {
  std::string name;
  mlir::Value value;
};

struct OpRoles {
  llvm::SmallVector<OpRole> operands, results;  // absent optional operands left out
};

/// The roles of `op`'s operands and results; false for an op without a table
/// (an op that has no kernel, or a new one: add it in OpRoles.cpp).
bool getOpRoles(mlir::Operation *op, OpRoles &roles);

} // namespace salac

#endif
