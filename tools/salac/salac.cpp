//===- salac.cpp - the salac compiler driver ------------------------------===//
//
// salac [input] [--emit=sala|mlir|llvm|ptx] [--chip=sm_90] [-o out]
// salac [input] --print-kernel-plan [--batch=N] [--context=N] [--gpu=h100|h200]
// salac run [input] [--layer=N] [--mode=decode|prefill] [sizes...]
//
// The input is a `.mlir` file in the sala dialect or a model `config.json`; with
// no input, the embedded MiniCPM-SALA config is compiled. `salac run` executes
// one block on the host CPU and checks it against the C++ reference
// (salac/Runner/Runner.h). Errors are one line on stderr and exit status 1.
//
//===----------------------------------------------------------------------===//
#include "salac/Compiler/KernelPlan.h"
#include "salac/Compiler/ModelToSala.h"
#include "salac/Compiler/Package.h"
#include "salac/Compiler/Pipeline.h"
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"
#include "salac/Dialect/Sala/IR/SalaLimits.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"
#include "salac/InitAll.h"
#include "salac/Model/InputDepth.h"
#include "salac/Model/ModelConfig.h"
#include "salac/Runner/Runner.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <new>

using namespace mlir;
using namespace salac;
namespace cl = llvm::cl;

namespace {
enum class Emit { Sala, Mlir, LLVM, PTX, Package };

cl::OptionCategory salacCat("salac options");

cl::opt<std::string> inputPath(cl::Positional, cl::desc("[input.mlir | config.json]"),
                               cl::init(""), cl::cat(salacCat));
cl::opt<Emit> emit(
    "emit", cl::desc("What to produce (default: ptx)"), cl::init(Emit::PTX),
    cl::values(clEnumValN(Emit::Sala, "sala", "the sala graph (composite mixers)"),
               clEnumValN(Emit::Mlir, "mlir",
                          "MLIR after kernel formation: sala host graph + "
                          "gpu.module of kernels"),
               clEnumValN(Emit::LLVM, "llvm", "LLVM IR of the kernels (NVVM)"),
               clEnumValN(Emit::PTX, "ptx", "PTX of the kernels"),
               clEnumValN(Emit::Package, "package",
                          "a kernel package in the directory given by -o: "
                          "kernels.ptx, manifest.json, salac_kernels.h")),
    cl::cat(salacCat));
cl::opt<std::string> chip("chip", cl::desc("Target GPU (default: sm_90)"),
                          cl::init("sm_90"), cl::cat(salacCat));
cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(salacCat));
cl::list<int64_t> layers("layers",
                         cl::desc("Model layers to compile (default: all), e.g. "
                                  "--layers=0,1"),
                         cl::CommaSeparated, cl::cat(salacCat));
cl::opt<std::string> mode("mode", cl::desc("decode, prefill or both (default)"),
                          cl::init("both"), cl::cat(salacCat));
cl::opt<int64_t> pageSize("page-size",
                          cl::desc("Tokens per KV-cache page for a model config "
                                   "(default: 64)"),
                          cl::init(64), cl::cat(salacCat));
cl::opt<bool> lseK2("lse-k2",
                    cl::desc("Stage 1 takes its softmax normaliser from the K2 "
                             "keys (approximation; default: exact)"),
                    cl::init(false), cl::cat(salacCat));
cl::opt<int64_t> tpSize("tp",
                        cl::desc("Tensor parallelism of a model config: emit the "
                                 "mixers of one shard of N (query, KV and linear "
                                 "heads / N; docs/TensorParallel.md; default: 1)"),
                        cl::value_desc("N"), cl::init(1), cl::cat(salacCat));
cl::opt<int64_t> tpRank("tp-rank",
                        cl::desc("Which shard of --tp to emit, 0..N-1 (default: 0); "
                                 "shards differ in their linear heads' decay slopes"),
                        cl::value_desc("R"), cl::init(0), cl::cat(salacCat));
