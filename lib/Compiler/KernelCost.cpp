//===- KernelCost.cpp - the cost models of the sala ops' kernels ----------===//
//
// One cost function per op kind (KernelCost.h says what is counted,
// docs/KernelPlan.md gives the formulas), attached to the op as its
// KernelCostOpInterface model; costOf asks the op.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/KernelCost.h"
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Dialect/Sala/IR/SalaDialect.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include <algorithm>

using namespace mlir;
using namespace salac;

#include "salac/Compiler/KernelCostInterface.cpp.inc"


int64_t KernelCost::bytesRead() const {
  int64_t n = 0;
  for (const Traffic &t : traffic)
    n += t.write ? 0 : t.bytes;
  return n;
}

int64_t KernelCost::bytesWritten() const {
  int64_t n = 0;
  for (const Traffic &t : traffic)
    n += t.write ? t.bytes : 0;
  return n;
}

int64_t KernelCost::bytesOf(StringRef what) const {
  int64_t n = 0;
  for (const Traffic &t : traffic)
    n += t.what == what ? t.bytes : 0;
  return n;
}


std::pair<int64_t, int64_t> KernelCosting::rows(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.isDynamicDim(1) || t.isDynamicDim(2)) {
    unsized = true;
    return {0, 0};
  }
  return {t.getDimSize(1), t.getDimSize(2)};
}

int64_t KernelCosting::tokenBytes(Value v) {
  auto [heads, dim] = rows(v);
  auto elem = cast<RankedTensorType>(v.getType()).getElementType();
  return s.tokens() * heads * dim * elementBytes(elem);
}

void KernelCosting::readRagged(Value cu, Value lens) {
  if (llvm::any_of(cost.traffic, [](const auto &t) { return t.what == "cu_seqlens_q"; }))
    return;
  read("cu_seqlens_q", (s.batch + 1) * kIndexBytes, cu);
  read("seq_lens", s.batch * kIndexBytes, lens);
}

void KernelCosting::readWhole(StringRef what, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  read(what, t.getNumElements() * elementBytes(t.getElementType()), v);
}

//===----------------------------------------------------------------------===//
// costOf
//===----------------------------------------------------------------------===//

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }


int64_t keyEntries(int64_t n, int64_t kernel, int64_t stride) {
  return compressedKeyEntries(n, kernel, stride);
}

/// Page-table entries that the items [begin, end) of a sequence span, with
/// `page` items per page.
int64_t pagesSpanned(int64_t begin, int64_t end, int64_t page) {
  return end <= begin ? 0 : (end - 1) / page - begin / page + 1;
}


using Costing = KernelCosting;

// Positions: the new tokens of a sequence sit at context .. context + q - 1; a
// query at position t sees keys 0 .. t.

template <typename AppendOp>
void costAppend(AppendOp op, const StepSizes &s, Costing &c) {
  auto cache = op.getCache().getType();
  c.readTokens("key", op.getKey());
  c.readTokens("value", op.getValue());
  int64_t row =
      cache.getKvHeads() * cache.getHeadDim() * elementBytes(cache.getElementType());
  c.write("K cache", s.tokens() * row, op.getCache());
  c.write("V cache", s.tokens() * row, op.getCache());
  c.read("page_table",
         s.batch * pagesSpanned(s.context, s.seqLen(), cache.getPageSize()) * kIndexBytes,
         op.getPageTable());
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
}

