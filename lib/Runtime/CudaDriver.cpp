//===- CudaDriver.cpp - The CUDA driver API, loaded at run time -----------===//

#include "salac/Runtime/CudaDriver.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>

namespace salac::rt {

static constexpr const char *kDefaultLibrary = "libcuda.so.1";

std::string CudaDriver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (!cuGetErrorName || cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    return strFormat("CUresult %d (unknown to this driver)", result);
  if (!cuGetErrorString || cuGetErrorString(result, &text) != CUDA_SUCCESS ||
      !text)
    return name;
  return strFormat("%s (%s)", name, text);
}

Status CudaDriver::check(CUresult result, const char *symbol,
                         const std::string &what) const {
  if (result == CUDA_SUCCESS)
    return Status();
  std::string msg = strFormat("%s failed: %s", symbol,
                              describe(result).c_str());
  if (!what.empty())
    msg = what + ": " + msg;
  return Status::error(Code::Driver, msg);
}

Status loadDriverLibrary(const char *path, CudaDriver &out) {
  out = CudaDriver();
  dlerror();
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    std::string reason = why ? why : "unknown dlopen error";
    if (reason.find("No such file") != std::string::npos ||
        reason.find("cannot open shared object") != std::string::npos)
      return Status::error(Code::NoDriver,
                           strFormat("%s not found: no NVIDIA driver on this "
                                     "machine (dlopen: %s)",
                                     path, reason.c_str()));
    return Status::error(Code::NoDriver,
                         strFormat("%s could not be loaded (dlopen: %s)", path,
                                   reason.c_str()));
  }
  // Resolve every entry point now, so a driver too old for us fails here with
  // the missing name instead of later in the middle of a launch.
#define SALART_CU_FN(member, symbol, params)                                   \
  {                                                                            \
    void *sym = dlsym(lib, #symbol);                                           \
    if (!sym) {                                                                \
      dlclose(lib);                                                            \
      out = CudaDriver();                                                      \
      return Status::error(Code::NoDriver,                                     \
                           strFormat("%s has no symbol %s: the NVIDIA driver " \
                                     "is too old for libsalart",               \
                                     path, #symbol));                          \
    }                                                                          \
    out.member = reinterpret_cast<decltype(out.member)>(sym);                  \
  }
#include "salac/Runtime/CudaSymbols.def"
#undef SALART_CU_FN
  out.library = lib;
  return Status();
}

Status getDriver(const CudaDriver **out) {
  // Loaded once and never unloaded: function pointers and module handles held
  // elsewhere must stay valid until the process exits.
  static std::once_flag once;
  static CudaDriver driver;
  static Status status;
  std::call_once(once, [] {
    const char *override = std::getenv("SALART_LIBCUDA");
    const char *path = override && *override ? override : kDefaultLibrary;
    status = loadDriverLibrary(path, driver);
    if (!status.ok())
      return;
    status = SALART_CU(driver, cuInit, 0u);
    if (!status.ok()) // e.g. CUDA_ERROR_NO_DEVICE: a driver but no usable GPU
      status = Status::error(Code::NoDriver, status.message());
  });
  if (!status.ok())
    return status;
  *out = &driver;
  return Status();
}

} // namespace salac::rt
