//===- Package.cpp - the kernel package (PTX + manifest + C header) -------===//
#include "salac/Compiler/Package.h"
#include "salac/Conversion/SalaToGPU/KernelBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace salac;

static llvm::json::Value attrToJSON(Attribute attr) {
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.getValue().str();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getValue().getSExtValue();
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto b = dyn_cast<BoolAttr>(attr))
    return b.getValue();
  if (auto a = dyn_cast<DenseI64ArrayAttr>(attr))
    return llvm::json::Array(a.asArrayRef());
  if (auto a = dyn_cast<DenseF64ArrayAttr>(attr))
    return llvm::json::Array(a.asArrayRef());
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    llvm::json::Array out;
    for (Attribute e : a)
      out.push_back(attrToJSON(e));
    return out;
  }
  if (auto d = dyn_cast<DictionaryAttr>(attr)) {
    llvm::json::Object out;
    for (NamedAttribute n : d)
      out[n.getName().getValue()] = attrToJSON(n.getValue());
    return out;
  }
  // Enums and other dialect attributes: their printed value (`head`, `neox`).
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  StringRef t(text);
  if (t.ends_with(">") && t.contains(' '))
    t = t.drop_back().rsplit(' ').second;
  return t.str();
}

FailureOr<std::vector<KernelManifestEntry>>
salac::collectKernelManifest(ModuleOp module) {
  std::vector<KernelManifestEntry> entries;
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  if (!kernels)
    return entries;
  for (auto fn : kernels.getOps<gpu::GPUFuncOp>()) {
    auto launch = fn->getAttrOfType<DictionaryAttr>(kLaunchAttrName);
    auto op = fn->getAttrOfType<StringAttr>(kOpAttrName);
    if (!launch || !op)
      return fn.emitError() << "kernel has no launch rule (" << kLaunchAttrName
                            << ") or op (" << kOpAttrName << ")";
    KernelManifestEntry e;
    e.name = fn.getName().str();
    e.json["name"] = e.name;
    e.json["op"] = op.getValue().str();
    llvm::json::Object attrs;
    if (auto a = fn->getAttrOfType<DictionaryAttr>(kOpAttributesAttrName))
      for (NamedAttribute n : a)
        if (n.getName() != kKernelAttrName)
          attrs[n.getName().getValue()] = attrToJSON(n.getValue());
    e.json["attributes"] = std::move(attrs);
    for (NamedAttribute n : launch)
      e.json[n.getName().getValue()] = attrToJSON(n.getValue());
    if (auto config = fn->getAttrOfType<DictionaryAttr>(kConfigAttrName))
      e.json["config"] = attrToJSON(config);
    entries.push_back(std::move(e));
  }
  return entries;
}

// --- the "mixers" section (docs/KernelPackage.md) ---

static llvm::json::Value bufferJSON(const MixerBuffer &b) {
  return llvm::json::Object{
      {"name", b.name}, {"dtype", b.dtype}, {"shape", llvm::json::Array(b.shape)}};
}


llvm::json::Value salac::toJSON(const MixerPlan &p) {
  llvm::json::Array args;
  for (const MixerArgument &a : p.arguments) {
    llvm::json::Array buffers;
    for (const MixerBuffer &b : a.buffers)
      buffers.push_back(bufferJSON(b));
    llvm::json::Object o{{"name", a.name},
                         {"type", a.type},
                         {"mlir_type", a.mlirType},
                         {"written", a.written},
                         {"buffers", std::move(buffers)}};
    if (!a.parameters.empty())
      o["parameters"] = llvm::json::Object(a.parameters);
    args.push_back(std::move(o));
  }
  llvm::json::Array sizes;
  for (const MixerSize &s : p.sizes) {
    llvm::json::Object o{{"name", s.name}, {"meaning", s.meaning}};
    if (!s.buffer.empty()) {
      o["from"] = llvm::json::Object{{"buffer", s.buffer}, {"dim", s.dim}};
    } else if (!s.productOf.empty()) {
      llvm::json::Array of;
      for (const std::string &n : s.productOf)
        of.push_back(n);
      o["product"] = llvm::json::Object{{"sizes", std::move(of)}, {"mul", s.mul}};
    } else if (s.splitRule) {
      // Evaluated by the runtime for every step (python/salac/mixers.py).
      const SplitRule &r = *s.splitRule;
      o["split_kv"] = llvm::json::Object{
          {"pairs", llvm::json::Object{{"size", "tokens"}, {"mul", s.splitKvHeads}}},
          {"tiles", s.splitTiles},
          {"tiles_bound",
           llvm::json::Object{{"size", s.boundSize}, {"mul", s.mul}, {"div", s.div}}},
          {"sms", r.sms},
          {"blocks_per_sm", r.blocksPerSm},
          {"max_splits", r.maxSplits},
          {"few_pairs_max_splits", r.fewPairsMaxSplits},
          {"min_tiles_per_split", r.minTilesPerSplit}};
    } else if (!s.boundSize.empty()) {
      o["bound"] =
          llvm::json::Object{{"size", s.boundSize}, {"mul", s.mul}, {"div", s.div}};
    }
    if (s.defaultValue)
      o["default"] = *s.defaultValue;
    sizes.push_back(std::move(o));
  }
  llvm::json::Array inter, work;
  for (const MixerTemp &t : p.intermediates) {
    llvm::json::Object o = *bufferJSON(t.buffer).getAsObject();
    o["op"] = t.op;
    inter.push_back(std::move(o));
  }
  for (const MixerTemp &t : p.workspaces) {
    llvm::json::Object o = *bufferJSON(t.buffer).getAsObject();
    o["kernel"] = t.kernel;
    o["param"] = t.param;
    o["init"] = t.init;
    o["meaning"] = t.meaning;
    work.push_back(std::move(o));
  }
  llvm::json::Array launches;
  for (const MixerLaunch &l : p.launches) {
    llvm::json::Array binds;
    for (const MixerBinding &b : l.args)
      binds.push_back(llvm::json::Object{{"param", b.param}, {b.kind, b.name}});
    launches.push_back(llvm::json::Object{
        {"kernel", l.kernel}, {"op", l.op}, {"args", std::move(binds)}});
  }
  llvm::json::Array outputs;
  for (const std::string &o : p.outputs)
    outputs.push_back(o);
  llvm::json::Object o{{"name", p.name},
                       {"kind", p.kind},
                       {"mode", p.mode},
                       {"arguments", std::move(args)},
                       {"sizes", std::move(sizes)},
                       {"intermediates", std::move(inter)},
                       {"workspaces", std::move(work)},
                       {"outputs", std::move(outputs)},
                       {"launches", std::move(launches)}};
  o["layer"] = p.layer ? llvm::json::Value(*p.layer) : llvm::json::Value(nullptr);
  return o;
}

