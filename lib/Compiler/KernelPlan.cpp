//===- KernelPlan.cpp - the kernel launches of a step ---------------------===//
//
// planKernelLaunches: the launches of a module after convert-sala-to-gpu,
// each costed by its op's model (KernelCost.cpp); printKernelPlan: the
// report.
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
#include "llvm/Support/FormatVariadic.h"
#include <algorithm>

using namespace mlir;
using namespace salac;

//===----------------------------------------------------------------------===//
// GPUs
//===----------------------------------------------------------------------===//

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
// planKernelLaunches
//===----------------------------------------------------------------------===//

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

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
            1, ceilDiv(compressedKeyEntries(s.seqLen(), ck.getKernelSize(), ck.getKernelStride()),
                       kSelectPartEntries));
  if (name == "max_blocks")
    if (auto bs = op->getAttrOfType<IntegerAttr>("block_size"))
      return ceilDiv(s.seqLen(), bs.getInt());
  for (Type t : op->getOperandTypes()) {
    if (auto kv = dyn_cast<sala::KVCacheType>(t); kv && name == "max_pages")
      return ceilDiv(s.seqLen(), kv.getPageSize());
    if (auto ck = dyn_cast<sala::CompressedKeysType>(t); ck && name == "max_key_pages")
      return ceilDiv(compressedKeyEntries(s.seqLen(), ck.getKernelSize(), ck.getKernelStride()),
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
