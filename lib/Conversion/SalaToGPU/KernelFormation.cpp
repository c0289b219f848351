//===- KernelFormation.cpp - one kernel per distinct sala op --------------===//
//
// The KernelTable: the dedup key of an op's kernel, its unique name in
// `gpu.module @sala_kernels`, and the attributes the manifest is made from
// (`sala.op`, `sala.attributes`; the builder attaches `sala.launch`).
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace salac;

namespace {

/// Everything static a kernel is specialised on: op, attributes, types and
/// consumers.
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
  if (auto k = dyn_cast<sala::KernelOpInterface>(op))
    os << k.getKernelSpecialisation().getDictionary(op->getContext());
  return key;
}

/// What a kernel is specialised on, for the manifest: the op's own attributes
/// (not its bookkeeping ones), the static shape parameters of its operands and
/// its consumer specialisation.
DictionaryAttr manifestAttributes(Operation *op) {
  Builder b(op->getContext());
  NamedAttrList attrs(op->getAttrDictionary());
  attrs.erase(kKernelAttrName);
  attrs.erase(sala::KernelConfigAttr::kOpAttrName); // the manifest's "config"
  attrs.erase("operandSegmentSizes");
  auto setShape = [&](RankedTensorType t) {
    if (t.getRank() != 3 || t.isDynamicDim(1) || t.isDynamicDim(2))
      return;
    attrs.set("heads", b.getI64IntegerAttr(t.getDimSize(1)));
    attrs.set("head_dim", b.getI64IntegerAttr(t.getDimSize(2)));
    attrs.set("dtype", b.getStringAttr(sala::shortTypeName(t.getElementType())));
  };
  for (Value v : op->getOperands()) {
    if (auto t = dyn_cast<RankedTensorType>(v.getType())) {
      if (isa<FloatType>(t.getElementType()) && !attrs.get("heads"))
        setShape(t);
    } else if (auto kv = dyn_cast<sala::KVCacheType>(v.getType())) {
      attrs.set("page_size", b.getI64IntegerAttr(kv.getPageSize()));
      attrs.set("kv_heads", b.getI64IntegerAttr(kv.getKvHeads()));
    } else if (auto ck = dyn_cast<sala::CompressedKeysType>(v.getType())) {
      attrs.set("kernel_size", b.getI64IntegerAttr(ck.getKernelSize()));
      attrs.set("kernel_stride", b.getI64IntegerAttr(ck.getKernelStride()));
      attrs.set("key_page_size", b.getI64IntegerAttr(ck.getPageSize()));
      attrs.set("kv_heads", b.getI64IntegerAttr(ck.getKvHeads()));
    }
  }
  if (auto k = dyn_cast<sala::KernelOpInterface>(op))
    for (NamedAttribute a : k.getKernelSpecialisation())
      attrs.set(a.getName(), a.getValue());
  return attrs.getDictionary(op->getContext());
}

/// The kernel config as the manifest's "config" object.
DictionaryAttr configDictionary(sala::KernelConfigAttr c) {
  Builder b(c.getContext());
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("threads", b.getI64IntegerAttr(c.getThreads())),
      b.getNamedAttr("min_blocks_per_sm", b.getI64IntegerAttr(c.getMinBlocksPerSm())),
      b.getNamedAttr("max_registers", b.getI64IntegerAttr(c.getMaxRegisters()))};
  if (c.getTile())
    fields.append({b.getNamedAttr("tile", b.getI64IntegerAttr(c.getTile())),
                   b.getNamedAttr("stages", b.getI64IntegerAttr(c.getStages()))});
  if (c.getSegment())
    fields.push_back(b.getNamedAttr("segment", b.getI64IntegerAttr(c.getSegment())));
  if (sala::SplitRuleAttr r = c.getSplit())
    fields.push_back(b.getNamedAttr(
        "split_rule",
        b.getDictionaryAttr(
            {b.getNamedAttr("sms", b.getI64IntegerAttr(r.getSms())),
             b.getNamedAttr("blocks_per_sm", b.getI64IntegerAttr(r.getBlocksPerSm())),
             b.getNamedAttr("max_splits", b.getI64IntegerAttr(r.getMaxSplits())),
             b.getNamedAttr("few_pairs_max_splits",
                            b.getI64IntegerAttr(r.getFewPairsMaxSplits())),
             b.getNamedAttr("min_tiles_per_split",
                            b.getI64IntegerAttr(r.getMinTilesPerSplit()))})));
  return b.getDictionaryAttr(fields);
}

