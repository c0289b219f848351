//===- KernelPlan.cpp - what each kernel launch costs ---------------------===//
//
// costOf: one case per op kind (see KernelPlan.h for what is counted and
// docs/KernelPlan.md for the formulas); planKernelLaunches: the launches of a
// module after convert-sala-to-gpu; printKernelPlan: the report.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/KernelPlan.h"
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include <algorithm>

using namespace mlir;
using namespace salac;

//===----------------------------------------------------------------------===//
// KernelCost, GPUs
//===----------------------------------------------------------------------===//

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

std::optional<GpuSpec> salac::lookupGpu(StringRef name) {
  // Both peaks are the dense bf16 tensor-core rate of an SXM part (the same
  // SMs and clocks); the bandwidths are device-to-device copies measured on
  // the cards (DESIGN.md section 6; bench/ for the H200).
  if (name.equals_insensitive("h100"))
    return GpuSpec{"h100", 132, 3.0e12, 715e12,
                   "H100 SXM: measured copy bandwidth and bf16 tensor peak, DESIGN.md "
                   "section 6"};
  if (name.equals_insensitive("h200"))
    return GpuSpec{"h200", 132, 4.2e12, 715e12,
                   "H200: copy bandwidth measured by salac, 4201 GB/s; bf16 tensor "
                   "peak as H100"};
  return std::nullopt;
}

StringRef salac::supportedGpus() { return "h100, h200"; }

double salac::floorSeconds(int64_t bytes, int64_t flops, const GpuSpec &gpu) {
  return std::max(double(bytes) / gpu.bytesPerSecond, double(flops) / gpu.flopsPerSecond);
}

//===----------------------------------------------------------------------===//
// costOf
//===----------------------------------------------------------------------===//

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t elementBytes(Type t) { return (t.getIntOrFloatBitWidth() + 7) / 8; }

/// Compressed-key entries of a sequence of `n` tokens: one per window of
/// `kernel` tokens, every `stride` tokens (DESIGN.md 2.1).
int64_t keyEntries(int64_t n, int64_t kernel, int64_t stride) {
  return n < kernel ? 0 : (n - kernel) / stride + 1;
}

/// Page-table entries that the items [begin, end) of a sequence span, with
/// `page` items per page.
int64_t pagesSpanned(int64_t begin, int64_t end, int64_t page) {
  return end <= begin ? 0 : (end - 1) / page - begin / page + 1;
}

constexpr int64_t kIndexBytes = 4; // i32 indices, lengths, page-table entries

/// Accumulates one op's cost.
class Costing {
public:
  explicit Costing(const StepSizes &s) : s(s) {}

  void read(StringRef what, int64_t bytes, Value v = {}) { add(what, bytes, false, v); }
  void write(StringRef what, int64_t bytes, Value v = {}) { add(what, bytes, true, v); }

  /// Heads and head dim of a [tokens, heads, head_dim] tensor; both must be
  /// static (else the op is reported as unsized and 0 is returned).
  std::pair<int64_t, int64_t> rows(Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.isDynamicDim(1) || t.isDynamicDim(2)) {
      unsized = true;
      return {0, 0};
    }
    return {t.getDimSize(1), t.getDimSize(2)};
  }
  /// Bytes of a [tokens, heads, head_dim] tensor at this step.
  int64_t tokenBytes(Value v) {
    auto [heads, dim] = rows(v);
    return s.tokens() * heads * dim *
           elementBytes(cast<RankedTensorType>(v.getType()).getElementType());
  }
  void readTokens(StringRef what, Value v) { read(what, tokenBytes(v), v); }
  void writeTokens(StringRef what, Value v) { write(what, tokenBytes(v), v); }
  /// `cu_seqlens_q` [batch + 1] and `seq_lens` [batch], once per kernel
  /// (a fused op's parts share them).
  void readRagged(Value cu, Value lens) {
    if (llvm::any_of(cost.traffic, [](const auto &t) { return t.what == "cu_seqlens_q"; }))
      return;
    read("cu_seqlens_q", (s.batch + 1) * kIndexBytes, cu);
    read("seq_lens", s.batch * kIndexBytes, lens);
  }
  /// Every element of a static tensor (a norm weight).
  void readWhole(StringRef what, Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    read(what, t.getNumElements() * elementBytes(t.getElementType()), v);
  }

  KernelCost cost;
  /// A token tensor had dynamic heads or head dim.
  bool unsized = false;

