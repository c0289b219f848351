//===- CPUPipeline.h - sala graph -> LLVM dialect for the host --*- C++ -*-===//
#ifndef SALAC_CONVERSION_SALATOLOOPS_CPUPIPELINE_H
#define SALAC_CONVERSION_SALATOLOOPS_CPUPIPELINE_H

#include "mlir/Pass/PassManager.h"

namespace salac {

/// sala-decompose, convert-sala-to-loops, then scf/math/memref/arith/cf/func to
/// the LLVM dialect for the host CPU (bf16 conversions expanded to integer
/// arithmetic, so no compiler-rt helper is needed at run time). With
/// `cInterface`, functions get `_mlir_ciface_` wrappers.
void buildSalaToCPUPipeline(mlir::OpPassManager &pm, bool cInterface = true);

/// Registers `salac-cpu-pipeline` (option `c-interface`, default true).
void registerCPUPipeline();

} // namespace salac

#endif