/// `newFromInput`: the window's keys of this step come from the new keys
/// (already read by the append), not from the cache.
template <typename CompressOp>
void costCompress(CompressOp op, bool newFromInput, const StepSizes &s, Costing &c) {
  // Entries whose window completes in this step, from the keys of their
  // windows (overlapping windows read their shared keys once).
  auto cache = op.getCache().getType();
  auto keys = op.getKeys().getType();
  int64_t k = keys.getKernelSize(), stride = keys.getKernelStride();
  int64_t first = keyEntries(s.context, k, stride);
  int64_t fresh = keyEntries(s.seqLen(), k, stride) - first;
  if (fresh > 0) {
    int64_t begin = first * stride, end = (first + fresh - 1) * stride + k;
    int64_t cached = newFromInput ? std::max<int64_t>(0, std::min(end, s.context) - begin)
                                  : end - begin;
    c.read("K cache",
           s.batch * cached * cache.getKvHeads() * cache.getHeadDim() *
               elementBytes(cache.getElementType()),
           op.getCache());
    c.read("page_table",
           s.batch * pagesSpanned(begin, end, cache.getPageSize()) * kIndexBytes,
           op.getPageTable());
    c.write("K1 entries",
            s.batch * fresh * keys.getKvHeads() * keys.getHeadDim() *
                elementBytes(keys.getElementType()),
            op.getKeys());
    c.read("key_page_table",
           s.batch * pagesSpanned(first, first + fresh, keys.getPageSize()) * kIndexBytes,
           op.getKeyPageTable());
    // A mean of k keys per channel: k - 1 adds and a multiply.
    c.cost.flops = s.batch * fresh * keys.getKvHeads() * keys.getHeadDim() * k;
  }
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
}

void costKVAppend(sala::KVAppendOp op, const StepSizes &s, Costing &c) { costAppend(op, s, c); }
void costCompressKeys(sala::CompressKeysOp op, const StepSizes &s, Costing &c) {
  costCompress(op, /*newFromInput=*/false, s, c);
}
void costFusedKVUpdate(sala::FusedKVUpdateOp op, const StepSizes &s, Costing &c) {
  costAppend(op, s, c);
  costCompress(op, /*newFromInput=*/true, s, c);
}

/// Stage 1 of block_scores and fused_sparse_select: the query and the
/// compressed keys read, the scores' flops and the max-pool's.
template <typename Stage1Op>
void costStage1(Stage1Op op, Value lseKeys, Value lseTable, int64_t groups,
                const StepSizes &s, Costing &c) {
  auto [heads, dim] = c.rows(op.getQuery());
  int64_t n = s.seqLen();
  c.readTokens("query", op.getQuery());
  // A sequence's compressed keys are read once for all its query tokens: the
  // last token sees them all.
  auto readKeys = [&](Value keys, Value table, StringRef what) {
    auto t = cast<sala::CompressedKeysType>(keys.getType());
    int64_t m = keyEntries(n, t.getKernelSize(), t.getKernelStride());
    c.read(what,
           s.batch * m * t.getKvHeads() * t.getHeadDim() *
               elementBytes(t.getElementType()),
           keys);
    c.read(what == "K1 entries" ? "key_page_table" : "lse_key_page_table",
           s.batch * pagesSpanned(0, m, t.getPageSize()) * kIndexBytes, table);
  };
  readKeys(op.getKeys(), op.getKeyPageTable(), "K1 entries");
  if (lseKeys)
    readKeys(lseKeys, lseTable, "K2 entries");
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());

  auto k1 = op.getKeys().getType();
  for (int64_t i = 0; i < s.queryTokens; ++i) {
    int64_t t = s.context + i;
    int64_t visible = keyEntries(t + 1, k1.getKernelSize(), k1.getKernelStride());
    // q . K1 (a multiply-add per channel), then per score: scale, max,
    // subtract, exp, sum, normalise, and the add into the group's sum.
    int64_t flops = heads * visible * (2 * dim + 7);
    if (lseKeys) {
      auto k2 = cast<sala::CompressedKeysType>(lseKeys.getType());
      int64_t v2 = keyEntries(t + 1, k2.getKernelSize(), k2.getKernelStride());
      // The normaliser from K2 scores: q . K2, scale, max, subtract, exp, sum.
      flops += heads * v2 * (2 * dim + 5);
    }
    // The max-pool: pool_kernel candidates per block of the group.
    flops += groups * (t / op.getBlockSize() + 1) * op.getPoolKernel();
    c.cost.flops += s.batch * flops;
  }
}

