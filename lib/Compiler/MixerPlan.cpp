//===- MixerPlan.cpp - how to run a whole mixer from its kernels ----------===//
//
// Kernels name their parameters after the operands and results of the op they
// implement (query, key, page_table, output...), with a few fixed exceptions:
// a !sala.kv_cache operand is two pools, `k_cache` and `v_cache`; the slots of
// linear attention are `slot_ids`; scalar parameters are sizes. So a launch is
// bound by name: each op lists its operands and results under those names
// (KernelOpInterface::getKernelRoles), and a pointer parameter that matches none of them
// is a workspace of the kernel (its meaning says whether it must start at 0).
//
// The function's arguments are named after the roles they play, looking
// through the ops that only transform a token tensor: q reaches the linear
// attention as its `query` through RMSNorm and RoPE, so it is `query`, and the
// RMSNorm weight applied to it is `q_norm_weight`.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/MixerPlan.h"
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Conversion/SalaToGPU/SalaToGPU.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace salac;

namespace {

std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

/// A kernel parameter as the `sala.launch` attribute of its gpu.func has it.
struct KernelParam {
  std::string name, kind, dtype, meaning;
  llvm::json::Array shape;
};

class Planner {
public:
  Planner(func::FuncOp fn) : fn(fn) {}
  llvm::Expected<MixerPlan> run();

private:
  llvm::Error fail(const llvm::Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
  }
  llvm::Error collectOps();
  void nameArguments();
  void nameIntermediates();
  std::string traceName(Value v, unsigned depth);
  std::string argumentName(BlockArgument arg);
  llvm::Error bindLaunch(Operation *op, const sala::KernelRoles &roles);
  llvm::Error recordShape(MixerBuffer &buf, const KernelParam &p, StringRef kernel,
                          Type valueType);
  void planSizes();
  void readNameAndLayer();

  func::FuncOp fn;
  MixerPlan plan;
  SmallVector<std::pair<Operation *, sala::KernelRoles>> ops;
  // Uses of each value in program order: (role name, op).
  llvm::DenseMap<Value, SmallVector<std::pair<std::string, Operation *>>> uses;
  llvm::DenseMap<Value, unsigned> intermediateOf;  // op result -> plan.intermediates
  llvm::StringSet<> names;  // every buffer's: arguments', intermediates', workspaces'
  // Which kernel parameter gave each buffer its shape, for error messages.
  llvm::StringMap<std::string> shapeSource;
  // The block size of the ops whose scores are max_blocks wide (for its bound).
  int64_t blockSize = 0;
  // The split-KV rule of the launch that takes `splits` (its kernel config),
  // and the tiles a split-KV sparse kernel visits (selectedTiles).
  std::optional<SplitRule> splitRule;
  int64_t sparseTiles = 0;
  int64_t splitTileTokens = 0; // tokens a tile of the split-KV kernel (its config's)
  int64_t segmentTokens = 0;   // tokens a segment of the chunked linear kernel
};

llvm::Error Planner::collectOps() {
  if (fn.isExternal())
    return fail("it has no body");
  if (!fn.getBody().hasOneBlock())
    return fail("its body has more than one block");
  for (Operation &op : fn.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands())
        uses[v].push_back({"return", &op});
      continue;
    }
    if (!isa<sala::SalaDialect>(op.getDialect()))
      return fail("'" + op.getName().getStringRef() +
                  "' is not a sala op: the host graph must hold kernels only");
    if (!op.getAttrOfType<SymbolRefAttr>(kKernelAttrName))
      return fail("'" + op.getName().getStringRef() + "' has no GPU kernel");
    auto kernelOp = dyn_cast<sala::KernelOpInterface>(op);
    if (!kernelOp)
      return fail("'" + op.getName().getStringRef() +
                  "' does not implement KernelOpInterface: declare its kernel roles");
    sala::KernelRoles roles;
    kernelOp.getKernelRoles(roles);
    for (const sala::KernelRole &r : roles.operands)
      uses[r.value].push_back({r.name, &op});
    ops.push_back({&op, std::move(roles)});
  }
  return llvm::Error::success();
}

/// Roles that only say "a token tensor goes through this op": the name of the
/// value comes from where the op's result goes.
bool isPassThrough(StringRef role) { return role == "input"; }

