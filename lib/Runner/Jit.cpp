//===- Jit.cpp - compile a block for the host and call it -----------------===//
#include "Jit.h"

#include "salac/Conversion/SalaToLoops/CPUPipeline.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <cstring>
#include <set>

using namespace mlir;
using namespace salac;
using namespace salac::runner;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {

/// The storage of one memref argument and its descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct Buffer {
  Type elementType;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  std::vector<int64_t> descriptor;
};

size_t byteWidth(Type t) { return t.isBF16() ? 2 : 4; }

void setDescriptor(Buffer &buf) {
  size_t rank = buf.shape.size();
  buf.descriptor.assign(3 + 2 * rank, 0);
  uint8_t *data = buf.bytes.data();
  std::memcpy(&buf.descriptor[0], &data, sizeof data);
  std::memcpy(&buf.descriptor[1], &data, sizeof data);
  int64_t stride = 1;
  for (size_t d = rank; d-- > 0;) {
    buf.descriptor[3 + d] = buf.shape[d];
    buf.descriptor[3 + rank + d] = stride;
    stride *= buf.shape[d];
  }
}

Buffer packFloats(Type type, std::vector<int64_t> shape, const std::vector<float> &v) {
  Buffer buf{type, std::move(shape), {}, {}};
  size_t width = byteWidth(type);
  buf.bytes.resize(std::max<size_t>(v.size() * width, 1));
  for (size_t e = 0; e < v.size(); ++e) {
    uint32_t bits;
    std::memcpy(&bits, &v[e], 4);
    if (width == 2) {
      uint16_t high = uint16_t(bits >> 16); // values are bf16-exact
      std::memcpy(&buf.bytes[e * 2], &high, 2);
    } else {
      std::memcpy(&buf.bytes[e * 4], &bits, 4);
    }
  }
  setDescriptor(buf);
  return buf;
}

Buffer packInts(Type type, std::vector<int64_t> shape, const std::vector<int32_t> &v) {
  Buffer buf{type, std::move(shape), {}, {}};
  buf.bytes.resize(std::max<size_t>(v.size() * 4, 1));
  if (!v.empty())
    std::memcpy(buf.bytes.data(), v.data(), v.size() * 4);
  setDescriptor(buf);
  return buf;
}

float readFloat(Type type, const uint8_t *p) {
  uint32_t bits = 0;
  if (type.isBF16()) {
    uint16_t high;
    std::memcpy(&high, p, 2);
    bits = uint32_t(high) << 16;
  } else {
    std::memcpy(&bits, p, 4);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void unpackFloats(const Buffer &buf, std::vector<float> &out) {
  size_t width = byteWidth(buf.elementType);
  for (size_t e = 0; e < out.size(); ++e)
    out[e] = readFloat(buf.elementType, &buf.bytes[e * width]);
}

std::vector<int64_t> storeShape(const ref::PagedStore &s) {
  return {s.numPages, s.pageSize, s.numHeads, s.headDim};
}

} // namespace

llvm::Expected<std::unique_ptr<CompiledBlock>> CompiledBlock::compile(func::FuncOp fn) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  MLIRContext *ctx = fn.getContext();
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);

  OwningOpRef<ModuleOp> module = ModuleOp::create(fn.getLoc());
  module->push_back(fn.clone());
  PassManager pm(ctx);
  buildSalaToCPUPipeline(pm, /*cInterface=*/true);
  if (failed(pm.run(*module)))
    return fail("lowering @" + fn.getSymName() + " for the host failed (see above)");

  // `transformer` is a function_ref: the std::function must outlive create().
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0,
                                /*targetMachine=*/nullptr);
  ExecutionEngineOptions options;
  options.transformer = optimize;
  auto engine = ExecutionEngine::create(*module, options);
  if (!engine)
    return fail("JIT compilation failed: " + llvm::toString(engine.takeError()));
  std::unique_ptr<CompiledBlock> block(new CompiledBlock);
  block->engine = std::move(*engine);
  block->name = fn.getSymName().str();
  block->resultTypes.assign(fn.getResultTypes().begin(), fn.getResultTypes().end());
  return block;
}

