//===- FormKernels.cpp - sala ops -> gpu.module kernels --------------------===//
//
// Each sala op with a kernel builder gets a kernel in `gpu.module
// @sala_kernels`; identical ops (same op, attributes and types, e.g. the 24
// linear layers' norms) share one kernel. The op keeps its place in the host
// function and names its kernel, so the host program and the launch plan stay
// readable together.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringMap.h"

namespace salac::sala {
#define GEN_PASS_DEF_SALAFORMKERNELS
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"
} // namespace salac::sala

using namespace mlir;
using namespace salac;

namespace {

/// Everything static a kernel is specialised on: op, attributes, types.
std::string kernelKey(Operation *op) {
  std::string key;
  llvm::raw_string_ostream os(key);
  os << op->getName();
  NamedAttrList attrs(op->getAttrDictionary());
  attrs.erase(kKernelAttrName);
  os << attrs.getDictionary(op->getContext());
  for (Type t : op->getOperandTypes())
    os << "," << t;
  for (Type t : op->getResultTypes())
    os << "->" << t;
  // Specialised on its consumers too.
  os << consumerSpecialisation(op).getDictionary(op->getContext());
  return key;
}

struct SalaFormKernels : sala::impl::SalaFormKernelsBase<SalaFormKernels> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> candidates;
    module.walk([&](Operation *op) {
      if (isa<sala::SalaDialect>(op->getDialect()) && hasKernelBuilder(op))
        candidates.push_back(op);
    });
    if (candidates.empty())
      return;

    OpBuilder b(module.getContext());
    auto gpuModule = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
    if (!gpuModule) {
      b.setInsertionPointToEnd(module.getBody());
      gpuModule = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModuleName);
    }
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());

    llvm::StringMap<std::string> nameOfKey;
    for (Operation *op : candidates) {
      std::string key = kernelKey(op);
      auto it = nameOfKey.find(key);
      if (it == nameOfKey.end()) {
        std::string base = kernelBaseName(op), name = base;
        for (int v = 2; gpuModule.lookupSymbol(name); ++v)
          name = base + "_v" + std::to_string(v);
        if (failed(buildKernel(op, gpuModule, name)))
          return signalPassFailure();
        it = nameOfKey.insert({key, name}).first;
      }
      op->setAttr(kKernelAttrName,
                  SymbolRefAttr::get(b.getStringAttr(kKernelModuleName),
                                     {FlatSymbolRefAttr::get(
                                         b.getStringAttr(it->second))}));
    }
  }
};

} // namespace
