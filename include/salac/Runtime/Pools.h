//===- Pools.h - Paged KV / compressed-key pools and state slots -*- C++ -*-===//
//
// Host-side bookkeeping of the caches of DESIGN.md section 4. Nothing here
// touches a GPU: the classes hand out page and slot indices; device memory is
// allocated separately (salart_pool_allocate_device) with this layout:
//
//   KV pool, per layer:        K and V, each [num_pages][page_size][heads][head_dim]
//   compressed keys, per layer: K only,  [num_pages][page_size][heads][head_dim]
//   linear state, per layer:   [num_slots][heads][head_dim][head_dim] fp32
//
// so physical page p of a buffer starts at p * pageBytes(). The classes are
// not thread-safe; the C API serialises calls on one pool.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_POOLS_H
#define SALAC_RUNTIME_POOLS_H

#include "salac/Runtime/Status.h"

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace salac::rt {

/// Compressed entries over n tokens with window `kernel` and `stride`
/// (DESIGN.md 2.1): n < kernel ? 0 : (n - kernel) / stride + 1.
int64_t compressedEntryCount(int64_t n, int64_t kernel, int64_t stride);

struct PageGeometry {
  int64_t pageSize = 64; // tokens (KV) or compressed entries per page
  int64_t heads = 2;
  int64_t headDim = 128;
  int64_t elemBytes = 2;
  int64_t numPages = 0;
};

/// A pool of fixed-size pages shared by many sequences; each sequence owns an
/// ordered list of physical pages (its page table row).
class PagedCache {
public:
  enum class Kind { KV, CompressedKeys };

  static Status createKv(const PageGeometry &geometry,
                         std::unique_ptr<PagedCache> &out);
  /// Pages hold compressed-key entries; reserve() still takes token counts.
  static Status createCompressedKeys(const PageGeometry &geometry,
                                     int64_t kernel, int64_t stride,
                                     std::unique_ptr<PagedCache> &out);

  /// Makes `seq` (created on first use) cover `tokens` tokens, adding pages as
  /// needed. All or nothing: on exhaustion no page is taken. Like
  /// std::vector::reserve it never shrinks: a smaller count is a no-op.
  Status reserve(int64_t seq, int64_t tokens);
  /// Returns the sequence's pages to the pool and forgets it.
  Status release(int64_t seq);

  bool contains(int64_t seq) const { return seqs_.count(seq) != 0; }
  /// Tokens reserved for `seq` (0 if unknown).
  int64_t seqTokens(int64_t seq) const;
  /// Physical pages of `seq` in logical order, or nullptr if unknown.
  const std::vector<int32_t> *seqPages(int64_t seq) const;

  /// Tokens for a KV pool, compressed entries for a compressed-key store.
  int64_t unitsForTokens(int64_t tokens) const;
  int64_t pagesForTokens(int64_t tokens) const;

  /// The widest page-table row among `seqs`.
  Status maxPages(const int64_t *seqs, int64_t batch, int64_t &out) const;
  /// Writes int32 [batch][maxPages], row b = pages of seqs[b] then `pad`.
  /// A sequence with more than maxPages pages is an error.
  Status pageTable(const int64_t *seqs, int64_t batch, int64_t maxPages,
                   int32_t pad, int32_t *out) const;

  Kind kind() const { return kind_; }
  const char *what() const;
  const PageGeometry &geometry() const { return geo_; }
  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_; }
  int64_t numPages() const { return geo_.numPages; }
  int64_t freePages() const { return int64_t(free_.size()); }
  int64_t numSeqs() const { return int64_t(seqs_.size()); }
  /// Bytes of one page of one tensor (K, or V) of one layer.
  int64_t pageBytes() const;
  /// Tensors per layer: K and V for KV, K only for compressed keys.
  int tensorsPerLayer() const { return kind_ == Kind::KV ? 2 : 1; }

private:
  struct Seq {
    int64_t tokens = 0;
    std::vector<int32_t> pages;
  };
  PagedCache(Kind kind, const PageGeometry &geo, int64_t kernel,
             int64_t stride);
  static Status checkGeometry(const PageGeometry &geo, const char *what);

  Kind kind_;
  PageGeometry geo_;
  int64_t kernel_ = 0, stride_ = 0;
  std::vector<int32_t> free_; // a stack; the next page handed out is back()
  std::unordered_map<int64_t, Seq> seqs_;
};

/// Slots of linear-attention state (heads x head_dim x head_dim fp32 each);
/// a request holds one slot index for its lifetime.
class StateSlotPool {
public:
  static Status create(int64_t heads, int64_t headDim, int64_t numSlots,
                       std::unique_ptr<StateSlotPool> &out);

  Status acquire(int32_t &slot);
  Status release(int32_t slot);
  bool inUse(int32_t slot) const;

  int64_t numSlots() const { return int64_t(used_.size()); }
  int64_t freeSlots() const { return int64_t(free_.size()); }
  int64_t heads() const { return heads_; }
  int64_t headDim() const { return headDim_; }
  /// Bytes of one slot of one layer.
  int64_t slotBytes() const { return heads_ * headDim_ * headDim_ * 4; }

private:
  StateSlotPool(int64_t heads, int64_t headDim, int64_t numSlots);
  int64_t heads_, headDim_;
  std::vector<int32_t> free_;
  std::vector<bool> used_;
};

} // namespace salac::rt

#endif // SALAC_RUNTIME_POOLS_H
