//===- Workload.h - seeded inputs for a block, and their checks -*- C++ -*-===//
//
// Builds every argument of a block for a ragged batch: random activations
// (bf16-representable), norm weights, the batch metadata, paged caches whose
// pages are a seeded permutation of the pool, compressed keys computed from
// the cached keys with the reference, and state slots holding the state linear
// attention with the block's decays leaves after a random history of each
// sequence's context (fresh sequences' slots hold garbage: the block must not
// read it). Cache rows that hold no token are
// NaN, so that a read past a sequence's end shows up as a mismatch.
//
// validateWorkload checks the concrete buffers against each other before
// anything runs: the JIT-compiled loops assume valid inputs.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNNER_WORKLOAD_H
#define SALAC_LIB_RUNNER_WORKLOAD_H

#include "BlockSignature.h"
#include "HostData.h"

#include "llvm/Support/Error.h"

#include <optional>

namespace salac::runner {

struct WorkloadSizes {
  std::vector<int32_t> qLens;    ///< new tokens per sequence
  std::vector<int32_t> contexts; ///< cached tokens per sequence before the step
  std::optional<int64_t> poolPages, maxPages, poolSlots;
  uint64_t seed = 1;
};

struct Workload {
  ref::RaggedBatch batch;
  std::vector<HostValue> args; ///< one per function argument
};

llvm::Expected<Workload> buildWorkload(const BlockSignature &sig,
                                       const WorkloadSizes &sizes);

/// Everything the generated loops assume: shapes match the batch, page tables
/// cover every sequence within their width and point into their pool, slots
/// are distinct and in range, block indices are ascending and >= -1.
llvm::Error validateWorkload(const BlockSignature &sig, const Workload &work);

} // namespace salac::runner

#endif
