//===- FakeDriver.h - A CUDA driver table that needs no GPU -------*- C++ -*-===//
//
// Every entry of CudaSymbols.def, implemented in the test process with just
// enough behaviour to drive libsalart's capture state machine on a machine
// without a GPU: one device, opaque handles, stream capture with the rules of
// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL (work on the capturing stream is
// recorded; an unsafe call on the capturing thread is refused with
// CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates the capture; the
// capture must end on its own thread). Counters say what reached the driver.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_UNITTESTS_RUNTIME_FAKEDRIVER_H
#define SALAC_UNITTESTS_RUNTIME_FAKEDRIVER_H

#include "salac/Runtime/CudaDriver.h"

#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace salart_fake {

using namespace salac::rt;

/// What the fake driver saw. Read it under `mu` when threads are involved.
struct State {
  std::mutex mu;
  uintptr_t nextHandle = 0x1000;
  // Streams created through cuStreamCreate, and their flags.
  std::vector<CUstream> streams;
  std::vector<unsigned> streamFlags;
  int streamsDestroyed = 0;
  // The capture in progress (one at a time is all the tests need).
  CUstream capturing = nullptr;
  std::thread::id captureThread;
  CUstreamCaptureMode captureMode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  bool invalidated = false;
  int recorded = 0;  // nodes of the capture in progress
  // Work that ran (was not recorded): kernels and async memsets, and the
  // stream each used, in order.
  int eager = 0;
  std::vector<CUstream> eagerStreams;
  std::vector<CUstream> recordedStreams;
  int graphLaunches = 0;
  CUstream lastGraphStream = reinterpret_cast<CUstream>(-1);
  int graphsLive = 0, execsLive = 0;
  int syncs = 0;          // cuCtxSynchronize that ran
  int unsafeRefused = 0;  // unsafe calls refused during a capture
};

inline State &state() {
  static State s;
  return s;
}

/// Resets the counters (the previous test must have cleaned up its handles).
inline void reset() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.streams.clear();
  s.streamFlags.clear();
  s.streamsDestroyed = 0;
  s.capturing = nullptr;
  s.invalidated = false;
  s.recorded = 0;
  s.eager = 0;
  s.eagerStreams.clear();
  s.recordedStreams.clear();
  s.graphLaunches = 0;
  s.lastGraphStream = reinterpret_cast<CUstream>(-1);
  s.graphsLive = s.execsLive = 0;
  s.syncs = 0;
  s.unsafeRefused = 0;
}

struct FakeGraph {
  size_t nodes;
};

template <typename T> T newHandle() {
  State &s = state();
  return reinterpret_cast<T>(s.nextHandle += 0x10);
}

/// An unsafe call on the capturing thread: refused, and the capture is
/// invalidated (what the real driver does in thread-local mode).
inline bool refuseUnsafe() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.capturing && s.captureThread == std::this_thread::get_id()) {
    ++s.unsafeRefused;
    s.invalidated = true;
    return true;
  }
  return false;
}

/// Stream-ordered work: recorded on the capturing stream, else run.
inline CUresult streamWork(CUstream stream) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.capturing && stream == s.capturing) {
    if (s.invalidated)
      return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    ++s.recorded;
    s.recordedStreams.push_back(stream);
    return CUDA_SUCCESS;
  }
  ++s.eager;
  s.eagerStreams.push_back(stream);
  return CUDA_SUCCESS;
}

inline thread_local CUcontext tlsCurrent = nullptr;

#define FAKE_UNSAFE                                                            \
  if (refuseUnsafe())                                                          \
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED

inline CUresult getErrorName(CUresult e, const char **str) {
  switch (e) {
  case CUDA_SUCCESS: *str = "CUDA_SUCCESS"; return CUDA_SUCCESS;
  case CUDA_ERROR_ILLEGAL_STATE: *str = "CUDA_ERROR_ILLEGAL_STATE"; return CUDA_SUCCESS;
  case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: *str = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; return CUDA_SUCCESS;
  case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: *str = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; return CUDA_SUCCESS;
  case CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD: *str = "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"; return CUDA_SUCCESS;
  }
  return 1; // CUDA_ERROR_INVALID_VALUE
}
inline CUresult getErrorString(CUresult e, const char **str) {
  const char *name;
  if (getErrorName(e, &name) != CUDA_SUCCESS)
    return 1;
  *str = "described by the fake driver";
  return CUDA_SUCCESS;
}

