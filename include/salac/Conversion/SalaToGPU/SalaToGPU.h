//===- SalaToGPU.h - convert-sala-to-gpu: sala ops -> kernels ---*- C++ -*-===//
//
// The GPU lowering of sala ops. Each op with a kernel gets one in the
// module's `gpu.module @sala_kernels` (identical ops share it) and keeps its
// place in the host function, naming its kernel as `sala.kernel`. Kernels
// are formed by patterns, populated per op family (one source file each);
// a pattern builds its kernel through the KernelTable, which owns kernel
// formation: the dedup key, the unique name and the manifest attributes.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_CONVERSION_SALATOGPU_SALATOGPU_H
#define SALAC_CONVERSION_SALATOGPU_SALATOGPU_H

#include "salac/Conversion/SalaToGPU/KernelBuilder.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"

namespace salac {

/// The kernels of one module, deduplicated by everything static they are
/// specialised on: the op, its attributes and types, and its consumers
/// (KernelOpInterface::getKernelSpecialisation).
class KernelTable {
public:
  explicit KernelTable(mlir::ModuleOp module) : module(module) {}
  using BuildFn = llvm::function_ref<mlir::LogicalResult(KernelBuilder &)>;
  /// The kernel of `op`: an existing one with the same key, or a new one
  /// that `build` fills in. Fails (the builder has said why) when it fails.
  mlir::FailureOr<mlir::SymbolRefAttr> getOrBuild(mlir::Operation *op, BuildFn build);
  /// Whether any build failed.
  bool hadFailure() const { return failedBuild; }
  /// Records that `op` has no kernel for its shape, and what one needs.
  void noteUnsupported(mlir::Operation *op, llvm::StringRef requirement);
  /// Per op name, in order: the first unsupported op and what a kernel
  /// needs, and how many such ops there are.
  struct Unsupported {
    mlir::Location loc;
    std::string requirement;
    int count = 0;
  };
  const llvm::MapVector<mlir::OperationName, Unsupported> &unsupported() const {
    return unsupportedOps;
  }

private:
  mlir::gpu::GPUModuleOp getOrCreateKernelModule();
  mlir::ModuleOp module;
  mlir::gpu::GPUModuleOp kernels;
  llvm::StringMap<std::string> nameOfKey;
  bool failedBuild = false;
  llvm::MapVector<mlir::OperationName, Unsupported> unsupportedOps;
};

/// Forms the kernel of each `OpTy` whose shape `supports` accepts, with
/// `build`; an op it does not support is left without a kernel, and the
/// table notes `requirement` (what a kernel needs) for the pass to report.
template <typename OpTy>
class FormKernelPattern : public mlir::OpRewritePattern<OpTy> {
public:
  using Build = mlir::LogicalResult (*)(mlir::Operation *, KernelBuilder &);
  using Supports = bool (*)(mlir::Operation *);
  FormKernelPattern(mlir::MLIRContext *ctx, KernelTable &table, Build build,
                    Supports supports, llvm::StringRef requirement)
      : mlir::OpRewritePattern<OpTy>(ctx), table(table), build(build), supports(supports),
        requirement(requirement.str()) {}

  mlir::LogicalResult matchAndRewrite(OpTy op, mlir::PatternRewriter &rewriter) const override {
    if (op->hasAttr(kKernelAttrName))
      return mlir::failure();
    if (supports && !supports(op)) {
      table.noteUnsupported(op, requirement);
      return rewriter.notifyMatchFailure(op, "no kernel for this shape");
    }
    mlir::FailureOr<mlir::SymbolRefAttr> kernel =
        table.getOrBuild(op, [&](KernelBuilder &kb) { return build(op, kb); });
    if (mlir::failed(kernel))
      return mlir::failure();
    rewriter.modifyOpInPlace(op, [&] { op->setAttr(kKernelAttrName, *kernel); });
    return mlir::success();
  }

private:
  KernelTable &table;
  Build build;
  Supports supports;
  std::string requirement;
};

template <typename OpTy>
void addFormKernelPattern(mlir::RewritePatternSet &patterns, KernelTable &table,
                          typename FormKernelPattern<OpTy>::Build build,
                          typename FormKernelPattern<OpTy>::Supports supports = nullptr,
                          llvm::StringRef requirement = "") {
  patterns.add<FormKernelPattern<OpTy>>(patterns.getContext(), table, build, supports,
                                        requirement);
}

// Kernel patterns per op family, one source file each.
/// rms_norm, rope, sigmoid_gate, length_select (ElementwiseKernels.cpp).
void populateSalaElementwiseToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);
/// kv_append, compress_keys, fused_kv_update (CacheKernels.cpp).
void populateSalaCacheToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);
/// block_scores, topk_blocks, fused_sparse_select (SelectKernels.cpp).
void populateSalaSelectToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);
/// sparse_attention, dense_attention, fused_sparse_attention (AttentionKernels.cpp).
void populateSalaAttentionToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);
/// linear_attention, recurrent and chunked (LinearKernels.cpp).
void populateSalaLinearToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);
/// fused_linear_attention (FusedLinearKernels.cpp).
void populateSalaFusedLinearToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);
/// All of the above.
void populateSalaToGPUPatterns(KernelTable &table, mlir::RewritePatternSet &patterns);

/// Compressed keys per part of a fused selection whose raw scores it keeps
/// (its workspace rows); the mixer plan sizes `select_splits` by it.
constexpr int64_t kSelectPartEntries = 512;

} // namespace salac

#endif