void costBlockScores(sala::BlockScoresOp op, const StepSizes &s, Costing &c) {
  auto scores = cast<RankedTensorType>(op.getScores().getType());
  int64_t groups = scores.getDimSize(1);
  costStage1(op, op.getLseKeys(), op.getLseKeyPageTable(), groups, s, c);
  // The scores tensor is [tokens, kv_heads, max_blocks], max_blocks the block
  // count of the longest sequence.
  c.write("scores", s.tokens() * groups * ceilDiv(s.seqLen(), op.getBlockSize()) * 4,
          op.getScores());
}

void costFusedSparseSelect(sala::FusedSparseSelectOp op, const StepSizes &s, Costing &c) {
  auto blocks = cast<RankedTensorType>(op.getBlocks().getType());
  int64_t groups = blocks.getDimSize(1);
  // Below its stage 2's dense_len the kernel skips the sequence (see
  // getUnusedBelowSeqLen): it reads the lengths and nothing else.
  if (int64_t skip = op.getUnusedBelowSeqLen(); skip && s.seqLen() < skip) {
    c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
    return;
  }
  costStage1(op, Value(), Value(), groups, s, c);
  // Not counted (bytes are what the op must move): the kernel's workspace,
  // each part's raw scores written and read back once (2 x 4 bytes per head
  // and compressed key, through L2), the parts' statistics and candidates.
  c.write("blocks", s.tokens() * groups * blocks.getDimSize(2) * kIndexBytes,
          op.getBlocks());
}

void costTopkBlocks(sala::TopkBlocksOp op, const StepSizes &s, Costing &c) {
  auto scores = cast<RankedTensorType>(op.getScores().getType());
  auto blocks = cast<RankedTensorType>(op.getBlocks().getType());
  int64_t groups = scores.getDimSize(1);
  c.read("scores", s.tokens() * groups * ceilDiv(s.seqLen(), op.getBlockSize()) * 4,
         op.getScores());
  c.write("blocks", s.tokens() * groups * blocks.getDimSize(2) * kIndexBytes,
          op.getBlocks());
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  // Selection is comparisons: no flops.
}

/// Flops of softmax attention of `heads` query heads over `keys` keys of
/// `dim` channels: S = q K^T and O = P V (a multiply-add per channel each),
/// per score scale, max, subtract, exp and sum, then the final 1/sum.
int64_t attentionFlops(int64_t heads, int64_t keys, int64_t dim) {
  return heads * (keys * (4 * dim + 5) + dim);
}

/// Stage 2 over the selected blocks (sparse_attention, and the long sequences
/// of fused_sparse_attention, which has the same operands).
template <typename OpT>
void costSparseStage2(OpT op, const StepSizes &s, Costing &c) {
  auto cache = op.getCache().getType();
  auto [heads, dim] = c.rows(op.getQuery());
  int64_t groups = cache.getKvHeads(), bs = op.getBlockSize();
  int64_t selected = cast<RankedTensorType>(op.getBlocks().getType()).getDimSize(2);
  int64_t page = cache.getPageSize();
  int64_t kvRow = cache.getHeadDim() * elementBytes(cache.getElementType());
  c.readTokens("query", op.getQuery());
  c.read("blocks", s.tokens() * groups * selected * kIndexBytes, op.getBlocks());
  int64_t keys = 0, pages = 0, flops = 0;
  for (int64_t i = 0; i < s.queryTokens; ++i) {
    int64_t t = s.context + i;
    int64_t exist = t / bs + 1;
    int64_t k, p;
    if (exist <= selected) { // every block is selected: keys 0 .. t
      k = t + 1;
      p = pagesSpanned(0, t + 1, page);
    } else {
      // The query's own block (forced by the local window) up to t, and
      // selected - 1 full blocks.
      int64_t own = t - (t / bs) * bs + 1;
      k = (selected - 1) * bs + own;
      p = (selected - 1) * ceilDiv(bs, page) + pagesSpanned(0, own, page);
    }
    // Each group selects its own blocks: keys and page entries per group.
    keys += groups * k;
    pages += groups * p;
    flops += attentionFlops(heads, k, dim);
  }
  // Each byte once: a sequence's query tokens together need each of its
  // cached rows (and page entries) at most once per group. Decode's one
  // token is far below that; a prefill's neighbouring tokens share most of
  // their blocks, and the bound is the whole cache.
  int64_t n = s.seqLen();
  keys = std::min(keys, groups * n);
  pages = std::min(pages, groups * pagesSpanned(0, n, page));
  c.read("K cache", s.batch * keys * kvRow, op.getCache());
  c.read("V cache", s.batch * keys * kvRow, op.getCache());
  c.read("page_table", s.batch * pages * kIndexBytes, op.getPageTable());
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  c.writeTokens("output", op.getOutput());
  c.cost.flops = s.batch * flops;
}

