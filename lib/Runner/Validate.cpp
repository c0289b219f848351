//===- Validate.cpp - check a block's inputs before anything runs ---------===//
//
// The JIT-compiled loops index buffers with the batch metadata, page tables
// and slots as given (AddressSanitizer does not see JIT code), so every such
// value is checked here first. Messages name the argument, the entry and the
// flag that changes it.
//
//===----------------------------------------------------------------------===//
#include "Workload.h"

#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <set>

using namespace mlir;
using namespace salac;
using namespace salac::runner;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

static llvm::Error checkShape(unsigned i, const ArgInfo &info, const HostTensor &t,
                              std::vector<int64_t> expected) {
  auto type = cast<RankedTensorType>(info.type);
  bool ok = t.shape == expected && int64_t(type.getRank()) == int64_t(expected.size());
  for (int64_t d = 0; ok && d < type.getRank(); ++d)
    ok = type.isDynamicDim(d) || type.getDimSize(d) == expected[d];
  size_t elements = t.isInt() ? t.i.size() : t.f.size();
  if (ok && elements == size_t(t.numElements()))
    return llvm::Error::success();
  return fail(llvm::formatv("argument #{0} ({1}, type {2}) would be {3}, but the batch "
                            "needs {4}",
                            i, info.use, typeName(info.type), shapeName(t.shape),
                            shapeName(expected)));
}

/// Page table `t` (argument i) maps `counts[b]` entries of each sequence into
/// a pool of `poolPages` pages of `pageSize` entries.
static llvm::Error checkPageTable(unsigned i, unsigned storeArg, bool isCache,
                                  const HostTensor &t, const std::vector<int64_t> &counts,
                                  int64_t pageSize, int64_t poolPages) {
  const char *store = isCache ? "KV cache" : "compressed keys";
  int64_t width = t.shape[1];
  for (size_t b = 0; b < counts.size(); ++b) {
    int64_t needed = (counts[b] + pageSize - 1) / pageSize;
    if (needed > width)
      return fail(llvm::formatv(
          "sequence {0} holds {1} {2} but the {3} page table (argument #{4}) has {5} "
          "pages of {6} per sequence (capacity {7}){8}",
          b, counts[b], isCache ? "tokens" : "compressed keys", store, i, width, pageSize,
          width * pageSize, isCache ? "; see --max-pages" : ""));
    for (int64_t p = 0; p < needed; ++p) {
      int32_t page = t.i[b * width + p];
      if (page < 0 || page >= poolPages)
        return fail(llvm::formatv("page_table[{0}][{1}] = {2} (argument #{3}) is outside "
                                  "the {4} pool of {5} pages (argument #{6}){7}",
                                  b, p, page, i, store, poolPages, storeArg,
                                  isCache ? "; see --pool-pages" : ""));
    }
  }
  return llvm::Error::success();
}

