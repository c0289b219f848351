//===- Workload.cpp - seeded inputs for a block, and their checks ---------===//
#include "Workload.h"

#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

using namespace mlir;
using namespace salac;
using namespace salac::runner;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
/// Tokens of a pool or entries of a page table that salac run holds on the
/// host (8M: a 2-head x 128 f32 KV pool of this size is 16 GiB already).
constexpr int64_t kMaxPoolTokens = int64_t(1) << 23;

/// Geometry of one paged store and the page table that maps it.
struct StorePlan {
  int64_t pageSize = 1, heads = 0, headDim = 0;
  int64_t poolPages = 0;
  std::vector<int64_t> counts; ///< entries per sequence
  ref::PageTable table;
};

class Generator {
public:
  Generator(const BlockSignature &sig, const WorkloadSizes &sizes)
      : sig(sig), sizes(sizes), rng(sizes.seed) {}

  llvm::Expected<Workload> run();

private:
  /// N(0, 1) rounded to bf16.
  float normal() { return ref::roundToBF16(normalDist(rng)); }
  float uniform(float lo, float hi) {
    return ref::roundToBF16(std::uniform_real_distribution<float>(lo, hi)(rng));
  }
  std::vector<float> normals(int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v)
      x = normal();
    return v;
  }
  std::vector<int32_t> permutation(int64_t n) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), 0);
    std::shuffle(p.begin(), p.end(), rng);
    return p;
  }

  llvm::Error checkElementType(unsigned i, Type type, bool allowInt = false);
  llvm::Error planStore(unsigned i);
  llvm::Error tensorArg(unsigned i, HostValue &out);
  void kvCacheArg(unsigned i, HostValue &out);
  llvm::Error keysArg(unsigned i, HostValue &out);
  llvm::Error stateArg(unsigned i, HostValue &out);
  HostTensor intTensor(std::vector<int64_t> shape, std::vector<int32_t> data);
  std::vector<float> blockScoreValues(int64_t kvHeads, int64_t blocks, int64_t blockSize);

  const BlockSignature &sig;
  const WorkloadSizes &sizes;
  std::mt19937_64 rng;
  std::normal_distribution<float> normalDist{0.0f, 1.0f};
  Workload work;
  std::map<int, StorePlan> plans;
  std::vector<int32_t> slots;
  int64_t poolSlots = 0;
};

} // namespace

llvm::Error Generator::checkElementType(unsigned i, Type type, bool allowInt) {
  if (type.isBF16() || type.isF32() || (allowInt && type.isInteger(32)))
    return llvm::Error::success();
  return fail(llvm::formatv("argument #{0} ({1}) has element type {2}: salac run "
                            "supports bf16 and f32",
                            i, sig.args[i].use, typeName(type)));
}

HostTensor Generator::intTensor(std::vector<int64_t> shape, std::vector<int32_t> data) {
  HostTensor t;
  t.shape = std::move(shape);
  t.elementType = IntegerType::get(sig.func.getContext(), 32);
  t.i = std::move(data);
  return t;
}

