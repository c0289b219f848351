//===- FuseKVAccess.cpp - KV append and key compression as one access ------===//
//
// Replaces a sala.kv_append followed by a sala.compress_keys of the same cache,
// page table and batch with one sala.fused_kv_update. Unfused, the append
// writes each new key to the cache and the compression kernel reads it back
// (with the rest of its window); fused, one kernel writes each new token's K
// and V once and reduces each completed window taking its new keys from the
// input (CacheKernels.cpp).
//
// The pair is fused only when nothing with memory effects sits between them
// (the fused op takes the compression's place, after the append's, so moving
// the append down must not reorder it with another cache access). With two
// compressed stores (K1 and K2), the first compression after the append is
// fused; the second stays a compress_keys that reads the cache after it.
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace salac::sala {
#define GEN_PASS_DEF_SALAFUSEKVACCESS
#include "salac/Dialect/Sala/Transforms/Passes.h.inc"
} // namespace salac::sala

using namespace mlir;
using namespace salac::sala;

namespace {

void fuse(KVAppendOp append) {
  // The next op with memory effects after the append, if it is the
  // compression of the same cache and batch.
  Operation *next = append->getNextNode();
  while (next && isMemoryEffectFree(next))
    next = next->getNextNode();
  auto compress = dyn_cast_or_null<CompressKeysOp>(next);
  if (!compress || compress.getCache() != append.getCache() ||
      compress.getPageTable() != append.getPageTable() ||
      compress.getCuSeqlensQ() != append.getCuSeqlensQ() ||
      compress.getSeqLens() != append.getSeqLens())
    return;
  OpBuilder b(compress);
  FusedKVUpdateOp::create(b, compress.getLoc(), append.getKey(), append.getValue(),
                          append.getCache(), append.getPageTable(), compress.getKeys(),
                          compress.getKeyPageTable(), append.getCuSeqlensQ(),
                          append.getSeqLens());
  compress->erase();
  append->erase();
}

struct SalaFuseKVAccess : salac::sala::impl::SalaFuseKVAccessBase<SalaFuseKVAccess> {
  void runOnOperation() override {
    SmallVector<KVAppendOp> appends;
    getOperation()->walk([&](KVAppendOp op) { appends.push_back(op); });
    for (KVAppendOp op : appends)
      fuse(op);
  }
};

} // namespace
