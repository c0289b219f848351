//===- Pipeline.h - salac's compilation pipelines ---------------*- C++ -*-===//
#ifndef SALAC_COMPILER_PIPELINE_H
#define SALAC_COMPILER_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include <string>

namespace salac {

/// The GPU a package is compiled for.
struct GpuTarget {
  std::string chip = "sm_90";
  /// SMs of the GPU: what the split-KV rule fills (sala-choose-kernel-config).
  int64_t sms = 132;
  /// Tokens a block of chunked linear attention walks (0: a whole sequence).
  int64_t linearSegment = 0;
  /// Chunks in flight in the segmented linear kernel (1 or 2).
  int64_t linearStages = 1;
  /// Threads a block of the fused selection takes (0: the policy's).
  int64_t selectThreads = 0;
  int optLevel = 3;
  /// PTX ISA feature string for the chip ("+ptx80" for sm_90): the upstream
  /// default is too old for sm_90.
  std::string features() const;
};

/// Chips salac accepts, for help and error messages.
llvm::StringRef supportedChips();
bool isSupportedChip(llvm::StringRef chip);

/// sala graph -> kernels: sala-decompose, the fusion passes (when `fuse`),
/// convert-sala-to-gpu, cleanup. `fuse = false` forms one kernel per primitive
/// op: the "before fusion" side of `salac --print-kernel-plan`.
/// `fuseLinearPrefill`: sala-fuse-linear folds q/k norms and RoPE into chunked
/// linear attention too (off until that kernel is measured on a GPU).
void buildSalaToKernelsPipeline(mlir::OpPassManager &pm, bool fuse = true,
                                const GpuTarget &target = {},
                                bool fuseLinearPrefill = false);
/// Kernels (gpu/scf/arith/memref) -> NVVM/LLVM dialect, target attached.
void buildKernelsToNVVMPipeline(mlir::OpPassManager &pm, const GpuTarget &target);
/// NVVM -> gpu.binary holding PTX (LLVM's NVPTX backend; no CUDA toolkit).
void buildNVVMToPTXPipeline(mlir::OpPassManager &pm);

/// Registers `salac-kernels-pipeline`, `salac-nvvm-pipeline` and
/// `salac-ptx-pipeline` for salac-opt.
void registerPipelines();

/// The PTX text of the compiled `gpu.binary @sala_kernels`.
mlir::FailureOr<std::string> extractPTX(mlir::ModuleOp module);
/// LLVM IR of the kernels' gpu.module after buildKernelsToNVVMPipeline.
mlir::FailureOr<std::string> translateKernelsToLLVMIR(mlir::ModuleOp module);

} // namespace salac

#endif