/// Causal attention over every cached token (dense_attention, and the short
/// sequences of fused_sparse_attention).
template <typename OpT>
void costDenseStage2(OpT op, const StepSizes &s, Costing &c) {
  auto cache = op.getCache().getType();
  auto [heads, dim] = c.rows(op.getQuery());
  int64_t n = s.seqLen();
  // The dense fallback's kernel skips sequences its length_select sends down
  // the sparse path: it reads no keys and writes zeros for them.
  int64_t skip = 0;
  if constexpr (std::is_same_v<OpT, sala::DenseAttentionOp>)
    skip = op.getDiscardedFromSeqLen();
  if (skip && n >= skip) {
    c.readTokens("query", op.getQuery());
    c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
    c.writeTokens("output", op.getOutput());
    return;
  }
  int64_t kv = s.batch * n * cache.getKvHeads() * cache.getHeadDim() *
               elementBytes(cache.getElementType());
  c.readTokens("query", op.getQuery());
  // Causal: the sequence's last token sees every key; the others a prefix.
  c.read("K cache", kv, op.getCache());
  c.read("V cache", kv, op.getCache());
  c.read("page_table", s.batch * pagesSpanned(0, n, cache.getPageSize()) * kIndexBytes,
         op.getPageTable());
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  c.writeTokens("output", op.getOutput());
  for (int64_t i = 0; i < s.queryTokens; ++i)
    c.cost.flops += s.batch * attentionFlops(heads, s.context + i + 1, dim);
}

void costLengthSelect(sala::LengthSelectOp op, const StepSizes &s, Costing &c) {
  // Each row comes from one input: the short one for sequences shorter than
  // the threshold. (A uniform batch takes the same side for all.)
  bool isShort = s.seqLen() < int64_t(op.getThreshold());
  Value from = isShort ? op.getShortValue() : op.getLongValue();
  c.readTokens(isShort ? "short_value" : "long_value", from);
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  c.writeTokens("output", op.getResult());
}

// Flops of the elementwise stages, shared by the primitive and fused ops.

/// x * sigmoid(z) = x / (1 + exp(-z)): exp, add, divide, multiply.
int64_t gateFlops(int64_t elements) { return 4 * elements; }
/// Per element: square-accumulate (2), * rstd, * weight; per row: mean, + eps,
/// rsqrt.
int64_t rmsNormFlops(int64_t elements, int64_t rows) { return 4 * elements + 3 * rows; }
/// Per channel pair: the angle, its sin and cos, the rotation (4 multiplies,
/// 2 adds).
int64_t ropeFlops(int64_t elements) { return 9 * (elements / 2); }
/// Per token and head: S = gamma S + k^T v (a multiply and a multiply-add per
/// state element), o = q S (a multiply-add per element), * scale.
int64_t recurrentFlops(int64_t tokens, int64_t heads, int64_t d) {
  return tokens * heads * (5 * d * d + d);
}

void costFusedSparseAttention(sala::FusedSparseAttentionOp op, const StepSizes &s,
                              Costing &c) {
  int64_t denseLen = op.getDenseLen();
  if (denseLen > 0 && s.seqLen() < denseLen)
    costDenseStage2(op, s, c);
  else
    costSparseStage2(op, s, c);
  if (Value gate = op.getGate()) {
    c.readTokens("gate", gate);
    auto [heads, dim] = c.rows(op.getQuery());
    c.cost.flops += gateFlops(s.tokens() * heads * dim);
  }
}