private:
  void add(StringRef what, int64_t bytes, bool write, Value v) {
    if (bytes > 0)
      cost.traffic.push_back({what.str(), bytes, write, v});
  }
  const StepSizes &s;
};

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

void costLinearAttention(sala::LinearAttentionOp op, const StepSizes &s, Costing &c) {
  auto pool = op.getState().getType();
  int64_t heads = pool.getHeads(), d = pool.getHeadDim();
  c.readTokens("query", op.getQuery());
  c.readTokens("key", op.getKey());
  c.readTokens("value", op.getValue());
  readWriteState(op.getState(), op.getSlots(), s, c);
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  c.writeTokens("output", op.getOutput());
  if (op.getForm() == sala::LinearForm::Recurrent) {
    c.cost.flops = recurrentFlops(s.tokens(), heads, d);
    return;
  }
  // Chunked: per chunk of L tokens and head, Q K^T and P V over the chunk
  // (2 L^2 d each), the decay mask (L^2), Q S and K^T V against the state
  // (2 L d^2 each), decayed q and k (2 L d), the state's decay (d^2).
  int64_t chunk = op.getEffectiveChunkSize(), flops = 0;
  for (int64_t done = 0; done < s.queryTokens; done += chunk) {
    int64_t l = std::min(chunk, s.queryTokens - done);
    flops += 4 * l * l * d + l * l + 4 * l * d * d + 2 * l * d + d * d;
  }
  c.cost.flops = s.batch * heads * flops;
}

/// sala-fuse-linear's op: the q/k norms, RoPE, the recurrent step, the output
/// norm and the gate in one kernel; only its inputs, the state and its
/// output reach memory.
void costFusedLinearAttention(sala::FusedLinearAttentionOp op, const StepSizes &s,
                              Costing &c) {
  auto [heads, dim] = c.rows(op.getQuery());
  int64_t elements = s.tokens() * heads * dim;
  c.readTokens("query", op.getQuery());
  c.readTokens("key", op.getKey());
  c.readTokens("value", op.getValue());
  readWriteState(op.getState(), op.getSlots(), s, c);
  c.readRagged(op.getCuSeqlensQ(), op.getSeqLens());
  c.writeTokens("output", op.getOutput());
  int64_t flops = recurrentFlops(s.tokens(), heads, dim);
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
}

} // namespace