llvm::Error Generator::planStore(unsigned i) {
  const ArgInfo &info = sig.args[i];
  const ref::RaggedBatch &batch = work.batch;
  StorePlan plan;
  bool isCache = info.role == ArgRole::KVCache;
  if (auto kv = dyn_cast<sala::KVCacheType>(info.type)) {
    plan.pageSize = kv.getPageSize();
    plan.heads = kv.getKvHeads();
    plan.headDim = kv.getHeadDim();
    if (auto err = checkElementType(i, kv.getElementType()))
      return err;
    for (int32_t n : batch.seqLens)
      plan.counts.push_back(n);
  } else {
    auto keys = cast<sala::CompressedKeysType>(info.type);
    plan.pageSize = keys.getPageSize();
    plan.heads = keys.getKvHeads();
    plan.headDim = keys.getHeadDim();
    if (auto err = checkElementType(i, keys.getElementType()))
      return err;
    for (int32_t n : batch.seqLens)
      plan.counts.push_back(
          ref::numCompressed(n, keys.getKernelSize(), keys.getKernelStride()));
  }
  int64_t width = 1, total = 0;
  std::vector<int64_t> needed;
  for (int64_t count : plan.counts) {
    needed.push_back((count + plan.pageSize - 1) / plan.pageSize);
    width = std::max(width, needed.back());
    total += needed.back();
  }
  if (isCache && sizes.maxPages)
    width = *sizes.maxPages;
  plan.poolPages = isCache && sizes.poolPages ? *sizes.poolPages : total + 1;
  // The host holds every pool and page table in memory: bound them in tokens
  // (page sizes are at most 65536, so the products do not overflow).
  if (plan.poolPages * plan.pageSize > kMaxPoolTokens)
    return fail(llvm::formatv("a pool of {0} pages of {1} tokens exceeds {2} tokens; see "
                              "--pool-pages",
                              plan.poolPages, plan.pageSize, kMaxPoolTokens));
  if (width * batch.numSeqs() > kMaxPoolTokens)
    return fail(llvm::formatv("a page table of {0} x {1} entries exceeds {2}; see --max-pages",
                              batch.numSeqs(), width, kMaxPoolTokens));
  // Physical pages: a seeded permutation, so that logical neighbours are not
  // physical neighbours. Unmapped entries point at the last page, which holds
  // no token (NaN).
  std::vector<int32_t> order = permutation(total);
  int32_t spare = int32_t(std::max<int64_t>(0, std::min(total, plan.poolPages - 1)));
  plan.table.maxPages = width;
  plan.table.pages.assign(static_cast<size_t>(batch.numSeqs() * width), spare);
  size_t next = 0;
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    for (int64_t p = 0; p < needed[b]; ++p, ++next)
      if (p < width)
        plan.table.pages[b * width + p] = order[next];
  plans[int(i)] = std::move(plan);
  return llvm::Error::success();
}

std::vector<float> Generator::blockScoreValues(int64_t kvHeads, int64_t blocks,
                                               int64_t blockSize) {
  // Scores from a few levels so that ties (to the lower block index) occur;
  // -inf now and then, as for blocks whose windows are not visible yet.
  std::vector<int64_t> pos = work.batch.tokenPositions();
  std::vector<float> v;
  for (int64_t t : pos)
    for (int64_t g = 0; g < kvHeads; ++g)
      for (int64_t j = 0; j < blocks; ++j) {
        int level = int(rng() % 9);
        v.push_back(j > t / blockSize ? -kInf : level == 8 ? -kInf : level / 8.0f);
      }
  return v;
}

