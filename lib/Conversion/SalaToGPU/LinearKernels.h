//===- LinearKernels.h - the linear attention family's parts ----*- C++ -*-===//
//
// The chunked (prefill) kernel, built in LinearChunkedKernels.cpp, for the
// family's pattern in LinearKernels.cpp. Private to lib/Conversion/SalaToGPU.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_CONVERSION_SALATOGPU_LINEARKERNELS_H
#define SALAC_LIB_CONVERSION_SALATOGPU_LINEARKERNELS_H

#include "salac/Conversion/SalaToGPU/KernelBuilder.h"

namespace salac {

/// Whether the chunked kernel takes the op's shape (head_dim 128, chunks of
/// 64 tokens, bf16).
bool linearChunkedKernelSupports(mlir::Operation *op);

/// The chunked kernel of a `sala.linear_attention chunked`: one block a whole
/// sequence, or, with a config `segment`, one block a segment with the
/// segments' states chained across blocks.
mlir::LogicalResult buildLinearChunkedKernel(mlir::Operation *op, KernelBuilder &kb);

} // namespace salac

#endif