cl::opt<int64_t> linearSegment(
    "linear-segment",
    cl::desc("Tokens a block of chunked linear attention (prefill) walks, a multiple of "
             "its 64-token chunk: a sequence's segments run in parallel and chain their "
             "states (0, the default: one block walks a whole sequence)"),
    cl::value_desc("N"), cl::init(0), cl::cat(salacCat));
cl::opt<int64_t> linearStages(
    "linear-stages",
    cl::desc("Chunks of Q, K and V in flight in the segmented linear kernel: 1 (the "
             "default), or 2, where the next chunk loads while one computes (needs "
             "--linear-segment)"),
    cl::value_desc("N"), cl::init(1), cl::cat(salacCat));
cl::opt<int64_t> selectThreads(
    "select-threads",
    cl::desc("Threads a block of the fused selection takes, a multiple of 32 in "
             "[128, 1024], to time one block size against another (default: the "
             "policy's for the chip: 512 on sm_90/sm_100, 256 elsewhere)"),
    cl::value_desc("N"), cl::init(0), cl::cat(salacCat));
cl::opt<bool> fuseLinearPrefill(
    "fuse-linear-prefill",
    cl::desc("Fuse the linear layer at prefill too: the q/k RMSNorms and RoPE into "
             "chunked linear attention, the output RMSNorm and the gate into one kernel "
             "(2 launches instead of 7; not yet measured on a GPU; default: off)"),
    cl::init(false), cl::cat(salacCat));
cl::opt<bool> strict("strict",
                     cl::desc("Fail when an op has no GPU lowering yet (default: "
                              "warn and emit the kernels that exist)"),
                     cl::init(false), cl::cat(salacCat));
cl::opt<bool> noFuse("no-fuse",
                     cl::desc("Skip the fusion passes (sala-fuse-kv-access, "
                              "sala-fuse-sparse-select, sala-fuse-sparse-attention, "
                              "sala-fuse-linear): one kernel per primitive op, e.g. to "
                              "compare against the fused package"),
                     cl::init(false), cl::cat(salacCat));
cl::opt<bool> listKernels("list-kernels",
                          cl::desc("Print the kernels and the ops they implement "
                                   "to stderr"),
                          cl::init(false), cl::cat(salacCat));
cl::opt<bool> printPlan(
    "print-kernel-plan",
    cl::desc("Print every kernel launch of one step of the model (decode, or "
             "--mode=prefill; all its mixers, or --layers), before and after fusion: "
             "grid, block, shared memory, bytes moved, flops and the roofline floor on "
             "--gpu, then totals per layer kind and per step (sizes: --batch, --q-len, "
             "--context)"),
    cl::init(false), cl::cat(salacCat));
cl::opt<std::string> gpuName("gpu",
                             cl::desc("GPU the kernels are planned for: its SM count "
                                      "sets the split-KV rule, its bandwidth and peak "
                                      "the kernel plan's roofline: h100 (default; 132 "
                                      "SMs, 3.0e12 B/s, 715e12 FLOP/s) or h200 (132 "
                                      "SMs, 4.2e12 B/s, 715e12 FLOP/s)"),
                             cl::init("h100"), cl::cat(salacCat));

int fail(const llvm::Twine &msg) {
  llvm::errs() << "salac: error: " << msg << "\n";
  return 1;
}

/// Flushes a written output and keeps it; a write that failed (a full disk,
/// /dev/full) is one error line instead of LLVM's fatal "IO failure".
int finishOutput(llvm::ToolOutputFile &output, llvm::StringRef path) {
  output.os().flush();
  if (std::error_code ec = output.os().error()) {
    output.os().clear_error();
    return fail("cannot write '" + path.str() + "': " + ec.message());
  }
  output.keep();
  return 0;
}

