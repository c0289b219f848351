//===- RefInterpreter.cpp - run a block with the C++ reference ------------===//
//
// Values flowing between ops are rounded to their tensor's element type when
// they are consumed (a tensor<...xbf16> holds bf16 values, as in the compiled
// block); the block's results are returned as the reference computed them.
//
//===----------------------------------------------------------------------===//
#include "RefInterpreter.h"

#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/ADT/TypeSwitch.h"

#include <deque>

using namespace mlir;
using namespace salac;
using namespace salac::runner;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {

class Interpreter {
public:
  Interpreter(func::FuncOp fn, std::vector<HostValue> &args) : fn(fn) {
    for (auto [arg, value] : llvm::zip(fn.getArguments(), args))
      env[arg] = &value;
  }

  llvm::Expected<std::vector<HostValue>> run();

private:
  HostValue &get(Value v) { return *env.at(v); }
  /// A tensor operand's floats, rounded to its element type.
  std::vector<float> floats(Value v) {
    std::vector<float> data = get(v).tensor.f;
    if (getElementTypeOrSelf(v.getType()).isBF16())
      ref::roundToBF16(data);
    return data;
  }
  const std::vector<int32_t> &ints(Value v) { return get(v).tensor.i; }
  ref::RaggedBatch batch(Value cu, Value lens) { return {ints(cu), ints(lens)}; }
  ref::PageTable table(Value pages) {
    const HostTensor &t = get(pages).tensor;
    return {t.shape.size() == 2 ? t.shape[1] : 0, t.i};
  }
  ref::PagedKVCache &cache(Value c, Value pages) {
    HostValue &v = get(c);
    v.kv.table = table(pages);
    return v.kv;
  }
  ref::CompressedKeys &keys(Value k, Value pages) {
    HostValue &v = get(k);
    v.keys.table = table(pages);
    return v.keys;
  }
  ref::AttentionShape shape(Value query, int64_t kvHeads, std::optional<APFloat> scale) {
    auto type = cast<RankedTensorType>(query.getType());
    ref::AttentionShape s;
    s.numHeads = type.getDimSize(1);
    s.numKVHeads = kvHeads;
    s.headDim = type.getDimSize(2);
    s.scale = scale ? double(scale->convertToFloat()) : 0.0;
    return s;
  }
  /// Binds `result` to a [T, H, D] float tensor.
  void define(Value result, std::vector<float> data) {
    auto type = cast<RankedTensorType>(result.getType());
    HostValue &v = owned.emplace_back();
    v.tensor.elementType = type.getElementType();
    int64_t rowSize = type.getDimSize(1) * type.getDimSize(2);
    v.tensor.shape = {rowSize ? int64_t(data.size()) / rowSize : 0, type.getDimSize(1),
                      type.getDimSize(2)};
    v.tensor.f = std::move(data);
    env[result] = &v;
  }

  ref::Status step(Operation *op);
  ref::Status sparseMixer(sala::SparseMixerOp op);
  ref::Status linearMixer(sala::LinearMixerOp op);

  func::FuncOp fn;
  llvm::DenseMap<Value, HostValue *> env;
  std::deque<HostValue> owned;
};

} // namespace