std::string Planner::traceName(Value v, unsigned depth) {
  if (depth > 16)
    return "";
  auto it = uses.find(v);
  if (it == uses.end())
    return "";
  for (auto &[role, op] : it->second)
    if (!isPassThrough(role) && role != "weight" && role != "return")
      return role;
  for (auto &[role, op] : it->second)
    if (isPassThrough(role) && op->getNumResults() == 1) {
      std::string n = traceName(op->getResult(0), depth + 1);
      if (!n.empty())
        return n;
    }
  return "";
}

std::string Planner::argumentName(BlockArgument arg) {
  std::string name = traceName(arg, 0);
  if (!name.empty())
    return name;
  auto it = uses.find(arg);
  if (it != uses.end())
    for (auto &[role, op] : it->second) {
      if (isPassThrough(role))
        return role;
      if (role != "weight")
        continue;
      auto norm = dyn_cast<sala::RMSNormOp>(op);
      if (!norm)
        return role;
      if (norm.getScope() == sala::NormScope::Full)
        return "out_norm_weight";
      std::string of = traceName(norm.getInput(), 0);
      if (of == "query")
        return "q_norm_weight";
      if (of == "key")
        return "k_norm_weight";
      return of.empty() ? "norm_weight" : of + "_norm_weight";
    }
  return "arg" + std::to_string(arg.getArgNumber());
}

std::string uniqueName(llvm::StringSet<> &taken, StringRef base) {
  std::string name = base.str();
  for (int n = 2; taken.contains(name); ++n)
    name = (base + "_" + llvm::Twine(n)).str();
  taken.insert(name);
  return name;
}

/// The shape a buffer has when no kernel says more: its type's, "?" where
/// dynamic.
llvm::json::Array typeShape(Type t) {
  llvm::json::Array shape;
  auto dim = [](int64_t d) -> llvm::json::Value {
    if (ShapedType::isDynamic(d))
      return "?";
    return d;
  };
  if (auto tt = dyn_cast<RankedTensorType>(t)) {
    for (int64_t d : tt.getShape())
      shape.push_back(dim(d));
  } else if (auto kv = dyn_cast<sala::KVCacheType>(t)) {
    shape = llvm::json::Array{"?", kv.getPageSize(), kv.getKvHeads(), kv.getHeadDim()};
  } else if (auto ck = dyn_cast<sala::CompressedKeysType>(t)) {
    shape = llvm::json::Array{"?", ck.getPageSize(), ck.getKvHeads(), ck.getHeadDim()};
  } else if (auto sp = dyn_cast<sala::StatePoolType>(t)) {
    shape = llvm::json::Array{"?", sp.getHeads(), sp.getHeadDim(), sp.getHeadDim()};
  }
  return shape;
}

Type elementTypeOf(Type t) {
  if (auto tt = dyn_cast<RankedTensorType>(t))
    return tt.getElementType();
  if (auto kv = dyn_cast<sala::KVCacheType>(t))
    return kv.getElementType();
  if (auto ck = dyn_cast<sala::CompressedKeysType>(t))
    return ck.getElementType();
  if (auto sp = dyn_cast<sala::StatePoolType>(t))
    return sp.getElementType();
  return t;
}

void Planner::nameArguments() {
  llvm::StringSet<> argNames;
  for (BlockArgument arg : fn.getArguments()) {
    MixerArgument a;
    a.name = uniqueName(argNames, argumentName(arg));
    Type t = arg.getType();
    a.mlirType = typeName(t);
    std::string dtype = sala::shortTypeName(elementTypeOf(t));
    auto buffer = [&](StringRef name) {
      MixerBuffer b;
      b.name = uniqueName(names, name);
      b.dtype = dtype;
      b.shape = typeShape(t);
      a.buffers.push_back(std::move(b));
    };
    if (auto kv = dyn_cast<sala::KVCacheType>(t)) {
      a.type = "kv_cache";
      a.parameters = llvm::json::Object{{"page_size", kv.getPageSize()},
                                        {"kv_heads", kv.getKvHeads()},
                                        {"head_dim", kv.getHeadDim()},
                                        {"dtype", dtype}};
      buffer("k_" + a.name);
      buffer("v_" + a.name);
    } else if (auto ck = dyn_cast<sala::CompressedKeysType>(t)) {
      a.type = "compressed_keys";
      a.parameters = llvm::json::Object{{"kernel_size", ck.getKernelSize()},
                                        {"kernel_stride", ck.getKernelStride()},
                                        {"page_size", ck.getPageSize()},
                                        {"kv_heads", ck.getKvHeads()},
                                        {"head_dim", ck.getHeadDim()},
                                        {"dtype", dtype}};
      buffer(a.name);
    } else if (auto sp = dyn_cast<sala::StatePoolType>(t)) {
      a.type = "state_pool";
      a.parameters = llvm::json::Object{
          {"heads", sp.getHeads()}, {"head_dim", sp.getHeadDim()}, {"dtype", dtype}};
      buffer(a.name);
    } else {
      a.type = "tensor";
      buffer(a.name);
    }
    plan.arguments.push_back(std::move(a));
  }
}

