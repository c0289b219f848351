//===- DriverTest.cpp - Loading libcuda, and what libsalart.so exports ----===//

#include "salac/Runtime/CudaDriver.h"
#include "salac/Runtime/salart.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

using namespace salac::rt;

namespace {

TEST(Driver, MissingLibraryIsAClearError) {
  CudaDriver drv;
  Status s = loadDriverLibrary("libsalart-no-such-cuda.so.1", drv);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::NoDriver);
  EXPECT_NE(s.message().find("libsalart-no-such-cuda.so.1 not found: no "
                             "NVIDIA driver on this machine"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(drv.cuInit, nullptr);
}

TEST(Driver, LibraryWithoutTheSymbolsIsRejected) {
  // libm loads fine but is no CUDA driver: the first missing symbol is named.
  CudaDriver drv;
  Status s = loadDriverLibrary("libm.so.6", drv);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::NoDriver);
  EXPECT_NE(s.message().find("libm.so.6 has no symbol cuGetErrorName"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(drv.library, nullptr);
}

TEST(Driver, SymbolTableUsesTheV2Exports) {
  EXPECT_STREQ(CudaDriver::cuMemAlloc_symbol, "cuMemAlloc_v2");
  EXPECT_STREQ(CudaDriver::cuMemFree_symbol, "cuMemFree_v2");
  EXPECT_STREQ(CudaDriver::cuMemcpyHtoD_symbol, "cuMemcpyHtoD_v2");
  EXPECT_STREQ(CudaDriver::cuMemcpyDtoH_symbol, "cuMemcpyDtoH_v2");
  EXPECT_STREQ(CudaDriver::cuMemsetD8_symbol, "cuMemsetD8_v2");
  EXPECT_STREQ(CudaDriver::cuDevicePrimaryCtxRelease_symbol,
               "cuDevicePrimaryCtxRelease_v2");
  EXPECT_STREQ(CudaDriver::cuLaunchKernel_symbol, "cuLaunchKernel");
  // cuda.h maps these to versioned exports; the plain ones differ in ABI.
  EXPECT_STREQ(CudaDriver::cuStreamDestroy_symbol, "cuStreamDestroy_v2");
  EXPECT_STREQ(CudaDriver::cuStreamBeginCapture_symbol,
               "cuStreamBeginCapture_v2");
  EXPECT_STREQ(CudaDriver::cuGraphInstantiate_symbol,
               "cuGraphInstantiateWithFlags");
  EXPECT_STREQ(CudaDriver::cuStreamEndCapture_symbol, "cuStreamEndCapture");
}

TEST(Driver, ValuesMatchCudaH) {
  // Spot checks of the numbers copied from cuda.h: they are ABI.
  EXPECT_EQ(int(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), 8);
  EXPECT_EQ(int(CU_FUNC_ATTRIBUTE_NUM_REGS), 4);
  EXPECT_EQ(int(CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES), 3);
  EXPECT_EQ(int(CU_JIT_INFO_LOG_BUFFER), 3);
  EXPECT_EQ(int(CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES), 4);
  EXPECT_EQ(int(CU_JIT_ERROR_LOG_BUFFER), 5);
  EXPECT_EQ(int(CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES), 6);
  EXPECT_EQ(int(CU_JIT_LOG_VERBOSE), 12);
  EXPECT_EQ(int(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN), 97);
  EXPECT_EQ(sizeof(CUdeviceptr), 8u);
  EXPECT_EQ(int(CU_STREAM_CAPTURE_MODE_GLOBAL), 0);
  EXPECT_EQ(int(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), 1);
  EXPECT_EQ(int(CU_STREAM_CAPTURE_MODE_RELAXED), 2);
  EXPECT_EQ(int(CU_STREAM_CAPTURE_STATUS_INVALIDATED), 2);
  EXPECT_EQ(CU_STREAM_NON_BLOCKING, 1u);
  EXPECT_EQ(CUDA_ERROR_ILLEGAL_STATE, 401);
  EXPECT_EQ(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, 900);
  EXPECT_EQ(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, 901);
  EXPECT_EQ(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, 908);
}

/// True when this machine has a loadable driver (then the no-driver tests
/// below have nothing to check).
bool haveDriver() {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h)
    dlclose(h);
  return h != nullptr;
}

TEST(Driver, NoDriverMachineFailsCleanlyThroughTheCApi) {
  if (haveDriver())
    GTEST_SKIP() << "this machine has libcuda.so.1";
  salart_context *ctx = reinterpret_cast<salart_context *>(0x1);
  int rc = salart_init(0, &ctx);
  EXPECT_EQ(rc, SALART_ERROR_NO_DRIVER);
  EXPECT_EQ(ctx, reinterpret_cast<salart_context *>(0x1)); // untouched
  std::string msg = salart_last_error();
  EXPECT_NE(msg.find("libcuda.so.1 not found: no NVIDIA driver on this "
                     "machine"),
            std::string::npos)
      << msg;
  int count = -1;
  EXPECT_EQ(salart_device_count(&count), SALART_ERROR_NO_DRIVER);
  EXPECT_EQ(count, -1);
  // Cached: a second attempt gives the same answer, still no crash.
  EXPECT_EQ(salart_init(0, &ctx), SALART_ERROR_NO_DRIVER);
  EXPECT_STREQ(salart_status_name(SALART_ERROR_NO_DRIVER),
               "SALART_ERROR_NO_DRIVER");
}

// ---- The shared library ----------------------------------------------------

struct SharedLib {
  void *handle = dlopen(SALART_SHARED_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ~SharedLib() {
    if (handle)
      dlclose(handle);
  }
};

TEST(SharedLibrary, ExportsTheCApiOnly) {
  SharedLib lib;
  ASSERT_NE(lib.handle, nullptr) << dlerror();
  for (const char *name :
       {"salart_last_error", "salart_status_name", "salart_init",
        "salart_context_destroy", "salart_package_open", "salart_kernel_find",
        "salart_kernel_get_info", "salart_kernel_grid", "salart_launch",
        "salart_launch_by_name", "salart_launch_explicit", "salart_mem_alloc",
        "salart_memcpy_htod", "salart_memcpy_dtoh", "salart_memset_d8",
        "salart_kv_pool_create", "salart_ckey_pool_create",
        "salart_pool_reserve", "salart_pool_page_table",
        "salart_state_pool_acquire", "salart_compressed_entries",
        "salart_context_stream", "salart_graph_begin", "salart_graph_end",
        "salart_graph_abort", "salart_graph_capturing", "salart_graph_launch",
        "salart_graph_num_nodes", "salart_graph_destroy"})
    EXPECT_NE(dlsym(lib.handle, name), nullptr) << name;
  // The C++ internals stay hidden: salac::rt::strFormat(const char*, ...).
  EXPECT_EQ(dlsym(lib.handle, "_ZN5salac2rt9strFormatEPKcz"), nullptr);
}

TEST(SharedLibrary, WorksThroughDlopen) {
  SharedLib lib;
  ASSERT_NE(lib.handle, nullptr) << dlerror();
  using Create = int (*)(int64_t, int64_t, int64_t, int64_t, int64_t,
                         salart_pool **);
  using Reserve = int (*)(salart_pool *, int64_t, int64_t);
  using LastError = const char *(*)();
  auto create = (Create)dlsym(lib.handle, "salart_kv_pool_create");
  auto reserve = (Reserve)dlsym(lib.handle, "salart_pool_reserve");
  auto lastError = (LastError)dlsym(lib.handle, "salart_last_error");
  auto destroy = (int (*)(salart_pool *))dlsym(lib.handle,
                                               "salart_pool_destroy");
  ASSERT_TRUE(create && reserve && lastError && destroy);
  salart_pool *pool = nullptr;
  ASSERT_EQ(create(64, 2, 128, 2, 2, &pool), SALART_OK);
  EXPECT_EQ(reserve(pool, 1, 129), SALART_ERROR_EXHAUSTED);
  EXPECT_NE(std::string(lastError()).find("KV pool exhausted: need 3 more "
                                          "pages, 2 free of 2"),
            std::string::npos)
      << lastError();
  EXPECT_EQ(destroy(pool), SALART_OK);
}

} // namespace
