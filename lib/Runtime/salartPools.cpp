//===- salartPools.cpp - The C API of the KV, key and state pools ---------===//
//
// Wraps the GPU-free pool classes of Pools.h; device buffers are a separate,
// optional step (allocate_device), so the bookkeeping runs anywhere.
//
//===----------------------------------------------------------------------===//

#include "CApi.h"
#include "salac/Runtime/Pools.h"

#include <algorithm>
#include <climits>
#include <mutex>

using namespace salac::rt;
using namespace salac::rt::capi;

namespace {

/// Device buffers of a pool: one allocation of `layers` x per-layer blocks.
struct DeviceBlock {
  std::shared_ptr<Context> ctx;
  CUdeviceptr base = 0;
  int64_t layers = 0;
  int64_t layerBytes = 0; // bytes of one layer's tensors (K, or K and V)

  ~DeviceBlock() {
    if (base)
      (void)ctx->free(base);
  }
  /// Destroying the buffers frees memory, which a capture forbids.
  Status checkDestroy(const char *what) const {
    if (!base)
      return Status();
    return ctx->checkNotCapturing(
        strFormat("destroying the %s (cuMemFree)", what).c_str());
  }
  Status allocate(salart_context *c, int64_t numLayers, int64_t bytesPerLayer,
                  const char *what) {
    if (!c)
      return Status::error(Code::InvalidArgument,
                           strFormat("%s: context is null", what));
    if (base)
      return Status::error(Code::InvalidArgument,
                           strFormat("%s already has device buffers", what));
    if (numLayers < 1 || bytesPerLayer < 1)
      return Status::error(Code::InvalidArgument,
                           strFormat("%s: nothing to allocate (%lld layers of "
                                     "%lld bytes)",
                                     what, (long long)numLayers,
                                     (long long)bytesPerLayer));
    __int128 total = (__int128)numLayers * bytesPerLayer;
    if (total > (__int128)(SIZE_MAX / 2))
      return Status::error(Code::InvalidArgument,
                           strFormat("%s: %lld layers of %lld bytes overflow",
                                     what, (long long)numLayers,
                                     (long long)bytesPerLayer));
    CUdeviceptr p = 0;
    SALART_TRY(c->ctx->alloc(size_t(total), p).prefix(what));
    // Zeroed: stale data from an earlier allocation must never look like a
    // valid cache entry or state.
    Status s = c->ctx->memsetD8(p, 0, size_t(total));
    if (!s.ok()) {
      (void)c->ctx->free(p);
      return s.prefix(what);
    }
    ctx = c->ctx;
    base = p;
    layers = numLayers;
    layerBytes = bytesPerLayer;
    return Status();
  }
  Status layerBase(int64_t layer, const char *what, CUdeviceptr &out) const {
    if (!base)
      return Status::error(Code::InvalidArgument,
                           strFormat("%s has no device buffers (call "
                                     "allocate_device first)",
                                     what));
    if (layer < 0 || layer >= layers)
      return Status::error(Code::InvalidArgument,
                           strFormat("%s: layer %lld outside [0, %lld)", what,
                                     (long long)layer, (long long)layers));
    out = base + CUdeviceptr(layer * layerBytes);
    return Status();
  }
};

} // namespace

// A mutex per pool: a serving engine may reserve from its scheduler thread
// while another thread builds page tables.
struct salart_pool {
  std::mutex mu;
  std::unique_ptr<PagedCache> cache;
  DeviceBlock device;
};

struct salart_state_pool {
  std::mutex mu;
  std::unique_ptr<StateSlotPool> slots;
  DeviceBlock device;
};

extern "C" {

// ---- Paged pools -------------------------------------------------------------

int salart_kv_pool_create(int64_t page_size, int64_t heads, int64_t head_dim,
                          int64_t elem_bytes, int64_t num_pages,
                          salart_pool **out) {
  SALART_BEGIN
  SALART_REQUIRE(out);
  auto pool = std::make_unique<salart_pool>();
  PageGeometry g{page_size, heads, head_dim, elem_bytes, num_pages};
  SALART_TRY(PagedCache::createKv(g, pool->cache));
  *out = pool.release();
  return Status();
  SALART_END
}

int salart_ckey_pool_create(int64_t page_size, int64_t heads, int64_t head_dim,
                            int64_t elem_bytes, int64_t num_pages,
                            int64_t kernel, int64_t stride, salart_pool **out) {
  SALART_BEGIN
  SALART_REQUIRE(out);
  auto pool = std::make_unique<salart_pool>();
  PageGeometry g{page_size, heads, head_dim, elem_bytes, num_pages};
  SALART_TRY(
      PagedCache::createCompressedKeys(g, kernel, stride, pool->cache));
  *out = pool.release();
  return Status();
  SALART_END
}

int salart_pool_destroy(salart_pool *pool) {
  SALART_BEGIN
  if (pool)
    SALART_TRY(pool->device.checkDestroy("pool's device buffers"));
  delete pool;
  return Status();
  SALART_END
}

int salart_pool_reserve(salart_pool *pool, int64_t seq, int64_t num_tokens) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  return pool->cache->reserve(seq, num_tokens);
  SALART_END
}

