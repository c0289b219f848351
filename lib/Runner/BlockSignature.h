//===- BlockSignature.h - what each argument of a block is ------*- C++ -*-===//
//
// salac run must invent every argument of a block: it tells from the sala ops
// that use an argument what the argument is (a query, cumulative lengths, the
// page table of a given cache, ...), so that the inputs it generates are
// consistent (page tables that map the caches' pools, seq_lens matching the
// caches' contents, compressed keys computed from the cached keys).
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNNER_BLOCKSIGNATURE_H
#define SALAC_LIB_RUNNER_BLOCKSIGNATURE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/Error.h"

#include <set>
#include <string>
#include <vector>

namespace salac::runner {

enum class ArgRole {
  Activation,     ///< [T, heads, head_dim] floats
  Weight,         ///< 1-D static floats (norm weights)
  CuSeqlens,      ///< [B+1] i32
  SeqLens,        ///< [B] i32
  Positions,      ///< [T] i32
  Slots,          ///< [B] i32
  PageTable,      ///< [B, max_pages] i32 of one store
  KVCache,        ///< !sala.kv_cache
  CompressedKeys, ///< !sala.compressed_keys
  StatePool,      ///< !sala.state_pool
  BlockScores,    ///< [T, KVH, blocks] f32 (input of topk_blocks)
  BlockIndices,   ///< [T, KVH, K] i32 (input of sparse_attention)
};

llvm::StringRef roleName(ArgRole role);

struct ArgInfo {
  ArgRole role;
  mlir::Type type;
  /// The first use, for messages: "key of sala.kv_append".
  std::string use;
  /// PageTable: the argument index of the store it maps.
  int store = -1;
  /// CompressedKeys: the KV cache argument its keys come from, if the block
  /// compresses them (-1: the runner invents the keys behind them).
  int sourceCache = -1;
  /// BlockScores / BlockIndices: the block size of the consuming op.
  int64_t blockSize = 0;
  /// The block writes this store's entries for this step's tokens
  /// (kv_append / compress_keys), so they must not be pre-filled.
  bool appended = false;
  /// The block writes this store: it is compared after the run.
  bool written = false;
  /// StatePool: the first linear op that updates it (its decays and scale
  /// replay a history).
  mlir::Operation *stateOp = nullptr;
};

struct BlockSignature {
  /// Op handles are cheap copies; mutable so that const signatures can query it.
  mutable mlir::func::FuncOp func;
  std::vector<ArgInfo> args;
};

/// Assigns a role to every argument of `fn`; an error names the argument and
/// its conflicting or unsupported use.
llvm::Expected<BlockSignature> analyzeBlock(mlir::func::FuncOp fn);

} // namespace salac::runner

#endif
