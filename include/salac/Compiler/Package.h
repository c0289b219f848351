//===- Package.h - the kernel package (PTX + manifest + C header) -*- C++ -*-===//
//
// See docs/KernelPackage.md for the format.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_COMPILER_PACKAGE_H
#define SALAC_COMPILER_PACKAGE_H

#include "salac/Compiler/MixerPlan.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"
#include <string>
#include <vector>

namespace salac {

inline constexpr int kPackageFormatVersion = 1;

/// What the manifest says of one kernel, read from the `sala.launch`,
/// `sala.op` and `sala.attributes` of its gpu.func.
struct KernelManifestEntry {
  std::string name;
  llvm::json::Object json;
};

/// Collects the manifest entries of every kernel in `gpu.module @sala_kernels`.
/// Call after convert-sala-to-gpu and before lowering to NVVM.
mlir::FailureOr<std::vector<KernelManifestEntry>>
collectKernelManifest(mlir::ModuleOp module);

/// The manifest document; its "mixers" section when `mixers` is not empty
/// (see collectMixerPlans).
llvm::json::Value buildManifest(const std::vector<KernelManifestEntry> &kernels,
                                llvm::StringRef chip,
                                llvm::ArrayRef<MixerPlan> mixers = {});

/// The C header with one typed launch function per kernel (CUDA driver API).
std::string buildKernelHeader(const std::vector<KernelManifestEntry> &kernels,
                              llvm::StringRef chip);

/// Writes kernels.ptx, manifest.json and salac_kernels.h into `dir` (created
/// if missing). Returns an error message on failure.
llvm::Error writePackage(llvm::StringRef dir, llvm::StringRef ptx,
                         const std::vector<KernelManifestEntry> &kernels,
                         llvm::StringRef chip, llvm::ArrayRef<MixerPlan> mixers = {});

} // namespace salac

#endif
