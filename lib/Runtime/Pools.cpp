//===- Pools.cpp - Paged KV / compressed-key pools and state slots --------===//

#include "salac/Runtime/Pools.h"

#include <algorithm>
#include <climits>

namespace salac::rt {

int64_t compressedEntryCount(int64_t n, int64_t kernel, int64_t stride) {
  if (kernel <= 0 || stride <= 0 || n < kernel)
    return 0;
  return (n - kernel) / stride + 1;
}

// --- PagedCache -------------------------------------------------------------

PagedCache::PagedCache(Kind kind, const PageGeometry &geo, int64_t kernel,
                       int64_t stride)
    : kind_(kind), geo_(geo), kernel_(kernel), stride_(stride) {
  // Hand pages out in increasing order on a fresh pool: easier to read in
  // tests and dumps, and neighbouring sequences' pages end up adjacent.
  free_.resize(size_t(geo.numPages));
  for (int64_t i = 0; i < geo.numPages; ++i)
    free_[size_t(i)] = int32_t(geo.numPages - 1 - i);
}

Status PagedCache::checkGeometry(const PageGeometry &g, const char *what) {
  auto bad = [&](const char *field, int64_t v, const char *rule) {
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: %s = %lld %s", what, field,
                                   (long long)v, rule));
  };
  if (g.pageSize < 1)
    return bad("page_size", g.pageSize, "must be at least 1");
  if (g.heads < 1)
    return bad("heads", g.heads, "must be at least 1");
  if (g.headDim < 1)
    return bad("head_dim", g.headDim, "must be at least 1");
  if (g.elemBytes < 1 || g.elemBytes > 16)
    return bad("elem_bytes", g.elemBytes, "must be in [1, 16]");
  // Page ids go into int32 page tables.
  if (g.numPages < 0 || g.numPages > INT32_MAX)
    return bad("num_pages", g.numPages, "must be in [0, 2^31-1]");
  if ((__int128)g.pageSize * g.heads * g.headDim * g.elemBytes > INT32_MAX)
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: one page (%lld x %lld x %lld x %lld "
                                   "bytes) is larger than 2 GiB",
                                   what, (long long)g.pageSize,
                                   (long long)g.heads, (long long)g.headDim,
                                   (long long)g.elemBytes));
  return Status();
}

Status PagedCache::createKv(const PageGeometry &geo,
                            std::unique_ptr<PagedCache> &out) {
  SALART_TRY(checkGeometry(geo, "KV pool"));
  out.reset(new PagedCache(Kind::KV, geo, 0, 0));
  return Status();
}

Status PagedCache::createCompressedKeys(const PageGeometry &geo,
                                        int64_t kernel, int64_t stride,
                                        std::unique_ptr<PagedCache> &out) {
  SALART_TRY(checkGeometry(geo, "compressed-key store"));
  if (kernel < 1 || stride < 1)
    return Status::error(Code::InvalidArgument,
                         strFormat("compressed-key store: kernel = %lld and "
                                   "stride = %lld must both be at least 1",
                                   (long long)kernel, (long long)stride));
  out.reset(new PagedCache(Kind::CompressedKeys, geo, kernel, stride));
  return Status();
}

const char *PagedCache::what() const {
  return kind_ == Kind::KV ? "KV pool" : "compressed-key store";
}

int64_t PagedCache::pageBytes() const {
  return geo_.pageSize * geo_.heads * geo_.headDim * geo_.elemBytes;
}

int64_t PagedCache::unitsForTokens(int64_t tokens) const {
  return kind_ == Kind::KV ? tokens
                           : compressedEntryCount(tokens, kernel_, stride_);
}

int64_t PagedCache::pagesForTokens(int64_t tokens) const {
  int64_t units = unitsForTokens(tokens);
  return (units + geo_.pageSize - 1) / geo_.pageSize;
}

int64_t PagedCache::seqTokens(int64_t seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.tokens;
}

const std::vector<int32_t> *PagedCache::seqPages(int64_t seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? nullptr : &it->second.pages;
}

Status PagedCache::reserve(int64_t seq, int64_t tokens) {
  if (tokens < 0)
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: reserve(seq %lld, %lld tokens): the "
                                   "length is negative",
                                   what(), (long long)seq, (long long)tokens));
  auto it = seqs_.find(seq);
  int64_t have = it == seqs_.end() ? 0 : int64_t(it->second.pages.size());
  int64_t oldTokens = it == seqs_.end() ? 0 : it->second.tokens;
  if (tokens <= oldTokens) {
    if (it == seqs_.end())
      seqs_.emplace(seq, Seq());
    return Status();
  }
  int64_t need = pagesForTokens(tokens) - have;
  if (need > freePages())
    return Status::error(
        Code::Exhausted,
        strFormat("%s exhausted: need %lld more pages, %lld free of %lld "
                  "(sequence %lld growing from %lld to %lld tokens, page "
                  "size %lld)",
                  what(), (long long)need, (long long)freePages(),
                  (long long)numPages(), (long long)seq, (long long)oldTokens,
                  (long long)tokens, (long long)geo_.pageSize));
  Seq &s = seqs_[seq];
  for (int64_t i = 0; i < need; ++i) {
    s.pages.push_back(free_.back());
    free_.pop_back();
  }
  s.tokens = tokens;
  return Status();
}

