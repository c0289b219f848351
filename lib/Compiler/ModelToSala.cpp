//===- ModelToSala.cpp - model config -> sala module ----------------------===//
#include "salac/Compiler/ModelToSala.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FormatVariadic.h"
#include <cmath>
#include <set>

using namespace mlir;
using namespace salac;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

namespace {
class ModuleBuilder {
public:
  ModuleBuilder(MLIRContext *ctx, const model::ModelConfig &cfg,
                const ModelBuildOptions &opts, const ShardHeads &shard, ModuleOp module)
      : ctx(ctx), cfg(cfg), opts(opts), shard(shard), b(ctx), module(module) {
    b.setInsertionPointToEnd(module.getBody());
  }

  void addSparse(int64_t layer, sala::MixerMode mode);
  void addLinear(int64_t layer, sala::MixerMode mode);

private:
  RankedTensorType tokens(int64_t heads, int64_t dim) {
    return RankedTensorType::get({ShapedType::kDynamic, heads, dim}, b.getBF16Type());
  }
  RankedTensorType weight(int64_t n) {
    return RankedTensorType::get({n}, b.getBF16Type());
  }
  /// Creates the function with `argTypes`; returns its entry block arguments.
  Block *startFunc(int64_t layer, StringRef kind, sala::MixerMode mode,
                   ArrayRef<Type> argTypes, Type result) {
    std::string name = llvm::formatv("layer_{0:02}_{1}_{2}", layer, kind,
                                     sala::stringifyMixerMode(mode));
    auto fn = func::FuncOp::create(b, loc(name), name,
                                   b.getFunctionType(argTypes, {result}));
    auto mixerKind = kind == "sparse" ? sala::MixerKind::Sparse : sala::MixerKind::Linear;
    fn->setAttr(sala::MixerAttr::kFuncAttrName,
                sala::MixerAttr::get(ctx, layer, mixerKind, mode));
    return fn.addEntryBlock();
  }
  Location loc(StringRef name) { return NameLoc::get(b.getStringAttr(name)); }

  MLIRContext *ctx;
  const model::ModelConfig &cfg;
  const ModelBuildOptions &opts;
  ShardHeads shard;
  OpBuilder b;
  ModuleOp module;
};
} // namespace

void ModuleBuilder::addSparse(int64_t layer, sala::MixerMode mode) {
  const model::SparseConfig &s = cfg.sparse;
  int64_t h = shard.queryHeads, kvh = shard.kvHeads, d = cfg.headDim;
  auto bf16 = b.getBF16Type();
  auto kv = sala::KVCacheType::get(ctx, opts.pageSize, kvh, d, bf16);
  // Compressed keys are paged like the cache: 64 entries per page.
  auto k1 = sala::CompressedKeysType::get(ctx, s.kernelSize, s.kernelStride, 64, kvh,
                                          d, bf16);
  auto k2 = sala::CompressedKeysType::get(ctx, s.kernelSize * 4, s.kernelStride * 4,
                                          64, kvh, d, bf16);
  Type pages = sala::getPageTableType(ctx), vec = sala::getIndexVectorType(ctx);
  SmallVector<Type> args = {tokens(h, d), tokens(kvh, d), tokens(kvh, d)};
  if (cfg.attnUseOutputGate)
    args.push_back(tokens(h, d));
  args.append({kv, pages, k1, pages});
  if (opts.lseK2)
    args.append({k2, pages});
  args.append({vec, vec});
  Block *body = startFunc(layer, "sparse", mode, args, tokens(h, d));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(body);
  unsigned i = 0;
  auto next = [&] { return body->getArgument(i++); };
  Value q = next(), k = next(), v = next();
  Value z = cfg.attnUseOutputGate ? next() : Value();
  Value cache = next(), pageTable = next(), keys = next(), keyPages = next();
  Value lse, lsePages;
  if (opts.lseK2) {
    lse = next();
    lsePages = next();
  }
  Value cu = next(), lens = next();
  auto config = sala::SparseConfigAttr::get(ctx, s.kernelSize, s.kernelStride,
                                            s.blockSize, s.topk, s.windowSize,
                                            s.initBlocks, s.denseLen);
  Location l = loc(llvm::formatv("layer {0}", layer).str());
  Value out = sala::SparseMixerOp::create(b, l, tokens(h, d), mode, q, k, v, z, cache,
                                          pageTable, keys, keyPages, lse, lsePages,
                                          cu, lens, config, FloatAttr());
  func::ReturnOp::create(b, l, out);
}

