//===- ConvertSalaToGPU.cpp - convert-sala-to-gpu -------------------------===//
//
// Forms the kernels of a module's sala ops: the family patterns applied in
// one walk over each host function (kernels are only ever added to the
// gpu.module, never to what is being walked).
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/Passes.h"
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"

#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace salac {
#define GEN_PASS_DEF_CONVERTSALATOGPU
#include "salac/Conversion/Passes.h.inc"
} // namespace salac

using namespace mlir;
using namespace salac;

void salac::populateSalaToGPUPatterns(KernelTable &table, RewritePatternSet &patterns) {
  populateSalaElementwiseToGPUPatterns(table, patterns);
  populateSalaCacheToGPUPatterns(table, patterns);
  populateSalaSelectToGPUPatterns(table, patterns);
  populateSalaAttentionToGPUPatterns(table, patterns);
  populateSalaLinearToGPUPatterns(table, patterns);
  populateSalaFusedLinearToGPUPatterns(table, patterns);
}

namespace {
struct ConvertSalaToGPU : salac::impl::ConvertSalaToGPUBase<ConvertSalaToGPU> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The kernels go into a gpu.module of a fixed name (the manifest and the
    // runtime refer to it): a user symbol of that name would clash.
    if (Operation *clash = module.lookupSymbol(kKernelModuleName);
        clash && !isa<gpu::GPUModuleOp>(clash)) {
      clash->emitError() << "the symbol name '" << kKernelModuleName
                         << "' is reserved for salac's kernel module; rename this "
                         << clash->getName();
      return signalPassFailure();
    }
    KernelTable table(module);
    RewritePatternSet patterns(&getContext());
    populateSalaToGPUPatterns(table, patterns);
    FrozenRewritePatternSet frozen(std::move(patterns));
    for (Operation &op : llvm::make_early_inc_range(module.getBody()->getOperations()))
      if (!isa<gpu::GPUModuleOp>(op))
        walkAndApplyPatterns(&op, frozen);
    // One warning per op kind left without a kernel: what a kernel needs.
    for (const auto &[name, u] : table.unsupported())
      emitWarning(u.loc) << name << " has no GPU kernel for this shape ("
                         << u.requirement << "); " << u.count
                         << (u.count == 1 ? " op is" : " ops are") << " left without one";
    if (table.hadFailure())
      signalPassFailure();
  }
};
} // namespace
