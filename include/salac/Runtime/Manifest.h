//===- Manifest.h - The kernel package's manifest.json -----------*- C++ -*-===//
//
// Reads and checks a salac kernel package (docs/KernelPackage.md, format
// version 1) without touching the GPU: everything that can be wrong with a
// package is reported here, so CI without a GPU sees the same errors a serving
// machine would.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_MANIFEST_H
#define SALAC_RUNTIME_MANIFEST_H

#include "salac/Runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace salac::rt {

/// The only manifest format this runtime reads.
constexpr int64_t kManifestFormatVersion = 1;

enum class ParamKind { Ptr, I64, I32, F32 };
const char *paramKindName(ParamKind kind);

struct KernelParam {
  std::string name;
  ParamKind kind = ParamKind::Ptr;
  std::string dtype;   // element type of a ptr param ("bf16", ...); may be ""
  std::string meaning; // informational
  int64_t align = 1;   // bytes a ptr param's address must be a multiple of
};

/// One grid dimension: a constant, or ceil(value(param) * mul / div).
struct GridRule {
  int param = -1; // index into KernelSpec::params; -1 = constant
  int64_t constant = 1;
  int64_t mul = 1, div = 1;
};

struct KernelSpec {
  std::string name;
  std::string op;
  std::vector<KernelParam> params;
  uint32_t block[3] = {1, 1, 1};
  GridRule grid[3];
  uint32_t sharedBytes = 0; // dynamic shared memory per block

  int findParam(std::string_view name) const;
};

struct Manifest {
  int64_t formatVersion = 0;
  std::string producer, chip;
  std::string ptxFile = "kernels.ptx"; // relative to the package directory
  std::vector<KernelSpec> kernels;

  const KernelSpec *findKernel(std::string_view name) const;
  /// "a, b, c": for "not found" messages.
  std::string kernelNames() const;
};

/// Parses and validates manifest text; `origin` names it in messages.
Status parseManifest(std::string_view text, const std::string &origin,
                     Manifest &out);

/// Names of the `.entry` functions defined in PTX text (comments skipped).
std::vector<std::string> ptxEntryNames(std::string_view ptx);

/// Every manifest kernel must be an .entry of the PTX; the error names all
/// that are missing.
Status checkPtxEntries(const Manifest &manifest, std::string_view ptx,
                       const std::string &ptxPath);

/// Reads DIR/manifest.json and the PTX it names, and checks both.
Status readPackage(const std::string &dir, Manifest &manifest,
                   std::string &ptx, std::string *ptxPath = nullptr);

/// Reads a whole file; the error names the path and the OS reason.
Status readFile(const std::string &path, std::string &out);

/// Launch grid from the manifest rules. `args` is cuLaunchKernel's array:
/// args[i] points at the value of parameter i; only the scalar parameters the
/// rules name are read. A zero dimension is valid (the launch is skipped).
Status computeGrid(const KernelSpec &kernel, const void *const *args,
                   uint32_t grid[3]);

} // namespace salac::rt

#endif // SALAC_RUNTIME_MANIFEST_H
