//===- SalaOps.cpp - sala operation verifiers -----------------------------===//
//
// Every verifier names the operands or attributes involved and their values, so
// that a user who wrote an inconsistent block sees which number to change.
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/IR/SalaLimits.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include <cmath>

using namespace mlir;
using namespace salac::sala;

namespace {
/// [tokens, heads, head_dim] view of an activation tensor.
struct TokenShape {
  int64_t heads, headDim;
  Type elementType;
};
} // namespace

/// I64Attr getters return uint64_t; compare attribute values as signed.
static int64_t s64(uint64_t v) { return static_cast<int64_t>(v); }

static TokenShape shapeOf(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return {t.getDimSize(1), t.getDimSize(2), t.getElementType()};
}

/// Heads and head_dim of activations must be static: kernels specialise on them.
static LogicalResult checkStaticHeads(Operation *op, StringRef name, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.isDynamicDim(1) || t.isDynamicDim(2))
    return op->emitOpError() << name << " must have static heads and head_dim, got "
                             << t;
  return success();
}

static LogicalResult checkHeadDim(Operation *op, StringRef name, int64_t got,
                                  StringRef otherName, int64_t expected) {
  if (got == expected)
    return success();
  return op->emitOpError() << name << " head_dim (" << got << ") does not match "
                           << otherName << " head_dim (" << expected << ")";
}

static LogicalResult checkGQA(Operation *op, int64_t heads, int64_t kvHeads) {
  if (heads % kvHeads == 0)
    return success();
  return op->emitOpError() << "query heads (" << heads
                           << ") must be a multiple of kv_heads (" << kvHeads << ")";
}

static LogicalResult checkScale(Operation *op, std::optional<APFloat> scale) {
  if (!scale)
    return success();
  float s = scale->convertToFloat();
  if (s > 0 && std::isfinite(s))
    return success();
  return op->emitOpError() << "scale must be positive and finite, got " << s;
}

static LogicalResult checkBlockVsPage(Operation *op, int64_t blockSize,
                                      int64_t pageSize) {
  if (blockSize <= 0)
    return op->emitOpError() << "block_size must be positive, got " << blockSize;
  if (blockSize % pageSize == 0 || pageSize % blockSize == 0)
    return success();
  return op->emitOpError() << "block_size (" << blockSize << ") and the cache's page_size ("
                           << pageSize << ") must divide one another";
}

static float defaultScale(Value query, std::optional<APFloat> scale) {
  return scale ? scale->convertToFloat() : 1.0f / std::sqrt(float(shapeOf(query).headDim));
}

/// The decay slopes of linear attention: one per head, finite and >= 0.
static LogicalResult checkSlopes(Operation *op, ArrayRef<double> slopes,
                                 int64_t heads) {
  if (int64_t(slopes.size()) != heads)
    return op->emitOpError() << "slopes has " << slopes.size()
                             << " entries but there are " << heads << " heads";
  for (auto [h, s] : llvm::enumerate(slopes))
    if (!(s >= 0) || !std::isfinite(s))
      return op->emitOpError() << "slopes[" << h
                               << "] must be finite and non-negative, got " << s;
  return success();
}

static LogicalResult checkWeight(Operation *op, StringRef name, Value w,
                                 int64_t expected, StringRef what) {
  int64_t n = cast<RankedTensorType>(w.getType()).getDimSize(0);
  if (n == expected)
    return success();
  return op->emitOpError() << name << " has " << n << " elements but " << what << " is "
                           << expected;
}

//===----------------------------------------------------------------------===//
// Cache maintenance
//===----------------------------------------------------------------------===//

/// What kv_append (and the fused update) checks: new keys against the cache.
static LogicalResult verifyAppend(Operation *op, Value key, KVCacheType cache) {
  if (failed(checkStaticHeads(op, "key", key)))
    return failure();
  TokenShape k = shapeOf(key);
  if (k.heads != cache.getKvHeads())
    return op->emitOpError() << "key has " << k.heads
                             << " heads but the cache has kv_heads = " << cache.getKvHeads();
  if (failed(checkHeadDim(op, "key", k.headDim, "cache", cache.getHeadDim())))
    return failure();
  if (k.elementType != cache.getElementType())
    return op->emitOpError() << "key element type " << k.elementType
                             << " differs from the cache's " << cache.getElementType();
  return success();
}