Status PagedCache::release(int64_t seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end())
    return Status::error(Code::NotFound,
                         strFormat("%s: release of unknown sequence %lld",
                                   what(), (long long)seq));
  // Reverse, so that the next sequence gets these pages in the same order.
  const auto &pages = it->second.pages;
  free_.insert(free_.end(), pages.rbegin(), pages.rend());
  seqs_.erase(it);
  return Status();
}

Status PagedCache::maxPages(const int64_t *seqs, int64_t batch,
                            int64_t &out) const {
  if (batch < 0 || (batch > 0 && !seqs))
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: page table: bad batch of %lld "
                                   "sequences",
                                   what(), (long long)batch));
  out = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const auto *pages = seqPages(seqs[b]);
    if (!pages)
      return Status::error(Code::NotFound,
                           strFormat("%s: page table: unknown sequence %lld "
                                     "(batch index %lld)",
                                     what(), (long long)seqs[b], (long long)b));
    out = std::max(out, int64_t(pages->size()));
  }
  return Status();
}

Status PagedCache::pageTable(const int64_t *seqs, int64_t batch,
                             int64_t maxPagesPerSeq, int32_t pad,
                             int32_t *out) const {
  int64_t widest;
  SALART_TRY(maxPages(seqs, batch, widest));
  if (batch > 0 && !out)
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: page table: output is null", what()));
  if (maxPagesPerSeq < widest) {
    for (int64_t b = 0; b < batch; ++b)
      if (int64_t(seqPages(seqs[b])->size()) == widest)
        return Status::error(
            Code::InvalidArgument,
            strFormat("%s: page table: sequence %lld (batch index %lld) "
                      "holds %lld pages but max_pages is %lld",
                      what(), (long long)seqs[b], (long long)b,
                      (long long)widest, (long long)maxPagesPerSeq));
  }
  for (int64_t b = 0; b < batch; ++b) {
    const auto &pages = *seqPages(seqs[b]);
    int32_t *row = out + b * maxPagesPerSeq;
    std::copy(pages.begin(), pages.end(), row);
    std::fill(row + pages.size(), row + maxPagesPerSeq, pad);
  }
  return Status();
}

// --- StateSlotPool ----------------------------------------------------------

StateSlotPool::StateSlotPool(int64_t heads, int64_t headDim, int64_t numSlots)
    : heads_(heads), headDim_(headDim), used_(size_t(numSlots), false) {
  free_.resize(size_t(numSlots));
  for (int64_t i = 0; i < numSlots; ++i)
    free_[size_t(i)] = int32_t(numSlots - 1 - i);
}

Status StateSlotPool::create(int64_t heads, int64_t headDim, int64_t numSlots,
                             std::unique_ptr<StateSlotPool> &out) {
  if (heads < 1 || headDim < 1 || numSlots < 0 || numSlots > INT32_MAX)
    return Status::error(Code::InvalidArgument,
                         strFormat("linear-state pool: heads = %lld, head_dim "
                                   "= %lld, num_slots = %lld: need heads, "
                                   "head_dim >= 1 and 0 <= num_slots < 2^31",
                                   (long long)heads, (long long)headDim,
                                   (long long)numSlots));
  if ((__int128)heads * headDim * headDim * 4 > INT64_MAX / 2)
    return Status::error(Code::InvalidArgument,
                         "linear-state pool: slot size overflows");
  out.reset(new StateSlotPool(heads, headDim, numSlots));
  return Status();
}

Status StateSlotPool::acquire(int32_t &slot) {
  if (free_.empty())
    return Status::error(Code::Exhausted,
                         strFormat("linear-state pool exhausted: all %lld "
                                   "slots are in use",
                                   (long long)numSlots()));
  slot = free_.back();
  free_.pop_back();
  used_[size_t(slot)] = true;
  return Status();
}

bool StateSlotPool::inUse(int32_t slot) const {
  return slot >= 0 && slot < numSlots() && used_[size_t(slot)];
}

Status StateSlotPool::release(int32_t slot) {
  if (slot < 0 || slot >= numSlots())
    return Status::error(Code::InvalidArgument,
                         strFormat("linear-state pool: release of slot %d, "
                                   "outside [0, %lld)",
                                   slot, (long long)numSlots()));
  if (!used_[size_t(slot)])
    return Status::error(Code::InvalidArgument,
                         strFormat("linear-state pool: release of slot %d, "
                                   "which is not in use",
                                   slot));
  used_[size_t(slot)] = false;
  free_.push_back(slot);
  return Status();
}

} // namespace salac::rt