llvm::Error Generator::tensorArg(unsigned i, HostValue &out) {
  const ArgInfo &info = sig.args[i];
  const ref::RaggedBatch &batch = work.batch;
  const int64_t T = batch.numTokens(), B = batch.numSeqs();
  auto type = cast<RankedTensorType>(info.type);
  HostTensor &t = out.tensor;
  auto staticDim = [&](int64_t d) { return type.getDimSize(d); };
  switch (info.role) {
  case ArgRole::Activation: {
    if (auto err = checkElementType(i, type.getElementType()))
      return err;
    if (!type.isDynamicDim(0) && type.getDimSize(0) != T)
      return fail(llvm::formatv("argument #{0} ({1}) has {2} tokens but the requested "
                                "batch has {3} (sum of the query lengths)",
                                i, info.use, type.getDimSize(0), T));
    t.shape = {T, staticDim(1), staticDim(2)};
    t.elementType = type.getElementType();
    t.f = normals(t.numElements());
    return llvm::Error::success();
  }
  case ArgRole::Weight:
    if (auto err = checkElementType(i, type.getElementType()))
      return err;
    t.shape = {staticDim(0)};
    t.elementType = type.getElementType();
    for (int64_t e = 0; e < t.shape[0]; ++e)
      t.f.push_back(uniform(0.5f, 1.5f));
    return llvm::Error::success();
  case ArgRole::CuSeqlens:
    t = intTensor({B + 1}, batch.cuSeqlensQ);
    return llvm::Error::success();
  case ArgRole::SeqLens:
    t = intTensor({B}, batch.seqLens);
    return llvm::Error::success();
  case ArgRole::Positions: {
    std::vector<int32_t> pos;
    for (int64_t p : batch.tokenPositions())
      pos.push_back(int32_t(p));
    t = intTensor({T}, pos);
    return llvm::Error::success();
  }
  case ArgRole::Slots:
    t = intTensor({B}, slots);
    return llvm::Error::success();
  case ArgRole::PageTable: {
    const StorePlan &plan = plans.at(info.store);
    t = intTensor({B, plan.table.maxPages}, plan.table.pages);
    return llvm::Error::success();
  }
  case ArgRole::BlockScores: {
    int64_t blocks = type.isDynamicDim(2) ? ref::maxBlocks(batch, info.blockSize)
                                          : type.getDimSize(2);
    if (type.isDynamicDim(1))
      return fail(llvm::formatv("argument #{0} ({1}) needs a static KV-head count", i,
                                info.use));
    t.shape = {T, staticDim(1), blocks};
    t.elementType = type.getElementType();
    t.f = blockScoreValues(staticDim(1), blocks, info.blockSize);
    return llvm::Error::success();
  }
  case ArgRole::BlockIndices: {
    if (type.isDynamicDim(1) || type.isDynamicDim(2))
      return fail(llvm::formatv("argument #{0} ({1}) needs static KV-head and selected "
                                "counts",
                                i, info.use));
    int64_t kvHeads = staticDim(1), k = staticDim(2);
    ref::TopkConfig cfg;
    cfg.blockSize = info.blockSize;
    cfg.localBlocks = std::min<int64_t>(k, 2);
    cfg.topk = k - cfg.localBlocks;
    cfg.initBlocks = 1;
    ref::BlockScores scores;
    scores.numTokens = T;
    scores.numKVHeads = kvHeads;
    scores.numBlocks = ref::maxBlocks(batch, info.blockSize);
    for (float s : blockScoreValues(kvHeads, scores.numBlocks, info.blockSize))
      scores.values.push_back(s);
    ref::BlockSelection selection;
    ref::Status st = ref::topkBlocks(cfg, batch, scores, selection);
    if (!st.ok())
      return fail("generating block indices: " + st.message());
    t = intTensor({T, kvHeads, k}, selection.indices);
    return llvm::Error::success();
  }
  default:
    return fail("internal: not a tensor role");
  }
}

void Generator::kvCacheArg(unsigned i, HostValue &out) {
  const StorePlan &plan = plans.at(int(i));
  out.kind = HostValue::Kind::KVCache;
  out.elementType = cast<sala::KVCacheType>(sig.args[i].type).getElementType();
  for (ref::PagedStore *s : {&out.kv.k, &out.kv.v}) {
    *s = ref::PagedStore::zeros(plan.poolPages, plan.pageSize, plan.heads, plan.headDim);
    std::fill(s->data.begin(), s->data.end(), kNaN);
  }
  out.kv.table = plan.table;
  // Tokens cached before this step (all of them when the block does not
  // append).
  const ref::RaggedBatch &batch = work.batch;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    int64_t cached = sig.args[i].appended ? batch.historyLen(b) : batch.seqLens[b];
    for (int64_t p = 0; p < cached; ++p)
      for (ref::PagedStore *s : {&out.kv.k, &out.kv.v}) {
        if (p / plan.pageSize >= plan.table.maxPages)
          continue; // beyond the table: validation reports it
        int32_t page = plan.table.at(b, p / plan.pageSize);
        if (page < 0 || page >= s->numPages)
          continue;
        float *row = s->data.data() + s->rowOffset(page, p % plan.pageSize);
        for (int64_t e = 0; e < s->rowWidth(); ++e)
          row[e] = normal();
      }
  }
}