/// What compress_keys (and the fused update) checks: the store against the cache.
static LogicalResult verifyCompress(Operation *op, KVCacheType cache,
                                    CompressedKeysType keys) {
  if (cache.getKvHeads() != keys.getKvHeads())
    return op->emitOpError() << "cache kv_heads (" << cache.getKvHeads()
                             << ") differs from compressed keys kv_heads ("
                             << keys.getKvHeads() << ")";
  return checkHeadDim(op, "compressed keys", keys.getHeadDim(), "cache", cache.getHeadDim());
}

LogicalResult KVAppendOp::verify() {
  return verifyAppend(*this, getKey(), getCache().getType());
}

LogicalResult CompressKeysOp::verify() {
  return verifyCompress(*this, getCache().getType(), getKeys().getType());
}

LogicalResult FusedKVUpdateOp::verify() {
  if (failed(verifyAppend(*this, getKey(), getCache().getType())))
    return failure();
  return verifyCompress(*this, getCache().getType(), getKeys().getType());
}

//===----------------------------------------------------------------------===//
// Sparse attention
//===----------------------------------------------------------------------===//

float BlockScoresOp::getEffectiveScale() { return defaultScale(getQuery(), getScale()); }
float FusedSparseSelectOp::getEffectiveScale() {
  return defaultScale(getQuery(), getScale());
}
float SparseAttentionOp::getEffectiveScale() {
  return defaultScale(getQuery(), getScale());
}
float FusedSparseAttentionOp::getEffectiveScale() {
  return defaultScale(getQuery(), getScale());
}
float DenseAttentionOp::getEffectiveScale() {
  return defaultScale(getQuery(), getScale());
}
float LinearAttentionOp::getEffectiveScale() {
  return defaultScale(getQuery(), getScale());
}
int64_t LinearAttentionOp::getEffectiveChunkSize() {
  return getChunkSize() ? s64(*getChunkSize()) : 64;
}

/// What block_scores and fused_sparse_select both check: the query against
/// the compressed keys, the group and the pooling window; `kvHeadsOut` is the
/// result's KV-head dimension (dynamic is fine).
/// An op's size attribute past its bound (SalaLimits.h): an error naming
/// both, or success.
static LogicalResult checkAtMost(Operation *op, StringRef name, int64_t v, int64_t bound) {
  if (v <= bound)
    return success();
  return op->emitOpError() << name << " must be at most " << bound << ", got " << v;
}

static LogicalResult verifyStage1(Operation *op, Value query, CompressedKeysType keys,
                                  std::optional<APFloat> scale, int64_t group,
                                  int64_t block, int64_t poolKernel, int64_t poolStride,
                                  int64_t poolPadding, int64_t kvHeadsOut) {
  if (failed(checkStaticHeads(op, "query", query)) || failed(checkScale(op, scale)))
    return failure();
  TokenShape q = shapeOf(query);
  if (failed(checkHeadDim(op, "query", q.headDim, "compressed keys", keys.getHeadDim())))
    return failure();
  int64_t kvHeads = keys.getKvHeads();
  if (group <= 0)
    return op->emitOpError() << "group_size must be positive, got " << group;
  if (q.heads != group * kvHeads)
    return op->emitOpError() << "query heads (" << q.heads << ") must equal group_size ("
                             << group << ") x kv_heads (" << kvHeads << ")";
  int64_t stride = keys.getKernelStride();
  if (block <= 0 || block % stride != 0)
    return op->emitOpError() << "block_size (" << block
                             << ") must be a positive multiple of the compressed keys' "
                                "kernel_stride ("
                             << stride << ")";
  if (poolKernel <= 0 || poolStride <= 0)
    return op->emitOpError() << "pool_kernel (" << poolKernel << ") and pool_stride ("
                             << poolStride << ") must be positive";
  if (failed(checkAtMost(op, "block_size", block, kMaxBlockSize)) ||
      failed(checkAtMost(op, "pool_kernel", poolKernel, kMaxBlockSize)))
    return failure();
  if (poolStride * stride != block)
    return op->emitOpError() << "pool_stride (" << poolStride << ") x kernel_stride ("
                             << stride << ") must equal block_size (" << block << ")";
  if (poolPadding < 0 || poolPadding >= poolKernel)
    return op->emitOpError() << "pool_padding (" << poolPadding
                             << ") must be in [0, pool_kernel = " << poolKernel << ")";
  if (kvHeadsOut != ShapedType::kDynamic && kvHeadsOut != kvHeads)
    return op->emitOpError() << "result has " << kvHeadsOut
                             << " KV heads but the compressed keys have " << kvHeads;
  return success();
}

