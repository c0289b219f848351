//===- Package.cpp - A device context and a loaded kernel package ---------===//

#include "salac/Runtime/Package.h"

namespace salac::rt {

// --- Context ----------------------------------------------------------------

Status Context::create(int ordinal, std::shared_ptr<Context> &out) {
  const CudaDriver *drv;
  SALART_TRY(getDriver(&drv));
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
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuCtxSynchronize);
}

Status Context::alloc(size_t bytes, CUdeviceptr &out) const {
  SALART_TRY(makeCurrent());
  Status s = SALART_CU(*drv_, cuMemAlloc, &out, bytes);
  return s.prefix(strFormat("allocating %zu bytes on device %d", bytes,
                            ordinal_));
}

Status Context::free(CUdeviceptr ptr) const {
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemFree, ptr);
}

Status Context::copyToDevice(CUdeviceptr dst, const void *src,
                             size_t bytes) const {
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemcpyHtoD, dst, src, bytes);
}

Status Context::copyToHost(void *dst, CUdeviceptr src, size_t bytes) const {
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemcpyDtoH, dst, src, bytes);
}

Status Context::memsetD8(CUdeviceptr dst, unsigned char value,
                         size_t bytes) const {
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemsetD8, dst, value, bytes);
}

Status Context::memsetD8Async(CUdeviceptr dst, unsigned char value,
                              size_t bytes, CUstream stream) const {
  SALART_TRY(makeCurrent());
  return SALART_CU(*drv_, cuMemsetD8Async, dst, value, bytes, stream);
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
  CUresult r = drv.cuLaunchKernel(k.fn, grid[0], grid[1], grid[2], block[0],
                                  block[1], block[2], sharedBytes, stream,
                                  args, nullptr);
  if (r == CUDA_SUCCESS) // the hot path formats no message
    return Status();
  return drv.check(r, CudaDriver::cuLaunchKernel_symbol,
                   strFormat("kernel '%s' (grid %ux%ux%u, block %ux%ux%u, "
                             "%u shared bytes)",
                             name.c_str(), grid[0], grid[1], grid[2], block[0],
                             block[1], block[2], sharedBytes));
}

} // namespace salac::rt