llvm::Error Generator::keysArg(unsigned i, HostValue &out) {
  const ArgInfo &info = sig.args[i];
  const StorePlan &plan = plans.at(int(i));
  auto type = cast<sala::CompressedKeysType>(info.type);
  out.kind = HostValue::Kind::CompressedKeys;
  out.elementType = type.getElementType();
  out.keys.kernel = type.getKernelSize();
  out.keys.stride = type.getKernelStride();
  out.keys.store =
      ref::PagedStore::zeros(plan.poolPages, plan.pageSize, plan.heads, plan.headDim);
  std::fill(out.keys.store.data.begin(), out.keys.store.data.end(), kNaN);
  out.keys.table = plan.table;
  const ref::RaggedBatch &batch = work.batch;
  const HostValue *cache = info.sourceCache >= 0 ? &work.args[info.sourceCache] : nullptr;
  const int64_t width = plan.heads * plan.headDim;
  for (int64_t b = 0; b < batch.numSeqs(); ++b) {
    // Entries whose windows were complete before this step (all when the block
    // does not compress), from the keys behind them: the cache's, else
    // invented ones.
    int64_t tokens = info.appended ? batch.historyLen(b) : batch.seqLens[b];
    std::vector<float> rows;
    if (cache) {
      int64_t readable = std::min<int64_t>(
          tokens, cache->kv.table.maxPages * cache->kv.k.pageSize);
      ref::PageTable one{cache->kv.table.maxPages,
                         std::vector<int32_t>(cache->kv.table.pages.begin() +
                                                  b * cache->kv.table.maxPages,
                                              cache->kv.table.pages.begin() +
                                                  (b + 1) * cache->kv.table.maxPages)};
      if (!ref::gatherEntries(cache->kv.k, one, 0, readable, rows).ok())
        continue; // an unmapped cache: validation reports it
      tokens = readable;
    } else {
      rows = normals(tokens * width);
    }
    std::vector<float> entries;
    ref::Status st = ref::compressKeysFromScratch(rows, tokens, plan.heads, plan.headDim,
                                                  out.keys.kernel, out.keys.stride,
                                                  out.elementType.isBF16(), entries);
    if (!st.ok())
      return fail("pre-filling compressed keys: " + st.message());
    int64_t m = int64_t(entries.size()) / width;
    for (int64_t e = 0; e < m && e / plan.pageSize < plan.table.maxPages; ++e) {
      int32_t page = plan.table.at(b, e / plan.pageSize);
      if (page < 0 || page >= out.keys.store.numPages)
        continue;
      std::copy(entries.begin() + e * width, entries.begin() + (e + 1) * width,
                out.keys.store.data.begin() +
                    out.keys.store.rowOffset(page, e % plan.pageSize));
    }
  }
  return llvm::Error::success();
}