/// What topk_blocks and fused_sparse_select both check: the selection sizes
/// against the result's last dimension.
static LogicalResult verifySelection(Operation *op, int64_t block, int64_t topk,
                                     int64_t initBlocks, int64_t localBlocks,
                                     RankedTensorType blocks) {
  if (block <= 0)
    return op->emitOpError() << "block_size must be positive, got " << block;
  if (topk < 0 || initBlocks < 0 || localBlocks < 0)
    return op->emitOpError() << "topk (" << topk << "), init_blocks (" << initBlocks
                             << ") and local_blocks (" << localBlocks
                             << ") must be non-negative";
  if (failed(checkAtMost(op, "block_size", block, kMaxBlockSize)) ||
      failed(checkAtMost(op, "topk", topk, kMaxSelectedBlocks)) ||
      failed(checkAtMost(op, "init_blocks", initBlocks, kMaxSelectedBlocks)) ||
      failed(checkAtMost(op, "local_blocks", localBlocks, kMaxWindowTokens)))
    return failure();
  int64_t k = topk + localBlocks;
  if (k == 0)
    return op->emitOpError() << "selects no blocks: topk and local_blocks are both 0";
  if (blocks.isDynamicDim(2) || blocks.getDimSize(2) != k)
    return op->emitOpError() << "result must hold topk (" << topk << ") + local_blocks ("
                             << localBlocks << ") = " << k << " blocks per row, got "
                             << blocks;
  return success();
}

LogicalResult BlockScoresOp::verify() {
  auto keys = getKeys().getType();
  if (failed(verifyStage1(*this, getQuery(), keys, getScale(), s64(getGroupSize()),
                          s64(getBlockSize()), s64(getPoolKernel()), s64(getPoolStride()),
                          s64(getPoolPadding()), getScores().getType().getDimSize(1))))
    return failure();
  if (Value lse = getLseKeys()) {
    if (!getLseKeyPageTable())
      return emitOpError() << "lse keys given without their page table";
    auto k2 = cast<CompressedKeysType>(lse.getType());
    if (k2.getKvHeads() != keys.getKvHeads() || k2.getHeadDim() != keys.getHeadDim())
      return emitOpError() << "lse keys (kv_heads " << k2.getKvHeads() << ", head_dim "
                           << k2.getHeadDim() << ") differ from the keys (kv_heads "
                           << keys.getKvHeads() << ", head_dim " << keys.getHeadDim() << ")";
    if (k2.getKernelStride() % keys.getKernelStride() != 0)
      return emitOpError() << "lse keys kernel_stride (" << k2.getKernelStride()
                           << ") must be a multiple of the keys' (" << keys.getKernelStride()
                           << ")";
  }
  return success();
}

LogicalResult TopkBlocksOp::verify() {
  auto blocks = getBlocks().getType();
  if (failed(verifySelection(*this, s64(getBlockSize()), s64(getTopk()),
                             s64(getInitBlocks()), s64(getLocalBlocks()), blocks)))
    return failure();
  auto scores = getScores().getType();
  if (scores.getDimSize(1) != blocks.getDimSize(1))
    return emitOpError() << "scores have " << scores.getDimSize(1)
                         << " KV heads but the result has " << blocks.getDimSize(1);
  return success();
}

