//===- KernelBuilder.cpp - shared machinery of sala GPU kernels -----------===//
//
// The helper library every kernel family builds with: parameters and their
// manifest records, launch rules, and small emitters for bodies. It knows no
// sala op; the families (one file each) and the conversion use it.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
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
  params.push_back({pname.str(), "ptr", sala::shortTypeName(elementType), meaning.str(),
                    MemRefType::get({kUnboundedExtent}, elementType),
                    SmallVector<Extent>(shape)});
  return params.size() - 1;
}

unsigned KernelBuilder::addCuSeqlens() {
  return addBuffer("cu_seqlens_q", IntegerType::get(b.getContext(), 32),
                   {plus("batch", 1)}, "[batch + 1] cumulative query lengths");
}

unsigned KernelBuilder::addSeqLens() {
  return addBuffer("seq_lens", IntegerType::get(b.getContext(), 32), {"batch"},
                   "[batch] length of each sequence after this step's tokens");
}

unsigned KernelBuilder::addSize(StringRef pname, StringRef meaning) {
  params.push_back({pname.str(), "i64", "", meaning.str(), b.getIndexType()});
  return params.size() - 1;
}

Value KernelBuilder::addWorkgroupBuffer(Type elementType, int64_t elements) {
  // 16 bytes, not the element's alignment: LLVM's load/store vectorizer
  // merges scalar accesses at constant offsets (a loop over the heads' max,
  // a block-wide sum over the warps' partials) into 16-byte ones after
  // raising the buffer's alignment, and the PTX then declared the buffer with
  // its element alignment: misaligned shared loads at run time.
  return addWorkgroupBuffer(elementType, elements, 16);
}

Value KernelBuilder::addWorkgroupBuffer(Type elementType, int64_t elements,
                                        int64_t alignBytes) {
  auto space = gpu::AddressSpaceAttr::get(b.getContext(),
                                          gpu::GPUDialect::getWorkgroupAddressSpace());
  auto type = MemRefType::get({elements}, elementType, MemRefLayoutAttrInterface(),
                              space);
  Value buffer = func.addWorkgroupAttribution(type, loc);
  func.setWorkgroupAttributionAttr(func.getNumWorkgroupAttributions() - 1,
                                   LLVM::LLVMDialect::getAlignAttrName(),
                                   b.getI64IntegerAttr(alignBytes));
  return buffer;
}

Value KernelBuilder::viewWorkgroupBuffer(Value bytes, Type elementType, int64_t elements) {
  auto src = cast<MemRefType>(bytes.getType());
  auto type = MemRefType::get({elements}, elementType, MemRefLayoutAttrInterface(),
                              src.getMemorySpace());
  return memref::ViewOp::create(b, loc, type, bytes, idx(0), ValueRange{});
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

/// Bytes of a statically shaped workgroup buffer.
static int64_t bytesOf(MemRefType t) {
  return t.getNumElements() * ((t.getElementTypeBitWidth() + 7) / 8);
}

int64_t KernelBuilder::staticSharedBytes() {
  int64_t bytes = 0;
  for (BlockArgument a : func.getWorkgroupAttributions()) {
    auto t = cast<MemRefType>(a.getType());
    bytes += bytesOf(t);
  }
  return bytes;
}

int64_t KernelBuilder::moveSharedToDynamic() {
  MLIRContext *ctx = b.getContext();
  OpBuilder::InsertionGuard guard(b);
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  auto space = gpu::AddressSpaceAttr::get(ctx, gpu::GPUDialect::getWorkgroupAddressSpace());
  // An external array of no length, as CUDA C++ declares dynamic shared
  // memory (`extern __shared__`; gpu.dynamic_shared_memory lowers to an
  // internal global, which the NVPTX backend gives one byte of static memory).
  auto bytesType = MemRefType::get({0}, b.getI8Type(), MemRefLayoutAttrInterface(), space);
  std::string symbol = (func.getName() + "_dynamic_shared").str();
  {
    OpBuilder::InsertionGuard atModule(b);
    b.setInsertionPoint(func);
    memref::GlobalOp::create(b, loc, symbol, b.getStringAttr("public"), bytesType,
                             Attribute(), /*constant=*/false, b.getI64IntegerAttr(16));
  }
  Value dynamic = memref::GetGlobalOp::create(b, loc, bytesType, symbol);
  int64_t offset = 0;
  unsigned n = func.getNumWorkgroupAttributions();
  for (unsigned i = 0; i < n; ++i) {
    BlockArgument buffer = func.getWorkgroupAttributions()[i];
    auto type = cast<MemRefType>(buffer.getType());
    int64_t align = 16;
    if (auto a = dyn_cast_or_null<IntegerAttr>(
            func.getWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName())))
      align = a.getInt();
    offset = llvm::alignTo(offset, align);
    buffer.replaceAllUsesWith(
        memref::ViewOp::create(b, loc, type, dynamic, idx(offset), ValueRange{}).getResult());
    offset += bytesOf(type);
  }
  entry.eraseArguments(func.getFirstWorkgroupAttributionIndex(), n);
  func->removeAttr(gpu::GPUFuncOp::getNumWorkgroupAttributionsAttrName());
  func.removeWorkgroupAttribAttrsAttr();
  auto launch = func->getAttrOfType<DictionaryAttr>(kLaunchAttrName);
  NamedAttrList fields(launch);
  fields.set("shared_bytes", b.getI64IntegerAttr(offset));
  func->setAttr(kLaunchAttrName, fields.getDictionary(ctx));
  return offset;
}