llvm::Error Planner::recordShape(MixerBuffer &buf, const KernelParam &p, StringRef kernel,
                                 Type valueType) {
  std::string here = ("parameter '" + p.name + "' of kernel '" + kernel + "'").str();
  if (p.dtype != buf.dtype)
    return fail("'" + buf.name + "' is " + buf.dtype + " but " + here + " is " + p.dtype);
  // The type's static extents must be the kernel's.
  llvm::json::Array fromType = typeShape(valueType);
  if (isa<RankedTensorType>(valueType)) {
    if (fromType.size() != p.shape.size())
      return fail("'" + buf.name + "' has rank " + llvm::Twine(fromType.size()) + " but " +
                  here + " has rank " + llvm::Twine(p.shape.size()));
    for (size_t i = 0; i < fromType.size(); ++i) {
      auto t = fromType[i].getAsInteger(), k = p.shape[i].getAsInteger();
      if (t && k && *t != *k)
        return fail("'" + buf.name + "' has extent " + llvm::Twine(*t) + " in dim " +
                    llvm::Twine(i) + " but " + here + " has " + llvm::Twine(*k));
    }
  }
  auto it = shapeSource.find(buf.name);
  if (it == shapeSource.end()) {
    buf.shape = p.shape;
    shapeSource[buf.name] = here;
    return llvm::Error::success();
  }
  if (buf.shape != p.shape) {
    std::string a, b;
    llvm::raw_string_ostream as(a), bs(b);
    as << llvm::json::Value(llvm::json::Array(buf.shape));
    bs << llvm::json::Value(llvm::json::Array(p.shape));
    return fail("'" + buf.name + "' has shape " + a + " for " + it->second + " but " + b +
                " for " + here);
  }
  return llvm::Error::success();
}

/// The parameters of a kernel, from its `sala.launch`.
llvm::Expected<SmallVector<KernelParam>> kernelParams(func::FuncOp fn, Operation *op,
                                                      std::string &kernelName) {
  auto ref = op->getAttrOfType<SymbolRefAttr>(kKernelAttrName);
  auto module = fn->getParentOfType<ModuleOp>();
  auto gpuModule = module ? module.lookupSymbol<gpu::GPUModuleOp>(ref.getRootReference())
                          : gpu::GPUModuleOp();
  gpu::GPUFuncOp kernel =
      gpuModule ? gpuModule.lookupSymbol<gpu::GPUFuncOp>(ref.getLeafReference())
                : gpu::GPUFuncOp();
  kernelName = ref.getLeafReference().str();
  auto err = [&](const llvm::Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
  };
  if (!kernel)
    return err("'" + op->getName().getStringRef() + "' names kernel '" + kernelName +
               "', which is not in gpu.module @" + kKernelModuleName);
  auto launch = kernel->getAttrOfType<DictionaryAttr>(kLaunchAttrName);
  auto params = launch ? launch.getAs<ArrayAttr>("params") : ArrayAttr();
  if (!params)
    return err("kernel '" + kernelName + "' has no parameter list in " + kLaunchAttrName);
  SmallVector<KernelParam> out;
  for (Attribute a : params) {
    auto d = cast<DictionaryAttr>(a);
    KernelParam p;
    auto str = [&](StringRef key) {
      auto s = d.getAs<StringAttr>(key);
      return s ? s.getValue().str() : std::string();
    };
    p.name = str("name");
    p.kind = str("kind");
    p.dtype = str("dtype");
    p.meaning = str("meaning");
    if (auto shape = d.getAs<ArrayAttr>("shape"))
      for (Attribute e : shape) {
        if (auto i = dyn_cast<IntegerAttr>(e))
          p.shape.push_back(i.getInt());
        else
          p.shape.push_back(cast<StringAttr>(e).getValue().str());
      }
    out.push_back(std::move(p));
  }
  return out;
}