LogicalResult FusedSparseSelectOp::verify() {
  auto blocks = getBlocks().getType();
  if (failed(verifyStage1(*this, getQuery(), getKeys().getType(), getScale(),
                          s64(getGroupSize()), s64(getBlockSize()), s64(getPoolKernel()),
                          s64(getPoolStride()), s64(getPoolPadding()),
                          blocks.getDimSize(1))) ||
      failed(verifySelection(*this, s64(getBlockSize()), s64(getTopk()),
                             s64(getInitBlocks()), s64(getLocalBlocks()), blocks)))
    return failure();
  if (int64_t selected = getTopk() + getLocalBlocks(); selected > kMaxSelected)
    return emitOpError() << "selects " << selected << " blocks (topk + local_blocks); the "
                         << "fused selection takes at most " << kMaxSelected
                         << " (leave larger selections unfused)";
  return success();
}

static LogicalResult verifyAttention(Operation *op, Value query, KVCacheType cache,
                                     Value output, std::optional<APFloat> scale) {
  if (failed(checkStaticHeads(op, "query", query)) || failed(checkScale(op, scale)))
    return failure();
  TokenShape q = shapeOf(query);
  if (failed(checkGQA(op, q.heads, cache.getKvHeads())) ||
      failed(checkHeadDim(op, "query", q.headDim, "cache", cache.getHeadDim())))
    return failure();
  auto qt = cast<RankedTensorType>(query.getType());
  auto ot = cast<RankedTensorType>(output.getType());
  if (qt.getShape() != ot.getShape())
    return op->emitOpError() << "result shape " << ot << " differs from query shape "
                             << qt;
  return success();
}

/// Stage 2 (sparse_attention, fused_sparse_attention): the attention checks,
/// the block against the page, the selection's KV heads against the cache's.
static LogicalResult verifyStage2(Operation *op, Value query, KVCacheType cache,
                                  RankedTensorType blocks, Value output,
                                  std::optional<APFloat> scale, int64_t blockSize) {
  if (failed(verifyAttention(op, query, cache, output, scale)) ||
      failed(checkBlockVsPage(op, blockSize, cache.getPageSize())))
    return failure();
  if (blocks.getDimSize(1) != cache.getKvHeads())
    return op->emitOpError() << "block indices have " << blocks.getDimSize(1)
                             << " KV heads but the cache has kv_heads = "
                             << cache.getKvHeads();
  return success();
}

LogicalResult SparseAttentionOp::verify() {
  return verifyStage2(*this, getQuery(), getCache().getType(), getBlocks().getType(),
                      getOutput(), getScale(), s64(getBlockSize()));
}

LogicalResult FusedSparseAttentionOp::verify() {
  if (failed(verifyStage2(*this, getQuery(), getCache().getType(), getBlocks().getType(),
                          getOutput(), getScale(), s64(getBlockSize()))))
    return failure();
  if (s64(getDenseLen()) < 0)
    return emitOpError() << "dense_len must be non-negative (0: every length sparse), got "
                         << s64(getDenseLen());
  if (Value gate = getGate(); gate && gate.getType() != getQuery().getType())
    return emitOpError() << "gate type " << gate.getType() << " differs from query type "
                         << getQuery().getType();
  return success();
}

LogicalResult DenseAttentionOp::verify() {
  return verifyAttention(*this, getQuery(), getCache().getType(), getOutput(),
                         getScale());
}

LogicalResult LengthSelectOp::verify() {
  if (s64(getThreshold()) < 0)
    return emitOpError() << "threshold must be non-negative, got " << s64(getThreshold());
  return success();
}

//===----------------------------------------------------------------------===//
// Linear attention and elementwise ops
//===----------------------------------------------------------------------===//

static LogicalResult checkStateMatches(Operation *op, TokenShape q,
                                       StatePoolType state) {
  if (state.getHeads() != q.heads)
    return op->emitOpError() << "query has " << q.heads << " heads but the state pool has "
                             << state.getHeads();
  return checkHeadDim(op, "query", q.headDim, "state pool", state.getHeadDim());
}

/// An optional chunk_size: only where a chunked form runs (`applies`, else
/// "chunk_size is only meaningful <where>"), positive and within bounds.
static LogicalResult checkChunkSize(Operation *op, std::optional<uint64_t> chunk,
                                    bool applies, StringRef where) {
  if (!chunk)
    return success();
  if (!applies)
    return op->emitOpError() << "chunk_size is only meaningful " << where;
  if (s64(*chunk) <= 0)
    return op->emitOpError() << "chunk_size must be positive, got " << s64(*chunk);
  return checkAtMost(op, "chunk_size", s64(*chunk), kMaxChunkSize);
}

