//===- KernelOpInterface.cpp - what each sala op tells its kernel ---------===//
//
// KernelOpInterface for every op that has a kernel: its operands and results
// under the kernel's parameter names, the kernel's base name, and what the
// kernel is specialised on from its consumers. One place per op, read by the
// GPU conversion (names, dedup keys), the mixer plans (roles) and the
// manifest (specialisation).
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace salac;
using namespace salac::sala;

#include "salac/Dialect/Sala/IR/SalaInterfaces.cpp.inc"

std::string sala::shortTypeName(Type t) {
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "f16";
  if (t.isF32())
    return "f32";
  if (t.isF64())
    return "f64";
  if (t.isSignlessInteger(32))
    return "i32";
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

namespace {
/// "_h<heads>_d<head_dim>_<dtype>" of a [tokens, heads, head_dim] tensor.
std::string shapeSuffix(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return "_h" + std::to_string(t.getDimSize(1)) + "_d" + std::to_string(t.getDimSize(2)) +
         "_" + shortTypeName(t.getElementType());
}
std::string num(int64_t v) { return std::to_string(v); }
std::string cacheSuffix(KVCacheType c) { return "_p" + num(c.getPageSize()); }
std::string windowSuffix(CompressedKeysType k) {
  return "_k" + num(k.getKernelSize()) + "_s" + num(k.getKernelStride());
}
NamedAttrList seqLenAttr(MLIRContext *ctx, StringRef name, int64_t value) {
  NamedAttrList attrs;
  if (value)
    attrs.set(name, Builder(ctx).getI64IntegerAttr(value));
  return attrs;
}
} // namespace

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

void KVAppendOp::getKernelRoles(KernelRoles &r) {
  r.in("key", getKey());
  r.in("value", getValue());
  r.in("cache", getCache());
  r.in("page_table", getPageTable());
  r.batch(getCuSeqlensQ(), getSeqLens());
}
std::string KVAppendOp::getKernelName() {
  return "sala_kv_append" + cacheSuffix(getCache().getType()) + shapeSuffix(getKey());
}

void FusedKVUpdateOp::getKernelRoles(KernelRoles &r) {
  r.in("key", getKey());
  r.in("value", getValue());
  r.in("cache", getCache());
  r.in("page_table", getPageTable());
  r.in("keys", getKeys());
  r.in("key_page_table", getKeyPageTable());
  r.batch(getCuSeqlensQ(), getSeqLens());
}
std::string FusedKVUpdateOp::getKernelName() {
  return "sala_fused_kv_update" + cacheSuffix(getCache().getType()) +
         windowSuffix(getKeys().getType()) + shapeSuffix(getKey());
}

void CompressKeysOp::getKernelRoles(KernelRoles &r) {
  r.in("cache", getCache());
  r.in("page_table", getPageTable());
  r.in("keys", getKeys());
  r.in("key_page_table", getKeyPageTable());
  r.batch(getCuSeqlensQ(), getSeqLens());
}
std::string CompressKeysOp::getKernelName() {
  KVCacheType c = getCache().getType();
  return "sala_compress_keys" + windowSuffix(getKeys().getType()) + cacheSuffix(c) + "_h" +
         num(c.getKvHeads()) + "_d" + num(c.getHeadDim()) + "_" +
         shortTypeName(c.getElementType());
}

//===----------------------------------------------------------------------===//
// Block selection
//===----------------------------------------------------------------------===//

void BlockScoresOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("keys", getKeys());
  r.in("key_page_table", getKeyPageTable());
  r.in("lse_keys", getLseKeys());
  r.in("lse_key_page_table", getLseKeyPageTable());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("scores", getScores());
}
std::string BlockScoresOp::getKernelName() {
  return "sala_block_scores" + windowSuffix(getKeys().getType()) + "_b" +
         num(getBlockSize()) + shapeSuffix(getQuery());
}

void TopkBlocksOp::getKernelRoles(KernelRoles &r) {
  r.in("scores", getScores());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("blocks", getBlocks());
}
std::string TopkBlocksOp::getKernelName() {
  return "sala_topk_blocks_b" + num(getBlockSize()) + "_k" + num(getTopk()) + "_i" +
         num(getInitBlocks()) + "_l" + num(getLocalBlocks()) + "_g" +
         num(getScores().getType().getDimSize(1));
}

int64_t FusedSparseSelectOp::getUnusedBelowSeqLen() {
  if (getBlocks().use_empty())
    return 0;
  int64_t t = 0;
  for (Operation *user : getBlocks().getUsers()) {
    auto fa = dyn_cast<FusedSparseAttentionOp>(user);
    if (!fa || fa.getBlocks() != getBlocks() || fa.getCuSeqlensQ() != getCuSeqlensQ() ||
        fa.getSeqLens() != getSeqLens() || fa.getDenseLen() <= 0 ||
        (t && int64_t(fa.getDenseLen()) != t))
      return 0;
    t = fa.getDenseLen();
  }
  return t;
}
void FusedSparseSelectOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("keys", getKeys());
  r.in("key_page_table", getKeyPageTable());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("blocks", getBlocks());
}
std::string FusedSparseSelectOp::getKernelName() {
  int64_t skip = getUnusedBelowSeqLen();
  return "sala_fused_sparse_select" + windowSuffix(getKeys().getType()) + "_b" +
         num(getBlockSize()) + "_k" + num(getTopk()) + "_i" + num(getInitBlocks()) + "_l" +
         num(getLocalBlocks()) + (skip ? "_from" + num(skip) : "") + shapeSuffix(getQuery());
}
NamedAttrList FusedSparseSelectOp::getKernelSpecialisation() {
  return seqLenAttr(getContext(), "skip_below_seq_len", getUnusedBelowSeqLen());
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

void SparseAttentionOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("cache", getCache());
  r.in("page_table", getPageTable());
  r.in("blocks", getBlocks());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("output", getOutput());
}
std::string SparseAttentionOp::getKernelName() {
  return "sala_sparse_attention_b" + num(getBlockSize()) + "_k" +
         num(getBlocks().getType().getDimSize(2)) + cacheSuffix(getCache().getType()) +
         shapeSuffix(getQuery());
}

void FusedSparseAttentionOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("cache", getCache());
  r.in("page_table", getPageTable());
  r.in("blocks", getBlocks());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.in("gate", getGate());
  r.out("output", getOutput());
}
std::string FusedSparseAttentionOp::getKernelName() {
  return "sala_fused_sparse_attention_b" + num(getBlockSize()) + "_k" +
         num(getBlocks().getType().getDimSize(2)) + cacheSuffix(getCache().getType()) +
         (getDenseLen() ? "_dense" + num(getDenseLen()) : "") + (getGate() ? "_g" : "") +
         shapeSuffix(getQuery());
}

int64_t DenseAttentionOp::getDiscardedFromSeqLen() {
  if (!getOutput().hasOneUse())
    return 0;
  auto sel = dyn_cast<LengthSelectOp>(*getOutput().getUsers().begin());
  if (!sel || sel.getShortValue() != getOutput() || sel.getLongValue() == getOutput() ||
      sel.getCuSeqlensQ() != getCuSeqlensQ() || sel.getSeqLens() != getSeqLens())
    return 0;
  return int64_t(sel.getThreshold());
}
void DenseAttentionOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("cache", getCache());
  r.in("page_table", getPageTable());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("output", getOutput());
}
std::string DenseAttentionOp::getKernelName() {
  int64_t skip = getDiscardedFromSeqLen();
  return "sala_dense_attention" + cacheSuffix(getCache().getType()) +
         (skip ? "_below" + num(skip) : "") + shapeSuffix(getQuery());
}
NamedAttrList DenseAttentionOp::getKernelSpecialisation() {
  return seqLenAttr(getContext(), "skip_from_seq_len", getDiscardedFromSeqLen());
}

void LengthSelectOp::getKernelRoles(KernelRoles &r) {
  r.in("short_value", getShortValue());
  r.in("long_value", getLongValue());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("output", getResult());
}
std::string LengthSelectOp::getKernelName() {
  return "sala_length_select_t" + num(getThreshold()) + shapeSuffix(getShortValue());
}

//===----------------------------------------------------------------------===//
// Linear attention
//===----------------------------------------------------------------------===//

void LinearAttentionOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("key", getKey());
  r.in("value", getValue());
  r.in("state", getState());
  r.in("slot_ids", getSlots());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("output", getOutput());
}
std::string LinearAttentionOp::getKernelName() {
  return "sala_linear_attention_" + stringifyLinearForm(getForm()).str() +
         shapeSuffix(getQuery());
}

void FusedLinearAttentionOp::getKernelRoles(KernelRoles &r) {
  r.in("query", getQuery());
  r.in("key", getKey());
  r.in("value", getValue());
  r.in("gate", getGate());
  r.in("q_norm_weight", getQNormWeight());
  r.in("k_norm_weight", getKNormWeight());
  r.in("out_norm_weight", getOutNormWeight());
  r.in("positions", getPositions());
  r.in("state", getState());
  r.in("slot_ids", getSlots());
  r.batch(getCuSeqlensQ(), getSeqLens());
  r.out("output", getOutput());
}
std::string FusedLinearAttentionOp::getKernelName() {
  // Which stages are fused in: norm, rope (neox or interleaved), out-norm, gate.
  std::string stages;
  if (getQNormWeight())
    stages += "n";
  if (getPositions())
    stages += getRopeStyle() == RopeStyle::NeoX ? "r" : "i";
  if (getOutNormWeight())
    stages += "o";
  if (getGate())
    stages += "g";
  std::string form = getForm() == LinearForm::Chunked ? "_chunked" : "";
  return "sala_fused_linear_attention" + form + (stages.empty() ? "" : "_" + stages) +
         shapeSuffix(getQuery());
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

void FusedRMSNormGateOp::getKernelRoles(KernelRoles &r) {
  r.in("input", getInput());
  r.in("out_norm_weight", getWeight());
  r.in("gate", getGate());
  r.out("output", getOutput());
}
std::string FusedRMSNormGateOp::getKernelName() {
  return "sala_fused_rms_norm_gate" + shapeSuffix(getInput());
}

void RMSNormOp::getKernelRoles(KernelRoles &r) {
  r.in("input", getInput());
  r.in("weight", getWeight());
  r.out("output", getOutput());
}
std::string RMSNormOp::getKernelName() {
  return "sala_rms_norm_" + stringifyNormScope(getScope()).str() + shapeSuffix(getInput());
}

void RopeOp::getKernelRoles(KernelRoles &r) {
  r.in("input", getInput());
  r.in("positions", getPositions());
  r.out("output", getOutput());
}
std::string RopeOp::getKernelName() {
  return "sala_rope_" + stringifyRopeStyle(getStyle()).str() + shapeSuffix(getInput());
}

void SigmoidGateOp::getKernelRoles(KernelRoles &r) {
  r.in("input", getInput());
  r.in("gate", getGate());
  r.out("output", getOutput());
}
std::string SigmoidGateOp::getKernelName() {
  return "sala_sigmoid_gate" + shapeSuffix(getInput());
}