/// The same for standard output, which salac run and --list-kernels write.
int finishStdout(int status) {
  llvm::outs().flush();
  if (std::error_code ec = llvm::outs().error()) {
    llvm::outs().clear_error();
    return fail("cannot write the standard output: " + ec.message());
  }
  return status;
}

// --- salac run -------------------------------------------------------------
// `salac run` shares --mode, --page-size and --lse-k2 and the positional input
// with the compiler; the options below are its own. (Not an llvm::cl
// SubCommand: that would change the compiler's --help.)
cl::OptionCategory runCat("salac run options");
cl::opt<std::string> runFunc("func", cl::desc("Function of a .mlir input to run"),
                             cl::cat(runCat));
cl::opt<int64_t> runLayer("layer", cl::desc("Mixer of a model config to run (default: 0)"),
                          cl::cat(runCat));
cl::opt<int64_t> runBatch("batch", cl::desc("Sequences in the batch (default: 2)"),
                          cl::cat(runCat));
cl::opt<int64_t> runQLen("q-len",
                         cl::desc("New tokens per sequence (default: 1 in decode, 72 "
                                  "in prefill)"),
                         cl::cat(runCat));
cl::list<int64_t> runQLens("q-lens",
                           cl::desc("Ragged batch: new tokens of each sequence, e.g. "
                                    "--q-lens=1,3,2"),
                           cl::CommaSeparated, cl::cat(runCat));
cl::opt<int64_t> runContext("context",
                            cl::desc("Tokens cached before this step, every sequence "
                                     "(default: 80 in decode, 24 in prefill)"),
                            cl::cat(runCat));
cl::list<int64_t> runContexts("contexts",
                              cl::desc("Tokens cached before this step, per sequence"),
                              cl::CommaSeparated, cl::cat(runCat));
cl::opt<int64_t> runDenseLen("dense-len",
                             cl::desc("Override the config's dense_len (0: always sparse)"),
                             cl::cat(runCat));
cl::opt<int64_t> runPoolPages("pool-pages",
                              cl::desc("Pages in each KV-cache pool (default: what the "
                                       "batch needs + 1)"),
                              cl::cat(runCat));
cl::opt<int64_t> runMaxPages("max-pages",
                             cl::desc("Width of the KV page table, pages per sequence "
                                      "(default: what the longest sequence needs)"),
                             cl::cat(runCat));
cl::opt<int64_t> runPoolSlots("pool-slots",
                              cl::desc("Slots in each state pool (default: batch + 1)"),
                              cl::cat(runCat));
cl::opt<uint64_t> runSeed("seed", cl::desc("Seed of the random inputs (default: 1)"),
                          cl::init(1), cl::cat(runCat));
cl::opt<double> runTolerance("tolerance",
                             cl::desc("Max relative error accepted (default: 1e-4 for "
                                      "f32 blocks, 2^-6 for bf16 blocks)"),
                             cl::cat(runCat));
cl::opt<bool> runChecksums("checksums",
                           cl::desc("Print a checksum of every compiled output"),
                           cl::cat(runCat));

template <typename T> std::optional<T> given(const cl::opt<T> &o) {
  return o.getNumOccurrences() ? std::optional<T>(o.getValue()) : std::nullopt;
}

/// The first option of `options` given on the command line, if any.
cl::Option *firstGiven(std::initializer_list<cl::Option *> options) {
  for (cl::Option *o : options)
    if (o->getNumOccurrences())
      return o;
  return nullptr;
}

