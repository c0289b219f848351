//===- Runner.cpp - salac run: execute a block on the host, check it ------===//
#include "salac/Runner/Runner.h"

#include "BlockSignature.h"
#include "Compare.h"
#include "Jit.h"
#include "RefInterpreter.h"
#include "Workload.h"

#include "salac/Compiler/ModelToSala.h"
#include "salac/Dialect/Sala/IR/SalaLimits.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"
#include "salac/Model/InputDepth.h"
#include "salac/Model/ModelConfig.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>

using namespace mlir;
using namespace salac;
using namespace salac::runner;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

ModeDefaults salac::runner::defaultsFor(bool prefill) {
  // Small enough to run in well under a second per block, large enough for a
  // few compression windows, more than one 64-token chunk in prefill, and a
  // state or cache built from a real history.
  return prefill ? ModeDefaults{2, 72, 24} : ModeDefaults{2, 1, 80};
}

namespace {

/// Sizes above this are not what salac run is for (and would overflow i32
/// metadata long before memory runs out).
constexpr int64_t kMaxTokens = int64_t(1) << 24;
/// State-pool slots of a run (a slot is heads x head_dim^2 floats).
constexpr int64_t kMaxPoolSlots = 65536;

llvm::Expected<WorkloadSizes> resolveSizes(const RunOptions &o, bool prefill) {
  ModeDefaults def = defaultsFor(prefill);
  WorkloadSizes sizes;
  std::vector<int64_t> qLens = o.qLens, contexts = o.contexts;
  if (!qLens.empty() && (o.batch || o.qLen))
    return fail("give either --q-lens or --batch/--q-len, not both");
  if (!contexts.empty() && o.context)
    return fail("give either --contexts or --context, not both");
  int64_t batch = o.batch.value_or(!qLens.empty() ? int64_t(qLens.size())
                                                  : !contexts.empty()
                                                        ? int64_t(contexts.size())
                                                        : def.batch);
  if (batch < 1 || batch > 4096)
    return fail(llvm::formatv("--batch must be in [1, 4096], got {0}", batch));
  if (qLens.empty())
    qLens.assign(size_t(batch), o.qLen.value_or(def.qLen));
  if (contexts.empty())
    contexts.assign(qLens.size(), o.context.value_or(def.context));
  if (contexts.size() != qLens.size())
    return fail(llvm::formatv("--contexts has {0} entries for {1} sequences",
                              contexts.size(), qLens.size()));
  for (size_t b = 0; b < qLens.size(); ++b) {
    if (qLens[b] < 0 || contexts[b] < 0 || qLens[b] + contexts[b] > kMaxTokens)
      return fail(llvm::formatv("sequence {0}: query length {1} and context {2} must be "
                                "non-negative with a sum of at most {3}",
                                b, qLens[b], contexts[b], kMaxTokens));
    sizes.qLens.push_back(int32_t(qLens[b]));
    sizes.contexts.push_back(int32_t(contexts[b]));
  }
  sizes.poolPages = o.poolPages;
  sizes.maxPages = o.maxPages;
  sizes.poolSlots = o.poolSlots;
  sizes.seed = o.seed;
  if ((o.poolPages && *o.poolPages < 0) || (o.maxPages && *o.maxPages < 0) ||
      (o.poolSlots && *o.poolSlots < 0))
    return fail("--pool-pages, --max-pages and --pool-slots must be non-negative");
  // The pools and the page table are sized to tokens once the page size is
  // known (Workload.cpp); slots are sized here: one per sequence and more.
  if (o.poolSlots && *o.poolSlots > kMaxPoolSlots)
    return fail(llvm::formatv("--pool-slots must be at most {0}, got {1}", kMaxPoolSlots,
                              *o.poolSlots));
  if (o.tolerance && !(*o.tolerance > 0 && *o.tolerance <= 1))
    return fail(llvm::formatv("--tolerance must be in (0, 1], got {0}", *o.tolerance));
  return sizes;
}

bool looksLikeJSON(llvm::StringRef path, llvm::StringRef text) {
  return path.ends_with(".json") || text.ltrim().starts_with("{");
}

/// The block to run: a module and the function in it, and how to name it.
struct Block {
  OwningOpRef<ModuleOp> module;
  func::FuncOp func;
  std::string origin;
};

llvm::Expected<Block> loadBlock(MLIRContext &ctx, llvm::SourceMgr &sm,
                                const RunOptions &o) {
  Block block;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  if (!o.input.empty()) {
    if (o.input != "-" && llvm::sys::fs::is_directory(o.input))
      return fail("'" + o.input + "' is a directory, not a .mlir file or config.json");
    auto file = llvm::MemoryBuffer::getFileOrSTDIN(o.input);
    if (std::error_code ec = file.getError())
      return fail("cannot read '" + o.input + "': " + ec.message());
    buffer = std::move(*file);
  }
  bool isConfig = o.input.empty() || looksLikeJSON(o.input, buffer->getBuffer());
  if (isConfig) {
    llvm::Expected<model::ModelConfig> config =
        o.input.empty() ? model::defaultModelConfig()
                        : model::parseModelConfig(buffer->getBuffer(), o.input);
    if (!config)
      return config.takeError();
    if (o.denseLen) {
      if (*o.denseLen < 0)
        return fail(llvm::formatv("--dense-len must be non-negative, got {0}", *o.denseLen));
      config->sparse.denseLen = *o.denseLen;
    }
    if (!o.funcName.empty())
      return fail("--func picks a function of a .mlir input; for a model config use "
                  "--layer and --mode");
    ModelBuildOptions opts;
    int64_t layer = o.layer.value_or(0);
    opts.layers = {layer};
    bool prefill = o.mode && *o.mode == "prefill";
    opts.decode = !prefill;
    opts.prefill = prefill;
    opts.pageSize = o.pageSize.value_or(64);
    if (opts.pageSize < 1 || opts.pageSize > sala::kMaxPageSize)
      return fail(llvm::formatv("--page-size must be in [1, {0}], got {1}", sala::kMaxPageSize,
                                opts.pageSize));
    opts.lseK2 = o.lseK2;
    opts.tp = o.tp;
    opts.tpRank = o.tpRank;
    auto module = buildModelModule(&ctx, *config, opts);
    if (!module)
      return module.takeError();
    block.module = std::move(*module);
    block.origin = llvm::formatv("{0}, layer {1}, {2}",
                                 o.input.empty() ? model::defaultModelConfigName()
                                                 : llvm::StringRef(o.input),
                                 layer, prefill ? "prefill" : "decode");
  } else {
    if (o.layer || o.denseLen || o.lseK2 || o.tp != 1 || o.tpRank != 0)
      return fail("--layer, --dense-len, --lse-k2, --tp and --tp-rank apply to a model "
                  "config, not to a .mlir input");
    if (unsigned line = lineNestedDeeperThan(buffer->getBuffer(), InputSyntax::Mlir))
      return fail(llvm::formatv("{0}:{1}: nested deeper than {2} levels",
                                buffer->getBufferIdentifier(), line, kMaxInputDepth));
    sm.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
    block.module = parseSourceFile<ModuleOp>(sm, &ctx);
    if (!block.module)
      return fail("cannot parse '" + o.input + "' (see the diagnostics above)");
    if (failed(verify(*block.module)))
      return fail("'" + o.input + "' does not verify (see the diagnostics above)");
    // A fused op means its chain of primitive ops (sala-unfuse): run that.
    // (One walk, no folding: the block is otherwise left exactly as given.)
    RewritePatternSet unfuse(&ctx);
    sala::populateUnfusePatterns(unfuse);
    walkAndApplyPatterns(*block.module, std::move(unfuse));
    block.origin = o.input;
  }
  std::vector<func::FuncOp> funcs;
  for (auto fn : block.module->getOps<func::FuncOp>())
    if (!fn.isExternal() && (o.funcName.empty() || fn.getSymName() == o.funcName))
      funcs.push_back(fn);
  if (funcs.empty())
    return fail(o.funcName.empty() ? "'" + block.origin + "' holds no function to run"
                                   : "no function @" + o.funcName + " in '" +
                                         block.origin + "'");
  if (funcs.size() > 1) {
    std::string names;
    for (auto fn : funcs)
      names += " @" + fn.getSymName().str();
    return fail("'" + block.origin + "' holds several functions; pick one with --func:" +
                names);
  }
  block.func = funcs.front();
  // For a .mlir input, --page-size states what the caller expects.
  if (!isConfig && o.pageSize)
    for (auto [i, type] : llvm::enumerate(block.func.getArgumentTypes()))
      if (auto kv = dyn_cast<sala::KVCacheType>(type))
        if (kv.getPageSize() != *o.pageSize)
          return fail(llvm::formatv("--page-size={0} but argument #{1} of @{2} is a KV "
                                    "cache with page_size = {3}",
                                    *o.pageSize, i, block.func.getSymName(),
                                    kv.getPageSize()));
  return std::move(block);
}

template <typename T> std::string joined(const std::vector<T> &v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int report(llvm::raw_ostream &errs, llvm::Error err) {
  errs << "salac: error: " << llvm::toString(std::move(err)) << "\n";
  return 1;
}

} // namespace

int salac::runner::runBlock(MLIRContext &ctx, const RunOptions &o, llvm::raw_ostream &os,
                            llvm::raw_ostream &errs) {
  if (o.mode && *o.mode != "decode" && *o.mode != "prefill")
    return report(errs, fail("--mode must be decode or prefill, got '" + *o.mode + "'"));
  llvm::SourceMgr sm;
  SourceMgrDiagnosticHandler diagnostics(sm, &ctx, errs);
  auto sizes = resolveSizes(o, o.mode && *o.mode == "prefill");
  if (!sizes)
    return report(errs, sizes.takeError());
  auto block = loadBlock(ctx, sm, o);
  if (!block)
    return report(errs, block.takeError());
  auto sig = analyzeBlock(block->func);
  if (!sig)
    return report(errs, sig.takeError());
  auto work = buildWorkload(*sig, *sizes);
  if (!work)
    return report(errs, work.takeError());
  if (llvm::Error err = validateWorkload(*sig, *work))
    return report(errs, std::move(err));

  os << "salac run @" << block->func.getSymName() << " (" << block->origin << ")\n";
  std::vector<int32_t> seqLens = work->batch.seqLens;
  os << "  batch " << sizes->qLens.size() << ": q_lens " << joined(sizes->qLens)
     << ", contexts " << joined(sizes->contexts) << " (seq_lens " << joined(seqLens)
     << "), seed " << o.seed << "\n";

  // The reference and the compiled block each get their own copy of the
  // inputs; both update their stores in place.
  std::vector<HostValue> refArgs = work->args, jitArgs = work->args;
  auto start = std::chrono::steady_clock::now();
  auto refResults = interpretBlock(block->func, refArgs);
  if (!refResults)
    return report(errs, refResults.takeError());
  double refTime = seconds(start);
  start = std::chrono::steady_clock::now();
  auto compiled = CompiledBlock::compile(block->func);
  if (!compiled)
    return report(errs, compiled.takeError());
  double compileTime = seconds(start);
  start = std::chrono::steady_clock::now();
  auto results = (*compiled)->call(jitArgs);
  if (!results)
    return report(errs, results.takeError());
  double runTime = seconds(start);

  std::vector<OutputCheck> checks =
      checkOutputs(*sig, *refResults, *results, refArgs, jitArgs, o.tolerance);
  printChecks(os, checks, o.checksums);
  size_t failed = llvm::count_if(checks, [](const OutputCheck &c) { return !c.pass; });
  os << llvm::formatv("{0}: {1} of {2} outputs agree with the reference (lower {3:F2} "
                      "s, JIT + run {4:F2} s, reference {5:F2} s)\n",
                      failed ? "FAIL" : "PASS", checks.size() - failed, checks.size(),
                      compileTime, runTime, refTime);
  return failed ? 1 : 0;
}