void costSigmoidGate(sala::SigmoidGateOp op, const StepSizes &s, Costing &c) {
  c.readTokens("input", op.getInput());
  c.readTokens("gate", op.getGate());
  c.writeTokens("output", op.getOutput());
  auto [heads, dim] = c.rows(op.getInput());
  c.cost.flops = gateFlops(s.tokens() * heads * dim);
}

void costRMSNorm(sala::RMSNormOp op, const StepSizes &s, Costing &c) {
  c.readTokens("input", op.getInput());
  c.readWhole("weight", op.getWeight());
  c.writeTokens("output", op.getOutput());
  auto [heads, dim] = c.rows(op.getInput());
  int64_t rows = op.getScope() == sala::NormScope::Head ? s.tokens() * heads : s.tokens();
  c.cost.flops = rmsNormFlops(s.tokens() * heads * dim, rows);
}

/// sala-fuse-linear's prefill tail: the input and the gate read once, the
/// output written once (the normalised tensor stays on chip).
void costFusedRMSNormGate(sala::FusedRMSNormGateOp op, const StepSizes &s, Costing &c) {
  c.readTokens("input", op.getInput());
  c.readWhole("out_norm_weight", op.getWeight());
  c.readTokens("gate", op.getGate());
  c.writeTokens("output", op.getOutput());
  auto [heads, dim] = c.rows(op.getInput());
  int64_t elements = s.tokens() * heads * dim;
  c.cost.flops = rmsNormFlops(elements, s.tokens()) + gateFlops(elements);
}

void costRope(sala::RopeOp op, const StepSizes &s, Costing &c) {
  c.readTokens("input", op.getInput());
  c.read("positions", s.tokens() * kIndexBytes, op.getPositions());
  c.writeTokens("output", op.getOutput());
  auto [heads, dim] = c.rows(op.getInput());
  c.cost.flops = ropeFlops(s.tokens() * heads * dim);
}

/// The state of a sequence with context is read once and written once; a
/// fresh sequence starts from zero and reads none.
void readWriteState(Value pool, Value slots, const StepSizes &s, Costing &c) {
  auto t = cast<sala::StatePoolType>(pool.getType());
  int64_t bytes = s.batch * t.getHeads() * t.getHeadDim() * t.getHeadDim() *
                  elementBytes(t.getElementType());
  if (s.context > 0)
    c.read("state", bytes, pool);
  c.write("state", bytes, pool);
  c.read("slots", s.batch * kIndexBytes, slots);
}

/// What every linear attention kernel moves: q, k, v, the state (read and
/// written), the batch metadata and the output.
template <typename LinearOp>
void costLinearTraffic(LinearOp op, const StepSizes &s, Costing &c) {
  c.readTokens("query", op.getQuery());
  c.readTokens("key", op.getKey());
  c.readTokens("value", op.getValue());
  readWriteState(op.getState(), op.getSlots(), s, c);
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  c.writeTokens("output", op.getOutput());
}

/// Chunked in segments (a config `segment`): a segment with a successor
/// first sums its own K^T V (2 L d^2 a chunk, once more), parks it in its
/// chain row, reads it back and publishes the state at its end there, which
/// its successor reads: four f32 d x d states of workspace traffic.
template <typename LinearOp>
void costSegmentChain(LinearOp op, const StepSizes &s, Costing &c) {
  sala::KernelConfigAttr config = kernelConfigOf(op);
  int64_t segment = config ? config.getSegment() : 0;
  if (segment <= 0 || op.getForm() != sala::LinearForm::Chunked)
    return;
  auto pool = op.getState().getType();
  int64_t heads = pool.getHeads(), d = pool.getHeadDim();
  int64_t linked = s.batch * heads * ((s.queryTokens - 1) / segment);
  if (linked == 0)
    return;
  c.cost.flops += linked * (2 * segment * d * d + segment * d + d * d);
  int64_t bytes = linked * d * d * 4;
  c.write("segment chain", 2 * bytes, Value());
  c.read("segment chain", 2 * bytes, Value());
}

