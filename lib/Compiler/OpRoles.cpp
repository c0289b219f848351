//===- OpRoles.cpp - the operands of sala ops by their kernels' names -----===//
//
// Each kernel names its parameters after the operands and results of the op it
// implements; this table gives every op with a kernel those names, in operand
// order. A kernel parameter names what it is given by role, with two fixed
// exceptions the planner knows: a !sala.kv_cache operand (role `cache`) is
// two kernel parameters, `k_cache` and `v_cache`, and linear attention's
// `slots` are `slot_ids`. A new op with a kernel needs a case here for the
// mixer plans (MixerPlan.cpp) to bind its launches.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/OpRoles.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace salac;

bool salac::getOpRoles(Operation *op, OpRoles &r) {
  auto in = [&](StringRef name, Value v) {
    if (v)
      r.operands.push_back({name.str(), v});
  };
  auto out = [&](StringRef name, Value v) { r.results.push_back({name.str(), v}); };
  auto batch = [&](Value cu, Value lens) {
    in("cu_seqlens_q", cu);
    in("seq_lens", lens);
  };
  return llvm::TypeSwitch<Operation *, bool>(op)
      .Case([&](sala::KVAppendOp o) {
        in("key", o.getKey());
        in("value", o.getValue());
        in("cache", o.getCache());
        in("page_table", o.getPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        return true;
      })
      .Case([&](sala::FusedKVUpdateOp o) {
        in("key", o.getKey());
        in("value", o.getValue());
        in("cache", o.getCache());
        in("page_table", o.getPageTable());
        in("keys", o.getKeys());
        in("key_page_table", o.getKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        return true;
      })
      .Case([&](sala::CompressKeysOp o) {
        in("cache", o.getCache());
        in("page_table", o.getPageTable());
        in("keys", o.getKeys());
        in("key_page_table", o.getKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        return true;
      })
      .Case([&](sala::BlockScoresOp o) {
        in("query", o.getQuery());
        in("keys", o.getKeys());
        in("key_page_table", o.getKeyPageTable());
        in("lse_keys", o.getLseKeys());
        in("lse_key_page_table", o.getLseKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("scores", o.getScores());
        return true;
      })
      .Case([&](sala::FusedSparseSelectOp o) {
        in("query", o.getQuery());
        in("keys", o.getKeys());
        in("key_page_table", o.getKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("blocks", o.getBlocks());
        return true;
      })
      .Case([&](sala::TopkBlocksOp o) {
        in("scores", o.getScores());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("blocks", o.getBlocks());
        return true;
      })
      .Case([&](sala::SparseAttentionOp o) {
        in("query", o.getQuery());
        in("cache", o.getCache());
        in("page_table", o.getPageTable());
        in("blocks", o.getBlocks());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::FusedSparseAttentionOp o) {
        in("query", o.getQuery());
        in("cache", o.getCache());
        in("page_table", o.getPageTable());
        in("blocks", o.getBlocks());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        in("gate", o.getGate());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::DenseAttentionOp o) {
        in("query", o.getQuery());
        in("cache", o.getCache());
        in("page_table", o.getPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::LengthSelectOp o) {
        in("short_value", o.getShortValue());
        in("long_value", o.getLongValue());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("output", o.getResult());
        return true;
      })
      .Case([&](sala::LinearAttentionOp o) {
        in("query", o.getQuery());
        in("key", o.getKey());
        in("value", o.getValue());
        in("state", o.getState());
        in("slot_ids", o.getSlots());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::FusedLinearAttentionOp o) {
        in("query", o.getQuery());
        in("key", o.getKey());
        in("value", o.getValue());
        in("gate", o.getGate());
        in("q_norm_weight", o.getQNormWeight());
        in("k_norm_weight", o.getKNormWeight());
        in("out_norm_weight", o.getOutNormWeight());
        in("positions", o.getPositions());
        in("state", o.getState());
        in("slot_ids", o.getSlots());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::RMSNormOp o) {
        in("input", o.getInput());
        in("weight", o.getWeight());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::RopeOp o) {
        in("input", o.getInput());
        in("positions", o.getPositions());
        out("output", o.getOutput());
        return true;
      })
      .Case([&](sala::SigmoidGateOp o) {
        in("input", o.getInput());
        in("gate", o.getGate());
        out("output", o.getOutput());
        return true;
      })
      .Default([](Operation *) { return false; });
}
