//===- CudaDriver.h - The CUDA driver API, loaded at run time ----*- C++ -*-===//
//
// libsalart must build where the CUDA toolkit is absent, so it declares the
// few driver types it needs itself (values copied from cuda.h, CUDA 13) and
// resolves the functions listed in CudaSymbols.def from libcuda.so.1.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_CUDADRIVER_H
#define SALAC_RUNTIME_CUDADRIVER_H

#include "salac/Runtime/Status.h"

#include <cstddef>
#include <string>

namespace salac::rt {

// --- The driver types (same layout and numbers as cuda.h) -----------------
using CUresult = int;
constexpr CUresult CUDA_SUCCESS = 0;

using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUgraphNode = struct CUgraphNode_st *;

// The CUresults libsalart tells apart (the rest are only described).
constexpr CUresult CUDA_ERROR_ILLEGAL_STATE = 401;
constexpr CUresult CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900;
constexpr CUresult CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901;
constexpr CUresult CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908;

/// cuStreamCreate flags.
constexpr unsigned CU_STREAM_DEFAULT = 0x0;
constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;

enum CUstreamCaptureMode : int {
  CU_STREAM_CAPTURE_MODE_GLOBAL = 0,
  CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
  CU_STREAM_CAPTURE_MODE_RELAXED = 2,
};

enum CUstreamCaptureStatus : int {
  CU_STREAM_CAPTURE_STATUS_NONE = 0,
  CU_STREAM_CAPTURE_STATUS_ACTIVE = 1,
  CU_STREAM_CAPTURE_STATUS_INVALIDATED = 2,
};

enum CUdevice_attribute : int {
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};

enum CUfunction_attribute : int {
  CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES = 2,
  CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
  CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
  CU_FUNC_ATTRIBUTE_PTX_VERSION = 5,
  CU_FUNC_ATTRIBUTE_BINARY_VERSION = 6,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};

enum CUjit_option : int {
  CU_JIT_MAX_REGISTERS = 0,
  CU_JIT_WALL_TIME = 2,
  CU_JIT_INFO_LOG_BUFFER = 3,
  CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
  CU_JIT_ERROR_LOG_BUFFER = 5,
  CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  CU_JIT_OPTIMIZATION_LEVEL = 7,
  CU_JIT_LOG_VERBOSE = 12,
};

/// Dynamic shared memory a kernel may use without opting in.
constexpr unsigned kDefaultMaxDynamicShared = 48 * 1024;

// --- The function table ---------------------------------------------------
struct CudaDriver {
#define SALART_CU_FN(member, symbol, params)                                   \
  CUresult(*member) params = nullptr;                                          \
  static constexpr const char *member##_symbol = #symbol;
#include "salac/Runtime/CudaSymbols.def"
#undef SALART_CU_FN

  void *library = nullptr; // dlopen handle; never closed (see CudaDriver.cpp)

  /// Turns a CUresult into a Status naming the exported function and the
  /// driver's name and description of the error. `what` adds context.
  Status check(CUresult result, const char *symbol,
               const std::string &what = std::string()) const;

  /// "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)".
  std::string describe(CUresult result) const;
};

/// Calls drv.fn(args...) and converts the result into a Status.
#define SALART_CU(drv, fn, ...)                                                \
  (drv).check((drv).fn(__VA_ARGS__), ::salac::rt::CudaDriver::fn##_symbol)

/// The process-wide driver: loads libcuda.so.1 once (thread-safe) and calls
/// cuInit(0). Later calls return the cached result. Fails with Code::NoDriver
/// when the library or one of its symbols is missing.
Status getDriver(const CudaDriver **out);

/// Loads a driver library from `path` into `out` without caching and without
/// cuInit: for tests, and for SALART_LIBCUDA.
Status loadDriverLibrary(const char *path, CudaDriver &out);

} // namespace salac::rt

#endif // SALAC_RUNTIME_CUDADRIVER_H