llvm::Error Generator::stateArg(unsigned i, HostValue &out) {
  const ArgInfo &info = sig.args[i];
  auto type = cast<sala::StatePoolType>(info.type);
  if (!type.getElementType().isF32())
    return fail(llvm::formatv("argument #{0} (state pool) has element type {1}: salac "
                              "run supports f32 states",
                              i, typeName(type.getElementType())));
  out.kind = HostValue::Kind::StatePool;
  out.elementType = type.getElementType();
  out.pool = ref::StatePool::zeros(poolSlots, type.getHeads(), type.getHeadDim());
  // Garbage everywhere: a fresh sequence must start from zero whatever its
  // slot holds.
  for (float &x : out.pool.data)
    x = 0.5f * normal();
  // The state a random history of each sequence's context leaves behind,
  // computed by the reference.
  const ref::RaggedBatch &batch = work.batch;
  std::vector<int32_t> history(batch.seqLens.size());
  for (int64_t b = 0; b < batch.numSeqs(); ++b)
    history[b] = int32_t(batch.historyLen(b));
  ref::RaggedBatch past = ref::RaggedBatch::fromLengths(history, history);
  const int64_t H = type.getHeads(), D = type.getHeadDim(), T = past.numTokens();
  if (T == 0 || llvm::any_of(slots, [&](int32_t s) { return s < 0 || s >= poolSlots; }))
    return llvm::Error::success(); // nothing to replay, or validation will fail
  // The same replay whatever op owns the pool (a composite mixer or the
  // linear_attention it decomposes into), so that both forms of a block get the
  // same inputs: linear attention with the op's decay and scale over random
  // keys and values.
  ref::LinearAttentionConfig cfg;
  cfg.numHeads = H;
  cfg.headDim = D;
  cfg.form = ref::LinearForm::Recurrent;
  if (auto op = dyn_cast<sala::LinearAttentionOp>(info.stateOp)) {
    cfg.slopes.assign(op.getSlopes().begin(), op.getSlopes().end());
    cfg.scale = op.getScale() ? op.getScale()->convertToFloat() : 0.0;
  } else {
    auto mixer = cast<sala::LinearMixerOp>(info.stateOp);
    cfg.slopes.assign(mixer.getSlopes().begin(), mixer.getSlopes().end());
    cfg.scale = mixer.getScale() ? mixer.getScale()->convertToFloat() : 0.0;
  }
  std::vector<float> q = normals(T * H * D), k = normals(T * H * D),
                     v = normals(T * H * D), o;
  ref::Status st = ref::linearAttention(cfg, past, q, k, v, out.pool, slots, o);
  if (!st.ok())
    return fail("pre-filling the state pool: " + st.message());
  return llvm::Error::success();
}

llvm::Expected<Workload> Generator::run() {
  if (sizes.qLens.empty() || sizes.qLens.size() != sizes.contexts.size())
    return fail("internal: query lengths and contexts must be given per sequence");
  std::vector<int32_t> seqLens;
  for (size_t b = 0; b < sizes.qLens.size(); ++b)
    seqLens.push_back(sizes.qLens[b] + sizes.contexts[b]);
  work.batch = ref::RaggedBatch::fromLengths(sizes.qLens, seqLens);
  const int64_t B = work.batch.numSeqs();
  poolSlots = sizes.poolSlots ? *sizes.poolSlots : B + 1;
  std::vector<int32_t> order = permutation(std::max<int64_t>(poolSlots, B));
  slots.assign(order.begin(), order.begin() + B);

  const size_t n = sig.args.size();
  work.args.resize(n);
  for (unsigned i = 0; i < n; ++i)
    if (sig.args[i].role == ArgRole::KVCache || sig.args[i].role == ArgRole::CompressedKeys)
      if (auto err = planStore(i))
        return std::move(err);
  // Tensors and caches first: compressed keys are computed from the caches.
  for (unsigned i = 0; i < n; ++i) {
    switch (sig.args[i].role) {
    case ArgRole::KVCache:
      kvCacheArg(i, work.args[i]);
      break;
    case ArgRole::CompressedKeys:
    case ArgRole::StatePool:
      break;
    default:
      if (auto err = tensorArg(i, work.args[i]))
        return std::move(err);
    }
  }
  for (unsigned i = 0; i < n; ++i)
    if (sig.args[i].role == ArgRole::CompressedKeys)
      if (auto err = keysArg(i, work.args[i]))
        return std::move(err);
  for (unsigned i = 0; i < n; ++i)
    if (sig.args[i].role == ArgRole::StatePool)
      if (auto err = stateArg(i, work.args[i]))
        return std::move(err);
  return std::move(work);
}

llvm::Expected<Workload> salac::runner::buildWorkload(const BlockSignature &sig,
                                                      const WorkloadSizes &sizes) {
  return Generator(sig, sizes).run();
}