namespace {

/// The split-KV blocks per (token, KV group) the runtime chooses at these
/// sizes: the op's split rule (its kernel config) over tokens x KV heads
/// pairs and the tiles the kernel walks (the page table's capacity in
/// 64-token tiles, at most the selected blocks), as the manifest's
/// `split_kv` rule has it; 1 for a kernel without one.
int64_t splitCount(Operation *op, const StepSizes &s) {
  std::optional<SplitRule> rule = splitRuleOf(kernelConfigOf(op));
  if (!rule)
    return 1;
  sala::KVCacheType cache;
  int64_t selected = 0;
  for (Value v : op->getOperands()) {
    if (auto kv = dyn_cast<sala::KVCacheType>(v.getType()))
      cache = kv;
    else if (auto t = dyn_cast<RankedTensorType>(v.getType());
             t && t.getElementType().isSignlessInteger(32) && t.getRank() == 3)
      selected = t.getDimSize(2); // the selected blocks
  }
  if (!cache)
    return 1;
  int64_t page = cache.getPageSize();
  int64_t tiles = ceilDiv(ceilDiv(s.seqLen(), page) * page, 64);
  if (selected > 0)
    tiles = std::min(tiles, selected);
  return rule->splits(s.tokens() * cache.getKvHeads(), tiles);
}

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
  Costing c(s);
  bool known = true;
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](sala::KVAppendOp o) { costKVAppend(o, s, c); })
      .Case([&](sala::CompressKeysOp o) { costCompressKeys(o, s, c); })
      .Case([&](sala::FusedKVUpdateOp o) { costFusedKVUpdate(o, s, c); })
      .Case([&](sala::BlockScoresOp o) { costBlockScores(o, s, c); })
      .Case([&](sala::TopkBlocksOp o) { costTopkBlocks(o, s, c); })
      .Case([&](sala::FusedSparseSelectOp o) { costFusedSparseSelect(o, s, c); })
      .Case([&](sala::SparseAttentionOp o) { costSparseStage2(o, s, c); })
      .Case([&](sala::DenseAttentionOp o) { costDenseStage2(o, s, c); })
      .Case([&](sala::FusedSparseAttentionOp o) { costFusedSparseAttention(o, s, c); })
      .Case([&](sala::LengthSelectOp o) { costLengthSelect(o, s, c); })
      .Case([&](sala::SigmoidGateOp o) { costSigmoidGate(o, s, c); })
      .Case([&](sala::RMSNormOp o) { costRMSNorm(o, s, c); })
      .Case([&](sala::RopeOp o) { costRope(o, s, c); })
      .Case([&](sala::LinearAttentionOp o) { costLinearAttention(o, s, c); })
      // Fused ops (made by the fusion passes).
      .Case([&](sala::FusedLinearAttentionOp o) { costFusedLinearAttention(o, s, c); })
      .Default([&](Operation *) { known = false; });
  if (isa<sala::SparseAttentionOp, sala::DenseAttentionOp, sala::FusedSparseAttentionOp>(op))
    costSplitWorkspace(op, s, c);
  if (!known)
    return llvm::createStringError(
        "no cost model for '" + op->getName().getStringRef().str() +
        "': add its case to costOf (lib/Compiler/KernelPlan.cpp)");
  if (c.unsized)
    return llvm::createStringError(
        "'" + op->getName().getStringRef().str() +
        "' has a token tensor with dynamic heads or head_dim: the plan cannot size it");
  return std::move(c.cost);
}

//===----------------------------------------------------------------------===//
// planKernelLaunches
//===----------------------------------------------------------------------===//

namespace {

/// "sparse" or "linear" from the function's `sala.mixer`; "other" without one.
std::string mixerKind(func::FuncOp func) {
  if (auto mixer = func->getAttrOfType<sala::MixerAttr>(sala::MixerAttr::kFuncAttrName))
    return sala::stringifyMixerKind(mixer.getKind()).str();
  return "other";
}

/// The value of a grid's scalar parameter at these sizes.
std::optional<int64_t> scalarParam(StringRef name, Operation *op, const StepSizes &s) {
  if (name == "tokens")
    return s.tokens();
  if (name == "batch")
    return s.batch;
  if (name == "max_q_len")
    return s.queryTokens;
  // Split-KV attention: what the op's split rule gives at these sizes.
  if (name == "splits")
    return splitCount(op, s);
  // A fused selection in parts of kSelectPartEntries compressed keys (as the
  // mixer plan sizes it; its cost counts the parts' score workspace).
  if (name == "select_splits")
    for (Type t : op->getOperandTypes())
      if (auto ck = dyn_cast<sala::CompressedKeysType>(t))
        return std::max<int64_t>(
            1, ceilDiv(keyEntries(s.seqLen(), ck.getKernelSize(), ck.getKernelStride()),
                       kSelectPartEntries));
  if (name == "max_blocks")
    if (auto bs = op->getAttrOfType<IntegerAttr>("block_size"))
      return ceilDiv(s.seqLen(), bs.getInt());
  for (Type t : op->getOperandTypes()) {
    if (auto kv = dyn_cast<sala::KVCacheType>(t); kv && name == "max_pages")
      return ceilDiv(s.seqLen(), kv.getPageSize());
    if (auto ck = dyn_cast<sala::CompressedKeysType>(t); ck && name == "max_key_pages")
      return ceilDiv(keyEntries(s.seqLen(), ck.getKernelSize(), ck.getKernelStride()),
                     ck.getPageSize());
  }
  return std::nullopt;
}

llvm::Error fail(const llvm::Twine &msg) { return llvm::createStringError(msg.str()); }

/// Which ops' results matter at these sizes: ops that write memory (caches,
/// state) and ops whose results reach the function's results, where a
/// sala.length_select only uses the input it takes for this sequence length.
llvm::DenseSet<Operation *> neededOps(func::FuncOp func, const StepSizes &s) {
  llvm::DenseSet<Operation *> needed;
  auto usesIt = [&](OpOperand &use) {
    Operation *user = use.getOwner();
    if (!isa<sala::SalaDialect>(user->getDialect()))
      return true; // func.return and anything salac does not plan
    if (!needed.contains(user))
      return false;
    if (auto ls = dyn_cast<sala::LengthSelectOp>(user)) {
      bool isShort = s.seqLen() < int64_t(ls.getThreshold());
      if (use.getOperandNumber() == 0)
        return isShort;
      if (use.getOperandNumber() == 1)
        return !isShort;
    }
    return true;
  };
  for (Block &block : func.getBody())
    for (Operation &op : llvm::reverse(block)) {
      bool need = op.getNumResults() == 0;
      if (auto effects = dyn_cast<MemoryEffectOpInterface>(&op))
        need |= effects.hasEffect<MemoryEffects::Write>();
      else if (!op.hasTrait<OpTrait::ConstantLike>())
        need = true;
      for (OpResult r : op.getResults())
        for (OpOperand &use : r.getUses())
          need |= usesIt(use);
      if (need)
        needed.insert(&op);
    }
  return needed;
}

bool isKernelOp(Operation *op) { return op && op->hasAttr(kKernelAttrName); }

} // namespace

