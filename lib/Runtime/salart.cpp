//===- salart.cpp - libsalart's C API over the C++ classes ----------------===//
//
// Thin wrappers: check the handles, call the C++ class, turn its Status into
// a code plus the thread-local message. No exception may cross the C ABI, so
// each entry point catches everything (only allocation can throw here).
//
//===----------------------------------------------------------------------===//

#include "CApi.h"

#include <cstring>

using namespace salac::rt;

thread_local std::string salac::rt::capi::tlsLastError;

struct salart_kernel {
  const Package *pkg;
  const Kernel *kernel;
};

struct salart_package {
  std::unique_ptr<Package> pkg;
  std::vector<salart_kernel> kernels; // one handle per kernel, manifest order
};

using namespace salac::rt::capi;

extern "C" {

const char *salart_last_error(void) { return tlsLastError.c_str(); }

const char *salart_status_name(int status) {
  switch (status) {
  case SALART_OK: return "SALART_OK";
  case SALART_ERROR_INVALID_ARGUMENT: return "SALART_ERROR_INVALID_ARGUMENT";
  case SALART_ERROR_NO_DRIVER: return "SALART_ERROR_NO_DRIVER";
  case SALART_ERROR_DRIVER: return "SALART_ERROR_DRIVER";
  case SALART_ERROR_PACKAGE: return "SALART_ERROR_PACKAGE";
  case SALART_ERROR_NOT_FOUND: return "SALART_ERROR_NOT_FOUND";
  case SALART_ERROR_EXHAUSTED: return "SALART_ERROR_EXHAUSTED";
  case SALART_ERROR_INTERNAL: return "SALART_ERROR_INTERNAL";
  case SALART_ERROR_CAPTURE: return "SALART_ERROR_CAPTURE";
  }
  return "SALART_ERROR_UNKNOWN";
}

// ---- Driver and context ----------------------------------------------------

int salart_driver_version(int *version) {
  SALART_BEGIN
  SALART_REQUIRE(version);
  const CudaDriver *drv;
  SALART_TRY(getDriver(&drv));
  return SALART_CU(*drv, cuDriverGetVersion, version);
  SALART_END
}

int salart_device_count(int *count) {
  SALART_BEGIN
  SALART_REQUIRE(count);
  const CudaDriver *drv;
  SALART_TRY(getDriver(&drv));
  return SALART_CU(*drv, cuDeviceGetCount, count);
  SALART_END
}

int salart_init(int ordinal, salart_context **out) {
  SALART_BEGIN
  SALART_REQUIRE(out);
  std::shared_ptr<Context> ctx;
  SALART_TRY(Context::create(ordinal, ctx));
  *out = new salart_context{std::move(ctx)};
  return Status();
  SALART_END
}

int salart_context_destroy(salart_context *ctx) {
  SALART_BEGIN
  if (ctx && ctx->ctx->capturing())
    return Status::error(
        Code::Capture,
        strFormat("salart_context_destroy: device %d is capturing a CUDA "
                  "graph through this context; end it (salart_graph_end or "
                  "salart_graph_abort) first",
                  ctx->ctx->ordinal()));
  delete ctx;
  return Status();
  SALART_END
}

int salart_context_make_current(salart_context *ctx) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->makeCurrent();
  SALART_END
}

int salart_synchronize(salart_context *ctx) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->synchronize();
  SALART_END
}

int salart_context_info(salart_context *ctx, salart_device_info *out) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(out);
  const Context &c = *ctx->ctx;
  std::memset(out, 0, sizeof(*out));
  out->ordinal = c.ordinal();
  out->cc_major = c.ccMajor();
  out->cc_minor = c.ccMinor();
  out->multiprocessors = c.smCount();
  out->max_shared_per_block_optin = c.maxSharedOptin();
  std::strncpy(out->name, c.name().c_str(), sizeof(out->name) - 1);
  return Status();
  SALART_END
}

int salart_context_handle(salart_context *ctx, void **cucontext) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(cucontext);
  *cucontext = ctx->ctx->handle();
  return Status();
  SALART_END
}

// ---- Memory ----------------------------------------------------------------

int salart_mem_alloc(salart_context *ctx, size_t bytes, uint64_t *dptr) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(dptr);
  CUdeviceptr p;
  SALART_TRY(ctx->ctx->alloc(bytes, p));
  *dptr = p;
  return Status();
  SALART_END
}

int salart_mem_free(salart_context *ctx, uint64_t dptr) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->free(dptr);
  SALART_END
}

int salart_memcpy_htod(salart_context *ctx, uint64_t dst, const void *src,
                       size_t bytes) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(src);
  return ctx->ctx->copyToDevice(dst, src, bytes);
  SALART_END
}

int salart_memcpy_dtoh(salart_context *ctx, void *dst, uint64_t src,
                       size_t bytes) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(dst);
  return ctx->ctx->copyToHost(dst, src, bytes);
  SALART_END
}

int salart_memset_d8(salart_context *ctx, uint64_t dst, unsigned char value,
                     size_t bytes) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->memsetD8(dst, value, bytes);
  SALART_END
}

int salart_memset_d8_async(salart_context *ctx, uint64_t dst,
                           unsigned char value, size_t bytes, void *stream) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->memsetD8Async(dst, value, bytes,
                                 static_cast<CUstream>(stream));
  SALART_END
}