void ModuleBuilder::addLinear(int64_t layer, sala::MixerMode mode) {
  int64_t h = shard.linearHeads, d = cfg.linearHeadDim;
  // The output norm spans all heads: a shard's mixer ends before it (and the
  // gate after it), which the engine applies across ranks.
  bool outNorm = cfg.useOutputNorm && opts.tp == 1;
  bool gate = cfg.useOutputGate && (opts.tp == 1 || !cfg.useOutputNorm);
  auto state = sala::StatePoolType::get(ctx, h, d, b.getF32Type());
  Type vec = sala::getIndexVectorType(ctx);
  SmallVector<Type> args = {tokens(h, d), tokens(h, d), tokens(h, d)};
  if (gate)
    args.push_back(tokens(h, d));
  if (cfg.qkNorm)
    args.append({weight(d), weight(d)});
  if (outNorm)
    args.push_back(weight(h * d));
  if (cfg.lightningUseRope)
    args.push_back(vec);
  args.append({state, vec, vec, vec});
  Block *body = startFunc(layer, "linear", mode, args, tokens(h, d));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(body);
  unsigned i = 0;
  auto next = [&] { return body->getArgument(i++); };
  Value q = next(), k = next(), v = next();
  Value z = gate ? next() : Value();
  Value qw, kw, ow, pos;
  if (cfg.qkNorm) {
    qw = next();
    kw = next();
  }
  if (outNorm)
    ow = next();
  if (cfg.lightningUseRope)
    pos = next();
  Value pool = next(), slots = next(), cu = next(), lens = next();
  double scale = cfg.linearScale();
  FloatAttr scaleAttr;
  if (std::abs(scale - 1.0 / std::sqrt(double(d))) > 1e-12)
    scaleAttr = b.getF32FloatAttr(scale);
  // The shard's heads keep their global decay slopes.
  std::vector<double> all = cfg.linearSlopes();
  SmallVector<double> slopes(all.begin() + shard.firstLinearHead,
                             all.begin() + shard.firstLinearHead + h);
  Location l = loc(llvm::formatv("layer {0}", layer).str());
  Value out = sala::LinearMixerOp::create(
      b, l, tokens(h, d), sala::MixerModeAttr::get(ctx, mode), q, k, v, z, qw, kw, ow, pos,
      pool, slots, cu, lens,
      b.getDenseF64ArrayAttr(slopes), b.getF32FloatAttr(cfg.rmsNormEps),
      b.getF32FloatAttr(cfg.ropeTheta),
      sala::RopeStyleAttr::get(ctx, sala::RopeStyle::NeoX), IntegerAttr(), scaleAttr);
  func::ReturnOp::create(b, l, out);
}

llvm::Expected<ShardHeads> salac::shardHeads(const model::ModelConfig &cfg, int64_t tp,
                                             int64_t rank) {
  if (tp < 1)
    return fail(llvm::formatv("--tp must be at least 1, got {0}", tp));
  if (rank < 0 || rank >= tp)
    return fail(llvm::formatv("--tp-rank {0} is out of range: ranks are 0..{1} for --tp={2}",
                              rank, tp - 1, tp));
  auto divides = [&](StringRef what, int64_t n) -> llvm::Error {
    if (n % tp != 0)
      return fail(llvm::formatv("--tp={0} does not divide {1} ({2})", tp, what, n));
    return llvm::Error::success();
  };
  if (llvm::Error e = divides("num_attention_heads", cfg.numHeads))
    return std::move(e);
  if (llvm::Error e = divides("lightning_nh", cfg.linearHeads))
    return std::move(e);
  int64_t kvh = cfg.numKVHeads;
  if (kvh % tp != 0 && tp % kvh != 0)
    return fail(llvm::formatv("--tp={0} and num_key_value_heads ({1}) must divide one "
                              "another (KV heads are split, or replicated when tp "
                              "exceeds them)",
                              tp, kvh));
  ShardHeads s;
  s.queryHeads = cfg.numHeads / tp;
  s.linearHeads = cfg.linearHeads / tp;
  s.kvHeads = kvh % tp == 0 ? kvh / tp : 1;
  s.firstQueryHead = rank * s.queryHeads;
  s.firstLinearHead = rank * s.linearHeads;
  // Replicated: ranks r * kvh / tp .. hold KV head r / (tp / kvh).
  s.firstKVHead = kvh % tp == 0 ? rank * s.kvHeads : rank / (tp / kvh);
  return s;
}