int salart_pool_release(salart_pool *pool, int64_t seq) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  return pool->cache->release(seq);
  SALART_END
}

int salart_pool_free_pages(salart_pool *pool, int64_t *count) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(count);
  std::lock_guard<std::mutex> lock(pool->mu);
  *count = pool->cache->freePages();
  return Status();
  SALART_END
}

int salart_pool_num_pages(salart_pool *pool, int64_t *count) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(count);
  *count = pool->cache->numPages();
  return Status();
  SALART_END
}

int salart_pool_page_bytes(salart_pool *pool, int64_t *bytes) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(bytes);
  *bytes = pool->cache->pageBytes();
  return Status();
  SALART_END
}

int salart_pool_seq_info(salart_pool *pool, int64_t seq, int64_t *tokens,
                         int64_t *units, int64_t *pages) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  const PagedCache &c = *pool->cache;
  const std::vector<int32_t> *p = c.seqPages(seq);
  if (!p)
    return Status::error(Code::NotFound,
                         strFormat("%s: unknown sequence %lld", c.what(),
                                   (long long)seq));
  if (tokens)
    *tokens = c.seqTokens(seq);
  if (units)
    *units = c.unitsForTokens(c.seqTokens(seq));
  if (pages)
    *pages = int64_t(p->size());
  return Status();
  SALART_END
}

int salart_pool_seq_pages(salart_pool *pool, int64_t seq, int32_t *out,
                          int64_t capacity, int64_t *count) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(count);
  std::lock_guard<std::mutex> lock(pool->mu);
  const PagedCache &c = *pool->cache;
  const std::vector<int32_t> *p = c.seqPages(seq);
  if (!p)
    return Status::error(Code::NotFound,
                         strFormat("%s: unknown sequence %lld", c.what(),
                                   (long long)seq));
  if (capacity < int64_t(p->size()) || (!out && !p->empty()))
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: sequence %lld holds %zu pages, more "
                                   "than the output's capacity %lld",
                                   c.what(), (long long)seq, p->size(),
                                   (long long)capacity));
  std::copy(p->begin(), p->end(), out);
  *count = int64_t(p->size());
  return Status();
  SALART_END
}

int salart_pool_max_pages(salart_pool *pool, const int64_t *seqs,
                          int64_t batch, int64_t *max_pages) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(max_pages);
  std::lock_guard<std::mutex> lock(pool->mu);
  return pool->cache->maxPages(seqs, batch, *max_pages);
  SALART_END
}

int salart_pool_page_table(salart_pool *pool, const int64_t *seqs,
                           int64_t batch, int64_t max_pages, int32_t pad,
                           int32_t *out) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  return pool->cache->pageTable(seqs, batch, max_pages, pad, out);
  SALART_END
}

int salart_pool_allocate_device(salart_pool *pool, salart_context *ctx,
                                int64_t num_layers) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(ctx);
  std::lock_guard<std::mutex> lock(pool->mu);
  const PagedCache &c = *pool->cache;
  __int128 layerBytes =
      (__int128)c.numPages() * c.pageBytes() * c.tensorsPerLayer();
  if (layerBytes > INT64_MAX)
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: one layer's buffers overflow", c.what()));
  return pool->device.allocate(ctx, num_layers, int64_t(layerBytes), c.what());
  SALART_END
}

int salart_pool_device_ptr(salart_pool *pool, int64_t layer, int tensor,
                           uint64_t *dptr) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(dptr);
  std::lock_guard<std::mutex> lock(pool->mu);
  const PagedCache &c = *pool->cache;
  if (tensor < 0 || tensor >= c.tensorsPerLayer())
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: tensor %d is not one of %s", c.what(),
                                   tensor,
                                   c.tensorsPerLayer() == 2 ? "0 (K), 1 (V)"
                                                            : "0 (K)"));
  CUdeviceptr base;
  SALART_TRY(pool->device.layerBase(layer, c.what(), base));
  *dptr = base + CUdeviceptr(tensor * c.numPages() * c.pageBytes());
  return Status();
  SALART_END
}