LogicalResult KernelBuilder::requireThreads(Operation *op, int64_t n) const {
  if (threads() == n)
    return success();
  return op->emitOpError() << "kernel_config threads = " << threads()
                           << ": this kernel is built for " << n << " threads a block";
}

LogicalResult KernelBuilder::requireTiling(Operation *op, int64_t tokens,
                                           int64_t stageCount) const {
  if (tile == tokens && stages == stageCount)
    return success();
  return op->emitOpError() << "kernel_config tile = " << tile << ", stages = " << stages
                           << ": this kernel is built for tiles of " << tokens
                           << " tokens, " << stageCount << " stage(s)";
}

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
      // Kernels load and store 16 bytes at a time: every tensor must start at
      // a 16-byte boundary (the readers check it before a launch).
      fields.push_back(b.getNamedAttr("align", b.getI64IntegerAttr(kTensorAlignBytes)));
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
  if (minBlocks)
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(), b.getI32IntegerAttr(minBlocks));
  if (maxRegs)
    func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(), b.getI32IntegerAttr(maxRegs));
  // Known block size lets LLVM fold thread-id ranges.
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {int32_t(block[0]), int32_t(block[1]), int32_t(block[2])}));
  return func;
}

//===----------------------------------------------------------------------===//
// Body helpers
//===----------------------------------------------------------------------===//

Value KernelBuilder::idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
Value KernelBuilder::i32(int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
}
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

Value KernelBuilder::loadIndex(Value buffer, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), load(buffer, index));
}

Value KernelBuilder::loadVector(Value buffer, Value index, int64_t n,
                                int64_t alignBytes) {
  auto elem = cast<MemRefType>(buffer.getType()).getElementType();
  return vector::LoadOp::create(b, loc, VectorType::get({n}, elem), buffer,
                                ValueRange{index}, /*nontemporal=*/false,
                                llvm::MaybeAlign(alignBytes));
}

void KernelBuilder::storeVector(Value value, Value buffer, Value index,
                                int64_t alignBytes) {
  vector::StoreOp::create(b, loc, value, buffer, ValueRange{index},
                          /*nontemporal=*/false, llvm::MaybeAlign(alignBytes));
}

