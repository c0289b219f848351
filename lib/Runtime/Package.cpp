//===- Package.cpp - A device context and a loaded kernel package ---------===//

#include "salac/Runtime/Package.h"

#include <cstring>

namespace salac::rt {

// --- Context ----------------------------------------------------------------

Status Context::create(int ordinal, std::shared_ptr<Context> &out) {
  const CudaDriver *drv;
  SALART_TRY(getDriver(&drv));
  return create(*drv, ordinal, out);
}

Status Context::create(const CudaDriver &driver, int ordinal,
                       std::shared_ptr<Context> &out) {
  const CudaDriver *drv = &driver;
  int count = 0;
  SALART_TRY(SALART_CU(*drv, cuDeviceGetCount, &count));
  if (ordinal < 0 || ordinal >= count)
    return Status::error(Code::InvalidArgument,
                         strFormat("device ordinal %d out of range: this "
                                   "machine has %d CUDA device(s)",
                                   ordinal, count));
  std::shared_ptr<Context> c(new Context());
  c->drv_ = drv;
  c->ordinal_ = ordinal;
  SALART_TRY(SALART_CU(*drv, cuDeviceGet, &c->dev_, ordinal));
  CUcontext ctx = nullptr;
  SALART_TRY(SALART_CU(*drv, cuDevicePrimaryCtxRetain, &ctx, c->dev_));
  c->ctx_ = ctx; // from here on the destructor releases it
  SALART_TRY(SALART_CU(*drv, cuCtxSetCurrent, ctx));

  char name[256] = {0};
  SALART_TRY(SALART_CU(*drv, cuDeviceGetName, name, int(sizeof(name) - 1),
                       c->dev_));
  c->name_ = name;
  struct {
    CUdevice_attribute attr;
    int *dst;
  } attrs[] = {
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &c->ccMajor_},
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &c->ccMinor_},
      {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &c->smCount_},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
       &c->maxSharedOptin_},
  };
  for (auto &a : attrs)
    SALART_TRY(SALART_CU(*drv, cuDeviceGetAttribute, a.dst, a.attr, c->dev_));
  out = std::move(c);
  return Status();
}

Context::~Context() {
  if (stream_ && makeCurrent().ok()) {
    if (capturing_) { // never ended: end it (best effort) and drop the graph
      CUgraph g = nullptr;
      if (drv_->cuStreamEndCapture(stream_, &g) == CUDA_SUCCESS && g)
        (void)drv_->cuGraphDestroy(g);
      unpinLocked();
    }
    (void)drv_->cuStreamDestroy(stream_);
  }
  // Only drops our reference: PyTorch or others may still use the context.
  if (ctx_)
    (void)drv_->cuDevicePrimaryCtxRelease(dev_);
}

Status Context::makeCurrent() const {
  CUcontext cur = nullptr;
  SALART_TRY(SALART_CU(*drv_, cuCtxGetCurrent, &cur));
  if (cur == ctx_)
    return Status();
  return SALART_CU(*drv_, cuCtxSetCurrent, ctx_);
}

Status Context::synchronize() const {
  SALART_TRY(checkNotCapturing("synchronizing the device (cuCtxSynchronize)"));
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuCtxSynchronize);
}

Status Context::alloc(size_t bytes, CUdeviceptr &out) const {
  if (capturingOnThisThread())
    return checkNotCapturing(
        strFormat("allocating %zu bytes (cuMemAlloc)", bytes).c_str());
  SALART_TRY(makeCurrent());
  Status s = SALART_CU(*drv_, cuMemAlloc, &out, bytes);
  return s.prefix(strFormat("allocating %zu bytes on device %d", bytes,
                            ordinal_));
}

Status Context::free(CUdeviceptr ptr) const {
  SALART_TRY(checkNotCapturing("freeing device memory (cuMemFree)"));
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemFree, ptr);
}

Status Context::copyToDevice(CUdeviceptr dst, const void *src,
                             size_t bytes) const {
  SALART_TRY(checkNotCapturing("a synchronous copy to the device "
                               "(cuMemcpyHtoD)"));
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemcpyHtoD, dst, src, bytes);
}

