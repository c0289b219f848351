//===- TypeConverter.cpp - sala/tensor types -> memrefs, signatures -------===//
//
// Tensors become memrefs of the same shape; each sala store becomes the
// buffer(s) it is made of. `!sala.kv_cache` is a 1:2 conversion (K, V), so a
// function taking a cache takes two memrefs in its place; the upstream
// function/return/call patterns handle the 1:N signature rewrite.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToLoops/SalaToLoops.h"
#include "salac/Dialect/Sala/IR/SalaTypes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"

using namespace mlir;
using namespace salac;

salac::SalaToLoopsTypeConverter::SalaToLoopsTypeConverter() {
  addConversion([](Type type) { return type; });
  addConversion([](RankedTensorType type) -> Type {
    return MemRefType::get(type.getShape(), type.getElementType());
  });
  addConversion([](sala::KVCacheType type, SmallVectorImpl<Type> &results) {
    auto buffer = MemRefType::get({ShapedType::kDynamic, type.getPageSize(),
                                   type.getKvHeads(), type.getHeadDim()},
                                  type.getElementType());
    results.push_back(buffer); // K
    results.push_back(buffer); // V
    return success();
  });
  addConversion([](sala::CompressedKeysType type) -> Type {
    return MemRefType::get({ShapedType::kDynamic, type.getPageSize(),
                            type.getKvHeads(), type.getHeadDim()},
                           type.getElementType());
  });
  addConversion([](sala::StatePoolType type) -> Type {
    return MemRefType::get({ShapedType::kDynamic, type.getHeads(), type.getHeadDim(),
                            type.getHeadDim()},
                           type.getElementType());
  });
  // Values still of the original type while the conversion is in progress are
  // bridged with unrealized casts; they fold away once every op is converted.
  auto bridge = [](OpBuilder &builder, TypeRange types, ValueRange inputs,
                   Location loc) -> SmallVector<Value> {
    return UnrealizedConversionCastOp::create(builder, loc, types, inputs)
        .getResults();
  };
  addTargetMaterialization(bridge);
  addSourceMaterialization([](OpBuilder &builder, Type type, ValueRange inputs,
                              Location loc) -> Value {
    return UnrealizedConversionCastOp::create(builder, loc, type, inputs)
        .getResult(0);
  });
}

void salac::populateSalaToLoopsPatterns(const TypeConverter &converter,
                                        RewritePatternSet &patterns) {
  populateSalaCacheOpsToLoopsPatterns(converter, patterns);
  populateSalaSparseOpsToLoopsPatterns(converter, patterns);
  populateSalaAttentionOpsToLoopsPatterns(converter, patterns);
  populateSalaLinearOpsToLoopsPatterns(converter, patterns);
  populateSalaElementwiseOpsToLoopsPatterns(converter, patterns);
  populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns, converter);
  populateReturnOpTypeConversionPattern(patterns, converter);
  populateCallOpTypeConversionPattern(patterns, converter);
}
