//===- Pipeline.cpp - salac's compilation pipelines -----------------------===//
#include "salac/Compiler/Pipeline.h"
#include "salac/Conversion/Passes.h"
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace salac;

namespace {
struct ChipInfo {
  llvm::StringLiteral chip;
  llvm::StringLiteral ptx;
};
// The PTX ISA version each chip needs (PTX ISA release notes).
constexpr ChipInfo kChips[] = {
    {"sm_80", "+ptx80"},  {"sm_86", "+ptx80"},   {"sm_89", "+ptx80"},
    {"sm_90", "+ptx80"},  {"sm_90a", "+ptx80"},  {"sm_100", "+ptx86"},
    {"sm_100a", "+ptx86"}, {"sm_120", "+ptx87"},
};
} // namespace

std::string GpuTarget::features() const {
  for (const ChipInfo &c : kChips)
    if (c.chip == chip)
      return c.ptx.str();
  return "+ptx80";
}

llvm::StringRef salac::supportedChips() {
  return "sm_80, sm_86, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_120";
}

bool salac::isSupportedChip(llvm::StringRef chip) {
  for (const ChipInfo &c : kChips)
    if (c.chip == chip)
      return true;
  return false;
}

void salac::buildSalaToKernelsPipeline(OpPassManager &pm, bool fuse,
                                       const GpuTarget &target, bool fuseLinearPrefill) {
  pm.addPass(sala::createSalaDecompose());
  // ---- Fusion passes: added here and nowhere else (DESIGN.md section 5) ----
  // They run between decomposition and kernel formation, in this order:
  // sala-fuse-kv-access, sala-fuse-sparse-select, sala-fuse-sparse-attention,
  // sala-fuse-linear. `fuse =
  // false` skips them all (salac --print-kernel-plan compares both graphs;
  // salac-kernels-pipeline{fuse=false}). Each fused op needs a cost model
  // (lib/Compiler/KernelCost.cpp) for the plan to cost it.
  if (fuse) {
    pm.addPass(sala::createSalaFuseKVAccess());
    pm.addPass(sala::createSalaFuseSparseSelect());
    pm.addPass(sala::createSalaFuseSparseAttention());
    sala::SalaFuseLinearOptions linear;
    linear.prefill = fuseLinearPrefill;
    pm.addPass(sala::createSalaFuseLinear(linear));
  }
  // ---------------------------------------------------------------------------
  // The launch policy, chosen once per op from the target, then the kernels.
  SalaChooseKernelConfigOptions config;
  config.chip = target.chip;
  config.sms = target.sms;
  config.linearSegment = target.linearSegment;
  config.linearStages = target.linearStages;
  config.selectThreads = target.selectThreads;
  pm.addPass(createSalaChooseKernelConfig(config));
  pm.addPass(createConvertSalaToGPU());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void salac::buildKernelsToNVVMPipeline(OpPassManager &pm, const GpuTarget &target) {
  GpuNVVMAttachTargetOptions attach;
  attach.chip = target.chip;
  attach.features = target.features();
  attach.optLevel = target.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(attach));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertNVGPUToNVVMPass());
  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  toNVVM.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(toNVVM));
  kernels.addPass(createConvertVectorToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
}

void salac::buildNVVMToPTXPipeline(OpPassManager &pm) {
  GpuModuleToBinaryPassOptions toBinary;
  toBinary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(toBinary));
}

namespace {
struct KernelsOptions : PassPipelineOptions<KernelsOptions> {
  Option<bool> fuse{*this, "fuse", llvm::cl::desc("run the fusion passes"),
                    llvm::cl::init(true)};
};
struct ChipOptions : PassPipelineOptions<ChipOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("target chip"),
                           llvm::cl::init("sm_90")};
};
struct PTXOptions : PassPipelineOptions<PTXOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("target chip"),
                           llvm::cl::init("sm_90")};
  Option<bool> fuse{*this, "fuse", llvm::cl::desc("run the fusion passes"),
                    llvm::cl::init(true)};
};
} // namespace

void salac::registerPipelines() {
  PassPipelineRegistration<KernelsOptions>(
      "salac-kernels-pipeline",
      "sala graph to gpu.module kernels (decompose, fuse, form kernels)",
      [](OpPassManager &pm, const KernelsOptions &o) {
        buildSalaToKernelsPipeline(pm, o.fuse);
      });
  PassPipelineRegistration<ChipOptions>(
      "salac-nvvm-pipeline", "gpu.module kernels to the NVVM/LLVM dialect",
      [](OpPassManager &pm, const ChipOptions &o) {
        GpuTarget t;
        t.chip = o.chip;
        buildKernelsToNVVMPipeline(pm, t);
      });
  PassPipelineRegistration<PTXOptions>(
      "salac-ptx-pipeline", "sala graph all the way to a gpu.binary of PTX",
      [](OpPassManager &pm, const PTXOptions &o) {
        GpuTarget t;
        t.chip = o.chip;
        buildSalaToKernelsPipeline(pm, o.fuse, t);
        buildKernelsToNVVMPipeline(pm, t);
        buildNVVMToPTXPipeline(pm);
      });
}

FailureOr<std::string> salac::extractPTX(ModuleOp module) {
  auto binary = module.lookupSymbol<gpu::BinaryOp>(kKernelModuleName);
  if (!binary || binary.getObjects().empty())
    return emitError(module.getLoc()) << "no compiled kernels in the module";
  auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
  return object.getObject().getValue().str();
}

FailureOr<std::string> salac::translateKernelsToLLVMIR(ModuleOp module) {
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  if (!kernels)
    return emitError(module.getLoc()) << "no kernels in the module";
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(kernels, llvmContext, "sala_kernels");
  if (!llvmModule)
    return emitError(kernels.getLoc()) << "translation to LLVM IR failed";
  llvmModule->setTargetTriple(llvm::Triple("nvptx64-nvidia-cuda"));
  std::string text;
  llvm::raw_string_ostream os(text);
  llvmModule->print(os, nullptr);
  return text;
}