Status Context::copyToHost(void *dst, CUdeviceptr src, size_t bytes) const {
  SALART_TRY(checkNotCapturing("a synchronous copy to the host "
                               "(cuMemcpyDtoH)"));
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemcpyDtoH, dst, src, bytes);
}

Status Context::memsetD8(CUdeviceptr dst, unsigned char value,
                         size_t bytes) const {
  SALART_TRY(checkNotCapturing("a synchronous memset (cuMemsetD8)"));
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemsetD8, dst, value, bytes);
}

Status Context::memsetD8Async(CUdeviceptr dst, unsigned char value,
                              size_t bytes, CUstream stream) const {
  CUstream s = stream;
  SALART_TRY(resolveStream(stream, "memset", s));
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemsetD8Async, dst, value, bytes, s);
}

// --- Graph capture ------------------------------------------------------------

bool Context::capturingOnThisThread() const {
  if (!capturing())
    return false;
  std::lock_guard<std::mutex> lock(captureMu_);
  return capturing_ && captureThread_ == std::this_thread::get_id();
}

Status Context::checkNotCapturing(const char *what) const {
  if (!capturingOnThisThread())
    return Status();
  return Status::error(
      Code::Capture,
      strFormat("%s is not allowed while this thread captures a CUDA graph "
                "on device %d (between salart_graph_begin and "
                "salart_graph_end): it would synchronize, which a capture "
                "forbids. Nothing was done and the capture is intact; do it "
                "before salart_graph_begin or after salart_graph_end",
                what, ordinal_));
}

Status Context::resolveStream(CUstream requested, const std::string &what,
                              CUstream &out, bool *recorded) const {
  out = requested;
  if (recorded)
    *recorded = false;
  if (!capturing()) // the launch path pays one atomic load
    return Status();
  std::lock_guard<std::mutex> lock(captureMu_);
  if (!capturing_)
    return Status();
  if (captureThread_ != std::this_thread::get_id()) {
    // Another thread's capture: only work sent to the capture stream itself
    // is recorded, by the driver, as for any captured stream.
    if (recorded)
      *recorded = requested && requested == stream_;
    return Status();
  }
  if (!requested || requested == stream_) {
    out = stream_;
    if (recorded)
      *recorded = true;
    return Status();
  }
  return Status::error(
      Code::Capture,
      strFormat("%s: this thread is capturing a CUDA graph on device %d "
                "(salart_graph_begin), but the call names stream %p, which "
                "is not being captured: its work would run now instead of "
                "being recorded. Pass a null stream (or the context's "
                "stream, salart_context_stream) to record it",
                what.c_str(), ordinal_, static_cast<void *>(requested)));
}

Status Context::ensureStreamLocked() const {
  if (stream_)
    return Status();
  SALART_TRY(makeCurrent());
  // Non-blocking: the legacy default stream (PyTorch's default) neither
  // waits for it nor is it waited for, so using the legacy stream on another
  // thread cannot break a capture on it.
  CUstream s = nullptr;
  Status st = SALART_CU(*drv_, cuStreamCreate, &s, CU_STREAM_NON_BLOCKING);
  SALART_TRY(st.prefix(strFormat("creating the stream of device %d",
                                 ordinal_)));
  stream_ = s;
  return Status();
}

Status Context::ownStream(CUstream &out) const {
  std::lock_guard<std::mutex> lock(captureMu_);
  SALART_TRY(ensureStreamLocked());
  out = stream_;
  return Status();
}