std::string baseName(Operation *op) {
  if (auto k = dyn_cast<sala::KernelOpInterface>(op))
    return k.getKernelName();
  std::string n = op->getName().getStringRef().str();
  std::replace(n.begin(), n.end(), '.', '_');
  return n;
}

} // namespace

gpu::GPUModuleOp KernelTable::getOrCreateKernelModule() {
  if (kernels)
    return kernels;
  OpBuilder b(module.getContext());
  kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  if (!kernels) {
    b.setInsertionPointToEnd(module.getBody());
    kernels = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModuleName);
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());
  return kernels;
}

FailureOr<SymbolRefAttr> KernelTable::getOrBuild(Operation *op, BuildFn build) {
  gpu::GPUModuleOp gpuModule = getOrCreateKernelModule();
  std::string key = kernelKey(op);
  auto it = nameOfKey.find(key);
  if (it != nameOfKey.end() && it->second.empty()) { // no kernel for this key
    auto known = unsupportedOps.find(op->getName());
    noteUnsupported(op, known != unsupportedOps.end() ? known->second.requirement : "");
    return failure();
  }
  if (it == nameOfKey.end()) {
    std::string base = baseName(op), name = base;
    for (int v = 2; gpuModule.lookupSymbol(name); ++v)
      name = base + "_v" + std::to_string(v);
    KernelBuilder kb(gpuModule, name, op->getLoc());
    sala::KernelConfigAttr config = kernelConfigOf(op);
    if (config) {
      kb.setBlock(config.getThreads());
      kb.setOccupancy(config.getMinBlocksPerSm(), config.getMaxRegisters());
      kb.setTiling(config.getTile(), config.getStages());
      kb.setSegment(config.getSegment());
    }
    if (failed(build(kb))) {
      failedBuild = true;
      return failure();
    }
    gpu::GPUFuncOp func = kb.finish();
    // Past 48 KiB a kernel's buffers move to dynamic shared memory, up to
    // what a block may have on the target; past that the op gets no kernel
    // and is reported like an unsupported shape.
    if (int64_t shared = kb.staticSharedBytes(); shared > kMaxStaticSharedBytes) {
      int64_t limit = config ? config.getMaxSharedBytes() : kMaxStaticSharedBytes;
      if (shared > limit) {
        func.erase();
        noteUnsupported(op, llvm::formatv("its kernel would need {0} bytes of shared "
                                          "memory, above the {1} a block may have",
                                          shared, limit)
                                .str());
        nameOfKey.insert({key, ""});
        return failure();
      }
      kb.moveSharedToDynamic();
    }
    Builder b(op->getContext());
    func->setAttr(kOpAttrName, b.getStringAttr(op->getName().getStringRef()));
    func->setAttr(kOpAttributesAttrName, manifestAttributes(op));
    if (config)
      func->setAttr(kConfigAttrName, configDictionary(config));
    it = nameOfKey.insert({key, name}).first;
  }
  MLIRContext *ctx = op->getContext();
  return SymbolRefAttr::get(StringAttr::get(ctx, kKernelModuleName),
                            {FlatSymbolRefAttr::get(StringAttr::get(ctx, it->second))});
}

void KernelTable::noteUnsupported(Operation *op, StringRef requirement) {
  auto it = unsupportedOps.find(op->getName());
  if (it == unsupportedOps.end())
    it = unsupportedOps.insert({op->getName(), Unsupported{op->getLoc(), requirement.str()}})
             .first;
  ++it->second.count;
}
