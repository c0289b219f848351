//===- Manifest.cpp - The kernel package's manifest.json ------------------===//

#include "salac/Runtime/Manifest.h"
#include "salac/Runtime/Json.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace salac::rt {

const char *paramKindName(ParamKind kind) {
  switch (kind) {
  case ParamKind::Ptr: return "ptr";
  case ParamKind::I64: return "i64";
  case ParamKind::I32: return "i32";
  case ParamKind::F32: return "f32";
  }
  return "?";
}

int KernelSpec::findParam(std::string_view n) const {
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].name == n)
      return int(i);
  return -1;
}

const KernelSpec *Manifest::findKernel(std::string_view n) const {
  for (const auto &k : kernels)
    if (k.name == n)
      return &k;
  return nullptr;
}

static std::string joinNames(const std::vector<std::string> &names) {
  std::string out;
  for (const auto &n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

std::string Manifest::kernelNames() const {
  std::vector<std::string> names;
  for (const auto &k : kernels)
    names.push_back(k.name);
  return joinNames(names);
}

namespace {

/// Validation context: turns a JSON value's position into "file:line:col:".
struct Checker {
  const std::string &origin;

  Status fail(const JsonValue &at, const std::string &what) const {
    return Status::error(Code::Package,
                         strFormat("%s:%d:%d: %s", origin.c_str(), at.line,
                                   at.column, what.c_str()));
  }

  Status getInt(const JsonValue &v, const std::string &what, int64_t lo,
                int64_t hi, int64_t &out) const {
    if (!v.isNumber() || !v.isInteger)
      return fail(v, strFormat("%s must be an integer, found %s", what.c_str(),
                               v.kindName()));
    if (v.integer < lo || v.integer > hi)
      return fail(v, strFormat("%s = %lld is out of range [%lld, %lld]",
                               what.c_str(), (long long)v.integer,
                               (long long)lo, (long long)hi));
    out = v.integer;
    return Status();
  }

  Status getString(const JsonValue &v, const std::string &what,
                   std::string &out) const {
    if (!v.isString())
      return fail(v, strFormat("%s must be a string, found %s", what.c_str(),
                               v.kindName()));
    out = v.string;
    return Status();
  }

  const JsonValue *require(const JsonValue &obj, const char *key,
                           const std::string &where, Status &st) const {
    const JsonValue *v = obj.find(key);
    if (!v)
      st = fail(obj, strFormat("%s: missing \"%s\"", where.c_str(), key));
    return v;
  }

  Status parseParam(const JsonValue &v, const std::string &where,
                    KernelParam &p) const {
    if (!v.isObject())
      return fail(v, where + " must be an object, found " + v.kindName());
    Status st;
    const JsonValue *name = require(v, "name", where, st);
    if (!name)
      return st;
    SALART_TRY(getString(*name, where + ".name", p.name));
    const JsonValue *kind = require(v, "kind", where, st);
    if (!kind)
      return st;
    std::string k;
    SALART_TRY(getString(*kind, where + ".kind", k));
    if (k == "ptr") p.kind = ParamKind::Ptr;
    else if (k == "i64") p.kind = ParamKind::I64;
    else if (k == "i32") p.kind = ParamKind::I32;
    else if (k == "f32") p.kind = ParamKind::F32;
    else
      return fail(*kind, strFormat("%s ('%s'): unknown kind \"%s\" (expected "
                                   "ptr, i64, i32 or f32)",
                                   where.c_str(), p.name.c_str(), k.c_str()));
    if (const JsonValue *d = v.find("dtype"))
      SALART_TRY(getString(*d, where + ".dtype", p.dtype));
    if (const JsonValue *m = v.find("meaning"))
      SALART_TRY(getString(*m, where + ".meaning", p.meaning));
    if (const JsonValue *a = v.find("align")) {
      SALART_TRY(getInt(*a, where + ".align", 1, 4096, p.align));
      if ((p.align & (p.align - 1)) != 0)
        return fail(*a, strFormat("%s ('%s'): align %llu is not a power of two", where.c_str(),
                                  p.name.c_str(), (unsigned long long)p.align));
    }
    return Status();
  }

  Status parseGridRule(const JsonValue &v, const std::string &where,
                       const KernelSpec &k, GridRule &r) const {
    if (v.isNumber()) {
      r.param = -1;
      return getInt(v, where, 0, UINT32_MAX, r.constant);
    }
    if (!v.isObject())
      return fail(v, strFormat("%s must be an integer or {\"param\", \"mul\", "
                               "\"div\"}, found %s",
                               where.c_str(), v.kindName()));
    // A misspelt key would silently change the launch size: reject unknowns.
    for (const auto &m : v.members)
      if (m.first != "param" && m.first != "mul" && m.first != "div")
        return fail(m.second, strFormat("%s: unknown key \"%s\" (expected "
                                        "param, mul, div)",
                                        where.c_str(), m.first.c_str()));
    Status st;
    const JsonValue *param = require(v, "param", where, st);
    if (!param)
      return st;
    std::string name;
    SALART_TRY(getString(*param, where + ".param", name));
    r.param = k.findParam(name);
    if (r.param < 0) {
      std::vector<std::string> names;
      for (const auto &p : k.params)
        names.push_back(p.name);
      return fail(*param, strFormat("%s: \"%s\" is not a parameter of the "
                                    "kernel (parameters: %s)",
                                    where.c_str(), name.c_str(),
                                    joinNames(names).c_str()));
    }
    ParamKind pk = k.params[r.param].kind;
    if (pk != ParamKind::I64 && pk != ParamKind::I32)
      return fail(*param, strFormat("%s: parameter \"%s\" has kind %s; a grid "
                                    "rule needs an i64 or i32 scalar",
                                    where.c_str(), name.c_str(),
                                    paramKindName(pk)));
    if (const JsonValue *m = v.find("mul"))
      SALART_TRY(getInt(*m, where + ".mul", 1, INT32_MAX, r.mul));
    if (const JsonValue *d = v.find("div"))
      SALART_TRY(getInt(*d, where + ".div", 1, INT32_MAX, r.div));
    return Status();
  }

  Status parseKernel(const JsonValue &v, const std::string &where,
                     KernelSpec &k) const {
    if (!v.isObject())
      return fail(v, where + " must be an object, found " + v.kindName());
    Status st;
    const JsonValue *name = require(v, "name", where, st);
    if (!name)
      return st;
    SALART_TRY(getString(*name, where + ".name", k.name));
    if (k.name.empty())
      return fail(*name, where + ".name is empty");
    std::string kw = "kernel '" + k.name + "'";
    if (const JsonValue *op = v.find("op"))
      SALART_TRY(getString(*op, kw + ": op", k.op));

    const JsonValue *params = require(v, "params", kw, st);
    if (!params)
      return st;
    if (!params->isArray())
      return fail(*params, kw + ": params must be an array, found " +
                               params->kindName());
    for (size_t i = 0; i < params->items.size(); ++i) {
      KernelParam p;
      SALART_TRY(parseParam(params->items[i],
                            strFormat("%s: params[%zu]", kw.c_str(), i), p));
      if (k.findParam(p.name) >= 0)
        return fail(params->items[i], strFormat("%s: duplicate parameter "
                                                "\"%s\"",
                                                kw.c_str(), p.name.c_str()));
      k.params.push_back(std::move(p));
    }

    const JsonValue *block = require(v, "block", kw, st);
    if (!block)
      return st;
    if (!block->isArray() || block->items.size() != 3)
      return fail(*block, kw + ": block must be an array of 3 integers");
    int64_t threads = 1;
    for (int d = 0; d < 3; ++d) {
      int64_t b;
      SALART_TRY(getInt(block->items[d], strFormat("%s: block[%d]", kw.c_str(),
                                                   d),
                        1, d == 2 ? 64 : 1024, b));
      k.block[d] = uint32_t(b);
      threads *= b;
    }
    if (threads > 1024)
      return fail(*block, strFormat("%s: block %ux%ux%u has %lld threads; "
                                    "CUDA allows at most 1024",
                                    kw.c_str(), k.block[0], k.block[1],
                                    k.block[2], (long long)threads));

    const JsonValue *grid = require(v, "grid", kw, st);
    if (!grid)
      return st;
    if (!grid->isArray() || grid->items.size() != 3)
      return fail(*grid, kw + ": grid must be an array of 3 entries");
    for (int d = 0; d < 3; ++d)
      SALART_TRY(parseGridRule(grid->items[d],
                               strFormat("%s: grid[%d]", kw.c_str(), d), k,
                               k.grid[d]));

    if (const JsonValue *sb = v.find("shared_bytes")) {
      int64_t bytes;
      SALART_TRY(getInt(*sb, kw + ": shared_bytes", 0, INT32_MAX, bytes));
      k.sharedBytes = uint32_t(bytes);
    }
    return Status();
  }
};

} // namespace

Status parseManifest(std::string_view text, const std::string &origin,
                     Manifest &out) {
  JsonValue root;
  SALART_TRY(parseJson(text, origin, root));
  Checker c{origin};
  if (!root.isObject())
    return c.fail(root, std::string("the manifest must be a JSON object, "
                                    "found ") + root.kindName());
  out = Manifest();
  // The version comes first: a newer format may change everything else.
  Status st;
  const JsonValue *version = c.require(root, "format_version", "manifest", st);
  if (!version)
    return st;
  if (!version->isNumber() || !version->isInteger)
    return c.fail(*version, strFormat("format_version must be an integer, "
                                      "found %s",
                                      version->kindName()));
  out.formatVersion = version->integer;
  if (out.formatVersion != kManifestFormatVersion)
    return c.fail(*version,
                  strFormat("unsupported format_version %lld: this libsalart "
                            "reads format_version %lld only",
                            (long long)out.formatVersion,
                            (long long)kManifestFormatVersion));
  if (const JsonValue *p = root.find("producer"))
    SALART_TRY(c.getString(*p, "producer", out.producer));
  if (const JsonValue *p = root.find("chip"))
    SALART_TRY(c.getString(*p, "chip", out.chip));
  if (const JsonValue *p = root.find("ptx")) {
    SALART_TRY(c.getString(*p, "ptx", out.ptxFile));
    if (out.ptxFile.empty())
      return c.fail(*p, "ptx is an empty file name");
    // A file of the package, not a path elsewhere on the machine.
    if (out.ptxFile.find('/') != std::string::npos || out.ptxFile == "." ||
        out.ptxFile == "..")
      return c.fail(*p, strFormat("ptx must be a file name in the package, got '%s'",
                                  out.ptxFile.c_str()));
  }
  const JsonValue *kernels = c.require(root, "kernels", "manifest", st);
  if (!kernels)
    return st;
  if (!kernels->isArray())
    return c.fail(*kernels, std::string("kernels must be an array, found ") +
                                kernels->kindName());
  for (size_t i = 0; i < kernels->items.size(); ++i) {
    KernelSpec k;
    SALART_TRY(c.parseKernel(kernels->items[i], strFormat("kernels[%zu]", i),
                             k));
    if (out.findKernel(k.name))
      return c.fail(kernels->items[i],
                    strFormat("duplicate kernel name '%s'", k.name.c_str()));
    out.kernels.push_back(std::move(k));
  }
  return Status();
}

std::vector<std::string> ptxEntryNames(std::string_view ptx) {
  // Blank out comments first so that "// .entry old_name" is not an entry.
  std::string text(ptx);
  for (size_t i = 0; i + 1 < text.size();) {
    if (text[i] == '/' && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n')
        text[i++] = ' ';
    } else if (text[i] == '/' && text[i + 1] == '*') {
      size_t end = text.find("*/", i + 2);
      end = end == std::string::npos ? text.size() : end + 2;
      for (; i < end; ++i)
        if (text[i] != '\n')
          text[i] = ' ';
    } else if (text[i] == '"') { // string literals may hold "//"
      for (++i; i < text.size() && text[i] != '"' && text[i] != '\n'; ++i)
        ;
      ++i;
    } else {
      ++i;
    }
  }
  auto isIdent = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '%';
  };
  std::vector<std::string> names;
  static constexpr std::string_view kEntry = ".entry";
  for (size_t pos = text.find(kEntry); pos != std::string::npos;
       pos = text.find(kEntry, pos + 1)) {
    size_t i = pos + kEntry.size();
    bool tokenStart = pos == 0 || !isIdent(text[pos - 1]);
    if (!tokenStart || i >= text.size() || !isspace((unsigned char)text[i]))
      continue;
    while (i < text.size() && isspace((unsigned char)text[i]))
      ++i;
    size_t b = i;
    while (i < text.size() && isIdent(text[i]))
      ++i;
    if (i > b)
      names.emplace_back(text, b, i - b);
  }
  return names;
}

Status checkPtxEntries(const Manifest &manifest, std::string_view ptx,
                       const std::string &ptxPath) {
  std::vector<std::string> entries = ptxEntryNames(ptx);
  std::set<std::string> have(entries.begin(), entries.end());
  std::vector<std::string> missing;
  for (const auto &k : manifest.kernels)
    if (!have.count(k.name))
      missing.push_back(k.name);
  if (missing.empty())
    return Status();
  return Status::error(
      Code::Package,
      strFormat("%zu kernel(s) of the manifest not defined as .entry in %s: "
                "%s (entries found: %s)",
                missing.size(), ptxPath.c_str(), joinNames(missing).c_str(),
                joinNames(entries).c_str()));
}

Status readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::error(Code::Package,
                         strFormat("cannot open %s: %s", path.c_str(),
                                   std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Status::error(Code::Package,
                         strFormat("error reading %s", path.c_str()));
  out = ss.str();
  return Status();
}

Status readPackage(const std::string &dir, Manifest &manifest,
                   std::string &ptx, std::string *ptxPathOut) {
  struct stat sb;
  if (stat(dir.c_str(), &sb) != 0)
    return Status::error(Code::Package,
                         strFormat("package directory %s does not exist (%s)",
                                   dir.c_str(), std::strerror(errno)));
  if (!S_ISDIR(sb.st_mode))
    return Status::error(Code::Package,
                         strFormat("package path %s is not a directory",
                                   dir.c_str()));
  std::string manifestPath = dir + "/manifest.json";
  if (stat(manifestPath.c_str(), &sb) != 0)
    return Status::error(Code::Package,
                         strFormat("package %s has no manifest.json (%s)",
                                   dir.c_str(), std::strerror(errno)));
  std::string text;
  SALART_TRY(readFile(manifestPath, text));
  SALART_TRY(parseManifest(text, manifestPath, manifest));

  std::string ptxPath = dir + "/" + manifest.ptxFile;
  if (stat(ptxPath.c_str(), &sb) != 0)
    return Status::error(Code::Package,
                         strFormat("%s names PTX file \"%s\", but %s does not "
                                   "exist",
                                   manifestPath.c_str(),
                                   manifest.ptxFile.c_str(), ptxPath.c_str()));
  SALART_TRY(readFile(ptxPath, ptx));
  SALART_TRY(checkPtxEntries(manifest, ptx, ptxPath));
  if (ptxPathOut)
    *ptxPathOut = ptxPath;
  return Status();
}

Status computeGrid(const KernelSpec &k, const void *const *args,
                   uint32_t grid[3]) {
  // The driver's limits, checked here so the message can say which rule.
  static constexpr uint64_t kMaxGrid[3] = {2147483647u, 65535u, 65535u};
  for (int d = 0; d < 3; ++d) {
    const GridRule &r = k.grid[d];
    uint64_t dim;
    if (r.param < 0) {
      dim = uint64_t(r.constant);
    } else {
      const KernelParam &p = k.params[r.param];
      if (!args || !args[r.param])
        return Status::error(
            Code::InvalidArgument,
            strFormat("kernel '%s': grid[%d] needs parameter %d (\"%s\"), but "
                      "its argument pointer is null",
                      k.name.c_str(), d, r.param, p.name.c_str()));
      int64_t value;
      if (p.kind == ParamKind::I64) {
        std::memcpy(&value, args[r.param], sizeof(int64_t));
      } else {
        int32_t v32;
        std::memcpy(&v32, args[r.param], sizeof(int32_t));
        value = v32;
      }
      if (value < 0)
        return Status::error(
            Code::InvalidArgument,
            strFormat("kernel '%s': grid[%d] = ceil(%s * %lld / %lld), but "
                      "%s = %lld is negative",
                      k.name.c_str(), d, p.name.c_str(), (long long)r.mul,
                      (long long)r.div, p.name.c_str(), (long long)value));
      unsigned __int128 num = (unsigned __int128)uint64_t(value) * uint64_t(r.mul);
      unsigned __int128 q = (num + uint64_t(r.div) - 1) / uint64_t(r.div);
      if (q > kMaxGrid[d])
        return Status::error(
            Code::InvalidArgument,
            strFormat("kernel '%s': grid[%d] = ceil(%s * %lld / %lld) with "
                      "%s = %lld exceeds the CUDA limit %llu",
                      k.name.c_str(), d, p.name.c_str(), (long long)r.mul,
                      (long long)r.div, p.name.c_str(), (long long)value,
                      (unsigned long long)kMaxGrid[d]));
      dim = uint64_t(q);
    }
    if (dim > kMaxGrid[d])
      return Status::error(Code::InvalidArgument,
                           strFormat("kernel '%s': grid[%d] = %llu exceeds the "
                                     "CUDA limit %llu",
                                     k.name.c_str(), d, (unsigned long long)dim,
                                     (unsigned long long)kMaxGrid[d]));
    grid[d] = uint32_t(dim);
  }
  return Status();
}

} // namespace salac::rt