llvm::Error Planner::bindLaunch(Operation *op, const sala::KernelRoles &roles) {
  std::string kernelName;
  auto params = kernelParams(fn, op, kernelName);
  if (!params)
    return params.takeError();
  MixerLaunch launch;
  launch.kernel = kernelName;
  launch.op = op->getName().getStringRef().str();
  llvm::DenseSet<Value> bound;

  auto bindValue = [&](const KernelParam &p, Value v, unsigned bufferIndex,
                       MixerBinding &b) -> llvm::Error {
    bound.insert(v);
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      MixerArgument &a = plan.arguments[arg.getArgNumber()];
      MixerBuffer &buf = a.buffers[std::min<size_t>(bufferIndex, a.buffers.size() - 1)];
      b.kind = "buffer";
      b.name = buf.name;
      return recordShape(buf, p, kernelName, v.getType());
    }
    auto it = intermediateOf.find(v);
    if (it == intermediateOf.end())
      return fail("operand of '" + launch.op + "' bound to parameter '" + p.name +
                  "' is neither an argument nor the result of an earlier op");
    MixerTemp &t = plan.intermediates[it->second];
    b.kind = "intermediate";
    b.name = t.buffer.name;
    return recordShape(t.buffer, p, kernelName, v.getType());
  };

  for (const KernelParam &p : *params) {
    MixerBinding b;
    b.param = p.name;
    if (p.kind != "ptr") {
      b.kind = "size";
      b.name = p.name;
      if (llvm::none_of(plan.sizes, [&](const MixerSize &s) { return s.name == p.name; })) {
        MixerSize s;
        s.name = p.name;
        s.meaning = p.meaning;
        plan.sizes.push_back(std::move(s));
      }
      launch.args.push_back(std::move(b));
      continue;
    }
    const sala::KernelRole *role = nullptr;
    unsigned bufferIndex = 0;
    if (p.name == "k_cache" || p.name == "v_cache") {
      for (const sala::KernelRole &r : roles.operands)
        if (isa<sala::KVCacheType>(r.value.getType())) {
          role = &r;
          break;
        }
      bufferIndex = p.name == "v_cache";
    }
    for (const sala::KernelRole &r : roles.operands)
      if (!role && r.name == p.name)
        role = &r;
    for (const sala::KernelRole &r : roles.results)
      if (!role && r.name == p.name)
        role = &r;
    if (role) {
      if (llvm::Error e = bindValue(p, role->value, bufferIndex, b))
        return e;
      launch.args.push_back(std::move(b));
      continue;
    }
    // No operand or result: the kernel's own workspace.
    MixerTemp w;
    w.buffer.dtype = p.dtype;
    w.buffer.shape = p.shape;
    w.op = launch.op;
    w.kernel = kernelName;
    w.param = p.name;
    w.meaning = p.meaning;
    w.init = StringRef(p.meaning).lower().find("zero before") != std::string::npos ? "zero"
                                                                                    : "none";
    w.buffer.name = uniqueName(names, p.name);
    b.kind = "workspace";
    b.name = w.buffer.name;
    plan.workspaces.push_back(std::move(w));
    launch.args.push_back(std::move(b));
  }
  for (const sala::KernelRole &r : roles.operands)
    if (!bound.count(r.value))
      return fail("kernel '" + kernelName + "' of '" + launch.op +
                  "' has no parameter for its operand '" + r.name + "'");
  for (const sala::KernelRole &r : roles.results)
    if (!bound.count(r.value))
      return fail("kernel '" + kernelName + "' of '" + launch.op +
                  "' has no parameter for its result '" + r.name + "'");

  // Cache and pool arguments this op writes through.
  if (auto iface = dyn_cast<MemoryEffectOpInterface>(op)) {
    SmallVector<MemoryEffects::EffectInstance> effects;
    iface.getEffects(effects);
    for (auto &e : effects)
      if (isa<MemoryEffects::Write>(e.getEffect()))
        if (auto arg = dyn_cast_or_null<BlockArgument>(e.getValue()))
          if (arg.getOwner()->getParentOp() == fn)
            plan.arguments[arg.getArgNumber()].written = true;
  }
  if (auto bs = dyn_cast<sala::BlockScoresOp>(op))
    blockSize = bs.getBlockSize();
  if (auto tk = dyn_cast<sala::TopkBlocksOp>(op))
    blockSize = tk.getBlockSize();
  if (auto fs = dyn_cast<sala::FusedSparseSelectOp>(op))
    blockSize = fs.getBlockSize();
  if (std::optional<SplitRule> rule = splitRuleOf(kernelConfigOf(op)))
    splitRule = rule;
  if (int64_t tiles = selectedTiles(op))
    sparseTiles = tiles;
  if (splitRuleOf(kernelConfigOf(op)))
    splitTileTokens = tileTokens(op);
  if (sala::KernelConfigAttr config = kernelConfigOf(op); config && config.getSegment())
    segmentTokens = config.getSegment();
  plan.launches.push_back(std::move(launch));
  return llvm::Error::success();
}