int salart_compressed_entries(int64_t n, int64_t kernel, int64_t stride,
                              int64_t *entries) {
  SALART_BEGIN
  SALART_REQUIRE(entries);
  if (n < 0 || kernel < 1 || stride < 1)
    return Status::error(Code::InvalidArgument,
                         strFormat("salart_compressed_entries: n = %lld, "
                                   "kernel = %lld, stride = %lld: need n >= 0, "
                                   "kernel >= 1, stride >= 1",
                                   (long long)n, (long long)kernel,
                                   (long long)stride));
  *entries = compressedEntryCount(n, kernel, stride);
  return Status();
  SALART_END
}

// ---- Linear-state pool -------------------------------------------------------

int salart_state_pool_create(int64_t heads, int64_t head_dim,
                             int64_t num_slots, salart_state_pool **out) {
  SALART_BEGIN
  SALART_REQUIRE(out);
  auto pool = std::make_unique<salart_state_pool>();
  SALART_TRY(StateSlotPool::create(heads, head_dim, num_slots, pool->slots));
  *out = pool.release();
  return Status();
  SALART_END
}

int salart_state_pool_destroy(salart_state_pool *pool) {
  SALART_BEGIN
  if (pool)
    SALART_TRY(pool->device.checkDestroy("linear-state pool's device buffers"));
  delete pool;
  return Status();
  SALART_END
}

int salart_state_pool_acquire(salart_state_pool *pool, int32_t *slot) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(slot);
  std::lock_guard<std::mutex> lock(pool->mu);
  return pool->slots->acquire(*slot);
  SALART_END
}

int salart_state_pool_release(salart_state_pool *pool, int32_t slot) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  return pool->slots->release(slot);
  SALART_END
}

int salart_state_pool_free_slots(salart_state_pool *pool, int64_t *count) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(count);
  std::lock_guard<std::mutex> lock(pool->mu);
  *count = pool->slots->freeSlots();
  return Status();
  SALART_END
}

int salart_state_pool_slot_bytes(salart_state_pool *pool, int64_t *bytes) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(bytes);
  *bytes = pool->slots->slotBytes();
  return Status();
  SALART_END
}

int salart_state_pool_allocate_device(salart_state_pool *pool,
                                      salart_context *ctx, int64_t num_layers) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(ctx);
  std::lock_guard<std::mutex> lock(pool->mu);
  const StateSlotPool &s = *pool->slots;
  __int128 layerBytes = (__int128)s.numSlots() * s.slotBytes();
  if (layerBytes > INT64_MAX)
    return Status::error(Code::InvalidArgument,
                         "linear-state pool: one layer's buffer overflows");
  return pool->device.allocate(ctx, num_layers, int64_t(layerBytes),
                               "linear-state pool");
  SALART_END
}

int salart_state_pool_device_ptr(salart_state_pool *pool, int64_t layer,
                                 uint64_t *dptr) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  SALART_REQUIRE(dptr);
  std::lock_guard<std::mutex> lock(pool->mu);
  CUdeviceptr base;
  SALART_TRY(pool->device.layerBase(layer, "linear-state pool", base));
  *dptr = base;
  return Status();
  SALART_END
}

int salart_state_pool_zero_slot(salart_state_pool *pool, int32_t slot,
                                void *stream) {
  SALART_BEGIN
  SALART_REQUIRE(pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  const StateSlotPool &s = *pool->slots;
  if (slot < 0 || slot >= s.numSlots())
    return Status::error(Code::InvalidArgument,
                         strFormat("linear-state pool: slot %d outside [0, "
                                   "%lld)",
                                   slot, (long long)s.numSlots()));
  const DeviceBlock &d = pool->device;
  CUdeviceptr base;
  SALART_TRY(d.layerBase(0, "linear-state pool", base)); // allocated at all?
  for (int64_t layer = 0; layer < d.layers; ++layer) {
    SALART_TRY(d.layerBase(layer, "linear-state pool", base));
    SALART_TRY(d.ctx->memsetD8Async(base + CUdeviceptr(slot * s.slotBytes()),
                                    0, size_t(s.slotBytes()),
                                    static_cast<CUstream>(stream)));
  }
  return Status();
  SALART_END
}

} // extern "C"
