//===- HostData.h - the values salac run passes to a block ------*- C++ -*-===//
//
// Host-side values of a block's arguments and results, shared by the input
// generator, the reference interpreter and the JIT call. Float data is kept as
// float holding exact values of the element type (bf16 values are floats with
// the low 16 bits clear); stores reuse the reference's structures so that the
// reference can run on them directly.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNNER_HOSTDATA_H
#define SALAC_LIB_RUNNER_HOSTDATA_H

#include "salac/Reference/Reference.h"

#include "mlir/IR/Types.h"

#include <cstdint>
#include <string>
#include <vector>

namespace salac::runner {

/// A dense row-major tensor of bf16, f32 (in `f`) or i32 (in `i`).
struct HostTensor {
  std::vector<int64_t> shape;
  mlir::Type elementType;
  std::vector<float> f;
  std::vector<int32_t> i;

  bool isInt() const { return elementType && elementType.isInteger(32); }
  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// One value of a block: a tensor or one of the sala stores.
struct HostValue {
  enum class Kind { Tensor, KVCache, CompressedKeys, StatePool, Scores };
  Kind kind = Kind::Tensor;
  HostTensor tensor;
  /// Stores: their element type (the reference holds the values as float).
  mlir::Type elementType;
  ref::PagedKVCache kv;
  ref::CompressedKeys keys;
  ref::StatePool pool;
  /// Block scores as the reference computes them (double); the tensor form is
  /// produced on demand for comparisons.
  ref::BlockScores scores;
};

/// "bf16", "f32", ...
std::string typeName(mlir::Type type);
/// "2x32x128"
std::string shapeName(const std::vector<int64_t> &shape);

/// The scores as a [T, KVH, blocks] f32 tensor (rounded like the compiled op's
/// f32 result would be).
HostTensor scoresToTensor(const ref::BlockScores &scores);
/// A [T, KVH, blocks] f32 tensor as reference block scores.
ref::BlockScores tensorToScores(const HostTensor &tensor);

} // namespace salac::runner

#endif
