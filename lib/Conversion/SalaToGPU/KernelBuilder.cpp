//===- KernelBuilder.cpp - shared machinery of sala GPU kernels -----------===//
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/TypeSwitch.h"
#include <cmath>

using namespace mlir;
using namespace salac;

/// Static extent of the flat buffers: large enough for any pool (2^40 elements);
/// with the bare-pointer convention it only fixes the element type.
static constexpr int64_t kUnboundedExtent = int64_t(1) << 40;

KernelBuilder::KernelBuilder(gpu::GPUModuleOp module, StringRef name, Location loc)
    : module(module), name(name.str()), loc(loc), b(module.getContext()) {}

unsigned KernelBuilder::addBuffer(StringRef pname, Type elementType,
                                  ArrayRef<Extent> shape, StringRef meaning) {
  params.push_back({pname.str(), "ptr", dtypeName(elementType), meaning.str(),
                    MemRefType::get({kUnboundedExtent}, elementType),
                    SmallVector<Extent>(shape)});
  return params.size() - 1;
}

unsigned KernelBuilder::addSize(StringRef pname, StringRef meaning) {
  params.push_back({pname.str(), "i64", "", meaning.str(), b.getIndexType()});
  return params.size() - 1;
}

Value KernelBuilder::addWorkgroupBuffer(Type elementType, int64_t elements) {
  auto space = gpu::AddressSpaceAttr::get(b.getContext(),
                                          gpu::GPUDialect::getWorkgroupAddressSpace());
  auto type = MemRefType::get({elements}, elementType, MemRefLayoutAttrInterface(),
                              space);
  return func.addWorkgroupAttribution(type, loc);
}

OpBuilder &KernelBuilder::begin() {
  SmallVector<Type> types;
  for (const Param &p : params)
    types.push_back(p.type);
  b.setInsertionPointToEnd(module.getBody());
  func = gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(types, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  b.setInsertionPointToStart(&func.getBody().front());
  return b;
}

Value KernelBuilder::arg(unsigned i) { return func.getArgument(i); }

gpu::GPUFuncOp KernelBuilder::finish() {
  gpu::ReturnOp::create(b, loc);
  MLIRContext *ctx = b.getContext();
  SmallVector<Attribute> paramAttrs, gridAttrs;
  for (const Param &p : params) {
    SmallVector<NamedAttribute> fields = {
        b.getNamedAttr("name", b.getStringAttr(p.name)),
        b.getNamedAttr("kind", b.getStringAttr(p.kind)),
        b.getNamedAttr("meaning", b.getStringAttr(p.meaning))};
    if (!p.dtype.empty())
      fields.push_back(b.getNamedAttr("dtype", b.getStringAttr(p.dtype)));
    if (p.kind == "ptr") {
      SmallVector<Attribute> dims;
      for (const Extent &e : p.shape)
        dims.push_back(e.param.empty() ? Attribute(b.getI64IntegerAttr(e.size))
                                       : Attribute(b.getStringAttr(e.param)));
      fields.push_back(b.getNamedAttr("shape", b.getArrayAttr(dims)));
    }
    paramAttrs.push_back(DictionaryAttr::get(ctx, fields));
  }
  for (const GridDim &g : grid) {
    if (g.param.empty()) {
      gridAttrs.push_back(b.getI64IntegerAttr(g.constant));
      continue;
    }
    gridAttrs.push_back(b.getDictionaryAttr(
        {b.getNamedAttr("param", b.getStringAttr(g.param)),
         b.getNamedAttr("mul", b.getI64IntegerAttr(g.mul)),
         b.getNamedAttr("div", b.getI64IntegerAttr(g.div))}));
  }
  func->setAttr(kLaunchAttrName,
                b.getDictionaryAttr(
                    {b.getNamedAttr("block", b.getDenseI64ArrayAttr(block)),
                     b.getNamedAttr("grid", b.getArrayAttr(gridAttrs)),
                     b.getNamedAttr("shared_bytes", b.getI64IntegerAttr(0)),
                     b.getNamedAttr("params", b.getArrayAttr(paramAttrs))}));
  // Known block size lets LLVM fold thread-id ranges.
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {int32_t(block[0]), int32_t(block[1]), int32_t(block[2])}));
  return func;
}

//===----------------------------------------------------------------------===//
// Body helpers
//===----------------------------------------------------------------------===//