inline CUresult init(unsigned) { return CUDA_SUCCESS; }
inline CUresult driverGetVersion(int *v) { *v = 13000; return CUDA_SUCCESS; }
inline CUresult deviceGetCount(int *n) { *n = 1; return CUDA_SUCCESS; }
inline CUresult deviceGet(CUdevice *d, int ordinal) { *d = ordinal; return CUDA_SUCCESS; }
inline CUresult deviceGetName(char *name, int len, CUdevice) {
  std::strncpy(name, "Fake GPU", size_t(len));
  return CUDA_SUCCESS;
}
inline CUresult deviceGetAttribute(int *v, CUdevice_attribute a, CUdevice) {
  switch (a) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
  default: *v = 227 * 1024; break;
  }
  return CUDA_SUCCESS;
}
inline CUresult primaryCtxRetain(CUcontext *c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(0xC0);
  return CUDA_SUCCESS;
}
inline CUresult primaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }
inline CUresult ctxSetCurrent(CUcontext c) { tlsCurrent = c; return CUDA_SUCCESS; }
inline CUresult ctxGetCurrent(CUcontext *c) { *c = tlsCurrent; return CUDA_SUCCESS; }
inline CUresult ctxSynchronize() {
  FAKE_UNSAFE;
  std::lock_guard<std::mutex> lock(state().mu);
  ++state().syncs;
  return CUDA_SUCCESS;
}
inline CUresult moduleLoadDataEx(CUmodule *m, const void *, unsigned,
                                 CUjit_option *, void **) {
  FAKE_UNSAFE;
  *m = newHandle<CUmodule>();
  return CUDA_SUCCESS;
}
inline CUresult moduleUnload(CUmodule) { FAKE_UNSAFE; return CUDA_SUCCESS; }
inline CUresult moduleGetFunction(CUfunction *f, CUmodule, const char *) {
  *f = newHandle<CUfunction>();
  return CUDA_SUCCESS;
}
inline CUresult funcGetAttribute(int *v, CUfunction_attribute a, CUfunction) {
  switch (a) {
  case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
  case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = 16; break;
  case CU_FUNC_ATTRIBUTE_PTX_VERSION: *v = 80; break;
  case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *v = 90; break;
  default: *v = 0; break;
  }
  return CUDA_SUCCESS;
}
inline CUresult funcSetAttribute(CUfunction, CUfunction_attribute, int) {
  return CUDA_SUCCESS;
}
inline CUresult launchKernel(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned,
                             CUstream stream, void **, void **) {
  return streamWork(stream);
}
inline CUresult memAlloc(CUdeviceptr *p, size_t) {
  FAKE_UNSAFE;
  *p = CUdeviceptr(newHandle<uintptr_t>());
  return CUDA_SUCCESS;
}
inline CUresult memFree(CUdeviceptr) { FAKE_UNSAFE; return CUDA_SUCCESS; }
inline CUresult memcpyHtoD(CUdeviceptr, const void *, size_t) {
  FAKE_UNSAFE;
  return CUDA_SUCCESS;
}
inline CUresult memcpyDtoH(void *, CUdeviceptr, size_t) {
  FAKE_UNSAFE;
  return CUDA_SUCCESS;
}
inline CUresult memsetD8(CUdeviceptr, unsigned char, size_t) {
  FAKE_UNSAFE;
  return CUDA_SUCCESS;
}
inline CUresult memsetD8Async(CUdeviceptr, unsigned char, size_t,
                              CUstream stream) {
  return streamWork(stream);
}
inline CUresult streamSynchronize(CUstream) { FAKE_UNSAFE; return CUDA_SUCCESS; }

