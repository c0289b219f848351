//===- SalaDialect.cpp - sala dialect, types and attributes ---------------===//
#include "salac/Dialect/Sala/IR/SalaDialect.h"
#include "salac/Dialect/Sala/IR/SalaAttributes.h"
#include "salac/Dialect/Sala/IR/SalaLimits.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/IR/SalaTypes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace salac::sala;

#include "salac/Dialect/Sala/IR/SalaDialect.cpp.inc"
#include "salac/Dialect/Sala/IR/SalaEnums.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "salac/Dialect/Sala/IR/SalaTypes.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "salac/Dialect/Sala/IR/SalaAttributes.cpp.inc"

namespace {
/// Short aliases (`!kv_cache`, `!ckeys`, `!state_pool`) keep printed IR readable.
struct SalaOpAsmInterface : OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;
  AliasResult getAlias(Type type, raw_ostream &os) const override {
    if (isa<KVCacheType>(type))
      os << "kv_cache";
    else if (isa<CompressedKeysType>(type))
      os << "ckeys";
    else if (isa<StatePoolType>(type))
      os << "state_pool";
    else
      return AliasResult::NoAlias;
    return AliasResult::FinalAlias;
  }
};
} // namespace

void SalaDialect::initialize() {
  addInterfaces<SalaOpAsmInterface>();
  registerTypes();
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "salac/Dialect/Sala/IR/SalaOps.cpp.inc"
      >();
}

void SalaDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "salac/Dialect/Sala/IR/SalaTypes.cpp.inc"
      >();
}

void SalaDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "salac/Dialect/Sala/IR/SalaAttributes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Metadata tensor types
//===----------------------------------------------------------------------===//

RankedTensorType salac::sala::getIndexVectorType(MLIRContext *ctx) {
  return RankedTensorType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32));
}
bool salac::sala::isIndexVector(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  return t && t.getRank() == 1 && t.isDynamicDim(0) &&
         t.getElementType().isSignlessInteger(32);
}
RankedTensorType salac::sala::getPageTableType(MLIRContext *ctx) {
  return RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                               IntegerType::get(ctx, 32));
}
bool salac::sala::isPageTable(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  return t && t.getRank() == 2 && t.isDynamicDim(0) && t.isDynamicDim(1) &&
         t.getElementType().isSignlessInteger(32);
}

//===----------------------------------------------------------------------===//
// Type and attribute verifiers
//===----------------------------------------------------------------------===//

/// `v` in [lo, hi] (SalaLimits.h), or an error naming the value and the bound.
static LogicalResult checkRange(function_ref<InFlightDiagnostic()> emitError,
                                StringRef what, StringRef name, int64_t v, int64_t lo,
                                int64_t hi) {
  if (v >= lo && v <= hi)
    return success();
  return emitError() << what << " parameter '" << name << "' must be in [" << lo << ", "
                     << hi << "], got " << v;
}

static LogicalResult checkFloat(function_ref<InFlightDiagnostic()> emitError,
                                StringRef what, Type t) {
  if (isLowerableFloat(t))
    return success();
  return emitError() << what << " element_type must be bf16, f16 or f32, got " << t;
}

bool salac::sala::isLowerableFloat(Type t) { return t.isBF16() || t.isF16() || t.isF32(); }

bool salac::sala::isTokenTensor(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || t.getRank() != 3 || !isLowerableFloat(t.getElementType()))
    return false;
  auto within = [&](unsigned i, int64_t lo, int64_t hi) {
    return !t.isDynamicDim(i) && t.getDimSize(i) >= lo && t.getDimSize(i) <= hi;
  };
  return (t.isDynamicDim(0) || within(0, 0, kMaxTokens)) && within(1, 1, kMaxHeads) &&
         within(2, 1, kMaxHeadDim);
}

LogicalResult KVCacheType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t pageSize, int64_t kvHeads, int64_t headDim,
                                  Type elementType) {
  StringRef w = "!sala.kv_cache";
  if (failed(checkRange(emitError, w, "page_size", pageSize, 1, kMaxPageSize)) ||
      failed(checkRange(emitError, w, "kv_heads", kvHeads, 1, kMaxHeads)) ||
      failed(checkRange(emitError, w, "head_dim", headDim, 1, kMaxHeadDim)) ||
      failed(checkFloat(emitError, w, elementType)))
    return failure();
  return success();
}

/// Shared by the compressed-key type and the sparse configuration.
static LogicalResult checkKernelStride(function_ref<InFlightDiagnostic()> emitError,
                                       StringRef w, int64_t kernel, int64_t stride) {
  if (failed(checkRange(emitError, w, "kernel_size", kernel, 1, kMaxBlockSize)) ||
      failed(checkRange(emitError, w, "kernel_stride", stride, 1, kMaxBlockSize)))
    return failure();
  if (stride > kernel)
    return emitError() << w << " kernel_stride (" << stride
                       << ") must not exceed kernel_size (" << kernel << ")";
  if (kernel % stride != 0)
    return emitError() << w << " kernel_size (" << kernel
                       << ") must be a multiple of kernel_stride (" << stride << ")";
  return success();
}