Value KernelBuilder::cmp(arith::CmpIPredicate pred, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, pred, x, y);
}
Value KernelBuilder::add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
Value KernelBuilder::sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
Value KernelBuilder::mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
Value KernelBuilder::div(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
Value KernelBuilder::rem(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }

std::pair<Value, Value> KernelBuilder::queryPosition(Value cu, Value lens, Value batch,
                                                     Value token) {
  // cu[seq] and cu[seq + 1] are loaded again after findSequence's guess
  // loaded them (L1 hits); reusing the guess's values through an scf.if made
  // ptxas spill in the sparse attention kernel.
  Value seq = findSequence(cu, batch, token);
  Value start = loadIndex(cu, seq);
  Value qLen = sub(loadIndex(cu, add(seq, idx(1))), start);
  return {seq, add(sub(loadIndex(lens, seq), qLen), sub(token, start))};
}

scf::ForOp KernelBuilder::forLoop(
    Value lb, Value ub, Value step, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto f = scf::ForOp::create(b, loc, lb, ub, step, init);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(f.getBody());
  SmallVector<Value> yields = body(f.getInductionVar(), f.getRegionIterArgs());
  if (!init.empty()) // without iter_args the builder already added the yield
    scf::YieldOp::create(b, loc, yields);
  return f;
}

void KernelBuilder::ifThen(Value cond, llvm::function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body();
}

void KernelBuilder::ifThenElse(Value cond, llvm::function_ref<void()> thenBody,
                               llvm::function_ref<void()> elseBody) {
  auto ifOp = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  thenBody();
  b.setInsertionPointToStart(ifOp.elseBlock());
  elseBody();
}

Value KernelBuilder::guessSequence(Value batch, Value token) {
  Value last = sub(select(cmp(arith::CmpIPredicate::ugt, batch, idx(0)), batch, idx(1)), idx(1));
  return select(cmp(arith::CmpIPredicate::ult, token, last), token, last);
}

Value KernelBuilder::searchSequence(Value cu, Value batch, Value token) {
  // Invariant cu[lo] <= token < cu[hi], halved until lo + 1 == hi: log2(batch)
  // dependent loads (a fixed 31 steps cost ~1 us in every kernel).
  Type indexType = b.getIndexType();
  auto w = scf::WhileOp::create(b, loc, TypeRange{indexType, indexType},
                                ValueRange{idx(0), batch});
  OpBuilder::InsertionGuard g(b);
  Block *before = b.createBlock(&w.getBefore(), {}, TypeRange{indexType, indexType}, {loc, loc});
  b.setInsertionPointToStart(before);
  Value lo = before->getArgument(0), hi = before->getArgument(1);
  scf::ConditionOp::create(b, loc, cmp(arith::CmpIPredicate::ugt, sub(hi, lo), idx(1)),
                           ValueRange{lo, hi});
  Block *after = b.createBlock(&w.getAfter(), {}, TypeRange{indexType, indexType}, {loc, loc});
  b.setInsertionPointToStart(after);
  lo = after->getArgument(0);
  hi = after->getArgument(1);
  Value mid = div(add(lo, hi), idx(2));
  Value right = cmp(arith::CmpIPredicate::sle, loadIndex(cu, mid), token);
  scf::YieldOp::create(b, loc, ValueRange{select(right, mid, lo), select(right, hi, mid)});
  return w.getResult(0);
}

Value KernelBuilder::findSequence(Value cu, Value batch, Value token) {
  Type indexType = b.getIndexType();
  Value guess = guessSequence(batch, token);
  Value hit = arith::AndIOp::create(
      b, loc, cmp(arith::CmpIPredicate::sle, loadIndex(cu, guess), token),
      cmp(arith::CmpIPredicate::slt, token, loadIndex(cu, add(guess, idx(1)))));
  auto found = scf::IfOp::create(b, loc, TypeRange{indexType}, hit, true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&found.getThenRegion().front());
  scf::YieldOp::create(b, loc, ValueRange{guess});
  b.setInsertionPointToStart(&found.getElseRegion().front());
  scf::YieldOp::create(b, loc, ValueRange{searchSequence(cu, batch, token)});
  return found.getResult(0);
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

void KernelBuilder::fenceGpu() {
  LLVM::InlineAsmOp::create(b, loc, Type(), ValueRange{}, "fence.acq_rel.gpu;", "~{memory}",
                            /*has_side_effects=*/true, /*is_align_stack=*/false,
                            LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
}

Value KernelBuilder::atomicAdd(Value buffer, Value index, Value value) {
  return memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi, value, buffer,
                                     ValueRange{index});
}

void KernelBuilder::ifLastArrival(Value counters, Value index, Value arrivals, Value flag,
                                  function_ref<void()> body) {
  Type flagType = cast<MemRefType>(flag.getType()).getElementType();
  auto flagValue = [&](int64_t v) -> Value {
    if (isa<FloatType>(flagType))
      return f32(double(v));
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(flagType, v));
  };
  Value tid = threadId();
  fenceGpu();
  gpu::BarrierOp::create(b, loc);
  ifThen(cmp(arith::CmpIPredicate::eq, tid, idx(0)), [&] {
    Value one = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(1));
    Value before = atomicAdd(counters, index, one);
    Value last = cmp(arith::CmpIPredicate::eq,
                     arith::IndexCastOp::create(b, loc, b.getIndexType(), before),
                     sub(arrivals, idx(1)));
    store(select(last, flagValue(1), flagValue(0)), flag, idx(0));
  });
  gpu::BarrierOp::create(b, loc);
  Value isLast = isa<FloatType>(flagType)
                     ? arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                             load(flag, idx(0)), flagValue(1))
                           .getResult()
                     : cmp(arith::CmpIPredicate::eq, load(flag, idx(0)), flagValue(1));
  ifThen(isLast, [&] {
    fenceGpu();
    body();
    ifThen(cmp(arith::CmpIPredicate::eq, tid, idx(0)), [&] {
      store(arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)), counters, index);
    });
  });
}