ref::Status Interpreter::step(Operation *op) {
  using ref::Status;
  return llvm::TypeSwitch<Operation *, Status>(op)
      .Case([&](sala::KVAppendOp o) {
        return ref::kvAppend(batch(o.getCuSeqlensQ(), o.getSeqLens()), floats(o.getKey()),
                             floats(o.getValue()), cache(o.getCache(), o.getPageTable()));
      })
      .Case([&](sala::CompressKeysOp o) {
        bool bf16 = o.getKeys().getType().getElementType().isBF16();
        return ref::compressKeys(batch(o.getCuSeqlensQ(), o.getSeqLens()),
                                 cache(o.getCache(), o.getPageTable()),
                                 keys(o.getKeys(), o.getKeyPageTable()), bf16);
      })
      .Case([&](sala::BlockScoresOp o) {
        ref::Stage1Config cfg;
        cfg.shape = shape(o.getQuery(), o.getKeys().getType().getKvHeads(), o.getScale());
        cfg.blockSize = int64_t(o.getBlockSize());
        cfg.poolKernel = int64_t(o.getPoolKernel());
        cfg.poolStride = int64_t(o.getPoolStride());
        cfg.poolPadding = int64_t(o.getPoolPadding());
        ref::CompressedKeys *k2 = nullptr;
        if (o.getLseKeys()) {
          cfg.lse = ref::LseMode::K2;
          k2 = &keys(o.getLseKeys(), o.getLseKeyPageTable());
        }
        HostValue &out = owned.emplace_back();
        out.kind = HostValue::Kind::Scores;
        env[o.getScores()] = &out;
        return ref::blockScores(cfg, batch(o.getCuSeqlensQ(), o.getSeqLens()),
                                floats(o.getQuery()), keys(o.getKeys(), o.getKeyPageTable()),
                                k2, out.scores);
      })
      .Case([&](sala::TopkBlocksOp o) {
        ref::TopkConfig cfg;
        cfg.blockSize = int64_t(o.getBlockSize());
        cfg.topk = int64_t(o.getTopk());
        cfg.initBlocks = int64_t(o.getInitBlocks());
        cfg.localBlocks = int64_t(o.getLocalBlocks());
        HostValue &in = get(o.getScores());
        ref::BlockScores scores = in.kind == HostValue::Kind::Scores
                                      ? in.scores
                                      : tensorToScores(in.tensor);
        ref::BlockSelection sel;
        Status st =
            ref::topkBlocks(cfg, batch(o.getCuSeqlensQ(), o.getSeqLens()), scores, sel);
        HostValue &out = owned.emplace_back();
        out.tensor.elementType = IntegerType::get(op->getContext(), 32);
        out.tensor.shape = {sel.numTokens, sel.numKVHeads, sel.k};
        out.tensor.i = std::move(sel.indices);
        env[o.getBlocks()] = &out;
        return st;
      })
      .Case([&](sala::SparseAttentionOp o) {
        const HostTensor &blocks = get(o.getBlocks()).tensor;
        ref::BlockSelection sel;
        sel.numTokens = blocks.shape[0];
        sel.numKVHeads = blocks.shape[1];
        sel.k = blocks.shape[2];
        sel.indices = blocks.i;
        std::vector<float> out;
        Status st = ref::sparseAttention(
            shape(o.getQuery(), o.getCache().getType().getKvHeads(), o.getScale()),
            int64_t(o.getBlockSize()), batch(o.getCuSeqlensQ(), o.getSeqLens()),
            floats(o.getQuery()), cache(o.getCache(), o.getPageTable()), sel, out);
        define(o.getOutput(), std::move(out));
        return st;
      })
      .Case([&](sala::DenseAttentionOp o) {
        std::vector<float> out;
        Status st = ref::denseAttention(
            shape(o.getQuery(), o.getCache().getType().getKvHeads(), o.getScale()),
            batch(o.getCuSeqlensQ(), o.getSeqLens()), floats(o.getQuery()),
            cache(o.getCache(), o.getPageTable()), out);
        define(o.getOutput(), std::move(out));
        return st;
      })
      .Case([&](sala::LengthSelectOp o) {
        std::vector<float> out;
        Status st = ref::lengthSelect(batch(o.getCuSeqlensQ(), o.getSeqLens()),
                                      int64_t(o.getThreshold()), floats(o.getShortValue()),
                                      floats(o.getLongValue()), out);
        define(o.getResult(), std::move(out));
        return st;
      })
      .Case([&](sala::LinearAttentionOp o) {
        auto type = cast<RankedTensorType>(o.getQuery().getType());
        ref::LinearAttentionConfig cfg;
        cfg.numHeads = type.getDimSize(1);
        cfg.headDim = type.getDimSize(2);
        cfg.slopes.assign(o.getSlopes().begin(), o.getSlopes().end());
        cfg.scale = o.getScale() ? double(o.getScale()->convertToFloat()) : 0.0;
        cfg.form = o.getForm() == sala::LinearForm::Chunked ? ref::LinearForm::Chunked
                                                            : ref::LinearForm::Recurrent;
        cfg.chunkSize = o.getEffectiveChunkSize();
        std::vector<float> out;
        Status st = ref::linearAttention(
            cfg, batch(o.getCuSeqlensQ(), o.getSeqLens()), floats(o.getQuery()),
            floats(o.getKey()), floats(o.getValue()), get(o.getState()).pool,
            ints(o.getSlots()), out);
        define(o.getOutput(), std::move(out));
        return st;
      })
      .Case([&](sala::RMSNormOp o) {
        auto type = cast<RankedTensorType>(o.getInput().getType());
        std::vector<float> x = floats(o.getInput()), out;
        int64_t H = type.getDimSize(1), D = type.getDimSize(2);
        int64_t T = int64_t(x.size()) / (H * D);
        double eps = o.getEps().convertToFloat();
        Status st = o.getScope() == sala::NormScope::Head
                        ? ref::rmsNormPerHead(x, T, H, D, floats(o.getWeight()), eps, out)
                        : ref::rmsNormFull(x, T, H, D, floats(o.getWeight()), eps, out);
        define(o.getOutput(), std::move(out));
        return st;
      })
      .Case([&](sala::RopeOp o) {
        auto type = cast<RankedTensorType>(o.getInput().getType());
        std::vector<float> x = floats(o.getInput()), out;
        int64_t H = type.getDimSize(1), D = type.getDimSize(2);
        std::vector<int64_t> pos(ints(o.getPositions()).begin(),
                                 ints(o.getPositions()).end());
        Status st = ref::rope(x, int64_t(x.size()) / (H * D), H, D, pos,
                              o.getTheta().convertToFloat(),
                              o.getStyle() == sala::RopeStyle::NeoX
                                  ? ref::RopeStyle::NeoX
                                  : ref::RopeStyle::Interleaved,
                              out);
        define(o.getOutput(), std::move(out));
        return st;
      })
      .Case([&](sala::SigmoidGateOp o) {
        std::vector<float> out;
        Status st = ref::sigmoidGate(floats(o.getInput()), floats(o.getGate()), out);
        define(o.getOutput(), std::move(out));
        return st;
      })
      .Case([&](sala::SparseMixerOp o) { return sparseMixer(o); })
      .Case([&](sala::LinearMixerOp o) { return linearMixer(o); })
      .Default([&](Operation *) {
        return Status::error("no reference for '" + op->getName().getStringRef().str() +
                             "'");
      });
}