llvm::Expected<std::vector<HostTensor>> CompiledBlock::call(std::vector<HostValue> &args) {
  // One buffer per converted argument, in the converted signature's order.
  std::vector<Buffer> buffers;
  for (HostValue &v : args) {
    switch (v.kind) {
    case HostValue::Kind::Tensor:
      buffers.push_back(v.tensor.isInt()
                            ? packInts(v.tensor.elementType, v.tensor.shape, v.tensor.i)
                            : packFloats(v.tensor.elementType, v.tensor.shape, v.tensor.f));
      break;
    case HostValue::Kind::KVCache:
      buffers.push_back(packFloats(v.elementType, storeShape(v.kv.k), v.kv.k.data));
      buffers.push_back(packFloats(v.elementType, storeShape(v.kv.v), v.kv.v.data));
      break;
    case HostValue::Kind::CompressedKeys:
      buffers.push_back(
          packFloats(v.elementType, storeShape(v.keys.store), v.keys.store.data));
      break;
    case HostValue::Kind::StatePool:
      buffers.push_back(packFloats(
          v.elementType,
          {v.pool.numSlots, v.pool.numHeads, v.pool.headDim, v.pool.headDim}, v.pool.data));
      break;
    case HostValue::Kind::Scores:
      return fail("internal: block scores are not an argument kind");
    }
  }

  // Results come back through a pointer to their descriptors, laid out one
  // after the other (every field is 8 bytes).
  std::vector<size_t> resultOffsets;
  size_t words = 0;
  for (Type t : resultTypes) {
    resultOffsets.push_back(words);
    words += 3 + 2 * cast<ShapedType>(t).getRank();
  }
  std::vector<int64_t> results(std::max<size_t>(words, 1), 0);
  std::vector<void *> descriptors;
  for (Buffer &b : buffers)
    descriptors.push_back(b.descriptor.data());
  void *resultPtr = results.data();
  llvm::SmallVector<void *> packed;
  if (!resultTypes.empty())
    packed.push_back(&resultPtr);
  for (void *&d : descriptors)
    packed.push_back(&d);
  if (llvm::Error err = engine->invokePacked("_mlir_ciface_" + name, packed))
    return fail("calling @" + name + " failed: " + llvm::toString(std::move(err)));

  // Copy the stores back.
  size_t next = 0;
  for (HostValue &v : args) {
    switch (v.kind) {
    case HostValue::Kind::KVCache:
      unpackFloats(buffers[next++], v.kv.k.data);
      unpackFloats(buffers[next++], v.kv.v.data);
      break;
    case HostValue::Kind::CompressedKeys:
      unpackFloats(buffers[next++], v.keys.store.data);
      break;
    case HostValue::Kind::StatePool:
      unpackFloats(buffers[next++], v.pool.data);
      break;
    default:
      ++next;
    }
  }

  // Copy the results out and free what the block allocated (not an argument's
  // buffer passed through, and each allocation once).
  std::set<void *> owned;
  for (Buffer &b : buffers)
    owned.insert(b.bytes.data());
  std::vector<void *> allocations;
  std::vector<HostTensor> out;
  for (auto [type, offset] : llvm::zip(resultTypes, resultOffsets)) {
    auto shaped = cast<ShapedType>(type);
    size_t rank = shaped.getRank();
    const int64_t *d = results.data() + offset;
    void *allocated, *aligned;
    std::memcpy(&allocated, &d[0], sizeof allocated);
    std::memcpy(&aligned, &d[1], sizeof aligned);
    HostTensor t;
    t.elementType = shaped.getElementType();
    t.shape.assign(d + 3, d + 3 + rank);
    int64_t count = t.numElements();
    size_t width = t.isInt() ? 4 : byteWidth(t.elementType);
    const uint8_t *base = static_cast<const uint8_t *>(aligned) + d[2] * width;
    for (int64_t e = 0; e < count; ++e) {
      int64_t at = 0, rest = e;
      for (size_t k = rank; k-- > 0;) {
        at += (rest % t.shape[k]) * d[3 + rank + k];
        rest /= t.shape[k];
      }
      if (t.isInt()) {
        int32_t x;
        std::memcpy(&x, base + at * 4, 4);
        t.i.push_back(x);
      } else {
        t.f.push_back(readFloat(t.elementType, base + at * width));
      }
    }
    if (owned.insert(allocated).second)
      allocations.push_back(allocated);
    out.push_back(std::move(t));
  }
  // Freed only once every result is copied: a block that returns one value
  // twice gives two descriptors of the same allocation.
  for (void *a : allocations)
    std::free(a);
  return out;
}