std::pair<Value, Value> KernelBuilder::ropeCosSin(Value position, Value pair, double theta,
                                                  int64_t headDim) {
  // inv_freq = r^i with r = theta^(-2/d), by the bits of i.
  Type f64t = b.getF64Type();
  int64_t half = headDim / 2;
  double r = std::pow(theta, -2.0 / double(headDim));
  Value iInt = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), pair);
  Value freq = f64(1.0);
  double rPow = r;
  for (int64_t bit = 1; bit < half; bit <<= 1, rPow *= rPow) {
    Value set = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ne,
        arith::AndIOp::create(b, loc, iInt,
                              arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(bit))),
        arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(0)));
    Value scaled = arith::MulFOp::create(b, loc, freq, f64(rPow));
    freq = arith::SelectOp::create(b, loc, set, scaled, freq);
  }
  Value pos = arith::SIToFPOp::create(b, loc, f64t, position);
  Value angle = arith::MulFOp::create(b, loc, pos, freq);
  // Reduce to [-pi, pi): angle - 2pi * round(angle / 2pi), in f64: positions
  // reach 2^20 and f32 would keep no fraction of a turn there.
  Value turns = arith::MulFOp::create(b, loc, angle, f64(1.0 / (2.0 * M_PI)));
  Value plusHalf = arith::AddFOp::create(b, loc, turns, f64(0.5));
  Value rounded = arith::SIToFPOp::create(
      b, loc, f64t, arith::FPToSIOp::create(b, loc, b.getI64Type(), plusHalf));
  // fptosi truncates toward zero; for negative positions fix the floor.
  Value needsFix = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, plusHalf, rounded);
  rounded = arith::SelectOp::create(b, loc, needsFix,
                                    arith::SubFOp::create(b, loc, rounded, f64(1.0)), rounded);
  Value reduced = arith::SubFOp::create(
      b, loc, angle, arith::MulFOp::create(b, loc, rounded, f64(2.0 * M_PI)));
  Value a32 = arith::TruncFOp::create(b, loc, b.getF32Type(), reduced);
  return {ptxUnaryF32("cos.approx.f32", a32), ptxUnaryF32("sin.approx.f32", a32)};
}

Value KernelBuilder::expF32(Value x) {
  Value scaled = arith::MulFOp::create(b, loc, x, f32(M_LOG2E));
  return ptxUnaryF32("ex2.approx.ftz.f32", scaled);
}

Value KernelBuilder::rsqrtF32(Value x) { return ptxUnaryF32("rsqrt.approx.f32", x); }

Value KernelBuilder::warpMax(Value v, int64_t width) {
  Value w = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
  for (int64_t off = width / 2; off >= 1; off /= 2) {
    Value o = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(off));
    auto shfl = gpu::ShuffleOp::create(b, loc, v, o, w, gpu::ShuffleMode::XOR);
    v = arith::MaximumFOp::create(b, loc, v, shfl.getShuffleResult());
  }
  return v;
}

Value KernelBuilder::select(Value c, Value x, Value y) {
  return arith::SelectOp::create(b, loc, c, x, y);
}

Value KernelBuilder::warpSum(Value v, int64_t width) {
  Value w = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
  for (int64_t off = width / 2; off >= 1; off /= 2) {
    Value o = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(off));
    auto shfl = gpu::ShuffleOp::create(b, loc, v, o, w, gpu::ShuffleMode::XOR);
    v = isa<FloatType>(v.getType())
            ? arith::AddFOp::create(b, loc, v, shfl.getShuffleResult()).getResult()
            : arith::AddIOp::create(b, loc, v, shfl.getShuffleResult()).getResult();
  }
  return v;
}