/// The linear attention's own flops in `form`: per token, or per chunk of L
/// tokens and head: Q K^T and P V over the chunk (2 L^2 d each), the decay
/// mask (L^2), Q S and K^T V against the state (2 L d^2 each), decayed q and
/// k (2 L d), the state's decay (d^2).
template <typename LinearOp>
int64_t linearFlops(LinearOp op, const StepSizes &s) {
  auto pool = op.getState().getType();
  int64_t heads = pool.getHeads(), d = pool.getHeadDim();
  if (op.getForm() == sala::LinearForm::Recurrent)
    return recurrentFlops(s.tokens(), heads, d);
  int64_t chunk = op.getEffectiveChunkSize(), flops = 0;
  for (int64_t done = 0; done < s.queryTokens; done += chunk) {
    int64_t l = std::min(chunk, s.queryTokens - done);
    flops += 4 * l * l * d + l * l + 4 * l * d * d + 2 * l * d + d * d;
  }
  return s.batch * heads * flops;
}

void costLinearAttention(sala::LinearAttentionOp op, const StepSizes &s, Costing &c) {
  costLinearTraffic(op, s, c);
  c.cost.flops = linearFlops(op, s);
  costSegmentChain(op, s, c);
}

/// sala-fuse-linear's op: the q/k norms, RoPE, the linear attention (either
/// form), the output norm and the gate in one kernel; only its inputs, the
/// state and its output reach memory.
void costFusedLinearAttention(sala::FusedLinearAttentionOp op, const StepSizes &s,
                              Costing &c) {
  auto [heads, dim] = c.rows(op.getQuery());
  int64_t elements = s.tokens() * heads * dim;
  costLinearTraffic(op, s, c);
  int64_t flops = linearFlops(op, s);
  if (Value qw = op.getQNormWeight()) {
    c.readWhole("q_norm_weight", qw);
    c.readWhole("k_norm_weight", op.getKNormWeight());
    flops += 2 * rmsNormFlops(elements, s.tokens() * heads);
  }
  if (Value pos = op.getPositions()) {
    c.read("positions", s.tokens() * kIndexBytes, pos);
    flops += 2 * ropeFlops(elements);
  }
  if (Value ow = op.getOutNormWeight()) {
    c.readWhole("out_norm_weight", ow);
    flops += rmsNormFlops(elements, s.tokens());
  }
  if (Value gate = op.getGate()) {
    c.readTokens("gate", gate);
    flops += gateFlops(elements);
  }
  c.cost.flops = flops;
  costSegmentChain(op, s, c);
}

} // namespace

/// The tiles are the page table's capacity in whole tiles, at most the
/// selected ones (selectedTiles), as the manifest's `split_kv` rule has it.
int64_t salac::splitCount(Operation *op, const StepSizes &s) {
  std::optional<SplitRule> rule = splitRuleOf(kernelConfigOf(op));
  sala::KVCacheType cache;
  for (Type t : op->getOperandTypes())
    if (auto kv = dyn_cast<sala::KVCacheType>(t))
      cache = kv;
  if (!rule || !cache)
    return 1;
  int64_t page = cache.getPageSize();
  int64_t tiles = ceilDiv(ceilDiv(s.seqLen(), page) * page, tileTokens(op));
  if (int64_t selected = selectedTiles(op))
    tiles = std::min(tiles, selected);
  return rule->splits(s.tokens() * cache.getKvHeads(), tiles);
}

namespace {

/// With several splits, each writes its partial O (16 rows x head_dim f32)
/// and (max, sum) rows, which the last one reads back: the kernel's own
/// traffic, on top of what the op needs.
void costSplitWorkspace(Operation *op, const StepSizes &s, Costing &c) {
  int64_t splits = splitCount(op, s);
  if (splits <= 1)
    return;
  auto q = cast<RankedTensorType>(op->getOperand(0).getType());
  int64_t kvh = 1;
  for (Type t : op->getOperandTypes())
    if (auto kv = dyn_cast<sala::KVCacheType>(t))
      kvh = kv.getKvHeads();
  int64_t bytes = s.tokens() * kvh * splits * (16 * q.getDimSize(2) + 16 * 2) * 4;
  c.write("split workspace", bytes, Value());
  c.read("split workspace", bytes, Value());
}

} // namespace