ref::Status Interpreter::sparseMixer(sala::SparseMixerOp o) {
  sala::SparseConfigAttr attr = o.getConfig();
  auto keysType = o.getKeys().getType();
  ref::SparseMixerConfig cfg;
  cfg.shape = shape(o.getQuery(), o.getCache().getType().getKvHeads(), o.getScale());
  cfg.kernel1 = attr.getKernelSize();
  cfg.stride1 = attr.getKernelStride();
  cfg.blockSize = attr.getBlockSize();
  cfg.topk = attr.getTopk();
  cfg.windowSize = attr.getWindowSize();
  cfg.initBlocks = attr.getInitBlocks();
  cfg.denseLen = attr.getDenseLen();
  // The max-pool geometry sala-decompose derives: one pool step per block,
  // reaching back over the windows that overlap the block.
  int64_t poolStride = attr.getBlockSize() / attr.getKernelStride();
  cfg.poolKernel = poolStride + 1;
  cfg.poolPadding = std::min(attr.getKernelSize() / attr.getKernelStride() - 1,
                             cfg.poolKernel - 1);
  cfg.roundCompressedToBF16 = keysType.getElementType().isBF16();
  cfg.useOutputGate = bool(o.getGate());
  ref::CompressedKeys *k2 = nullptr;
  if (o.getLseKeys()) {
    k2 = &keys(o.getLseKeys(), o.getLseKeyPageTable());
    cfg.kernel2 = k2->kernel;
    cfg.stride2 = k2->stride;
    cfg.lse = ref::LseMode::K2;
  }
  std::vector<float> out;
  ref::Status st = ref::sparseMixer(
      cfg, batch(o.getCuSeqlensQ(), o.getSeqLens()), floats(o.getQuery()),
      floats(o.getKey()), floats(o.getValue()),
      o.getGate() ? floats(o.getGate()) : std::vector<float>(),
      cache(o.getCache(), o.getPageTable()), keys(o.getKeys(), o.getKeyPageTable()), k2,
      out);
  define(o.getOutput(), std::move(out));
  return st;
}

ref::Status Interpreter::linearMixer(sala::LinearMixerOp o) {
  auto type = cast<RankedTensorType>(o.getQuery().getType());
  ref::LinearMixerConfig cfg;
  cfg.numHeads = type.getDimSize(1);
  cfg.headDim = type.getDimSize(2);
  cfg.eps = o.getEps().convertToFloat();
  cfg.ropeTheta = o.getTheta().convertToFloat();
  cfg.ropeStyle = o.getRopeStyle() == sala::RopeStyle::NeoX ? ref::RopeStyle::NeoX
                                                             : ref::RopeStyle::Interleaved;
  cfg.useRope = bool(o.getPositions());
  cfg.qkNorm = bool(o.getQNormWeight());
  cfg.useOutputNorm = bool(o.getOutNormWeight());
  cfg.useOutputGate = bool(o.getGate());
  cfg.slopes.assign(o.getSlopes().begin(), o.getSlopes().end());
  cfg.scale = o.getScale() ? double(o.getScale()->convertToFloat()) : 0.0;
  cfg.form = o.getMode() == sala::MixerMode::Decode ? ref::LinearForm::Recurrent
                                                    : ref::LinearForm::Chunked;
  cfg.chunkSize = o.getChunkSize() ? int64_t(*o.getChunkSize()) : 64;
  auto optional = [&](Value v) { return v ? floats(v) : std::vector<float>(); };
  std::vector<float> out;
  ref::Status st = ref::linearMixer(
      cfg, batch(o.getCuSeqlensQ(), o.getSeqLens()), floats(o.getQuery()),
      floats(o.getKey()), floats(o.getValue()), optional(o.getGate()),
      optional(o.getQNormWeight()), optional(o.getKNormWeight()),
      optional(o.getOutNormWeight()), get(o.getState()).pool, ints(o.getSlots()), out);
  define(o.getOutput(), std::move(out));
  return st;
}

llvm::Expected<std::vector<HostValue>> Interpreter::run() {
  std::vector<HostValue> results;
  for (Operation &op : fn.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands())
        results.push_back(get(v));
      break;
    }
    ref::Status st = step(&op);
    if (!st.ok())
      return fail("reference (" + op.getName().getStringRef() + "): " + st.message());
  }
  return results;
}

llvm::Expected<std::vector<HostValue>>
salac::runner::interpretBlock(func::FuncOp fn, std::vector<HostValue> &args) {
  return Interpreter(fn, args).run();
}
