//===- MixerPlan.h - how to run a whole mixer from its kernels ---*- C++ -*-===//
//
// After convert-sala-to-gpu, each mixer is a host func.func whose sala ops name
// their kernels (`sala.kernel`) and are connected by SSA values. A mixer plan
// is that function told in the package's own terms, so that a runtime without
// MLIR can run (and capture) the whole mixer: its arguments and the device
// buffers each stands for, the sizes the launches need, the temporaries to
// allocate (intermediates and kernel workspaces), and the launches in order
// with what each kernel parameter binds to. It is the manifest's "mixers"
// section (docs/KernelPackage.md).
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_COMPILER_MIXERPLAN_H
#define SALAC_COMPILER_MIXERPLAN_H

#include "salac/Conversion/SalaToGPU/SplitRule.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include <optional>
#include <string>
#include <vector>

namespace salac {

/// A device buffer: dtype ("bf16", "f32", "i32"...) and row-major shape, each
/// extent an integer or a size expression ("tokens", "batch+1"; "?" where
/// nothing says).
struct MixerBuffer {
  std::string name, dtype;
  llvm::json::Array shape;
};

/// One argument of the host function. A tensor stands for one buffer of its
/// own name; a !sala.kv_cache for two (its K pool and V pool, `k_cache` and
/// `v_cache`); a !sala.compressed_keys or !sala.state_pool for one pool.
struct MixerArgument {
  std::string name;
  std::string type;               // tensor | kv_cache | compressed_keys | state_pool
  std::string mlirType;           // as MLIR prints it
  llvm::json::Object parameters;  // the cache or pool type's parameters
  std::vector<MixerBuffer> buffers;
  bool written = false;           // some launch writes through it
};

/// A size the launches use (a kernel's scalar parameter or a shape entry).
/// Either read off an argument buffer (`buffer`'s extent `dim`); or, not
/// visible in any argument, the product of other sizes times `mul`
/// (`productOf`); or chosen per step: at most ceil(value(boundSize) * mul /
/// div) when `boundSize` is set (the bound is a safe choice), else
/// `defaultValue` when set, else the caller must choose it.
struct MixerSize {
  std::string name, meaning;
  std::string buffer;
  int64_t dim = -1;
  std::vector<std::string> productOf;
  std::string boundSize;
  int64_t mul = 1, div = 1;
  std::optional<int64_t> defaultValue;
  /// For `splits`: the split-KV rule the runtime evaluates (SplitRule.h),
  /// over `tokens` x kvHeads pairs and min(splitTiles, ceil(value(boundSize)
  /// * mul / div)) tiles (the selected blocks of a sparse kernel; a dense one
  /// walks up to the page table's capacity).
  std::optional<SplitRule> splitRule;
  int64_t splitKvHeads = 1, splitTiles = 0;
};

/// A buffer a runner allocates: an op result (intermediate) or a kernel
/// parameter that matches no operand or result (workspace).
struct MixerTemp {
  MixerBuffer buffer;
  std::string op;      // the producing op (intermediates), the kernel's op
  std::string kernel;  // workspaces: the kernel and its parameter
  std::string param, meaning;
  std::string init;    // workspaces: "zero" (before the first launch) or "none"
};

/// What one kernel parameter is given: an argument buffer, an intermediate, a
/// workspace or a size.
struct MixerBinding {
  std::string param;
  std::string kind;  // buffer | intermediate | workspace | size
  std::string name;
};

struct MixerLaunch {
  std::string kernel, op;
  std::vector<MixerBinding> args;  // one per kernel parameter, in order
};

struct MixerPlan {
  std::string name;
  std::optional<int64_t> layer;
  std::string kind;  // sparse | linear | other
  std::string mode;  // decode | prefill | "" (no sala.mixer attribute)
  std::vector<MixerArgument> arguments;
  std::vector<MixerSize> sizes;
  std::vector<MixerTemp> intermediates, workspaces;
  std::vector<std::string> outputs;  // intermediates (or arguments) returned
  std::vector<MixerLaunch> launches;
};

/// The plan of one host function after convert-sala-to-gpu. Fails, saying why,
/// when an op has no kernel or is not known to the planner, or when two
/// launches disagree on a buffer's shape.
llvm::Expected<MixerPlan> planMixer(mlir::func::FuncOp fn);

/// Plans of every host function of `module` that calls kernels. A function
/// that cannot be planned is left out with a warning saying why.
std::vector<MixerPlan> collectMixerPlans(mlir::ModuleOp module);

llvm::json::Value toJSON(const MixerPlan &plan);

} // namespace salac

#endif