int runMain() {
  if (cl::Option *o = firstGiven({&emit, &chip, &outputPath, std::addressof(layers),
                                  &strict, &listKernels, &printPlan, &gpuName,
                                  &linearSegment, &fuseLinearPrefill, &selectThreads,
                                  &linearStages}))
    return fail("--" + o->ArgStr + " does not apply to salac run");
  runner::RunOptions o;
  o.input = inputPath;
  o.funcName = runFunc;
  o.layer = given(runLayer);
  o.mode = given(mode);
  o.batch = given(runBatch);
  o.qLen = given(runQLen);
  o.context = given(runContext);
  o.qLens.assign(runQLens.begin(), runQLens.end());
  o.contexts.assign(runContexts.begin(), runContexts.end());
  o.pageSize = given(pageSize);
  o.denseLen = given(runDenseLen);
  o.lseK2 = lseK2;
  o.tp = tpSize;
  o.tpRank = tpRank;
  o.poolPages = given(runPoolPages);
  o.maxPages = given(runMaxPages);
  o.poolSlots = given(runPoolSlots);
  o.seed = runSeed;
  o.tolerance = given(runTolerance);
  o.checksums = runChecksums;
  DialectRegistry registry;
  salac::registerAllDialects(registry);
  MLIRContext ctx(registry);
  // A diagnostic names the op and its location; the op's generic form (often
  // a whole function) is for compiler developers (salac-opt prints it).
  ctx.printOpOnDiagnostic(false);
  return runner::runBlock(ctx, o, llvm::outs(), llvm::errs());
}

bool looksLikeJSON(llvm::StringRef path, llvm::StringRef text) {
  return path.ends_with(".json") || text.ltrim().starts_with("{");
}

/// Parse the input into a sala module: MLIR text, or a model config.
FailureOr<OwningOpRef<ModuleOp>> loadInput(MLIRContext &ctx, llvm::SourceMgr &sm) {
  std::string name = inputPath.empty() ? "" : inputPath.getValue();
  if (!name.empty() && name != "-" && llvm::sys::fs::is_directory(name)) {
    fail("'" + name + "' is a directory, not a .mlir file or config.json");
    return failure();
  }
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  if (!name.empty()) {
    auto file = llvm::MemoryBuffer::getFileOrSTDIN(name);
    if (std::error_code ec = file.getError()) {
      fail("cannot read '" + name + "': " + ec.message());
      return failure();
    }
    buffer = std::move(*file);
  }
  if (name.empty() || looksLikeJSON(name, buffer->getBuffer())) {
    llvm::Expected<model::ModelConfig> config =
        name.empty() ? model::defaultModelConfig()
                     : model::parseModelConfig(buffer->getBuffer(), name);
    if (!config) {
      fail(llvm::toString(config.takeError()));
      return failure();
    }
    ModelBuildOptions opts;
    opts.layers.assign(layers.begin(), layers.end());
    opts.decode = mode != "prefill";
    opts.prefill = mode != "decode";
    opts.pageSize = pageSize;
    opts.lseK2 = lseK2;
    opts.tp = tpSize;
    opts.tpRank = tpRank;
    auto module = buildModelModule(&ctx, *config, opts);
    if (!module) {
      fail(llvm::toString(module.takeError()));
      return failure();
    }
    if (tpSize > 1 && tpSize > config->numKVHeads)
      llvm::errs() << "salac: warning: --tp=" << tpSize << " exceeds num_key_value_heads ("
                   << config->numKVHeads << "): each KV head is replicated on "
                   << tpSize / std::max<int64_t>(1, config->numKVHeads)
                   << " ranks, and each rank selects its blocks from its own query "
                      "heads' scores, not the whole group's\n";
    if (tpSize > 1 && config->useOutputNorm)
      llvm::errs() << "salac: warning: with --tp=" << tpSize
                   << " the linear mixers end before the output RMSNorm and gate: the "
                      "norm spans every rank's heads, so the engine applies it after an "
                      "all-reduce (docs/TensorParallel.md)\n";
    return std::move(*module);
  }
  if (!layers.empty() || lseK2 || pageSize != 64 || tpSize != 1 || tpRank != 0) {
    fail("--layers, --page-size, --lse-k2, --tp and --tp-rank apply to a model config, "
         "not to a .mlir input");
    return failure();
  }
  if (unsigned line = lineNestedDeeperThan(buffer->getBuffer(), InputSyntax::Mlir)) {
    fail(llvm::formatv("{0}:{1}: nested deeper than {2} levels", buffer->getBufferIdentifier(),
                       line, kMaxInputDepth)
             .str());
    return failure();
  }
  sm.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sm, &ctx);
  if (!module)
    return failure(); // the diagnostic handler printed the reason
  return module;
}