/// The size name of a shape entry ("batch+1", "2*batch" -> "batch"), or "" for
/// an integer.
std::string sizeNameOf(const llvm::json::Value &dim) {
  auto s = dim.getAsString();
  if (!s)
    return "";
  StringRef name = StringRef(*s).trim();
  if (name.contains('*') && !name.empty() && llvm::isDigit(name.front()))
    name = name.split('*').second.trim();
  return name.substr(0, name.find_first_of("+-* ")).str();
}

void Planner::planSizes() {
  // Every size a shape mentions is a size too (normally also a scalar).
  auto mention = [&](const MixerBuffer &b) {
    for (const llvm::json::Value &d : b.shape) {
      std::string n = sizeNameOf(d);
      if (n.empty() || n == "?")
        continue;
      if (llvm::none_of(plan.sizes, [&](const MixerSize &s) { return s.name == n; })) {
        MixerSize s;
        s.name = n;
        plan.sizes.push_back(std::move(s));
      }
    }
  };
  for (const MixerArgument &a : plan.arguments)
    for (const MixerBuffer &b : a.buffers)
      mention(b);
  for (const MixerTemp &t : plan.intermediates)
    mention(t.buffer);
  for (const MixerTemp &t : plan.workspaces)
    mention(t.buffer);

  auto has = [&](StringRef n) {
    return llvm::any_of(plan.sizes, [&](const MixerSize &s) { return s.name == n; });
  };
  const MixerArgument *kv = nullptr, *keys = nullptr;
  for (const MixerArgument &a : plan.arguments) {
    if (a.type == "kv_cache" && !kv)
      kv = &a;
    if (a.type == "compressed_keys" && !keys)
      keys = &a;
  }
  for (MixerSize &s : plan.sizes) {
    for (const MixerArgument &a : plan.arguments) {
      for (const MixerBuffer &b : a.buffers)
        for (size_t i = 0; i < b.shape.size() && s.buffer.empty(); ++i)
          if (auto str = b.shape[i].getAsString(); str && *str == s.name) {
            s.buffer = b.name;
            s.dim = i;
          }
    }
    if (!s.buffer.empty())
      continue;
    // Sizes no argument shows are chosen per step. The planner knows these
    // (the kernel builders' names and meanings): a safe bound, a default or
    // what they are made of.
    if (s.name == "max_q_len" && has("tokens")) {
      s.boundSize = "tokens";
    } else if (s.name == "max_blocks" && kv && blockSize > 0 && has("max_pages")) {
      // A sequence holds at most max_pages pages of page_size tokens.
      s.boundSize = "max_pages";
      s.mul = *kv->parameters.getInteger("page_size");
      s.div = blockSize;
    } else if (s.name == "splits") {
      // Split-KV: blocks per (token, KV group), by the split rule over the
      // tiles the kernel walks: the selected blocks, or up to the page
      // table's capacity in 64-token tiles. 1 (no split) is always valid.
      s.defaultValue = 1;
      if (splitRule && splitTileTokens > 0 && kv && has("tokens") && has("max_pages")) {
        s.splitRule = splitRule;
        s.splitKvHeads = *kv->parameters.getInteger("kv_heads");
        s.splitTiles = sparseTiles;
        s.boundSize = "max_pages";
        s.mul = *kv->parameters.getInteger("page_size");
        s.div = splitTileTokens;
      }
    } else if (s.name == "split_slots" && kv && has("tokens") && has("splits")) {
      // Rows of the split workspace: one per (token, KV group, split).
      s.productOf = {"tokens", "splits"};
      s.mul = *kv->parameters.getInteger("kv_heads");
    } else if (s.name == "select_splits" && keys && has("max_key_pages")) {
      // Parts of a fused selection: one per 512 compressed keys the key page
      // table can hold (any value is correct; this one fills the GPU).
      s.boundSize = "max_key_pages";
      s.mul = *keys->parameters.getInteger("page_size");
      s.div = kSelectPartEntries;
    } else if (s.name == "segment_rows" && segmentTokens > 0 && has("tokens")) {
      // Rows of the chunked linear kernel's chain: one per whole segment a
      // step's tokens can hold.
      s.boundSize = "tokens";
      s.div = segmentTokens;
    } else if (s.name == "select_slots" && kv && has("tokens") && has("select_splits")) {
      s.productOf = {"tokens", "select_splits"};
      s.mul = *kv->parameters.getInteger("kv_heads");
    }
  }
}

