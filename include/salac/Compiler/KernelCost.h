//===- KernelCost.h - what one launch of an op's kernel costs ---*- C++ -*-===//
//
// The cost model of the kernel plan: for one launch of an op's kernel at a
// step's sizes, the DRAM bytes the op must move and its flops. Each op that
// has a kernel carries its model as a KernelCostOpInterface (attached by the
// compiler, lib/Compiler/KernelCost.cpp); it counts what the op needs, not
// what a particular kernel happens to do:
//   - bytes: every byte the op must read or write, exactly once (no re-reads,
//     no gathered copies): activations, cache and state traffic, indices and
//     page-table entries, and the intermediate tensors one kernel writes for
//     the next (what fusion removes); split-KV kernels add their workspace;
//   - flops: the floating-point math of the op (a multiply-add is 2, any other
//     arithmetic op 1, comparisons and integer work 0), once (a two-pass kernel
//     is not charged twice).
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_COMPILER_KERNELCOST_H
#define SALAC_COMPILER_KERNELCOST_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include <string>
#include <utility>

namespace salac {

/// The sizes of one step of a uniform batch: `batch` sequences, each with
/// `context` tokens cached before the step and `queryTokens` new tokens (1 at
/// decode). A new token at index i of its step sits at position context + i.
struct StepSizes {
  int64_t batch = 1;
  int64_t context = 131072;
  int64_t queryTokens = 1;
  /// Rows of the token tensors: batch * queryTokens.
  int64_t tokens() const { return batch * queryTokens; }
  /// Length of each sequence after the step's tokens (`seq_lens`).
  int64_t seqLen() const { return context + queryTokens; }
};

/// One stream of DRAM traffic of a launch.
struct Traffic {
  std::string what; ///< "query", "K1 entries", "state", "page_table", ...
  int64_t bytes = 0;
  bool write = false;
  /// The operand or result read or written, where there is one: lets a plan
  /// tell intermediate tensors (written by one kernel, read by another) from
  /// inputs, outputs, caches and state.
  mlir::Value value;
};

/// The cost of one launch of an op's kernel.
struct KernelCost {
  llvm::SmallVector<Traffic> traffic;
  int64_t flops = 0;
  int64_t bytesRead() const;
  int64_t bytesWritten() const;
  int64_t bytes() const { return bytesRead() + bytesWritten(); }
  /// Bytes of the stream named `what` (reads and writes), 0 if none.
  int64_t bytesOf(llvm::StringRef what) const;
};


/// Accumulates one launch's cost (what the cost models write to).
class KernelCosting {
public:
  explicit KernelCosting(const StepSizes &s) : s(s) {}

  void read(llvm::StringRef what, int64_t bytes, mlir::Value v = {}) {
    add(what, bytes, false, v);
  }
  void write(llvm::StringRef what, int64_t bytes, mlir::Value v = {}) {
    add(what, bytes, true, v);
  }
  /// Heads and head dim of a [tokens, heads, head_dim] tensor; both must be
  /// static (else the op is reported as unsized and 0 is returned).
  std::pair<int64_t, int64_t> rows(mlir::Value v);
  /// Bytes of a [tokens, heads, head_dim] tensor at this step.
  int64_t tokenBytes(mlir::Value v);
  void readTokens(llvm::StringRef what, mlir::Value v) { read(what, tokenBytes(v), v); }
  void writeTokens(llvm::StringRef what, mlir::Value v) { write(what, tokenBytes(v), v); }
  /// `cu_seqlens_q` [batch + 1] and `seq_lens` [batch], once per kernel
  /// (a fused op's parts share them).
  void readRagged(mlir::Value cu, mlir::Value lens);
  /// Every element of a static tensor (a norm weight).
  void readWhole(llvm::StringRef what, mlir::Value v);

  KernelCost cost;
  /// A token tensor had dynamic heads or head dim.
  bool unsized = false;

private:
  void add(llvm::StringRef what, int64_t bytes, bool write, mlir::Value v) {
    if (bytes > 0)
      cost.traffic.push_back({what.str(), bytes, write, v});
  }
  const StepSizes &s;
};

} // namespace salac

#include "salac/Compiler/KernelCostInterface.h.inc"

namespace salac {

/// The cost of the kernel that implements `op` (a primitive sala op, as
/// sala-decompose and the fusion passes leave them) for one launch at
/// `sizes`: the op's KernelCostOpInterface model. An op without one is an
/// error naming it, so that a new (fused) op must add its cost model before
/// plans, tests and manifests can use it.
llvm::Expected<KernelCost> costOf(mlir::Operation *op, const StepSizes &sizes);

/// Attaches the cost models (KernelCostOpInterface) to the sala ops that
/// have kernels; registerAllDialects calls it.
void registerKernelCostModels(mlir::DialectRegistry &registry);

/// Bytes of one element of `t` (bf16 2, f32 4, i32 4).
inline int64_t elementBytes(mlir::Type t) { return (t.getIntOrFloatBitWidth() + 7) / 8; }
/// Bytes of an i32 index, length or page-table entry.
inline constexpr int64_t kIndexBytes = 4;

/// Compressed-key entries of a sequence of `n` tokens: one per window of
/// `kernel` tokens, every `stride` tokens (DESIGN.md 2.1).
inline int64_t compressedKeyEntries(int64_t n, int64_t kernel, int64_t stride) {
  return n < kernel ? 0 : (n - kernel) / stride + 1;
}

/// The split-KV blocks per (token, KV group) the runtime chooses for `op`'s
/// kernel at these sizes (its kernel config's split rule); 1 without one.
int64_t splitCount(mlir::Operation *op, const StepSizes &sizes);

} // namespace salac

#endif
