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
  /// Tensor parallelism: build the mixers of shard `tpRank` of `tp`
  /// (docs/TensorParallel.md): query heads / tp; KV heads / tp, or one KV
  /// head replicated over tp / kv_heads ranks when tp exceeds them; linear
  /// heads / tp with their global decay slopes. With tp > 1 a linear mixer
  /// ends before its output RMSNorm (it spans every rank's heads) and gate,
  /// which the engine applies after an all-reduce of the sum of squares.
  int64_t tp = 1;
  int64_t tpRank = 0;
};

/// The heads one tensor-parallel shard holds.
struct ShardHeads {
  int64_t queryHeads, kvHeads, linearHeads;
  int64_t firstQueryHead, firstKVHead, firstLinearHead;
};
/// The heads of shard `rank` of `tp`, or an error naming the count that
/// does not divide (or is not divided by) `tp`.
llvm::Expected<ShardHeads> shardHeads(const model::ModelConfig &config, int64_t tp,
                                      int64_t rank);

/// One `func.func @layer_NN_<kind>_<mode>` per selected mixer and mode, each
/// holding the composite mixer op from the projected q/k/v/z to the gated output.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildModelModule(mlir::MLIRContext *ctx, const model::ModelConfig &config,
                 const ModelBuildOptions &options);

} // namespace salac

#endif