llvm::json::Value salac::buildManifest(const std::vector<KernelManifestEntry> &kernels,
                                       StringRef chip, ArrayRef<MixerPlan> mixers) {
  llvm::json::Array list;
  for (const KernelManifestEntry &k : kernels)
    list.push_back(llvm::json::Object(k.json));
  llvm::json::Object manifest{{"format_version", kPackageFormatVersion},
                              {"producer", "salac 0.1.0"},
                              {"chip", chip.str()},
                              {"ptx", "kernels.ptx"},
                              {"kernels", std::move(list)}};
  // Optional: a format-1 reader that does not know it ignores it.
  if (!mixers.empty()) {
    llvm::json::Array plans;
    for (const MixerPlan &p : mixers)
      plans.push_back(toJSON(p));
    manifest["mixers"] = std::move(plans);
  }
  return manifest;
}

/// C expression of one grid dimension from the manifest rule.
static std::string gridExpr(const llvm::json::Value &dim) {
  if (auto c = dim.getAsInteger())
    return llvm::formatv("{0}u", *c).str();
  const llvm::json::Object *o = dim.getAsObject();
  StringRef param = *o->getString("param");
  int64_t mul = *o->getInteger("mul"), div = *o->getInteger("div");
  return llvm::formatv("(unsigned)(((uint64_t){0} * {1}ull + {2}ull) / {3}ull)", param,
                       mul, div - 1, div)
      .str();
}

