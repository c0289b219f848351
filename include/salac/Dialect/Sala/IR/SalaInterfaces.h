//===- SalaInterfaces.h - sala op interfaces --------------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALAINTERFACES_H
#define SALAC_DIALECT_SALA_IR_SALAINTERFACES_H

#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/SmallVector.h"
#include <string>

namespace salac::sala {

/// An operand or result of a sala op under the name its kernel's parameter
/// has (`query`, `cache`, `slot_ids`, `output`...).
struct KernelRole {
  std::string name;
  mlir::Value value;
};

/// The operands and results of an op by role (KernelOpInterface).
struct KernelRoles {
  llvm::SmallVector<KernelRole> operands, results;
  /// Adds operand `value` as `name`; an absent optional operand is left out.
  void in(llvm::StringRef name, mlir::Value value) {
    if (value)
      operands.push_back({name.str(), value});
  }
  void out(llvm::StringRef name, mlir::Value value) {
    results.push_back({name.str(), value});
  }
  /// The ragged-batch metadata every batched kernel takes.
  void batch(mlir::Value cuSeqlensQ, mlir::Value seqLens) {
    in("cu_seqlens_q", cuSeqlensQ);
    in("seq_lens", seqLens);
  }
};

/// Short name of a type for kernel names and manifests ("bf16", "i32").
std::string shortTypeName(mlir::Type t);

} // namespace salac::sala

#include "salac/Dialect/Sala/IR/SalaInterfaces.h.inc"

#endif
