//===- Common.h - salac reference: status, bf16, batch and cache views ----===//
//
// Plain C++17 reference semantics of every sala op (no LLVM/MLIR). This header
// holds the shared vocabulary: Status, bf16 rounding, the ragged-batch metadata,
// paged stores with their page tables (KV cache, compressed keys) and the
// linear-attention state pool. All layouts are the kernel layouts of
// docs/DESIGN.md section 4:
//
//   activations       [T, H, D] row-major; T = tokens of a ragged batch packed
//   paged store       [P, pageSize, heads, D]; logical entry e of sequence b
//                     lives in page table(b, e / pageSize), row e % pageSize
//   page table        [B, maxPages] int32, physical page indices
//   state pool        [slots, H, D, D] float, S[h][dk][dv] (key-dim major)
//
// Every op validates its inputs (sizes, page indices, lengths) before it
// writes anything and reports problems through Status; nothing throws and
// nothing reads or writes out of bounds. All arithmetic accumulates in double.
//
//===----------------------------------------------------------------------===//

#ifndef SALAC_REFERENCE_COMMON_H
#define SALAC_REFERENCE_COMMON_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace salac::ref {

/// Success, or an error with a human-readable message naming the offending
/// argument and values.
class [[nodiscard]] Status {
public:
  Status() = default;
  static Status success() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  /// Empty on success.
  const std::string &message() const { return message_; }

private:
  bool ok_ = true;
  std::string message_;
};

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

/// The bf16 value nearest to `x` (round to nearest, ties to even), returned as
/// a float. NaN stays NaN, infinities stay infinite, overflow goes to inf.
float roundToBF16(float x);
/// Correctly rounded double -> bf16 (no double rounding through float).
float roundToBF16(double x);
/// Rounds every element in place.
void roundToBF16(std::vector<float> &xs);
/// True when `x` is exactly representable in bf16.
bool isBF16(float x);

//===----------------------------------------------------------------------===//
// Ragged batch
//===----------------------------------------------------------------------===//

/// The metadata of a ragged batch, as serving engines pass it.
///
/// Sequence b owns query rows cuSeqlensQ[b] .. cuSeqlensQ[b+1]-1 of every
/// [T, ...] activation. seqLens[b] is its total KV length *after* this step's
/// tokens were appended, so its new tokens have positions
/// seqLens[b]-qLen(b) .. seqLens[b]-1 (position = index in the sequence).
struct RaggedBatch {
  std::vector<int32_t> cuSeqlensQ; ///< [B+1], starts at 0, non-decreasing
  std::vector<int32_t> seqLens;    ///< [B], seqLens[b] >= qLen(b)

  /// Builds cuSeqlensQ from per-sequence query lengths.
  static RaggedBatch fromLengths(const std::vector<int32_t> &qLens,
                                 const std::vector<int32_t> &seqLens);

  int64_t numSeqs() const { return static_cast<int64_t>(seqLens.size()); }
  /// T (0 for an empty batch).
  int64_t numTokens() const {
    return cuSeqlensQ.empty() ? 0 : cuSeqlensQ.back();
  }
  int64_t qStart(int64_t b) const { return cuSeqlensQ[b]; }
  int64_t qLen(int64_t b) const { return cuSeqlensQ[b + 1] - cuSeqlensQ[b]; }
  /// Tokens cached before this step: seqLens[b] - qLen(b).
  int64_t historyLen(int64_t b) const { return seqLens[b] - qLen(b); }

  /// Checks cuSeqlensQ.size() == B+1, cuSeqlensQ[0] == 0, monotonic, and
  /// 0 <= qLen(b) <= seqLens[b].
  Status validate() const;
  /// Position of every token row, [T].
  std::vector<int64_t> tokenPositions() const;
  /// Sequence index of every token row, [T].
  std::vector<int32_t> tokenSequences() const;
};