Value KernelBuilder::idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
Value KernelBuilder::f32(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}
Value KernelBuilder::f64(double v) {
  return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
}
Value KernelBuilder::threadId() {
  return gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
}
Value KernelBuilder::blockId() {
  return gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
}
Value KernelBuilder::globalThreadId() {
  Value base = arith::MulIOp::create(b, loc, blockId(), idx(block[0]));
  return arith::AddIOp::create(b, loc, base, threadId());
}
Value KernelBuilder::load(Value buffer, Value index) {
  return memref::LoadOp::create(b, loc, buffer, ValueRange{index});
}
void KernelBuilder::store(Value value, Value buffer, Value index) {
  memref::StoreOp::create(b, loc, value, buffer, ValueRange{index});
}
Value KernelBuilder::toF32(Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}
Value KernelBuilder::fromF32(Value v, Type to) {
  if (to.isF32())
    return v;
  return arith::TruncFOp::create(b, loc, to, v);
}

Value KernelBuilder::ptxUnaryF32(StringRef instr, Value x) {
  // A pure inline-asm instruction: math ops would become libdevice calls, and
  // libdevice is only present where the CUDA toolkit is installed.
  std::string code = (instr + " $0, $1;").str();
  auto op = LLVM::InlineAsmOp::create(
      b, loc, b.getF32Type(), ValueRange{x}, code, "=f,f",
      /*has_side_effects=*/false, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  return op.getResult(0);
}

Value KernelBuilder::expF32(Value x) {
  Value scaled = arith::MulFOp::create(b, loc, x, f32(M_LOG2E));
  return ptxUnaryF32("ex2.approx.ftz.f32", scaled);
}

Value KernelBuilder::rsqrtF32(Value x) { return ptxUnaryF32("rsqrt.approx.f32", x); }

Value KernelBuilder::warpSum(Value v, int64_t width) {
  Value w = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
  for (int64_t off = width / 2; off >= 1; off /= 2) {
    Value o = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(off));
    auto shfl = gpu::ShuffleOp::create(b, loc, v, o, w, gpu::ShuffleMode::XOR);
    v = arith::AddFOp::create(b, loc, v, shfl.getShuffleResult());
  }
  return v;
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

std::string salac::dtypeName(Type t) {
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "f16";
  if (t.isF32())
    return "f32";
  if (t.isF64())
    return "f64";
  if (t.isSignlessInteger(32))
    return "i32";
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

bool salac::hasKernelBuilder(Operation *op) {
  return isa<sala::RMSNormOp, sala::RopeOp, sala::SigmoidGateOp>(op);
}

std::string salac::kernelBaseName(Operation *op) {
  auto shape = [](Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    return "_h" + std::to_string(t.getDimSize(1)) + "_d" +
           std::to_string(t.getDimSize(2)) + "_" + dtypeName(t.getElementType());
  };
  return llvm::TypeSwitch<Operation *, std::string>(op)
      .Case([&](sala::RMSNormOp o) {
        return "sala_rms_norm_" + sala::stringifyNormScope(o.getScope()).str() +
               shape(o.getInput());
      })
      .Case([&](sala::RopeOp o) {
        return "sala_rope_" + sala::stringifyRopeStyle(o.getStyle()).str() +
               shape(o.getInput());
      })
      .Case([&](sala::SigmoidGateOp o) {
        return "sala_sigmoid_gate" + shape(o.getInput());
      })
      .Default([](Operation *op) {
        std::string n = op->getName().getStringRef().str();
        std::replace(n.begin(), n.end(), '.', '_');
        return n;
      });
}

FailureOr<gpu::GPUFuncOp> salac::buildKernel(Operation *op, gpu::GPUModuleOp module,
                                             StringRef name) {
  KernelBuilder kb(module, name, op->getLoc());
  LogicalResult built =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](sala::RMSNormOp) { return buildRMSNormKernel(op, kb); })
          .Case([&](sala::RopeOp) { return buildRopeKernel(op, kb); })
          .Case([&](sala::SigmoidGateOp) { return buildSigmoidGateKernel(op, kb); })
          .Default([&](Operation *) {
            return op->emitOpError() << "has no GPU kernel builder yet";
          });
  if (failed(built))
    return failure();
  gpu::GPUFuncOp func = kb.finish();
  OpBuilder b(op->getContext());
  func->setAttr(kOpAttrName, b.getStringAttr(op->getName().getStringRef()));
  // The op's attributes plus the shape it was specialised on.
  NamedAttrList attrs(op->getAttrDictionary());
  attrs.erase(kKernelAttrName);
  if (op->getNumOperands() > 0)
    if (auto t = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
        t && t.getRank() == 3) {
      attrs.set("heads", b.getI64IntegerAttr(t.getDimSize(1)));
      attrs.set("head_dim", b.getI64IntegerAttr(t.getDimSize(2)));
      attrs.set("dtype", b.getStringAttr(dtypeName(t.getElementType())));
    }
  func->setAttr(kOpAttributesAttrName, attrs.getDictionary(op->getContext()));
  return func;
}
