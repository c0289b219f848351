//===- KernelPlan.h - the kernel launches of a step -------------*- C++ -*-===//
//
// The kernel plan of a step: every kernel launch of the host graph after
// convert-sala-to-gpu, in program order, with its grid and block evaluated for
// the step's sizes, its shared memory, the DRAM bytes it must move, its flops,
// and the roofline floor on a named GPU (DESIGN.md section 5). `salac
// --print-kernel-plan` prints it; docs/KernelPlan.md describes the model.
//
// Each launch is costed by its op's cost model (KernelCost.h).
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_COMPILER_KERNELPLAN_H
#define SALAC_COMPILER_KERNELPLAN_H

#include "salac/Compiler/KernelCost.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace salac {

/// A GPU for the roofline: sustained DRAM bandwidth and peak tensor throughput.
struct GpuSpec {
  std::string name;
  int64_t sms = 132;
  double bytesPerSecond = 0;
  double flopsPerSecond = 0;
  std::string source; ///< where the numbers come from
};

/// `h100` or `h200` (case-insensitive); std::nullopt for anything else.
std::optional<GpuSpec> lookupGpu(llvm::StringRef name);
/// The names lookupGpu accepts, for help and error messages.
llvm::StringRef supportedGpus();

/// The roofline floor of moving `bytes` and doing `flops`, in seconds:
/// max(bytes / bandwidth, flops / peak).
double floorSeconds(int64_t bytes, int64_t flops, const GpuSpec &gpu);

/// One kernel launch of a step.
struct KernelLaunch {
  std::string mixer;  ///< the host function, e.g. "layer_01_linear_decode"
  std::string kind;   ///< "sparse", "linear" (the function's sala.mixer), or "other"
  std::string kernel; ///< the gpu.func
  std::string op;     ///< the sala op it implements
  std::array<int64_t, 3> grid = {1, 1, 1};
  std::array<int64_t, 3> block = {1, 1, 1};
  /// Static workgroup memory plus the launch's dynamic shared bytes.
  int64_t sharedBytes = 0;
  KernelCost cost;
  /// Of cost.bytes(): tensors another kernel of the step writes or reads.
  int64_t intermediateBytes = 0;
  /// False when the launch's result is discarded at these sizes: a
  /// `sala.length_select` takes the other path for every sequence (e.g. the
  /// dense fallback once seq_len >= dense_len), and nothing else uses it.
  bool needed = true;
};

/// Every kernel launch of `module` (after convert-sala-to-gpu), function by
/// function in module order, op by op in program order. Fails on a sala op
/// without a kernel, on an op costOf does not know, and on a grid that depends
/// on a size the plan cannot know.
llvm::Expected<std::vector<KernelLaunch>> planKernelLaunches(mlir::ModuleOp module,
                                                             const StepSizes &sizes);

/// Sums over launches.
struct PlanTotals {
  int64_t launches = 0;
  int64_t bytes = 0;
  int64_t intermediateBytes = 0;
  int64_t flops = 0;
  /// Sum of the launches' own floors (each kernel is bound on its own).
  double floorSeconds = 0;
  int64_t mixers = 0;
  void add(const KernelLaunch &l, const GpuSpec &gpu);
};

/// Prints the plans of the same step before and after fusion (each launch,
/// then totals per layer kind and per step side by side). `title` names the
/// model and step.
void printKernelPlan(llvm::raw_ostream &os, llvm::StringRef title, const StepSizes &sizes,
                     const GpuSpec &gpu, llvm::ArrayRef<KernelLaunch> before,
                     llvm::ArrayRef<KernelLaunch> after);

} // namespace salac

#endif