llvm::Expected<OwningOpRef<ModuleOp>>
salac::buildModelModule(MLIRContext *ctx, const model::ModelConfig &cfg,
                        const ModelBuildOptions &opts) {
  ctx->loadDialect<sala::SalaDialect, func::FuncDialect>();
  if (cfg.linearKVHeads != cfg.linearHeads)
    return fail(llvm::formatv("lightning_nkv ({0}) differs from lightning_nh ({1}): "
                              "grouped linear attention is not supported yet",
                              cfg.linearKVHeads, cfg.linearHeads));
  if (cfg.attnUseRope)
    return fail("attn_use_rope is true: RoPE in the sparse layers is not supported "
                "yet (MiniCPM-SALA's sparse layers are NoPE)");
  if (opts.pageSize <= 0)
    return fail(llvm::formatv("page size must be positive, got {0}", opts.pageSize));
  if (opts.pageSize % cfg.sparse.blockSize != 0 &&
      cfg.sparse.blockSize % opts.pageSize != 0)
    return fail(llvm::formatv("page size {0} and block_size {1} must divide one "
                              "another",
                              opts.pageSize, cfg.sparse.blockSize));
  llvm::Expected<ShardHeads> shard = shardHeads(cfg, opts.tp, opts.tpRank);
  if (!shard)
    return shard.takeError();
  std::vector<int64_t> layers = opts.layers;
  if (layers.empty())
    for (int64_t l = 0; l < cfg.numLayers; ++l)
      layers.push_back(l);
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(ctx));
  (*module)->setAttr("sala.model", StringAttr::get(ctx, cfg.name));
  if (opts.tp > 1) {
    Builder b(ctx);
    (*module)->setAttr("sala.tp", b.getDictionaryAttr(
        {b.getNamedAttr("size", b.getI64IntegerAttr(opts.tp)),
         b.getNamedAttr("rank", b.getI64IntegerAttr(opts.tpRank)),
         b.getNamedAttr("first_query_head", b.getI64IntegerAttr(shard->firstQueryHead)),
         b.getNamedAttr("first_kv_head", b.getI64IntegerAttr(shard->firstKVHead)),
         b.getNamedAttr("first_linear_head", b.getI64IntegerAttr(shard->firstLinearHead))}));
  }
  ModuleBuilder mb(ctx, cfg, opts, *shard, *module);
  std::set<int64_t> seen;
  for (int64_t layer : layers) {
    if (layer < 0 || layer >= cfg.numLayers)
      return fail(llvm::formatv("layer {0} is out of range: the model has {1} "
                                "layers (0..{2})",
                                layer, cfg.numLayers, cfg.numLayers - 1));
    if (!seen.insert(layer).second)
      return fail(llvm::formatv("layer {0} is listed twice", layer));
    for (sala::MixerMode mode : {sala::MixerMode::Decode, sala::MixerMode::Prefill}) {
      if ((mode == sala::MixerMode::Decode && !opts.decode) ||
          (mode == sala::MixerMode::Prefill && !opts.prefill))
        continue;
      if (cfg.mixers[layer] == model::MixerKind::Sparse)
        mb.addSparse(layer, mode);
      else
        mb.addLinear(layer, mode);
    }
  }
  if (failed(verify(*module)))
    return fail("the generated sala module does not verify (see the diagnostics "
                "above)");
  return module;
}
