//===- CPUPipeline.cpp - salac-cpu-pipeline: sala -> LLVM for the host ----===//
#include "salac/Conversion/SalaToLoops/CPUPipeline.h"
#include "salac/Conversion/Passes.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void salac::buildSalaToCPUPipeline(OpPassManager &pm, bool cInterface) {
  pm.addPass(sala::createSalaDecompose());
  pm.addPass(sala::createSalaUnfuse()); // fused ops run as their primitive chains
  ConvertSalaToLoopsOptions loops;
  loops.emitCInterface = cInterface;
  pm.addPass(createConvertSalaToLoops(loops));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // bf16 <-> f32 as integer arithmetic: x86 without AVX512-BF16 would call
  // compiler-rt helpers that a JIT process may not have.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

namespace {
struct CPUPipelineOptions : PassPipelineOptions<CPUPipelineOptions> {
  Option<bool> cInterface{*this, "c-interface",
                          llvm::cl::desc("Emit _mlir_ciface_ wrappers"),
                          llvm::cl::init(true)};
};
} // namespace

void salac::registerCPUPipeline() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "salac-cpu-pipeline",
      "sala graph to the LLVM dialect for the host CPU (decompose, "
      "convert-sala-to-loops, scf/memref/arith/math to LLVM)",
      [](OpPassManager &pm, const CPUPipelineOptions &o) {
        buildSalaToCPUPipeline(pm, o.cInterface);
      });
}