Status Context::beginCapture() const {
  std::lock_guard<std::mutex> lock(captureMu_);
  if (capturing_) {
    bool here = captureThread_ == std::this_thread::get_id();
    return Status::error(
        Code::Capture,
        strFormat("device %d is already capturing a CUDA graph (begun on %s "
                  "thread); nested captures are not supported: end it with "
                  "salart_graph_end (or salart_graph_abort) first",
                  ordinal_, here ? "this" : "another"));
  }
  SALART_TRY(ensureStreamLocked());
  SALART_TRY(makeCurrent());
  // Thread-local: the driver refuses unsafe calls (cuMemAlloc, synchronous
  // copies, cuCtxSynchronize, ...) on this thread only, so other threads of
  // the process (a data loader, another model) keep working during it.
  Status st = SALART_CU(*drv_, cuStreamBeginCapture, stream_,
                        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  SALART_TRY(st.prefix(strFormat("beginning a graph capture on device %d",
                                 ordinal_)));
  capturePins_.clear();
  captureThread_ = std::this_thread::get_id();
  capturing_.store(true, std::memory_order_release);
  return Status();
}

void Context::unpinLocked() const {
  for (const Package *p : capturePins_)
    p->unpin();
  capturePins_.clear();
}

void Context::noteCapturedPackage(const Package *pkg) const {
  std::lock_guard<std::mutex> lock(captureMu_);
  if (!capturing_)
    return;
  for (const Package *p : capturePins_)
    if (p == pkg)
      return;
  pkg->pin();
  capturePins_.push_back(pkg);
}

Status Context::endCapture(CUgraph &graph,
                           std::vector<const Package *> &pinned) const {
  std::lock_guard<std::mutex> lock(captureMu_);
  if (!capturing_)
    return Status::error(Code::Capture,
                         strFormat("no graph capture in progress on device %d "
                                   "(call salart_graph_begin first)",
                                   ordinal_));
  if (captureThread_ != std::this_thread::get_id())
    return Status::error(Code::Capture,
                         strFormat("the graph capture on device %d was begun "
                                   "on another thread; captures are "
                                   "thread-local: end it on that thread",
                                   ordinal_));
  SALART_TRY(makeCurrent());
  CUgraph g = nullptr;
  CUresult r = drv_->cuStreamEndCapture(stream_, &g);
  // Whatever the outcome, the stream has left capture mode.
  capturing_.store(false, std::memory_order_release);
  if (r == CUDA_SUCCESS && g) {
    graph = g;
    pinned = std::move(capturePins_);
    capturePins_.clear();
    return Status();
  }
  unpinLocked();
  if (g)
    (void)drv_->cuGraphDestroy(g);
  Status s = drv_->check(r == CUDA_SUCCESS ? CUDA_ERROR_ILLEGAL_STATE : r,
                         CudaDriver::cuStreamEndCapture_symbol);
  if (r == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
    return Status::error(
        Code::Capture,
        strFormat("the graph capture on device %d was invalidated by a call "
                  "the driver does not allow during a capture, made on this "
                  "thread outside libsalart (a synchronous CUDA call: e.g. "
                  "cudaMalloc by PyTorch's allocator, a synchronous copy, a "
                  "device synchronize) or by a failed launch; nothing was "
                  "recorded: %s",
                  ordinal_, s.message().c_str()));
  return s.prefix(strFormat("ending the graph capture on device %d",
                            ordinal_));
}

Status Context::abortCapture() const {
  // Only the capturing thread can end its capture, so this cannot change
  // under us between here and endCapture.
  bool mine = capturingOnThisThread();
  CUgraph g = nullptr;
  std::vector<const Package *> pins;
  Status s = endCapture(g, pins);
  if (s.ok()) {
    (void)drv_->cuGraphDestroy(g);
    for (const Package *p : pins)
      p->unpin();
    return Status();
  }
  // A capture that the driver ended with an error (invalidated) is ended and
  // discarded all the same: what an abort asks for.
  return mine ? Status() : s;
}

// --- Package ----------------------------------------------------------------

Status Package::open(std::shared_ptr<Context> ctx, const std::string &dir,
                     std::unique_ptr<Package> &out) {
  std::unique_ptr<Package> p(new Package());
  p->dir_ = dir;
  std::string ptxPath;
  // Everything checkable without a GPU is checked first, so a broken package
  // fails the same way on a CI machine and on a GPU server.
  SALART_TRY(readPackage(dir, p->manifest_, p->ptx_, &ptxPath));
  p->kernels_.resize(p->manifest_.kernels.size());
  for (size_t i = 0; i < p->kernels_.size(); ++i) {
    p->kernels_[i].spec = &p->manifest_.kernels[i];
    p->byName_[p->manifest_.kernels[i].name] = i;
  }
  if (ctx) {
    SALART_TRY(ctx->checkNotCapturing("loading a package (cuModuleLoadDataEx)"));
    p->ctx_ = std::move(ctx);
    SALART_TRY(p->loadModule(ptxPath));
    for (Kernel &k : p->kernels_)
      SALART_TRY(p->prepareKernel(k));
  }
  p->ptx_.clear(); // the driver keeps its own copy
  p->ptx_.shrink_to_fit();
  out = std::move(p);
  return Status();
}

Package::~Package() {
  if (module_ && ctx_ && ctx_->makeCurrent().ok())
    (void)ctx_->driver().cuModuleUnload(module_);
}

Status Package::loadModule(const std::string &ptxPath) {
  const CudaDriver &drv = ctx_->driver();
  SALART_TRY(ctx_->makeCurrent());
  // The logs are how a PTX problem becomes readable: ptxas's own messages.
  std::vector<char> info(64 * 1024, '\0'), error(64 * 1024, '\0');
  CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER,
                         CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                         CU_JIT_ERROR_LOG_BUFFER,
                         CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                         CU_JIT_LOG_VERBOSE};
  void *vals[] = {info.data(), reinterpret_cast<void *>(info.size() - 1),
                  error.data(), reinterpret_cast<void *>(error.size() - 1),
                  reinterpret_cast<void *>(uintptr_t(1))};
  CUresult r = drv.cuModuleLoadDataEx(&module_, ptx_.c_str(),
                                      unsigned(sizeof(opts) / sizeof(opts[0])),
                                      opts, vals);
  jitInfoLog_ = info.data();
  if (r == CUDA_SUCCESS)
    return Status();
  module_ = nullptr;
  std::string log = error.data();
  Status s = drv.check(r, CudaDriver::cuModuleLoadDataEx_symbol,
                       strFormat("JIT-compiling %s for device %d (%s, sm_%d%d)",
                                 ptxPath.c_str(), ctx_->ordinal(),
                                 ctx_->name().c_str(), ctx_->ccMajor(),
                                 ctx_->ccMinor()));
  return Status::error(s.code(), s.message() + "\nJIT error log:\n" +
                                     (log.empty() ? "(empty)" : log));
}

Status Package::prepareKernel(Kernel &k) {
  const CudaDriver &drv = ctx_->driver();
  const std::string &name = k.spec->name;
  std::string where = "kernel '" + name + "'";
  SALART_TRY(drv.check(drv.cuModuleGetFunction(&k.fn, module_, name.c_str()),
                       CudaDriver::cuModuleGetFunction_symbol, where));
  unsigned shared = k.spec->sharedBytes;
  if (shared > kDefaultMaxDynamicShared) {
    Status s = drv.check(
        drv.cuFuncSetAttribute(k.fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                               int(shared)),
        CudaDriver::cuFuncSetAttribute_symbol,
        strFormat("%s: raising the dynamic shared memory limit to %u bytes "
                  "(device %d allows at most %d per block)",
                  where.c_str(), shared, ctx_->ordinal(),
                  ctx_->maxSharedOptin()));
    SALART_TRY(s);
    k.dynamicSharedLimit = shared;
  }
  struct {
    CUfunction_attribute attr;
    int *dst;
  } attrs[] = {
      {CU_FUNC_ATTRIBUTE_NUM_REGS, &k.numRegs},
      {CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, &k.localBytes},
      {CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, &k.staticSharedBytes},
      {CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, &k.constBytes},
      {CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &k.maxThreadsPerBlock},
      {CU_FUNC_ATTRIBUTE_PTX_VERSION, &k.ptxVersion},
      {CU_FUNC_ATTRIBUTE_BINARY_VERSION, &k.binaryVersion},
  };
  for (auto &a : attrs)
    SALART_TRY(drv.check(drv.cuFuncGetAttribute(a.dst, a.attr, k.fn),
                         CudaDriver::cuFuncGetAttribute_symbol, where));
  return Status();
}

Status Package::find(std::string_view name, const Kernel *&out) const {
  auto it = byName_.find(std::string(name));
  if (it == byName_.end())
    return Status::error(Code::NotFound,
                         strFormat("no kernel '%.*s' in package %s (kernels: "
                                   "%s)",
                                   int(name.size()), name.data(), dir_.c_str(),
                                   manifest_.kernelNames().c_str()));
  out = &kernels_[it->second];
  return Status();
}

/// Every pointer argument at the alignment the manifest gives it.
static Status checkAlignment(const KernelSpec &spec, void **args) {
  for (size_t i = 0; i < spec.params.size(); ++i) {
    const KernelParam &p = spec.params[i];
    if (p.kind != ParamKind::Ptr || p.align <= 1 || !args[i])
      continue;
    uint64_t address;
    std::memcpy(&address, args[i], sizeof address);
    if (address % uint64_t(p.align) != 0)
      return Status::error(Code::InvalidArgument,
                           strFormat("kernel '%s': parameter '%s' is at 0x%llx, which is not "
                                     "%llu-byte aligned",
                                     spec.name.c_str(), p.name.c_str(),
                                     (unsigned long long)address,
                                     (unsigned long long)p.align));
  }
  return Status();
}

Status Package::launch(const Kernel &k, void **args, CUstream stream) const {
  uint32_t grid[3];
  SALART_TRY(computeGrid(*k.spec, args, grid));
  return launchExplicit(k, grid, k.spec->block, k.spec->sharedBytes, args,
                        stream);
}

Status Package::launchExplicit(const Kernel &k, const uint32_t grid[3],
                               const uint32_t block[3], uint32_t sharedBytes,
                               void **args, CUstream stream) const {
  const std::string &name = k.spec->name;
  if (!grid || !block)
    return Status::error(Code::InvalidArgument,
                         strFormat("kernel '%s': grid or block is null",
                                   name.c_str()));
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0)
    return Status(); // nothing to do, as the package format specifies
  if (!module_)
    return Status::error(Code::InvalidArgument,
                         strFormat("kernel '%s': package %s was opened without "
                                   "a device context and cannot launch",
                                   name.c_str(), dir_.c_str()));
  if (!k.spec->params.empty() && !args)
    return Status::error(Code::InvalidArgument,
                         strFormat("kernel '%s' takes %zu parameters but the "
                                   "argument array is null",
                                   name.c_str(), k.spec->params.size()));
  if (args)
    SALART_TRY(checkAlignment(*k.spec, args));
  uint64_t threads = uint64_t(block[0]) * block[1] * block[2];
  if (threads == 0 || threads > uint64_t(k.maxThreadsPerBlock))
    return Status::error(
        Code::InvalidArgument,
        strFormat("kernel '%s': block %ux%ux%u = %llu threads, but the "
                  "compiled kernel allows 1 to %d (it uses %d registers per "
                  "thread)",
                  name.c_str(), block[0], block[1], block[2],
                  (unsigned long long)threads, k.maxThreadsPerBlock,
                  k.numRegs));
  const CudaDriver &drv = ctx_->driver();
  SALART_TRY(ctx_->makeCurrent());
  if (sharedBytes > k.dynamicSharedLimit) {
    SALART_TRY(drv.check(
        drv.cuFuncSetAttribute(k.fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                               int(sharedBytes)),
        CudaDriver::cuFuncSetAttribute_symbol,
        strFormat("kernel '%s': raising the dynamic shared memory limit to %u "
                  "bytes (device allows at most %d per block)",
                  name.c_str(), sharedBytes, ctx_->maxSharedOptin())));
    k.dynamicSharedLimit = sharedBytes;
  }
  CUstream s = stream;
  if (ctx_->capturing()) { // off the hot path: no message is built otherwise
    bool recorded = false;
    SALART_TRY(ctx_->resolveStream(stream, "kernel '" + name + "'", s,
                                   &recorded));
    if (recorded)
      ctx_->noteCapturedPackage(this);
  }
  CUresult r = drv.cuLaunchKernel(k.fn, grid[0], grid[1], grid[2], block[0],
                                  block[1], block[2], sharedBytes, s, args,
                                  nullptr);
  if (r == CUDA_SUCCESS) // the hot path formats no message
    return Status();
  return drv.check(r, CudaDriver::cuLaunchKernel_symbol,
                   strFormat("kernel '%s' (grid %ux%ux%u, block %ux%ux%u, "
                             "%u shared bytes)",
                             name.c_str(), grid[0], grid[1], grid[2], block[0],
                             block[1], block[2], sharedBytes));
}

} // namespace salac::rt