llvm::Expected<KernelCost> salac::costOf(Operation *op, const StepSizes &s) {
  if (s.batch <= 0 || s.context < 0 || s.queryTokens <= 0)
    return llvm::createStringError(
        llvm::formatv("step sizes must be batch >= 1, context >= 0, query tokens >= "
                      "1; got {0}, {1}, {2}",
                      s.batch, s.context, s.queryTokens)
            .str());
  auto model = dyn_cast<KernelCostOpInterface>(op);
  if (!model)
    return llvm::createStringError(
        "no cost model for '" + op->getName().getStringRef().str() +
        "': attach one in registerKernelCostModels (lib/Compiler/KernelCost.cpp)");
  KernelCosting c(s);
  model.addKernelCost(s, c);
  if (c.unsized)
    return llvm::createStringError(
        "'" + op->getName().getStringRef().str() +
        "' has a token tensor with dynamic heads or head_dim: the plan cannot size it");
  return std::move(c.cost);
}

//===----------------------------------------------------------------------===//
// The models, attached to the ops
//===----------------------------------------------------------------------===//

namespace {

/// Split-KV attention: the op's cost plus its splits' workspace.
template <typename OpT, void (*Cost)(OpT, const StepSizes &, Costing &)>
void withSplitWorkspace(OpT op, const StepSizes &s, Costing &c) {
  Cost(op, s, c);
  costSplitWorkspace(op, s, c);
}

/// The model of `OpT`: its cost function.
template <typename OpT, void (*Cost)(OpT, const StepSizes &, Costing &)>
struct CostModel : KernelCostOpInterface::ExternalModel<CostModel<OpT, Cost>, OpT> {
  void addKernelCost(Operation *op, const StepSizes &s, KernelCosting &c) const {
    Cost(cast<OpT>(op), s, c);
  }
};

template <typename OpT, void (*Cost)(OpT, const StepSizes &, Costing &)>
void attach(MLIRContext *ctx) {
  OpT::template attachInterface<CostModel<OpT, Cost>>(*ctx);
}

} // namespace

void salac::registerKernelCostModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, sala::SalaDialect *) {
    attach<sala::KVAppendOp, costKVAppend>(ctx);
    attach<sala::CompressKeysOp, costCompressKeys>(ctx);
    attach<sala::FusedKVUpdateOp, costFusedKVUpdate>(ctx);
    attach<sala::BlockScoresOp, costBlockScores>(ctx);
    attach<sala::TopkBlocksOp, costTopkBlocks>(ctx);
    attach<sala::FusedSparseSelectOp, costFusedSparseSelect>(ctx);
    attach<sala::SparseAttentionOp,
           withSplitWorkspace<sala::SparseAttentionOp, costSparseStage2<sala::SparseAttentionOp>>>(ctx);
    attach<sala::DenseAttentionOp,
           withSplitWorkspace<sala::DenseAttentionOp, costDenseStage2<sala::DenseAttentionOp>>>(ctx);
    attach<sala::FusedSparseAttentionOp,
           withSplitWorkspace<sala::FusedSparseAttentionOp, costFusedSparseAttention>>(ctx);
    attach<sala::LengthSelectOp, costLengthSelect>(ctx);
    attach<sala::SigmoidGateOp, costSigmoidGate>(ctx);
    attach<sala::RMSNormOp, costRMSNorm>(ctx);
    attach<sala::FusedRMSNormGateOp, costFusedRMSNormGate>(ctx);
    attach<sala::RopeOp, costRope>(ctx);
    attach<sala::LinearAttentionOp, costLinearAttention>(ctx);
    attach<sala::FusedLinearAttentionOp, costFusedLinearAttention>(ctx);
  });
}
