//===- Compare.h - compiled outputs against the reference -------*- C++ -*-===//
//
// Every result of the block and every store it writes is compared: floats by
// the max relative error max|got - ref| / max|ref| (non-finite values must
// match exactly: NaN marks cache rows that hold no token, -inf invisible
// blocks), integers exactly. The tolerance of every float output follows the
// block's precision, its narrowest float type (an f32 state updated from bf16
// keys carries bf16 error):
//
//   f32   1e-4   f32 accumulation against the reference's f64 leaves ~1e-6;
//                1e-4 leaves room for long sums (state recurrences) and still
//                catches any wrong term.
//   bf16  2^-6   a bf16 result carries up to half a bf16 ulp (2^-9) of
//                rounding, and a decomposed mixer rounds its intermediates to
//                bf16 (up to 5 times in the linear mixer, through RMSNorms that
//                rescale the error) where the reference mixer does not:
//                8 half-ulps of the largest magnitude.
//   i32   exact  block indices.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNNER_COMPARE_H
#define SALAC_LIB_RUNNER_COMPARE_H

#include "BlockSignature.h"
#include "HostData.h"

#include "llvm/Support/raw_ostream.h"

#include <optional>

namespace salac::runner {

struct OutputCheck {
  std::string name;
  std::string shape, type;
  double error = 0.0;     ///< max relative error (floats)
  double tolerance = 0.0; ///< for floats
  int64_t mismatches = 0; ///< ints differing, or non-finite values differing
  std::string note;       ///< why it failed beyond the numbers
  uint64_t checksum = 0;  ///< of the compiled output
  bool isInt = false;
  bool pass = true;
};

/// Default tolerance for a block precision (see above).
double toleranceFor(mlir::Type precision);
/// bf16 when any tensor of the block is bf16, else f32.
mlir::Type blockPrecision(mlir::func::FuncOp fn);

std::vector<OutputCheck> checkOutputs(const BlockSignature &sig,
                                      const std::vector<HostValue> &refResults,
                                      const std::vector<HostTensor> &results,
                                      const std::vector<HostValue> &refArgs,
                                      const std::vector<HostValue> &jitArgs,
                                      std::optional<double> tolerance);

void printChecks(llvm::raw_ostream &os, const std::vector<OutputCheck> &checks,
                 bool checksums);

} // namespace salac::runner

#endif