LogicalResult LinearAttentionOp::verify() {
  if (failed(checkStaticHeads(*this, "query", getQuery())) ||
      failed(checkScale(*this, getScale())))
    return failure();
  TokenShape q = shapeOf(getQuery());
  if (failed(checkStateMatches(*this, q, getState().getType())) ||
      failed(checkSlopes(*this, getSlopes(), q.heads)) ||
      failed(checkChunkSize(*this, getChunkSize(), getForm() == LinearForm::Chunked,
                            "for the chunked form")))
    return failure();
  if (cast<RankedTensorType>(getOutput().getType()).getShape() !=
      cast<RankedTensorType>(getQuery().getType()).getShape())
    return emitOpError() << "result shape differs from query shape";
  return success();
}

LogicalResult FusedRMSNormGateOp::verify() {
  if (failed(checkStaticHeads(*this, "input", getInput())))
    return failure();
  TokenShape x = shapeOf(getInput());
  if (!(getEps().convertToFloat() > 0))
    return emitOpError() << "eps must be positive, got " << getEps().convertToFloat();
  return checkWeight(*this, "weight", getWeight(), x.heads * x.headDim, "heads x head_dim");
}

LogicalResult RMSNormOp::verify() {
  if (failed(checkStaticHeads(*this, "input", getInput())))
    return failure();
  TokenShape x = shapeOf(getInput());
  if (!(getEps().convertToFloat() > 0))
    return emitOpError() << "eps must be positive, got " << getEps().convertToFloat();
  if (getScope() == NormScope::Head)
    return checkWeight(*this, "weight", getWeight(), x.headDim, "head_dim");
  return checkWeight(*this, "weight", getWeight(), x.heads * x.headDim,
                     "heads x head_dim");
}

LogicalResult RopeOp::verify() {
  if (failed(checkStaticHeads(*this, "input", getInput())))
    return failure();
  TokenShape x = shapeOf(getInput());
  if (x.headDim % 2 != 0)
    return emitOpError() << "head_dim must be even for RoPE, got " << x.headDim;
  if (!(getTheta().convertToFloat() > 0))
    return emitOpError() << "theta must be positive, got " << getTheta().convertToFloat();
  return success();
}

//===----------------------------------------------------------------------===//
// Composite mixers
//===----------------------------------------------------------------------===//

LogicalResult SparseMixerOp::verify() {
  if (failed(checkStaticHeads(*this, "query", getQuery())) ||
      failed(checkStaticHeads(*this, "key", getKey())) ||
      failed(checkScale(*this, getScale())))
    return failure();
  if (getGate() && getGate().getType() != getQuery().getType())
    return emitOpError() << "gate type " << getGate().getType()
                         << " differs from query type " << getQuery().getType();
  TokenShape q = shapeOf(getQuery()), k = shapeOf(getKey());
  auto cache = getCache().getType();
  auto keys = getKeys().getType();
  if (k.heads != cache.getKvHeads())
    return emitOpError() << "key has " << k.heads << " heads but the cache has kv_heads = "
                         << cache.getKvHeads();
  if (failed(checkGQA(*this, q.heads, cache.getKvHeads())) ||
      failed(checkHeadDim(*this, "query", q.headDim, "cache", cache.getHeadDim())) ||
      failed(checkHeadDim(*this, "key", k.headDim, "cache", cache.getHeadDim())) ||
      failed(checkHeadDim(*this, "compressed keys", keys.getHeadDim(), "cache",
                          cache.getHeadDim())))
    return failure();
  if (k.elementType != cache.getElementType())
    return emitOpError() << "key element type " << k.elementType
                         << " differs from the cache's " << cache.getElementType();
  if (keys.getKvHeads() != cache.getKvHeads())
    return emitOpError() << "compressed keys kv_heads (" << keys.getKvHeads()
                         << ") differs from the cache's (" << cache.getKvHeads() << ")";
  SparseConfigAttr cfg = getConfig();
  if (keys.getKernelSize() != cfg.getKernelSize() ||
      keys.getKernelStride() != cfg.getKernelStride())
    return emitOpError() << "compressed keys (kernel_size " << keys.getKernelSize()
                         << ", kernel_stride " << keys.getKernelStride()
                         << ") do not match config (kernel_size " << cfg.getKernelSize()
                         << ", kernel_stride " << cfg.getKernelStride() << ")";
  if (failed(checkBlockVsPage(*this, cfg.getBlockSize(), cache.getPageSize())))
    return failure();
  if (Value lse = getLseKeys()) {
    auto k2 = cast<CompressedKeysType>(lse.getType());
    if (k2.getKvHeads() != cache.getKvHeads() || k2.getHeadDim() != cache.getHeadDim())
      return emitOpError() << "lse keys (kv_heads " << k2.getKvHeads() << ", head_dim "
                           << k2.getHeadDim() << ") do not match the cache";
    if (k2.getKernelStride() % keys.getKernelStride() != 0)
      return emitOpError() << "lse keys kernel_stride (" << k2.getKernelStride()
                           << ") must be a multiple of the keys' ("
                           << keys.getKernelStride() << ")";
  }
  return success();
}

