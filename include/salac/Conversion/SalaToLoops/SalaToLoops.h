//===- SalaToLoops.h - sala -> scf/memref loops on the host -----*- C++ -*-===//
//
// The portable lowering of the primitive sala ops (pass convert-sala-to-loops,
// see salac/Conversion/Passes.td for the type mapping and calling convention).
// Patterns are populated per op family, one source file each.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_CONVERSION_SALATOLOOPS_SALATOLOOPS_H
#define SALAC_CONVERSION_SALATOLOOPS_SALATOLOOPS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace salac {

/// tensor -> memref (same shape, identity layout); `!sala.kv_cache` -> its K
/// and V buffers; `!sala.compressed_keys` and `!sala.state_pool` -> one buffer
/// each (shapes in Passes.td). Every other type is kept.
class SalaToLoopsTypeConverter : public mlir::TypeConverter {
public:
  SalaToLoopsTypeConverter();
};

/// kv_append, compress_keys.
void populateSalaCacheOpsToLoopsPatterns(const mlir::TypeConverter &converter,
                                         mlir::RewritePatternSet &patterns);
/// block_scores (stage 1, with the optional K2 normaliser), topk_blocks.
void populateSalaSparseOpsToLoopsPatterns(const mlir::TypeConverter &converter,
                                          mlir::RewritePatternSet &patterns);
/// sparse_attention (stage 2), dense_attention, length_select.
void populateSalaAttentionOpsToLoopsPatterns(const mlir::TypeConverter &converter,
                                             mlir::RewritePatternSet &patterns);
/// linear_attention, recurrent and chunked.
void populateSalaLinearOpsToLoopsPatterns(const mlir::TypeConverter &converter,
                                          mlir::RewritePatternSet &patterns);
/// rms_norm, rope, sigmoid_gate.
void populateSalaElementwiseOpsToLoopsPatterns(const mlir::TypeConverter &converter,
                                               mlir::RewritePatternSet &patterns);

/// Every family above plus the func/return/call signature conversions.
void populateSalaToLoopsPatterns(const mlir::TypeConverter &converter,
                                 mlir::RewritePatternSet &patterns);

} // namespace salac

#endif