inline CUresult streamCreate(CUstream *out, unsigned flags) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *out = newHandle<CUstream>();
  s.streams.push_back(*out);
  s.streamFlags.push_back(flags);
  return CUDA_SUCCESS;
}
inline CUresult streamDestroy(CUstream) {
  std::lock_guard<std::mutex> lock(state().mu);
  ++state().streamsDestroyed;
  return CUDA_SUCCESS;
}
inline CUresult streamBeginCapture(CUstream stream, CUstreamCaptureMode mode) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!stream) // the legacy default stream cannot be captured
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (s.capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  s.capturing = stream;
  s.captureThread = std::this_thread::get_id();
  s.captureMode = mode;
  s.invalidated = false;
  s.recorded = 0;
  return CUDA_SUCCESS;
}
inline CUresult streamEndCapture(CUstream stream, CUgraph *graph) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.capturing || stream != s.capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  if (s.captureThread != std::this_thread::get_id())
    return CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
  s.capturing = nullptr;
  if (s.invalidated) {
    *graph = nullptr;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  *graph = reinterpret_cast<CUgraph>(new FakeGraph{size_t(s.recorded)});
  ++s.graphsLive;
  return CUDA_SUCCESS;
}
inline CUresult streamIsCapturing(CUstream stream, CUstreamCaptureStatus *st) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *st = s.capturing != stream ? CU_STREAM_CAPTURE_STATUS_NONE
        : s.invalidated       ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                              : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  return CUDA_SUCCESS;
}
inline CUresult graphInstantiate(CUgraphExec *exec, CUgraph graph,
                                 unsigned long long) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto *g = reinterpret_cast<FakeGraph *>(graph);
  *exec = reinterpret_cast<CUgraphExec>(new FakeGraph{g->nodes});
  ++s.execsLive;
  return CUDA_SUCCESS;
}
inline CUresult graphLaunch(CUgraphExec, CUstream stream) {
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!(s.capturing && stream == s.capturing)) {
      ++s.graphLaunches;
      s.lastGraphStream = stream;
      return CUDA_SUCCESS;
    }
  }
  return streamWork(stream); // a child-graph node of the capture
}
inline CUresult graphGetNodes(CUgraph graph, CUgraphNode *nodes,
                              size_t *count) {
  if (nodes)
    return 1;
  *count = reinterpret_cast<FakeGraph *>(graph)->nodes;
  return CUDA_SUCCESS;
}
inline CUresult graphExecDestroy(CUgraphExec exec) {
  std::lock_guard<std::mutex> lock(state().mu);
  delete reinterpret_cast<FakeGraph *>(exec);
  --state().execsLive;
  return CUDA_SUCCESS;
}
inline CUresult graphDestroy(CUgraph graph) {
  std::lock_guard<std::mutex> lock(state().mu);
  delete reinterpret_cast<FakeGraph *>(graph);
  --state().graphsLive;
  return CUDA_SUCCESS;
}

#undef FAKE_UNSAFE

/// The table, filled once. Entries this fake does not know stay null, which
/// FakeDriverTest checks never happens.
inline const CudaDriver &driver() {
  static const CudaDriver drv = [] {
    CudaDriver d;
    d.cuGetErrorName = getErrorName;
    d.cuGetErrorString = getErrorString;
    d.cuInit = init;
    d.cuDriverGetVersion = driverGetVersion;
    d.cuDeviceGetCount = deviceGetCount;
    d.cuDeviceGet = deviceGet;
    d.cuDeviceGetName = deviceGetName;
    d.cuDeviceGetAttribute = deviceGetAttribute;
    d.cuDevicePrimaryCtxRetain = primaryCtxRetain;
    d.cuDevicePrimaryCtxRelease = primaryCtxRelease;
    d.cuCtxSetCurrent = ctxSetCurrent;
    d.cuCtxGetCurrent = ctxGetCurrent;
    d.cuCtxSynchronize = ctxSynchronize;
    d.cuModuleLoadDataEx = moduleLoadDataEx;
    d.cuModuleUnload = moduleUnload;
    d.cuModuleGetFunction = moduleGetFunction;
    d.cuFuncGetAttribute = funcGetAttribute;
    d.cuFuncSetAttribute = funcSetAttribute;
    d.cuLaunchKernel = launchKernel;
    d.cuMemAlloc = memAlloc;
    d.cuMemFree = memFree;
    d.cuMemcpyHtoD = memcpyHtoD;
    d.cuMemcpyDtoH = memcpyDtoH;
    d.cuMemsetD8 = memsetD8;
    d.cuMemsetD8Async = memsetD8Async;
    d.cuStreamSynchronize = streamSynchronize;
    d.cuStreamCreate = streamCreate;
    d.cuStreamDestroy = streamDestroy;
    d.cuStreamBeginCapture = streamBeginCapture;
    d.cuStreamEndCapture = streamEndCapture;
    d.cuStreamIsCapturing = streamIsCapturing;
    d.cuGraphInstantiate = graphInstantiate;
    d.cuGraphLaunch = graphLaunch;
    d.cuGraphGetNodes = graphGetNodes;
    d.cuGraphExecDestroy = graphExecDestroy;
    d.cuGraphDestroy = graphDestroy;
    return d;
  }();
  return drv;
}

} // namespace salart_fake

#endif // SALAC_UNITTESTS_RUNTIME_FAKEDRIVER_H