// ---- Packages ----------------------------------------------------------------

int salart_package_open(salart_context *ctx, const char *dir,
                        salart_package **out) {
  SALART_BEGIN
  SALART_REQUIRE(dir);
  SALART_REQUIRE(out);
  auto handle = std::make_unique<salart_package>();
  SALART_TRY(Package::open(ctx ? ctx->ctx : nullptr, dir, handle->pkg));
  const Package &p = *handle->pkg;
  for (size_t i = 0; i < p.numKernels(); ++i)
    handle->kernels.push_back(salart_kernel{&p, &p.kernel(i)});
  *out = handle.release();
  return Status();
  SALART_END
}

int salart_package_close(salart_package *pkg) {
  SALART_BEGIN
  if (pkg) {
    const Package &p = *pkg->pkg;
    if (int n = p.pinned())
      return Status::error(
          Code::Capture,
          strFormat("salart_package_close: package %s has kernels in %d CUDA "
                    "graph(s) or capture(s) still alive; destroy them "
                    "(salart_graph_destroy / salart_graph_abort) first: "
                    "their replays would launch unloaded code",
                    p.dir().c_str(), n));
    if (p.loaded())
      SALART_TRY(p.context()->checkNotCapturing(
          "closing a package (cuModuleUnload)"));
  }
  delete pkg;
  return Status();
  SALART_END
}

int salart_package_num_kernels(salart_package *pkg, int *count) {
  SALART_BEGIN
  SALART_REQUIRE(pkg);
  SALART_REQUIRE(count);
  *count = int(pkg->kernels.size());
  return Status();
  SALART_END
}

int salart_package_kernel_name(salart_package *pkg, int index,
                               const char **name) {
  SALART_BEGIN
  SALART_REQUIRE(pkg);
  SALART_REQUIRE(name);
  if (index < 0 || size_t(index) >= pkg->kernels.size())
    return Status::error(Code::InvalidArgument,
                         strFormat("salart_package_kernel_name: index %d "
                                   "outside [0, %zu)",
                                   index, pkg->kernels.size()));
  *name = pkg->kernels[size_t(index)].kernel->spec->name.c_str();
  return Status();
  SALART_END
}

int salart_package_jit_log(salart_package *pkg, const char **log) {
  SALART_BEGIN
  SALART_REQUIRE(pkg);
  SALART_REQUIRE(log);
  *log = pkg->pkg->jitInfoLog().c_str();
  return Status();
  SALART_END
}

int salart_kernel_find(salart_package *pkg, const char *name,
                       salart_kernel **out) {
  SALART_BEGIN
  SALART_REQUIRE(pkg);
  SALART_REQUIRE(name);
  SALART_REQUIRE(out);
  const Kernel *k;
  SALART_TRY(pkg->pkg->find(name, k));
  *out = &pkg->kernels[size_t(k - &pkg->pkg->kernel(0))];
  return Status();
  SALART_END
}

int salart_kernel_get_info(salart_kernel *kernel, salart_kernel_info *out) {
  SALART_BEGIN
  SALART_REQUIRE(kernel);
  SALART_REQUIRE(out);
  const Kernel &k = *kernel->kernel;
  out->num_params = int(k.spec->params.size());
  for (int d = 0; d < 3; ++d)
    out->block[d] = k.spec->block[d];
  out->shared_bytes = k.spec->sharedBytes;
  out->num_regs = k.numRegs;
  out->local_bytes = k.localBytes;
  out->static_shared_bytes = k.staticSharedBytes;
  out->const_bytes = k.constBytes;
  out->max_threads_per_block = k.maxThreadsPerBlock;
  out->ptx_version = k.ptxVersion;
  out->binary_version = k.binaryVersion;
  return Status();
  SALART_END
}

int salart_kernel_grid(salart_kernel *kernel, void **args, uint32_t grid[3]) {
  SALART_BEGIN
  SALART_REQUIRE(kernel);
  SALART_REQUIRE(grid);
  return computeGrid(*kernel->kernel->spec, args, grid);
  SALART_END
}

int salart_launch(salart_kernel *kernel, void **args, void *stream) {
  SALART_BEGIN
  SALART_REQUIRE(kernel);
  return kernel->pkg->launch(*kernel->kernel, args,
                             static_cast<CUstream>(stream));
  SALART_END
}

int salart_launch_by_name(salart_package *pkg, const char *name, void **args,
                          void *stream) {
  SALART_BEGIN
  SALART_REQUIRE(pkg);
  SALART_REQUIRE(name);
  const Kernel *k;
  SALART_TRY(pkg->pkg->find(name, k));
  return pkg->pkg->launch(*k, args, static_cast<CUstream>(stream));
  SALART_END
}

int salart_launch_explicit(salart_kernel *kernel, const uint32_t grid[3],
                           const uint32_t block[3], uint32_t shared_bytes,
                           void **args, void *stream) {
  SALART_BEGIN
  SALART_REQUIRE(kernel);
  SALART_REQUIRE(grid);
  SALART_REQUIRE(block);
  return kernel->pkg->launchExplicit(*kernel->kernel, grid, block,
                                     shared_bytes, args,
                                     static_cast<CUstream>(stream));
  SALART_END
}

} // extern "C"