llvm::Error salac::runner::validateWorkload(const BlockSignature &sig,
                                            const Workload &work) {
  const ref::RaggedBatch &batch = work.batch;
  ref::Status st = batch.validate();
  if (!st.ok())
    return fail(st.message());
  const int64_t T = batch.numTokens(), B = batch.numSeqs();
  if (B == 0)
    return fail("the batch has no sequence");
  for (unsigned i = 0; i < sig.args.size(); ++i) {
    const ArgInfo &info = sig.args[i];
    const HostValue &v = work.args[i];
    const HostTensor &t = v.tensor;
    switch (info.role) {
    case ArgRole::Activation: {
      auto type = cast<RankedTensorType>(info.type);
      if (auto err = checkShape(i, info, t, {T, type.getDimSize(1), type.getDimSize(2)}))
        return err;
      break;
    }
    case ArgRole::Weight:
      if (auto err = checkShape(i, info, t,
                                {cast<RankedTensorType>(info.type).getDimSize(0)}))
        return err;
      break;
    case ArgRole::CuSeqlens:
      if (auto err = checkShape(i, info, t, {B + 1}))
        return err;
      if (t.i != batch.cuSeqlensQ)
        return fail(llvm::formatv("argument #{0} ({1}) differs from the batch", i,
                                  info.use));
      break;
    case ArgRole::SeqLens:
      if (auto err = checkShape(i, info, t, {B}))
        return err;
      if (t.i != batch.seqLens)
        return fail(llvm::formatv("argument #{0} ({1}) differs from the batch", i,
                                  info.use));
      break;
    case ArgRole::Positions:
      if (auto err = checkShape(i, info, t, {T}))
        return err;
      break;
    case ArgRole::Slots: {
      if (auto err = checkShape(i, info, t, {B}))
        return err;
      std::set<int32_t> seen;
      for (unsigned p = 0; p < sig.args.size(); ++p) {
        if (sig.args[p].role != ArgRole::StatePool)
          continue;
        int64_t slots = work.args[p].pool.numSlots;
        for (int64_t b = 0; b < B; ++b)
          if (t.i[b] < 0 || t.i[b] >= slots)
            return fail(llvm::formatv("slots[{0}] = {1} (argument #{2}) is outside the "
                                      "state pool of {3} slots (argument #{4}); see "
                                      "--pool-slots",
                                      b, t.i[b], i, slots, p));
      }
      for (int64_t b = 0; b < B; ++b)
        if (!seen.insert(t.i[b]).second)
          return fail(llvm::formatv("slot {0} (argument #{1}) is used by two sequences",
                                    t.i[b], i));
      break;
    }
    case ArgRole::PageTable: {
      if (t.shape.size() != 2 || t.shape[0] != B)
        return fail(llvm::formatv("argument #{0} ({1}) has {2} rows for {3} sequences", i,
                                  info.use, t.shape.empty() ? 0 : t.shape[0], B));
      const HostValue &store = work.args[info.store];
      std::vector<int64_t> counts;
      if (store.kind == HostValue::Kind::KVCache) {
        for (int32_t n : batch.seqLens)
          counts.push_back(n);
        if (auto err = checkPageTable(i, info.store, true, t, counts,
                                      store.kv.k.pageSize, store.kv.k.numPages))
          return err;
      } else {
        for (int32_t n : batch.seqLens)
          counts.push_back(ref::numCompressed(n, store.keys.kernel, store.keys.stride));
        if (auto err = checkPageTable(i, info.store, false, t, counts,
                                      store.keys.store.pageSize, store.keys.store.numPages))
          return err;
      }
      break;
    }
    case ArgRole::BlockScores: {
      int64_t needed = ref::maxBlocks(batch, info.blockSize);
      if (t.shape.size() != 3 || t.shape[0] != T || t.shape[2] < needed)
        return fail(llvm::formatv("argument #{0} ({1}) is {2} but must cover {3} tokens "
                                  "and {4} blocks",
                                  i, info.use, shapeName(t.shape), T, needed));
      break;
    }
    case ArgRole::BlockIndices: {
      if (t.shape.size() != 3 || t.shape[0] != T)
        return fail(llvm::formatv("argument #{0} ({1}) is {2} for {3} tokens", i, info.use,
                                  shapeName(t.shape), T));
      int64_t k = t.shape[2];
      for (int64_t r = 0; r < t.numElements() / k; ++r)
        for (int64_t s = 0, last = -1; s < k; ++s) {
          int32_t j = t.i[r * k + s];
          if (j == -1)
            continue;
          if (j <= last)
            return fail(llvm::formatv("argument #{0} ({1}): entry {2} of row {3} is {4}; "
                                      "indices must be -1 or ascending",
                                      i, info.use, s, r, j));
          last = j;
        }
      break;
    }
    case ArgRole::KVCache:
    case ArgRole::CompressedKeys:
    case ArgRole::StatePool:
      break; // checked through their page tables and slots
    }
  }
  return llvm::Error::success();
}
