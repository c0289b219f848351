//===- ConvertSalaToLoops.cpp - the convert-sala-to-loops pass ------------===//
#include "salac/Conversion/Passes.h"
#include "salac/Conversion/SalaToLoops/SalaToLoops.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Transforms/DialectConversion.h"

namespace salac {
#define GEN_PASS_DEF_CONVERTSALATOLOOPS
#include "salac/Conversion/Passes.h.inc"
} // namespace salac

using namespace mlir;
using namespace salac;

namespace {

/// Frees the buffers a converted function allocated for intermediate results
/// (e.g. the dense and sparse outputs that feed a length_select). The lowered
/// body is straight-line at the top level, so a top-level alloc that is not
/// returned and not already freed (scratch buffers are) dies at the return.
void freeTemporaries(func::FuncOp fn) {
  for (Block &block : fn.getBody()) {
    auto ret = dyn_cast<func::ReturnOp>(block.getTerminator());
    if (!ret)
      continue;
    llvm::SmallPtrSet<Value, 4> returned(ret.getOperands().begin(),
                                         ret.getOperands().end());
    OpBuilder builder(ret);
    for (Operation &op : block.without_terminator())
      if (auto alloc = dyn_cast<memref::AllocOp>(op))
        if (!returned.contains(alloc.getResult()) &&
            llvm::none_of(alloc->getUsers(), llvm::IsaPred<memref::DeallocOp>))
          memref::DeallocOp::create(builder, alloc.getLoc(), alloc.getResult());
  }
}

struct ConvertSalaToLoops
    : salac::impl::ConvertSalaToLoopsBase<ConvertSalaToLoops> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();

    // Composite mixers and fused ops have no loop lowering of their own: they
    // are defined by their decomposition (sala-decompose, sala-unfuse).
    WalkResult composite = module.walk([](Operation *op) {
      if (isa<sala::SparseMixerOp, sala::LinearMixerOp>(op)) {
        op->emitOpError() << "is a composite mixer: run sala-decompose before "
                             "convert-sala-to-loops";
        return WalkResult::interrupt();
      }
      if (isa<sala::FusedSparseSelectOp, sala::FusedSparseAttentionOp, sala::FusedKVUpdateOp,
              sala::FusedLinearAttentionOp, sala::FusedRMSNormGateOp>(op)) {
        op->emitOpError() << "is a fused op: run sala-unfuse before convert-sala-to-loops";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (composite.wasInterrupted())
      return signalPassFailure();

    SalaToLoopsTypeConverter converter;
    ConversionTarget target(*ctx);
    target.addIllegalDialect<sala::SalaDialect>();
    target.addLegalDialect<arith::ArithDialect, math::MathDialect,
                           memref::MemRefDialect, scf::SCFDialect>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp fn) {
      return converter.isSignatureLegal(fn.getFunctionType()) &&
             converter.isLegal(&fn.getBody());
    });
    target.addDynamicallyLegalOp<func::ReturnOp>(
        [&](func::ReturnOp op) { return converter.isLegal(op); });
    target.addDynamicallyLegalOp<func::CallOp>(
        [&](func::CallOp op) { return converter.isLegal(op); });

    RewritePatternSet patterns(ctx);
    populateSalaToLoopsPatterns(converter, patterns);
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();

    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      freeTemporaries(fn);
      if (emitCInterface)
        fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    }
  }
};

} // namespace
