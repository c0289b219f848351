//===- Jit.h - compile a block for the host and call it ---------*- C++ -*-===//
//
// The block is lowered with salac-cpu-pipeline and JIT-compiled in-process by
// MLIR's ExecutionEngine; it is called through its `_mlir_ciface_` wrapper
// with one memref descriptor per converted argument (a KV cache passes its K
// and V buffers), and its memref results (malloc'ed by the block) are copied
// out and freed.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNNER_JIT_H
#define SALAC_LIB_RUNNER_JIT_H

#include "HostData.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "llvm/Support/Error.h"

#include <memory>

namespace salac::runner {

class CompiledBlock {
public:
  /// Lowers a copy of `fn` (alone in a module) and JIT-compiles it.
  static llvm::Expected<std::unique_ptr<CompiledBlock>> compile(mlir::func::FuncOp fn);

  /// Calls the block. Stores in `args` are updated in place; the results come
  /// back as tensors (float data exact in their element type).
  llvm::Expected<std::vector<HostTensor>> call(std::vector<HostValue> &args);

private:
  CompiledBlock() = default;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::string name;
  llvm::SmallVector<mlir::Type> resultTypes;
};

} // namespace salac::runner

#endif