llvm::Expected<std::vector<KernelLaunch>> salac::planKernelLaunches(ModuleOp module,
                                                                    const StepSizes &s) {
  std::vector<KernelLaunch> launches;
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    llvm::DenseSet<Operation *> needed = neededOps(func, s);
    for (Block &block : func.getBody())
      for (Operation &op : block) {
        if (!isa<sala::SalaDialect>(op.getDialect()))
          continue;
        auto ref = op.getAttrOfType<SymbolRefAttr>(kKernelAttrName);
        if (!ref)
          return fail("'" + op.getName().getStringRef() + "' in @" + func.getName() +
                      " has no GPU kernel: the plan would be incomplete");
        StringRef name = ref.getLeafReference().getValue();
        auto fn = kernels ? kernels.lookupSymbol<gpu::GPUFuncOp>(name) : nullptr;
        auto launch = fn ? fn->getAttrOfType<DictionaryAttr>(kLaunchAttrName) : nullptr;
        if (!launch)
          return fail("kernel @" + name + " of '" + op.getName().getStringRef() +
                      "' has no launch rule (" + kLaunchAttrName + ")");
        KernelLaunch l;
        l.mixer = func.getName().str();
        l.kind = mixerKind(func);
        l.kernel = name.str();
        l.op = op.getName().getStringRef().str();
        l.needed = needed.contains(&op);
        if (auto b = dyn_cast_or_null<DenseI64ArrayAttr>(launch.get("block")))
          for (auto [i, v] : llvm::enumerate(b.asArrayRef()))
            if (i < 3)
              l.block[i] = v;
        auto grid = dyn_cast_or_null<ArrayAttr>(launch.get("grid"));
        for (auto [i, dim] :
             llvm::enumerate(grid ? grid.getValue() : ArrayRef<Attribute>())) {
          if (i >= 3)
            break;
          if (auto c = dyn_cast<IntegerAttr>(dim)) {
            l.grid[i] = c.getInt();
            continue;
          }
          auto rule = cast<DictionaryAttr>(dim);
          StringRef param = cast<StringAttr>(rule.get("param")).getValue();
          std::optional<int64_t> v = scalarParam(param, &op, s);
          if (!v)
            return fail("the grid of kernel @" + name + " depends on '" + param +
                        "', which the plan cannot size");
          int64_t mul = cast<IntegerAttr>(rule.get("mul")).getInt();
          int64_t div = cast<IntegerAttr>(rule.get("div")).getInt();
          l.grid[i] = ceilDiv(*v * mul, div);
        }
        if (auto dyn = dyn_cast_or_null<IntegerAttr>(launch.get("shared_bytes")))
          l.sharedBytes = dyn.getInt();
        for (BlockArgument a : fn.getWorkgroupAttributions()) {
          auto t = cast<MemRefType>(a.getType());
          l.sharedBytes += t.getNumElements() * elementBytes(t.getElementType());
        }
        llvm::Expected<KernelCost> cost = costOf(&op, s);
        if (!cost)
          return cost.takeError();
        l.cost = std::move(*cost);
        for (const Traffic &t : l.cost.traffic) {
          if (!t.value)
            continue;
          // A result another kernel reads, or a value another kernel wrote.
          // (Caches and state are function arguments: never intermediate.)
          bool between = t.write ? t.value.getDefiningOp() == &op &&
                                       llvm::any_of(t.value.getUsers(), isKernelOp)
                                 : isKernelOp(t.value.getDefiningOp());
          if (between)
            l.intermediateBytes += t.bytes;
        }
        launches.push_back(std::move(l));
      }
  }
  return launches;
}

