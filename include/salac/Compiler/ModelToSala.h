//===- ModelToSala.h - model config -> sala module ---------------*- C++ -*-===//
#ifndef SALAC_COMPILER_MODELTOSALA_H
#define SALAC_COMPILER_MODELTOSALA_H

#include "salac/Model/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"
#include <vector>

namespace salac {

struct ModelBuildOptions {
  /// Layers to build, ascending; empty means all of them.
  std::vector<int64_t> layers;
  bool decode = true;
  bool prefill = true;
  /// Tokens per KV-cache page (1, 16, 64, ...).
  int64_t pageSize = 64;
  /// Use the K2 log-sum-exp approximation in stage 1 (DESIGN.md 2.2).
  bool lseK2 = false;
};

/// One `func.func @layer_NN_<kind>_<mode>` per selected mixer and mode, each
/// holding the composite mixer op from the projected q/k/v/z to the gated output.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildModelModule(mlir::MLIRContext *ctx, const model::ModelConfig &config,
                 const ModelBuildOptions &options);

} // namespace salac

#endif