void Planner::readNameAndLayer() {
  plan.name = fn.getSymName().str();
  if (auto mixer = fn->getAttrOfType<sala::MixerAttr>(sala::MixerAttr::kFuncAttrName)) {
    plan.layer = mixer.getLayer();
    plan.kind = sala::stringifyMixerKind(mixer.getKind()).str();
    plan.mode = sala::stringifyMixerMode(mixer.getMode()).str();
    return;
  }
  // A function the model front end did not make: its kind from its arguments.
  plan.kind = "other";
  for (const MixerArgument &a : plan.arguments) {
    if (a.type == "kv_cache")
      plan.kind = "sparse";
    if (a.type == "state_pool")
      plan.kind = "linear";
  }
}

void Planner::nameIntermediates() {
  // What the function returns is its output; the other results are named
  // after their op, numbered in program order.
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  llvm::DenseMap<Value, std::string> returned;
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (!isa<BlockArgument>(v) && !returned.count(v))
      returned[v] = ret.getNumOperands() == 1 ? "output" : "output_" + std::to_string(i);
  // Returned results take their names first, so they keep them.
  for (auto &[op, roles] : ops)
    for (const sala::KernelRole &r : roles.results)
      if (returned.count(r.value))
        returned[r.value] = uniqueName(names, returned[r.value]);
  llvm::StringMap<unsigned> perOp;
  for (auto &[op, roles] : ops)
    for (const sala::KernelRole &r : roles.results) {
      if (intermediateOf.count(r.value))
        continue;
      MixerTemp t;
      t.op = op->getName().getStringRef().str();
      auto it = returned.find(r.value);
      if (it != returned.end()) {
        t.buffer.name = it->second;
      } else {
        StringRef opName = op->getName().getStringRef();
        opName.consume_front("sala.");
        t.buffer.name =
            uniqueName(names, (opName + "_" + llvm::Twine(perOp[opName]++)).str());
      }
      t.buffer.dtype = sala::shortTypeName(elementTypeOf(r.value.getType()));
      t.buffer.shape = typeShape(r.value.getType());
      intermediateOf[r.value] = plan.intermediates.size();
      plan.intermediates.push_back(std::move(t));
    }
  for (Value v : ret.getOperands()) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      plan.outputs.push_back(plan.arguments[arg.getArgNumber()].name);
    else
      plan.outputs.push_back(plan.intermediates[intermediateOf[v]].buffer.name);
  }
}

llvm::Expected<MixerPlan> Planner::run() {
  if (llvm::Error e = collectOps())
    return std::move(e);
  nameArguments();
  nameIntermediates();
  for (auto &[op, roles] : ops)
    if (llvm::Error e = bindLaunch(op, roles))
      return std::move(e);
  planSizes();
  readNameAndLayer();
  return std::move(plan);
}

} // namespace

llvm::Expected<MixerPlan> salac::planMixer(func::FuncOp fn) {
  return Planner(fn).run();
}

std::vector<MixerPlan> salac::collectMixerPlans(ModuleOp module) {
  std::vector<MixerPlan> plans;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    bool hasKernels = false;
    fn.walk([&](Operation *op) {
      hasKernels |= bool(op->getAttr(kKernelAttrName));
    });
    if (!hasKernels)
      continue;
    llvm::Expected<MixerPlan> plan = planMixer(fn);
    if (!plan) {
      // At the function's location, without printing the whole function.
      mlir::emitWarning(fn.getLoc()) << "'" << fn.getSymName()
                       << "' is left out of the manifest's mixers: "
                       << llvm::toString(plan.takeError());
      continue;
    }
    plans.push_back(std::move(*plan));
  }
  return plans;
}