void PlanTotals::add(const KernelLaunch &l, const GpuSpec &gpu) {
  ++launches;
  bytes += l.cost.bytes();
  intermediateBytes += l.intermediateBytes;
  flops += l.cost.flops;
  floorSeconds += salac::floorSeconds(l.cost.bytes(), l.cost.flops, gpu);
}

//===----------------------------------------------------------------------===//
// printKernelPlan
//===----------------------------------------------------------------------===//

namespace {

/// Rows of cells, printed with each column as wide as its widest cell and
/// aligned as `align` says ('l' or 'r' per column); a heading row is
/// left-aligned throughout.
class Table {
public:
  explicit Table(std::string align) : align(std::move(align)) {}
  void row(std::vector<std::string> cells) { rows.push_back({std::move(cells), false}); }
  void heading(std::vector<std::string> cells) {
    rows.push_back({std::move(cells), true});
  }
  void print(llvm::raw_ostream &os, StringRef indent) const {
    std::vector<size_t> width;
    for (const Row &r : rows)
      for (size_t i = 0; i < r.cells.size(); ++i) {
        if (width.size() <= i)
          width.push_back(0);
        width[i] = std::max(width[i], r.cells[i].size());
      }
    for (const Row &r : rows) {
      std::string line = indent.str();
      for (size_t i = 0; i < r.cells.size(); ++i) {
        const std::string &cell = r.cells[i];
        std::string pad(width[i] - cell.size(), ' ');
        bool left = r.heading || (i < align.size() && align[i] == 'l');
        line += (i ? "  " : "") + (left ? cell + pad : pad + cell);
      }
      os << StringRef(line).rtrim() << "\n";
    }
  }

private:
  struct Row {
    std::vector<std::string> cells;
    bool heading;
  };
  std::string align;
  std::vector<Row> rows;
};

std::string dims(const std::array<int64_t, 3> &d) {
  return llvm::formatv("{0}x{1}x{2}", d[0], d[1], d[2]).str();
}

std::string micros(double seconds) {
  return llvm::formatv("{0:f3}", seconds * 1e6).str();
}

void printLaunches(llvm::raw_ostream &os, StringRef heading, const StepSizes &s,
                   const GpuSpec &gpu, ArrayRef<KernelLaunch> launches) {
  os << heading << ": " << launches.size() << " launches\n";
  Table t("rllllrrrrrll");
  t.row({"#", "mixer", "kernel", "grid", "block", "shared", "bytes", "intermediate",
         "flops", "floor_us", "bound", "note"});
  for (auto [i, l] : llvm::enumerate(launches)) {
    int64_t bytes = l.cost.bytes();
    bool memory =
        double(bytes) / gpu.bytesPerSecond >= double(l.cost.flops) / gpu.flopsPerSecond;
    std::string note = l.needed ? ""
                                : llvm::formatv("unused at seq_len {0}: length_select "
                                                "takes the other path",
                                                s.seqLen())
                                      .str();
    t.row({std::to_string(i + 1), l.mixer, l.kernel, dims(l.grid), dims(l.block),
           std::to_string(l.sharedBytes), std::to_string(bytes),
           std::to_string(l.intermediateBytes), std::to_string(l.cost.flops),
           micros(floorSeconds(bytes, l.cost.flops, gpu)), memory ? "memory" : "compute",
           note});
  }
  t.print(os, "  ");
  os << "\n";
}

/// Totals of the launches of one kind ("" = all), optionally only the needed
/// ones.
PlanTotals totalsOf(ArrayRef<KernelLaunch> launches, StringRef kind, bool neededOnly,
                    const GpuSpec &gpu) {
  PlanTotals total;
  llvm::StringSet<> mixers;
  for (const KernelLaunch &l : launches) {
    if ((!kind.empty() && l.kind != kind) || (neededOnly && !l.needed))
      continue;
    total.add(l, gpu);
    mixers.insert(l.mixer);
  }
  total.mixers = int64_t(mixers.size());
  return total;
}

} // namespace