/// The checks a linear mixer and its fused decode form share: shapes, gate,
/// state, slopes, the optional norm weights and RoPE; `checkEps` runs before
/// the theta check (each op has its own eps attributes).
template <typename OpT>
static LogicalResult verifyLinearStages(OpT op, function_ref<LogicalResult()> checkEps) {
  if (failed(checkStaticHeads(op, "query", op.getQuery())) ||
      failed(checkScale(op, op.getScale())))
    return failure();
  TokenShape q = shapeOf(op.getQuery());
  if (op.getGate() && op.getGate().getType() != op.getQuery().getType())
    return op.emitOpError() << "gate type " << op.getGate().getType()
                            << " differs from query type " << op.getQuery().getType();
  if (failed(checkStateMatches(op, q, op.getState().getType())) ||
      failed(checkSlopes(op, op.getSlopes(), q.heads)))
    return failure();
  if (op.getQNormWeight() &&
      (failed(checkWeight(op, "q norm weight", op.getQNormWeight(), q.headDim,
                          "head_dim")) ||
       failed(checkWeight(op, "k norm weight", op.getKNormWeight(), q.headDim,
                          "head_dim"))))
    return failure();
  if (op.getOutNormWeight() &&
      failed(checkWeight(op, "out norm weight", op.getOutNormWeight(),
                         q.heads * q.headDim, "heads x head_dim")))
    return failure();
  if (op.getPositions() && q.headDim % 2 != 0)
    return op.emitOpError() << "head_dim must be even for RoPE, got " << q.headDim;
  if (failed(checkEps()))
    return failure();
  if (!(op.getTheta().convertToFloat() > 0))
    return op.emitOpError() << "theta must be positive, got "
                            << op.getTheta().convertToFloat();
  return success();
}

/// `name` (an eps) must be positive.
static LogicalResult checkPositive(Operation *op, StringRef name, APFloat value) {
  if (!(value.convertToFloat() > 0))
    return op->emitOpError() << name << " must be positive, got " << value.convertToFloat();
  return success();
}

LogicalResult LinearMixerOp::verify() {
  if (failed(verifyLinearStages(*this, [&] { return checkPositive(*this, "eps", getEps()); })))
    return failure();
  return checkChunkSize(*this, getChunkSize(), getMode() == MixerMode::Prefill,
                        "in prefill mode");
}

LogicalResult FusedLinearAttentionOp::verify() {
  if (failed(verifyLinearStages(*this, [&] {
        if (failed(checkPositive(*this, "qk_eps", getQkEps())))
          return failure();
        return checkPositive(*this, "out_eps", getOutEps());
      })))
    return failure();
  return checkChunkSize(*this, getChunkSize(), getForm() == LinearForm::Chunked,
                        "for the chunked form");
}

float FusedLinearAttentionOp::getEffectiveScale() {
  return defaultScale(getQuery(), getScale());
}

int64_t FusedLinearAttentionOp::getEffectiveChunkSize() {
  return getChunkSize() ? s64(*getChunkSize()) : 64;
}

#define GET_OP_CLASSES
#include "salac/Dialect/Sala/IR/SalaOps.cpp.inc"
