//===- Runner.h - salac run: execute a block on the host, check it -*- C++ -*-===//
//
// `salac run` compiles one block (a function of a .mlir file, or one mixer of
// a model config) with the portable CPU lowering (salac-cpu-pipeline), JITs it
// in-process with MLIR's ExecutionEngine, feeds it seeded random inputs with
// consistently pre-filled caches and states, runs the C++ reference
// (salac/Reference) on the same inputs, and reports per output the max
// relative error and PASS/FAIL against a tolerance. No GPU is involved.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNNER_RUNNER_H
#define SALAC_RUNNER_RUNNER_H

#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace salac::runner {

struct RunOptions {
  /// A .mlir file, a model config.json, or empty for the embedded config.
  std::string input;
  /// .mlir input: the function to run (default: the only one).
  std::string funcName;

  /// Model config input: the layer and mode (decode or prefill) to run, the
  /// page size, dense_len override and K2 stage-1 normaliser. For a .mlir
  /// input `mode` only picks the default sizes and `pageSize`, when given, must
  /// match the block's caches.
  std::optional<int64_t> layer;
  std::optional<std::string> mode;
  std::optional<int64_t> pageSize;
  std::optional<int64_t> denseLen;
  bool lseK2 = false;
  /// A model config's tensor-parallel shard (docs/TensorParallel.md).
  int64_t tp = 1, tpRank = 0;

  /// The batch: per-sequence new tokens (`qLens`, or `batch` x `qLen`) and
  /// tokens cached before this step (`contexts`, or `context` for every
  /// sequence). Unset means the mode's defaults (defaultsFor).
  std::optional<int64_t> batch, qLen, context;
  std::vector<int64_t> qLens, contexts;

  /// Pool geometry overrides (defaults: just enough, plus one spare page or
  /// slot): pages of each KV-cache pool, the KV page table's width (its
  /// per-sequence capacity), slots of each state pool.
  std::optional<int64_t> poolPages;
  std::optional<int64_t> maxPages;
  std::optional<int64_t> poolSlots;

  uint64_t seed = 1;
  /// Overrides the per-element-type tolerance.
  std::optional<double> tolerance;
  /// Also print a checksum of every compiled output (bit-exact comparisons
  /// across runs, e.g. before/after a pass).
  bool checksums = false;
};

/// Defaults of `salac run` per mode: sequences, new tokens and context.
struct ModeDefaults {
  int64_t batch, qLen, context;
};
ModeDefaults defaultsFor(bool prefill);

/// Runs the block and writes the report to `os`. Returns 0 when every output
/// agrees with the reference, 1 on a mismatch or an error (one line
/// "salac: error: ..." on `errs`; nothing is executed after a failed check).
int runBlock(mlir::MLIRContext &ctx, const RunOptions &options, llvm::raw_ostream &os,
             llvm::raw_ostream &errs);

} // namespace salac::runner

#endif