/// max over b of ceil(seqLens[b] / blockSize); 0 for an empty batch.
int64_t maxBlocks(const RaggedBatch &batch, int64_t blockSize);

//===----------------------------------------------------------------------===//
// Paged stores
//===----------------------------------------------------------------------===//

/// A pool of pages holding per-token rows of `numHeads x headDim` floats:
/// data is [numPages, pageSize, numHeads, headDim] row-major.
struct PagedStore {
  int64_t numPages = 0;
  int64_t pageSize = 0;
  int64_t numHeads = 0;
  int64_t headDim = 0;
  std::vector<float> data;

  static PagedStore zeros(int64_t numPages, int64_t pageSize, int64_t numHeads,
                          int64_t headDim);
  int64_t rowWidth() const { return numHeads * headDim; }
  /// Offset of (page, row, head 0, dim 0) in data; no checks.
  size_t rowOffset(int64_t page, int64_t row) const {
    return static_cast<size_t>((page * pageSize + row) * rowWidth());
  }
  /// Positive sizes and data.size() == numPages*pageSize*numHeads*headDim.
  Status validate(const char *what) const;
};

/// Per-sequence logical page -> physical page map, [numSeqs, maxPages].
struct PageTable {
  int64_t maxPages = 0;
  std::vector<int32_t> pages;

  int64_t numSeqs() const {
    return maxPages > 0 ? static_cast<int64_t>(pages.size()) / maxPages : 0;
  }
  int32_t at(int64_t b, int64_t logicalPage) const {
    return pages[static_cast<size_t>(b * maxPages + logicalPage)];
  }
};

/// Checks that entries [0, count) of sequence b are mapped: the table has a
/// row for b, ceil(count/pageSize) <= maxPages, and every physical page used is
/// in [0, store.numPages). `what` names the store in the message.
Status checkMapped(const PagedStore &store, const PageTable &table, int64_t b,
                   int64_t count, const char *what);

/// Offset in store.data of logical entry `entry` of sequence b. The caller
/// must have checked the mapping with checkMapped.
size_t entryOffset(const PagedStore &store, const PageTable &table, int64_t b,
                   int64_t entry);

/// Reads logical entries [0, count) of sequence b into a contiguous
/// [count, numHeads, headDim] array.
Status gatherEntries(const PagedStore &store, const PageTable &table, int64_t b,
                     int64_t count, std::vector<float> &out);

/// The paged KV cache of one sparse layer: K and V separate pools of identical
/// geometry [P, pageSize, KVH, D], sharing one page table.
struct PagedKVCache {
  PagedStore k;
  PagedStore v;
  PageTable table;

  Status validate() const;
};

/// A compressed-keys store (K1 or K2): entry i of a sequence is the mean of
/// K rows [stride*i, stride*i + kernel - 1]. Paged with its own page table.
struct CompressedKeys {
  int64_t kernel = 0;
  int64_t stride = 0;
  PagedStore store; ///< [P2, pageSize2, KVH, D]
  PageTable table;

  Status validate(const char *what) const;
};

/// Number of complete compression windows in the first n tokens:
/// floor((n - kernel) / stride) + 1, or 0 when n < kernel.
int64_t numCompressed(int64_t n, int64_t kernel, int64_t stride);

//===----------------------------------------------------------------------===//
// Linear-attention state pool
//===----------------------------------------------------------------------===//

/// data is [numSlots, numHeads, headDim, headDim] float, S[h][dk][dv].
struct StatePool {
  int64_t numSlots = 0;
  int64_t numHeads = 0;
  int64_t headDim = 0;
  std::vector<float> data;

  static StatePool zeros(int64_t numSlots, int64_t numHeads, int64_t headDim);
  size_t slotSize() const {
    return static_cast<size_t>(numHeads * headDim * headDim);
  }
  Status validate() const;
};

} // namespace salac::ref

#endif // SALAC_REFERENCE_COMMON_H