/// sala ops left without a kernel, by op name, with one location each.
llvm::MapVector<StringRef, std::pair<int, Location>> unlowered(ModuleOp module) {
  llvm::MapVector<StringRef, std::pair<int, Location>> ops;
  module.walk([&](Operation *op) {
    if (isa<sala::SalaDialect>(op->getDialect()) && !op->hasAttr(kKernelAttrName)) {
      auto it = ops.insert({op->getName().getStringRef(), {0, op->getLoc()}}).first;
      ++it->second.first;
    }
  });
  return ops;
}

/// `salac --print-kernel-plan`: the decode step of a model config, planned
/// once without and once with the fusion passes.
int printPlanMain(MLIRContext &ctx, llvm::SourceMgr &sm) {
  if (emit.getNumOccurrences())
    return fail("--emit does not apply to --print-kernel-plan");
  if (cl::Option *o = firstGiven({&noFuse, &strict, &listKernels}))
    return fail("--" + o->ArgStr + " does not apply to --print-kernel-plan (it plans the "
                "step with and without fusion)");
  // One step: decode (the default) or prefill.
  if (mode.getNumOccurrences() && mode != "decode" && mode != "prefill")
    return fail("--print-kernel-plan plans one step: --mode=decode (the default) or "
                "--mode=prefill, got '" + mode + "'");
  bool prefill = mode == "prefill";
  std::optional<GpuSpec> gpu = lookupGpu(gpuName);
  if (!gpu)
    return fail("unknown --gpu '" + gpuName + "' (supported: " + supportedGpus() + ")");
  StepSizes sizes;
  sizes.batch = runBatch.getNumOccurrences() ? runBatch.getValue() : 1;
  sizes.queryTokens = runQLen.getNumOccurrences() ? runQLen.getValue() : prefill ? 131072 : 1;
  sizes.context = runContext.getNumOccurrences() ? runContext.getValue() : prefill ? 0 : 131072;
  // Sizes stay far from int64 overflow in bytes and flops; seq_lens are i32.
  constexpr int64_t kMaxBatch = 65536, kMaxContext = (int64_t(1) << 31) - 2;
  if (sizes.batch < 1 || sizes.batch > kMaxBatch)
    return fail("--batch must be between 1 and " + llvm::Twine(kMaxBatch) + ", got " +
                llvm::Twine(sizes.batch));
  if (sizes.context < 0 || sizes.context > kMaxContext)
    return fail("--context must be between 0 and " + llvm::Twine(kMaxContext) +
                " (seq_lens are i32), got " + llvm::Twine(sizes.context));
  // A step of up to 1M new tokens a sequence; every length and the token
  // count stay i32 (cu_seqlens_q, seq_lens).
  constexpr int64_t kMaxQLen = int64_t(1) << 20, kMaxI32 = (int64_t(1) << 31) - 1;
  if (sizes.queryTokens < 1 || sizes.queryTokens > kMaxQLen)
    return fail("--q-len must be between 1 and " + llvm::Twine(kMaxQLen) + ", got " +
                llvm::Twine(sizes.queryTokens));
  if (sizes.seqLen() > kMaxI32 || sizes.tokens() > kMaxI32)
    return fail("--context + --q-len (" + llvm::Twine(sizes.seqLen()) + ") and --batch x "
                "--q-len (" + llvm::Twine(sizes.tokens()) + ") must be at most " +
                llvm::Twine(kMaxI32) + " (seq_lens and cu_seqlens_q are i32)");

  mode = prefill ? "prefill" : "decode";
  auto loaded = loadInput(ctx, sm);
  if (failed(loaded))
    return 1;
  OwningOpRef<ModuleOp> fused = std::move(*loaded);
  auto model = (*fused)->getAttrOfType<StringAttr>("sala.model");
  if (!model)
    return fail("--print-kernel-plan plans a model's step: give a config.json "
                "(or no input for the embedded MiniCPM-SALA config), not a .mlir block");
  if (failed(verify(*fused)))
    return 1;
  OwningOpRef<ModuleOp> unfused = fused->clone();
  for (auto [module, fuse] : {std::pair{*unfused, false}, std::pair{*fused, true}}) {
    PassManager pm(&ctx);
    GpuTarget target;
    target.chip = chip; // the kernel configs (shared memory a block) depend on it
    target.sms = gpu->sms;
    target.linearSegment = linearSegment;
    target.selectThreads = selectThreads;
    target.linearStages = linearStages;
    buildSalaToKernelsPipeline(pm, fuse, target, fuseLinearPrefill);
    if (failed(pm.run(module)))
      return 1;
  }
  auto before = planKernelLaunches(*unfused, sizes);
  if (!before)
    return fail(llvm::toString(before.takeError()));
  auto after = planKernelLaunches(*fused, sizes);
  if (!after)
    return fail(llvm::toString(after.takeError()));

  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> output = openOutputFile(outputPath, &errorMessage);
  if (!output)
    return fail("cannot write '" + outputPath + "': " + errorMessage);
  int64_t mixers = llvm::count_if((*unfused).getOps<func::FuncOp>(),
                                  [](func::FuncOp f) { return !f.isExternal(); });
  std::string title = (model.getValue() + ", one " + mode + " step of " + llvm::Twine(mixers) +
                       " mixer" + (mixers == 1 ? "" : "s"))
                          .str();
  printKernelPlan(output->os(), title, sizes, *gpu, *before, *after);
  return finishOutput(*output, outputPath);
}

