//===- RefInterpreter.h - run a block with the C++ reference ----*- C++ -*-===//
//
// Walks a block's ops in order and runs each with its salac::ref function
// (composite mixers with the reference mixers, not with their decomposition),
// reading every attribute from the op. Stores in `args` are updated in place.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNNER_REFINTERPRETER_H
#define SALAC_LIB_RUNNER_REFINTERPRETER_H

#include "HostData.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/Error.h"

namespace salac::runner {

/// Returns the values of the function's results.
llvm::Expected<std::vector<HostValue>> interpretBlock(mlir::func::FuncOp fn,
                                                      std::vector<HostValue> &args);

} // namespace salac::runner

#endif