void salac::printKernelPlan(llvm::raw_ostream &os, StringRef title, const StepSizes &s,
                            const GpuSpec &gpu, ArrayRef<KernelLaunch> before,
                            ArrayRef<KernelLaunch> after) {
  os << "kernel plan: " << title << "\n"
     << llvm::formatv("  batch {0}, context {1} (tokens cached per sequence), {2} new "
                      "token{3} per sequence: seq_len {4}\n",
                      s.batch, s.context, s.queryTokens, s.queryTokens == 1 ? "" : "s",
                      s.seqLen())
     << llvm::formatv("  gpu {0}: {1:e2} B/s, {2:e2} FLOP/s ({3})\n", gpu.name,
                      gpu.bytesPerSecond, gpu.flopsPerSecond, gpu.source)
     << "  bytes: what each op must read and write, each byte once; intermediate: "
        "the part of them\n"
     << "  that one kernel writes for another (what fusion removes); floor_us = "
        "max(bytes / B/s, flops / FLOP/s)\n\n";
  printLaunches(os, "before fusion", s, gpu, before);
  printLaunches(os, "after fusion", s, gpu, after);

  // Totals, side by side; kinds in order of first appearance.
  std::vector<std::string> kinds;
  for (ArrayRef<KernelLaunch> plan : {before, after})
    for (const KernelLaunch &l : plan)
      if (!llvm::is_contained(kinds, l.kind))
        kinds.push_back(l.kind);
  os << "totals per step (MB = 1e6 bytes; floor_us: the sum of the launches' "
        "floors)\n";
  Table t("lrrrrrrrrrrr");
  t.heading({"", "before fusion", "", "", "", "", "after fusion", "", "", "", "",
             "after - before"});
  t.row({"", "launches", "MB", "intermediate_MB", "GFLOP", "floor_us", "launches", "MB",
         "intermediate_MB", "GFLOP", "floor_us", "floor_us"});
  auto add = [&](const std::string &label, StringRef kind, bool neededOnly) {
    PlanTotals b = totalsOf(before, kind, neededOnly, gpu);
    PlanTotals a = totalsOf(after, kind, neededOnly, gpu);
    int64_t mixers = std::max(b.mixers, a.mixers);
    std::vector<std::string> cells = {
        llvm::formatv("{0} ({1} mixer{2})", label, mixers, mixers == 1 ? "" : "s")};
    for (const PlanTotals &p : {b, a}) {
      cells.push_back(std::to_string(p.launches));
      cells.push_back(llvm::formatv("{0:f3}", p.bytes / 1e6).str());
      cells.push_back(llvm::formatv("{0:f3}", p.intermediateBytes / 1e6).str());
      cells.push_back(llvm::formatv("{0:f3}", p.flops / 1e9).str());
      cells.push_back(micros(p.floorSeconds));
    }
    cells.push_back(micros(a.floorSeconds - b.floorSeconds));
    t.row(std::move(cells));
  };
  for (const std::string &kind : kinds)
    add(kind, kind, false);
  add("step", "", false);
  auto unused = [](const KernelLaunch &l) { return !l.needed; };
  if (llvm::any_of(before, unused) || llvm::any_of(after, unused)) {
    t.heading({"without unused launches:"});
    for (const std::string &kind : kinds)
      add(kind, kind, true);
    add("step", "", true);
  }
  t.print(os, "  ");
}