void printKernelList(ModuleOp module) {
  llvm::MapVector<StringRef, int> uses;
  module.walk([&](Operation *op) {
    if (auto k = op->getAttrOfType<SymbolRefAttr>(kKernelAttrName))
      ++uses[k.getLeafReference().getValue()];
  });
  llvm::errs() << "kernels (" << uses.size() << "):\n";
  for (auto &[name, n] : uses)
    llvm::errs() << "  " << name << "  (" << n << " op" << (n == 1 ? "" : "s")
                 << ")\n";
}
} // namespace

int main(int argc, char **argv) {
  // An allocation the machine cannot give is one line and exit status 1,
  // not an uncaught std::bad_alloc.
  std::set_new_handler([] {
    llvm::errs() << "salac: error: out of memory\n";
    std::_Exit(1);
  });
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "salac 0.1.0 (LLVM/MLIR " << LLVM_VERSION_STRING << ")\n";
  });
  // `salac run ...`: the same parser without the word "run", its own options.
  bool run = argc > 1 && llvm::StringRef(argv[1]) == "run";
  std::vector<const char *> args(argv, argv + argc);
  if (run) {
    args.erase(args.begin() + 1);
    args[0] = "salac run";
    for (cl::Option *shared : {(cl::Option *)&mode, (cl::Option *)&pageSize,
                               (cl::Option *)&lseK2, (cl::Option *)&tpSize,
                               (cl::Option *)&tpRank, (cl::Option *)&inputPath})
      shared->Categories.assign(1, &runCat);
    mode.setDescription("decode or prefill (default: decode); a model config's mode, "
                        "and the default sizes");
    pageSize.setDescription("KV-cache page size of a model config (default: 64); for "
                            "a .mlir input, checked against the block");
  } else {
    // --batch, --q-len and --context also size the kernel plan.
    for (cl::Option *o :
         {(cl::Option *)&runBatch, (cl::Option *)&runQLen, (cl::Option *)&runContext})
      o->Categories.assign(1, &salacCat);
    runBatch.setDescription("Sequences in the step of --print-kernel-plan "
                            "(default: 1; also a salac run option)");
    runQLen.setDescription("New tokens per sequence, for --print-kernel-plan (default: "
                           "1 in decode, 131072 in prefill; also a salac run option)");
    runContext.setDescription("Tokens already cached per sequence, for "
                              "--print-kernel-plan (default: 131072 in decode, 0 in "
                              "prefill; also a salac run option)");
  }
  cl::HideUnrelatedOptions(run ? runCat : salacCat);
  cl::ParseCommandLineOptions(
      int(args.size()), args.data(),
      run ? "salac run: executes one block on the host CPU (salac-cpu-pipeline, JIT) "
            "and checks every output against the C++ reference on seeded random inputs\n\n"
            "  salac run                        layer 0 of the embedded config, decode\n"
            "  salac run --layer=1 --mode=prefill --q-lens=1,70 --contexts=30,0\n"
            "  salac run block.mlir --func=f    a function of a .mlir file\n"
          : "salac: compiles the attention blocks of sparse+linear hybrid LLMs to PTX\n\n"
            "  salac                      compile the embedded MiniCPM-SALA config\n"
            "  salac config.json          compile a HuggingFace MiniCPM-SALA config\n"
            "  salac block.mlir           compile a block written in the sala dialect\n"
            "  salac --print-kernel-plan  every kernel launch of a decode step: grid,\n"
            "                             bytes, flops, roofline floor (--batch, --context,\n"
            "                             --gpu)\n"
            "  salac run [input] [...]    run one block on the CPU against the reference\n"
            "                             (salac run --help)\n");
  if (run)
    return finishStdout(runMain());
  if (cl::Option *o = firstGiven({&runFunc, &runLayer, std::addressof(runQLens),
                                  std::addressof(runContexts), &runDenseLen, &runPoolPages,
                                  &runMaxPages, &runPoolSlots, &runSeed, &runTolerance,
                                  &runChecksums}))
    return fail("--" + o->ArgStr + " applies to salac run");
  if (!printPlan) {
    if (cl::Option *o = firstGiven({&runBatch, &runQLen, &runContext}))
      return fail("--" + o->ArgStr + " applies to salac run and --print-kernel-plan");
  }
  std::optional<GpuSpec> gpu = lookupGpu(gpuName);
  if (!gpu)
    return fail("unknown --gpu '" + gpuName + "' (supported: " + supportedGpus() + ")");

  if (!isSupportedChip(chip))
    return fail("unsupported --chip '" + chip + "' (supported: " + supportedChips() +
                ")");
  if (mode != "decode" && mode != "prefill" && mode != "both")
    return fail("--mode must be decode, prefill or both, got '" + mode + "'");
  if (selectThreads != 0 &&
      (selectThreads < 128 || selectThreads > 1024 || selectThreads % 32 != 0))
    return fail("--select-threads must be a multiple of 32 in [128, 1024], got " +
                llvm::Twine(int64_t(selectThreads)));
  if (linearStages != 1 && (linearStages != 2 || linearSegment == 0))
    return fail("--linear-stages must be 1, or 2 with --linear-segment, got " +
                llvm::Twine(int64_t(linearStages)));
  if (linearSegment < 0 || linearSegment > sala::kMaxSegmentTokens)
    return fail("--linear-segment must be in [0, " + llvm::Twine(sala::kMaxSegmentTokens) +
                "] tokens, got " + llvm::Twine(int64_t(linearSegment)));

  llvm::InitializeAllTargetInfos();
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();

  DialectRegistry registry;
  salac::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  ctx.printOpOnDiagnostic(false); // as in runMain
  llvm::SourceMgr sm;
  SourceMgrDiagnosticHandler diagHandler(sm, &ctx);
  if (printPlan)
    return printPlanMain(ctx, sm);
  // --emit=sala prints the graph before fusion and kernel formation.
  if (emit == Emit::Sala)
    if (cl::Option *o = firstGiven({&noFuse, &chip, &strict, &listKernels, &gpuName,
                                    &linearSegment, &fuseLinearPrefill, &selectThreads,
                                    &linearStages}))
      return fail("--" + o->ArgStr + " does not apply to --emit=sala (the graph before "
                  "fusion and kernels)");

  if (noFuse && fuseLinearPrefill)
    return fail("--fuse-linear-prefill does not apply with --no-fuse (no fusion pass runs)");

  auto loaded = loadInput(ctx, sm);
  if (failed(loaded))
    return 1;
  ModuleOp module = **loaded;
  if (failed(verify(module)))
    return 1;

  // A package is a directory; everything else is one file (or stdout).
  bool package = emit == Emit::Package;
  if (package && outputPath == "-")
    return fail("--emit=package needs an output directory: -o DIR");
  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> output;
  if (!package) {
    output = openOutputFile(outputPath, &errorMessage);
    if (!output)
      return fail("cannot write '" + outputPath + "': " + errorMessage);
  }

  if (emit == Emit::Sala) {
    module.print(output->os());
    return finishOutput(*output, outputPath);
  }

  PassManager pm(&ctx);
  GpuTarget kernelTarget;
  kernelTarget.chip = chip;
  kernelTarget.sms = gpu->sms;
  kernelTarget.linearSegment = linearSegment;
  kernelTarget.selectThreads = selectThreads;
  kernelTarget.linearStages = linearStages;
  buildSalaToKernelsPipeline(pm, /*fuse=*/!noFuse, kernelTarget, fuseLinearPrefill);
  if (failed(pm.run(module)))
    return 1;

  auto missing = unlowered(module);
  if (!missing.empty()) {
    std::string list;
    llvm::raw_string_ostream os(list);
    llvm::interleaveComma(missing, os, [&](auto &entry) {
      os << entry.first << " (" << entry.second.first << ")";
    });
    if (strict)
      return fail("no GPU lowering yet for: " + list);
    llvm::errs() << "salac: warning: no GPU lowering yet for: " << list
                 << "; their kernels are not in the output\n";
  }
  if (listKernels)
    printKernelList(module);
  if (emit == Emit::Mlir) {
    module.print(output->os());
    return finishOutput(*output, outputPath);
  }

  if (!module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName))
    return fail("nothing to compile: no op of the input has a GPU lowering yet");
  // The launch rules live on the gpu.funcs, which lowering replaces.
  auto manifest = collectKernelManifest(module);
  if (failed(manifest))
    return 1;
  std::vector<MixerPlan> mixers; // the manifest's "mixers": how to run each function
  if (package)
    mixers = collectMixerPlans(module);

  PassManager toNVVM(&ctx);
  GpuTarget target;
  target.chip = chip;
  buildKernelsToNVVMPipeline(toNVVM, target);
  if (failed(toNVVM.run(module)))
    return 1;
  if (emit == Emit::LLVM) {
    FailureOr<std::string> ir = translateKernelsToLLVMIR(module);
    if (failed(ir))
      return 1;
    output->os() << *ir;
    return finishOutput(*output, outputPath);
  }

  PassManager toPTX(&ctx);
  buildNVVMToPTXPipeline(toPTX);
  if (failed(toPTX.run(module)))
    return 1;
  FailureOr<std::string> ptx = extractPTX(module);
  if (failed(ptx))
    return 1;
  if (package) {
    if (llvm::Error e = writePackage(outputPath, *ptx, *manifest, chip, mixers))
      return fail(llvm::toString(std::move(e)));
    return 0;
  }
  output->os() << *ptx;
  return finishOutput(*output, outputPath);
}
