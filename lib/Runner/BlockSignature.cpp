//===- BlockSignature.cpp - what each argument of a block is --------------===//
#include "BlockSignature.h"

#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace salac;
using namespace salac::runner;

llvm::StringRef salac::runner::roleName(ArgRole role) {
  switch (role) {
  case ArgRole::Activation:
    return "activation";
  case ArgRole::Weight:
    return "weight";
  case ArgRole::CuSeqlens:
    return "cumulative query lengths";
  case ArgRole::SeqLens:
    return "sequence lengths";
  case ArgRole::Positions:
    return "positions";
  case ArgRole::Slots:
    return "state slots";
  case ArgRole::PageTable:
    return "page table";
  case ArgRole::KVCache:
    return "kv cache";
  case ArgRole::CompressedKeys:
    return "compressed keys";
  case ArgRole::StatePool:
    return "state pool";
  case ArgRole::BlockScores:
    return "block scores";
  case ArgRole::BlockIndices:
    return "block indices";
  }
  return "?";
}

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {

/// Collects roles operand by operand; the first conflict is kept as the error.
class RoleCollector {
public:
  explicit RoleCollector(func::FuncOp fn) : fn(fn), roles(fn.getNumArguments()) {}

  /// `v` is used as `role` by `op` (operand named `what`); `store` is the
  /// store a page table maps.
  void use(Operation *op, StringRef what, Value v, ArgRole role, Value store = {}) {
    if (!v || error)
      return;
    int index = argIndex(v);
    if (index < 0)
      return; // produced inside the block
    std::string use = (what + " of " + op->getName().getStringRef()).str();
    auto &slot = roles[index];
    if (slot) {
      if (slot->role != role || (role == ArgRole::PageTable && slot->store != argIndex(store)))
        error = llvm::formatv("argument #{0} is used as the {1} of {2} and as the {3} of "
                              "{4}: salac run cannot generate it",
                              index, what, op->getName().getStringRef(),
                              roleName(slot->role), slot->use)
                    .str();
      return;
    }
    ArgInfo info;
    info.role = role;
    info.type = v.getType();
    info.use = use;
    if (role == ArgRole::PageTable) {
      info.store = argIndex(store);
      if (info.store < 0)
        error = llvm::formatv("argument #{0} maps a store that is not an argument", index)
                    .str();
    }
    slot = info;
  }

  ArgInfo *info(Value v) {
    int index = argIndex(v);
    return index >= 0 && roles[index] ? &*roles[index] : nullptr;
  }

  int argIndex(Value v) {
    auto arg = dyn_cast_or_null<BlockArgument>(v);
    if (!arg || arg.getOwner() != &fn.getBody().front())
      return -1;
    return int(arg.getArgNumber());
  }

  func::FuncOp fn;
  std::vector<std::optional<ArgInfo>> roles;
  std::optional<std::string> error;
};

void collect(RoleCollector &rc, Operation *op) {
  auto batch = [&](Value cu, Value lens) {
    rc.use(op, "cu_seqlens_q", cu, ArgRole::CuSeqlens);
    rc.use(op, "seq_lens", lens, ArgRole::SeqLens);
  };
  auto act = [&](StringRef what, Value v) { rc.use(op, what, v, ArgRole::Activation); };
  auto cache = [&](Value c, Value pages) {
    rc.use(op, "cache", c, ArgRole::KVCache);
    rc.use(op, "page table", pages, ArgRole::PageTable, c);
  };
  auto keys = [&](Value k, Value pages) {
    rc.use(op, "compressed keys", k, ArgRole::CompressedKeys);
    rc.use(op, "key page table", pages, ArgRole::PageTable, k);
  };
  auto pool = [&](Value state, Value slots) {
    rc.use(op, "state", state, ArgRole::StatePool);
    rc.use(op, "slots", slots, ArgRole::Slots);
    if (ArgInfo *info = rc.info(state)) {
      info->written = true;
      if (!info->stateOp)
        info->stateOp = op;
    }
  };
  // Marks a store written (and appended: entries of this step's tokens).
  auto writes = [&](Value store, Value sourceCache = {}) {
    if (ArgInfo *info = rc.info(store)) {
      info->written = info->appended = true;
      if (sourceCache && info->sourceCache < 0)
        info->sourceCache = rc.argIndex(sourceCache);
    }
  };
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](sala::KVAppendOp o) {
        act("key", o.getKey());
        act("value", o.getValue());
        cache(o.getCache(), o.getPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        writes(o.getCache());
      })
      .Case([&](sala::CompressKeysOp o) {
        cache(o.getCache(), o.getPageTable());
        keys(o.getKeys(), o.getKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        writes(o.getKeys(), o.getCache());
      })
      .Case([&](sala::BlockScoresOp o) {
        act("query", o.getQuery());
        keys(o.getKeys(), o.getKeyPageTable());
        if (o.getLseKeys())
          keys(o.getLseKeys(), o.getLseKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      })
      .Case([&](sala::TopkBlocksOp o) {
        rc.use(op, "scores", o.getScores(), ArgRole::BlockScores);
        if (ArgInfo *info = rc.info(o.getScores()))
          info->blockSize = int64_t(o.getBlockSize());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      })
      .Case([&](sala::SparseAttentionOp o) {
        act("query", o.getQuery());
        cache(o.getCache(), o.getPageTable());
        rc.use(op, "blocks", o.getBlocks(), ArgRole::BlockIndices);
        if (ArgInfo *info = rc.info(o.getBlocks()))
          info->blockSize = int64_t(o.getBlockSize());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      })
      .Case([&](sala::DenseAttentionOp o) {
        act("query", o.getQuery());
        cache(o.getCache(), o.getPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      })
      .Case([&](sala::LengthSelectOp o) {
        act("short_value", o.getShortValue());
        act("long_value", o.getLongValue());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      })
      .Case([&](sala::LinearAttentionOp o) {
        act("query", o.getQuery());
        act("key", o.getKey());
        act("value", o.getValue());
        pool(o.getState(), o.getSlots());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      })
      .Case([&](sala::RMSNormOp o) {
        act("input", o.getInput());
        rc.use(op, "weight", o.getWeight(), ArgRole::Weight);
      })
      .Case([&](sala::RopeOp o) {
        act("input", o.getInput());
        rc.use(op, "positions", o.getPositions(), ArgRole::Positions);
      })
      .Case([&](sala::SigmoidGateOp o) {
        act("input", o.getInput());
        act("gate", o.getGate());
      })
      .Case([&](sala::SparseMixerOp o) {
        act("query", o.getQuery());
        act("key", o.getKey());
        act("value", o.getValue());
        act("gate", o.getGate());
        cache(o.getCache(), o.getPageTable());
        keys(o.getKeys(), o.getKeyPageTable());
        if (o.getLseKeys())
          keys(o.getLseKeys(), o.getLseKeyPageTable());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
        writes(o.getCache());
        writes(o.getKeys(), o.getCache());
        writes(o.getLseKeys(), o.getCache());
      })
      .Case([&](sala::LinearMixerOp o) {
        act("query", o.getQuery());
        act("key", o.getKey());
        act("value", o.getValue());
        act("gate", o.getGate());
        rc.use(op, "q norm weight", o.getQNormWeight(), ArgRole::Weight);
        rc.use(op, "k norm weight", o.getKNormWeight(), ArgRole::Weight);
        rc.use(op, "out norm weight", o.getOutNormWeight(), ArgRole::Weight);
        rc.use(op, "positions", o.getPositions(), ArgRole::Positions);
        pool(o.getState(), o.getSlots());
        batch(o.getCuSeqlensQ(), o.getSeqLens());
      });
}

} // namespace

llvm::Expected<BlockSignature> salac::runner::analyzeBlock(func::FuncOp fn) {
  if (fn.isExternal())
    return fail("@" + fn.getSymName() + " has no body");
  if (!fn.getBody().hasOneBlock())
    return fail("@" + fn.getSymName() + " has more than one block");
  RoleCollector rc(fn);
  for (Operation &op : fn.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      continue;
    if (!isa<sala::SalaDialect>(op.getDialect()))
      return fail(llvm::formatv("@{0} holds '{1}': salac run runs blocks made of sala "
                                "ops only",
                                fn.getSymName(), op.getName().getStringRef()));
    collect(rc, &op);
    if (rc.error)
      return fail(*rc.error);
  }
  BlockSignature sig;
  sig.func = fn;
  for (auto [i, role] : llvm::enumerate(rc.roles)) {
    if (!role)
      return fail(llvm::formatv("argument #{0} of @{1} is not used by any sala op: salac "
                                "run cannot tell what to pass",
                                i, fn.getSymName()));
    sig.args.push_back(*role);
  }
  return sig;
}