std::string salac::buildKernelHeader(const std::vector<KernelManifestEntry> &kernels,
                                     StringRef chip) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "/* salac_kernels.h: generated by salac 0.1.0 for " << chip << ".\n"
     << " * One launch function per kernel of kernels.ptx, using only the CUDA\n"
     << " * driver API. Load the PTX with salac_kernels_load(), then call\n"
     << " * salac_launch_<kernel>(); a zero-sized grid launches nothing. */\n"
     << "#ifndef SALAC_KERNELS_H\n#define SALAC_KERNELS_H\n\n"
     << "#include <cuda.h>\n#include <stdint.h>\n\n"
     << "#define SALAC_PACKAGE_FORMAT_VERSION " << kPackageFormatVersion << "\n"
     << "#define SALAC_PACKAGE_CHIP \"" << chip << "\"\n"
     << "#define SALAC_NUM_KERNELS " << kernels.size() << "\n\n"
     << "typedef struct salac_kernels {\n  CUmodule module;\n";
  for (const KernelManifestEntry &k : kernels)
    os << "  CUfunction " << k.name << ";\n";
  os << "} salac_kernels;\n\n"
     << "/* Loads the PTX image (the text of kernels.ptx) into the current context\n"
     << " * and resolves every kernel. */\n"
     << "static inline CUresult salac_kernels_load(salac_kernels *k, const char *ptx) {\n"
     << "  CUresult r = cuModuleLoadData(&k->module, ptx);\n"
     << "  if (r != CUDA_SUCCESS) return r;\n";
  for (const KernelManifestEntry &k : kernels) {
    os << "  r = cuModuleGetFunction(&k->" << k.name << ", k->module, \"" << k.name
       << "\");\n  if (r != CUDA_SUCCESS) return r;\n";
    int64_t shared = k.json.getInteger("shared_bytes").value_or(0);
    if (shared > 48 * 1024)
      os << "  r = cuFuncSetAttribute(k->" << k.name
         << ", CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, " << shared
         << ");\n  if (r != CUDA_SUCCESS) return r;\n";
  }
  os << "  return CUDA_SUCCESS;\n}\n\n"
     << "static inline CUresult salac_kernels_unload(salac_kernels *k) {\n"
     << "  return cuModuleUnload(k->module);\n}\n";

  for (const KernelManifestEntry &k : kernels) {
    const llvm::json::Array *params = k.json.getArray("params");
    const llvm::json::Array *block = k.json.getArray("block");
    const llvm::json::Array *grid = k.json.getArray("grid");
    int64_t shared = k.json.getInteger("shared_bytes").value_or(0);
    os << "\n/* " << k.name << ": " << *k.json.getString("op");
    if (const llvm::json::Object *a = k.json.getObject("attributes")) {
      std::string attrs;
      llvm::raw_string_ostream as(attrs);
      as << llvm::json::Value(llvm::json::Object(*a));
      os << " " << attrs;
    }
    os << "\n";
    for (const llvm::json::Value &p : *params) {
      const llvm::json::Object *o = p.getAsObject();
      os << " *   " << *o->getString("name") << ": " << *o->getString("meaning")
         << "\n";
    }
    os << " */\nstatic inline CUresult salac_launch_" << k.name
       << "(CUfunction f, CUstream stream";
    for (const llvm::json::Value &p : *params) {
      const llvm::json::Object *o = p.getAsObject();
      StringRef kind = *o->getString("kind");
      StringRef ctype = kind == "ptr"   ? "CUdeviceptr"
                        : kind == "i32" ? "int32_t"
                        : kind == "f32" ? "float"
                                        : "int64_t";
      os << ", " << ctype << " " << *o->getString("name");
    }
    os << ") {\n";
    for (const llvm::json::Value &p : *params) {
      const llvm::json::Object *o = p.getAsObject();
      StringRef kind = *o->getString("kind");
      if (kind != "ptr" && kind != "f32")
        os << "  if (" << *o->getString("name")
           << " < 0) return CUDA_ERROR_INVALID_VALUE;\n";
      if (int64_t align = o->getInteger("align").value_or(1); kind == "ptr" && align > 1)
        os << "  if (" << *o->getString("name") << " % " << align
           << ") return CUDA_ERROR_INVALID_VALUE; /* " << align << "-byte aligned */\n";
    }
    const char *axes[] = {"x", "y", "z"};
    for (int i = 0; i < 3; ++i)
      os << "  unsigned grid_" << axes[i] << " = " << gridExpr((*grid)[i]) << ";\n";
    os << "  void *args[] = {";
    llvm::interleaveComma(*params, os, [&](const llvm::json::Value &p) {
      os << "&" << *p.getAsObject()->getString("name");
    });
    os << "};\n  if (grid_x == 0 || grid_y == 0 || grid_z == 0) return CUDA_SUCCESS;\n"
       << "  return cuLaunchKernel(f, grid_x, grid_y, grid_z, "
       << *(*block)[0].getAsInteger() << ", " << *(*block)[1].getAsInteger() << ", "
       << *(*block)[2].getAsInteger() << ", " << shared
       << ", stream, args, (void **)0);\n}\n";
  }
  os << "\n#endif /* SALAC_KERNELS_H */\n";
  return text;
}

static llvm::Error writeFile(StringRef path, StringRef contents) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return llvm::createStringError(ec, "cannot write '%s': %s", path.str().c_str(),
                                   ec.message().c_str());
  os << contents;
  os.close();
  if (os.has_error())
    return llvm::createStringError(os.error(), "cannot write '%s': %s",
                                   path.str().c_str(), os.error().message().c_str());
  return llvm::Error::success();
}

llvm::Error salac::writePackage(StringRef dir, StringRef ptx,
                                const std::vector<KernelManifestEntry> &kernels,
                                StringRef chip, ArrayRef<MixerPlan> mixers) {
  if (llvm::sys::fs::exists(dir) && !llvm::sys::fs::is_directory(dir))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "cannot write the package: '%s' is a file, not a "
                                   "directory",
                                   dir.str().c_str());
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return llvm::createStringError(ec, "cannot create '%s': %s", dir.str().c_str(),
                                   ec.message().c_str());
  auto path = [&](StringRef file) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, file);
    return std::string(p);
  };
  std::string manifest;
  llvm::raw_string_ostream os(manifest);
  os << llvm::formatv("{0:2}", buildManifest(kernels, chip, mixers)) << "\n";
  if (llvm::Error e = writeFile(path("kernels.ptx"), ptx))
    return e;
  if (llvm::Error e = writeFile(path("manifest.json"), manifest))
    return e;
  return writeFile(path("salac_kernels.h"), buildKernelHeader(kernels, chip));
}
