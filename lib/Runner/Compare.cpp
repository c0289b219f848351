//===- Compare.cpp - compiled outputs against the reference ---------------===//
#include "Compare.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace salac;
using namespace salac::runner;

double salac::runner::toleranceFor(Type precision) {
  if (precision && precision.isBF16())
    return 1.0 / 64.0;
  return 1e-4;
}

Type salac::runner::blockPrecision(func::FuncOp fn) {
  Builder b(fn.getContext());
  auto isBF16 = [](Type t) { return getElementTypeOrSelf(t).isBF16(); };
  bool bf16 = llvm::any_of(fn.getArgumentTypes(), isBF16) ||
              llvm::any_of(fn.getResultTypes(), isBF16);
  fn.walk([&](Operation *op) {
    bf16 |= llvm::any_of(op->getResultTypes(), isBF16);
  });
  return bf16 ? Type(b.getBF16Type()) : Type(b.getF32Type());
}

namespace {

uint64_t fnv1a(uint64_t hash, const void *data, size_t size) {
  const auto *bytes = static_cast<const uint8_t *>(data);
  for (size_t i = 0; i < size; ++i)
    hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  return hash;
}

OutputCheck compare(std::string name, Type type, const std::vector<int64_t> &shape,
                    const std::vector<int64_t> &refShape, const std::vector<float> &got,
                    const std::vector<float> &want, const std::vector<int32_t> &gotInts,
                    const std::vector<int32_t> &wantInts, std::optional<double> tolerance) {
  OutputCheck c;
  c.name = std::move(name);
  c.shape = shapeName(shape);
  c.type = type ? typeName(type) : "f32";
  c.isInt = type && type.isInteger(32);
  c.tolerance = tolerance.value_or(1e-4);
  uint64_t hash = 0xcbf29ce484222325ull;
  hash = fnv1a(hash, got.data(), got.size() * sizeof(float));
  c.checksum = fnv1a(hash, gotInts.data(), gotInts.size() * sizeof(int32_t));
  if (shape != refShape) {
    c.pass = false;
    c.note = "shape differs from the reference's " + shapeName(refShape);
    return c;
  }
  if (c.isInt) {
    for (size_t e = 0; e < wantInts.size(); ++e)
      c.mismatches += gotInts[e] != wantInts[e];
    c.pass = c.mismatches == 0;
    return c;
  }
  double maxRef = 0.0, maxErr = 0.0;
  for (size_t e = 0; e < want.size(); ++e) {
    double a = got[e], r = want[e];
    if (!std::isfinite(a) || !std::isfinite(r)) {
      bool same = (std::isnan(a) && std::isnan(r)) || a == r;
      c.mismatches += !same;
      continue;
    }
    maxRef = std::max(maxRef, std::fabs(r));
    maxErr = std::max(maxErr, std::fabs(a - r));
  }
  c.error = maxRef > 0.0 ? maxErr / maxRef : maxErr;
  c.pass = c.mismatches == 0 && c.error <= c.tolerance;
  if (c.mismatches)
    c.note = std::to_string(c.mismatches) + " non-finite values differ";
  return c;
}

OutputCheck compareStore(std::string name, Type type, std::vector<int64_t> shape,
                         const std::vector<float> &got, const std::vector<float> &want,
                         std::optional<double> tolerance) {
  return compare(std::move(name), type, shape, shape, got, want, {}, {}, tolerance);
}

std::vector<int64_t> storeShape(const ref::PagedStore &s) {
  return {s.numPages, s.pageSize, s.numHeads, s.headDim};
}

} // namespace

std::vector<OutputCheck> salac::runner::checkOutputs(
    const BlockSignature &sig, const std::vector<HostValue> &refResults,
    const std::vector<HostTensor> &results, const std::vector<HostValue> &refArgs,
    const std::vector<HostValue> &jitArgs, std::optional<double> tolerance) {
  std::vector<OutputCheck> checks;
  func::FuncOp fn = sig.func;
  if (!tolerance)
    tolerance = toleranceFor(blockPrecision(fn));
  Operation *ret = fn.getBody().front().getTerminator();
  for (size_t i = 0; i < results.size() && i < refResults.size(); ++i) {
    Value v = ret->getOperand(i);
    std::string name = "result #" + std::to_string(i);
    if (Operation *def = v.getDefiningOp())
      name += " (" + def->getName().getStringRef().str() + ")";
    HostTensor want = refResults[i].kind == HostValue::Kind::Scores
                          ? scoresToTensor(refResults[i].scores)
                          : refResults[i].tensor;
    const HostTensor &got = results[i];
    checks.push_back(compare(name, got.elementType, got.shape, want.shape, got.f, want.f,
                             got.i, want.i, tolerance));
  }
  for (size_t a = 0; a < sig.args.size(); ++a) {
    if (!sig.args[a].written)
      continue;
    const HostValue &want = refArgs[a], &got = jitArgs[a];
    std::string name = "arg #" + std::to_string(a) + " ";
    switch (want.kind) {
    case HostValue::Kind::KVCache:
      checks.push_back(compareStore(name + "kv cache K", want.elementType,
                                    storeShape(want.kv.k), got.kv.k.data, want.kv.k.data,
                                    tolerance));
      checks.push_back(compareStore(name + "kv cache V", want.elementType,
                                    storeShape(want.kv.v), got.kv.v.data, want.kv.v.data,
                                    tolerance));
      break;
    case HostValue::Kind::CompressedKeys:
      checks.push_back(compareStore(name + "compressed keys", want.elementType,
                                    storeShape(want.keys.store), got.keys.store.data,
                                    want.keys.store.data, tolerance));
      break;
    case HostValue::Kind::StatePool:
      checks.push_back(compareStore(
          name + "state pool", want.elementType,
          {want.pool.numSlots, want.pool.numHeads, want.pool.headDim, want.pool.headDim},
          got.pool.data, want.pool.data, tolerance));
      break;
    default:
      break;
    }
  }
  return checks;
}

void salac::runner::printChecks(llvm::raw_ostream &os,
                                const std::vector<OutputCheck> &checks, bool checksums) {
  for (const OutputCheck &c : checks) {
    os << llvm::formatv("  {0,-34} {1,-14} {2,-5} ", c.name, c.shape, c.type);
    if (c.isInt)
      os << llvm::formatv("mismatches {0,-8} exact     ", c.mismatches);
    else
      os << llvm::formatv("max rel err {0,-9:e2} tol {1:e1} ", c.error, c.tolerance);
    os << (c.pass ? " PASS" : " FAIL");
    if (checksums)
      os << "  checksum " << llvm::format_hex_no_prefix(c.checksum, 16);
    if (!c.note.empty())
      os << "  (" << c.note << ")";
    os << "\n";
  }
}
