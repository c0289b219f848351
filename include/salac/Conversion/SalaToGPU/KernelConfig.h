//===- KernelConfig.h - the launch policy of sala kernels -------*- C++ -*-===//
//
// One owner for how each kernel runs: `chooseKernelConfig` gives the
// #sala.kernel_config of an op for a target; sala-choose-kernel-config
// attaches it to the IR; kernel formation, the kernel plan and the mixer
// plans read it back with `kernelConfigOf`.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_CONVERSION_SALATOGPU_KERNELCONFIG_H
#define SALAC_CONVERSION_SALATOGPU_KERNELCONFIG_H

#include "salac/Conversion/SalaToGPU/SplitRule.h"
#include "salac/Dialect/Sala/IR/SalaAttributes.h"

#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"
#include <optional>
#include <string>

namespace salac {

/// What the launch policy depends on beyond the op.
struct KernelTarget {
  std::string chip = "sm_90";
  int64_t sms = 132;
  /// Tokens a block of chunked linear attention walks (0: a whole sequence);
  /// see the chunked kernel (LinearChunkedKernels.cpp).
  int64_t linearSegment = 0;
  /// Chunks of Q, K and V in flight in the segmented kernel: 1, or 2 (the
  /// next chunk's tiles load while the current one computes).
  int64_t linearStages = 1;
  /// Threads a block of the fused selection takes (0: the policy's choice);
  /// for timing one block size against another on the same chip.
  int64_t selectThreads = 0;
};

/// Shared memory a block may opt in to on `chip` (CUDA's
/// sharedMemPerBlockOptin): 227 KiB on sm_90 and sm_100, 163 KiB on sm_80,
/// 99 KiB on sm_86, sm_89 and sm_120.
int64_t maxSharedBytesPerBlock(llvm::StringRef chip);

/// Blocks a unit of the fused selection's phase B pools and keeps the best
/// of: the fewest whole blocks a thread that reach 512. It keeps as many
/// candidates as blocks are selected, at most half of them (the candidate
/// workspace has max_blocks rows), so the policy gives a larger selection
/// more threads.
int64_t fusedSelectChunkBlocks(int64_t threads);

/// The launch policy of `op`'s kernel on `target`, or a null attribute for an
/// op without a kernel.
sala::KernelConfigAttr chooseKernelConfig(mlir::Operation *op, const KernelTarget &target);

/// The op's `sala.kernel_config`, or the policy's choice for the default
/// target when the IR carries none.
sala::KernelConfigAttr kernelConfigOf(mlir::Operation *op);

/// The split rule of a config, if it has one.
std::optional<SplitRule> splitRuleOf(sala::KernelConfigAttr config);

/// Tokens a tile of `op`'s kernel holds (its config's `tile`; 0: the
/// kernel does not walk tokens in tiles). A split of split-KV attention walks
/// whole tiles.
int64_t tileTokens(mlir::Operation *op);

/// The tiles a split-KV sparse kernel visits: its selected blocks, each
/// max(1, block_size / tile) tiles; 0 for a kernel that walks every tile up
/// to the query (dense attention) or has no split rule.
int64_t selectedTiles(mlir::Operation *op);

} // namespace salac

#endif