LogicalResult
CompressedKeysType::verify(function_ref<InFlightDiagnostic()> emitError,
                           int64_t kernelSize, int64_t kernelStride, int64_t pageSize,
                           int64_t kvHeads, int64_t headDim, Type elementType) {
  StringRef w = "!sala.compressed_keys";
  if (failed(checkKernelStride(emitError, w, kernelSize, kernelStride)) ||
      failed(checkRange(emitError, w, "page_size", pageSize, 1, kMaxPageSize)) ||
      failed(checkRange(emitError, w, "kv_heads", kvHeads, 1, kMaxHeads)) ||
      failed(checkRange(emitError, w, "head_dim", headDim, 1, kMaxHeadDim)) ||
      failed(checkFloat(emitError, w, elementType)))
    return failure();
  return success();
}

LogicalResult StatePoolType::verify(function_ref<InFlightDiagnostic()> emitError,
                                    int64_t heads, int64_t headDim, Type elementType) {
  StringRef w = "!sala.state_pool";
  if (failed(checkRange(emitError, w, "heads", heads, 1, kMaxHeads)) ||
      failed(checkRange(emitError, w, "head_dim", headDim, 1, kMaxHeadDim)) ||
      failed(checkFloat(emitError, w, elementType)))
    return failure();
  return success();
}

LogicalResult
SparseConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t kernelSize, int64_t kernelStride, int64_t blockSize,
                         int64_t topk, int64_t windowSize, int64_t initBlocks,
                         int64_t denseLen) {
  StringRef w = "#sala.sparse";
  if (failed(checkKernelStride(emitError, w, kernelSize, kernelStride)) ||
      failed(checkRange(emitError, w, "block_size", blockSize, 1, kMaxBlockSize)) ||
      failed(checkRange(emitError, w, "topk", topk, 0, kMaxSelectedBlocks)) ||
      failed(checkRange(emitError, w, "window_size", windowSize, 0, kMaxWindowTokens)) ||
      failed(checkRange(emitError, w, "init_blocks", initBlocks, 0, kMaxSelectedBlocks)) ||
      failed(checkRange(emitError, w, "dense_len", denseLen, 0, kMaxWindowTokens)))
    return failure();
  if (blockSize % kernelStride != 0)
    return emitError() << w << " block_size (" << blockSize
                       << ") must be a multiple of kernel_stride (" << kernelStride
                       << ")";
  if (topk < 0)
    return emitError() << w << " topk must be non-negative, got " << topk;
  if (windowSize < 0 || windowSize % blockSize != 0)
    return emitError() << w << " window_size (" << windowSize
                       << ") must be a non-negative multiple of block_size ("
                       << blockSize << ")";
  if (initBlocks < 0)
    return emitError() << w << " init_blocks must be non-negative, got " << initBlocks;
  if (denseLen < 0)
    return emitError() << w << " dense_len must be non-negative, got " << denseLen;
  if (topk + windowSize / blockSize == 0)
    return emitError() << w << " selects no blocks: topk and window_size are both 0";
  return success();
}

LogicalResult SplitRuleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    int64_t sms, int64_t blocksPerSm, int64_t maxSplits,
                                    int64_t fewPairsMaxSplits, int64_t minTilesPerSplit) {
  StringRef w = "#sala.split_rule";
  for (auto [name, v] : {std::pair<StringRef, int64_t>{"sms", sms},
                         {"blocks_per_sm", blocksPerSm},
                         {"max_splits", maxSplits},
                         {"few_pairs_max_splits", fewPairsMaxSplits},
                         {"min_tiles_per_split", minTilesPerSplit}})
    if (v < 1 || v > 65535)
      return emitError() << w << " " << name << " must be in [1, 65535], got " << v;
  return success();
}

LogicalResult KernelConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                       int64_t threads, int64_t minBlocksPerSm,
                                       int64_t maxRegisters, int64_t tile, int64_t stages,
                                       SplitRuleAttr, int64_t maxSharedBytes,
                                       int64_t segment) {
  StringRef w = "#sala.kernel_config";
  if (threads < 32 || threads > 1024 || threads % 32 != 0)
    return emitError() << w << " threads must be a multiple of 32 in [32, 1024], got "
                       << threads;
  if (minBlocksPerSm < 0 || minBlocksPerSm > 32)
    return emitError() << w << " min_blocks_per_sm must be in [0, 32], got "
                       << minBlocksPerSm;
  if (maxRegisters != 0 && (maxRegisters < 24 || maxRegisters > 255))
    return emitError() << w << " max_registers must be 0 (none) or in [24, 255], got "
                       << maxRegisters;
  if (minBlocksPerSm && maxRegisters)
    return emitError() << w << " sets both min_blocks_per_sm (" << minBlocksPerSm
                       << ") and max_registers (" << maxRegisters << "): choose one";
  if (tile < 0 || tile > 4096)
    return emitError() << w << " tile must be 0 (none) or in [1, 4096] tokens, got " << tile;
  if (stages < 0 || stages > 8)
    return emitError() << w << " stages must be 0 (none) or in [1, 8], got " << stages;
  if ((tile == 0) != (stages == 0))
    return emitError() << w << " sets tile (" << tile << ") and stages (" << stages
                       << ") together or neither";
  if (maxSharedBytes < 49152 || maxSharedBytes > 232448)
    return emitError() << w << " max_shared_bytes must be in [49152, 232448], got "
                       << maxSharedBytes;
  if (segment < 0 || segment > kMaxSegmentTokens)
    return emitError() << w << " segment must be 0 (none) or in [1, " << kMaxSegmentTokens
                       << "] tokens, got " << segment;
  if (segment && (tile == 0 || segment % tile != 0))
    return emitError() << w << " segment (" << segment
                       << ") must be a multiple of the tile (" << tile << ")";
  return success();
}
