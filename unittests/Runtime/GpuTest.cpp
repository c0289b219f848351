//===- GpuTest.cpp - The driver path, on a machine with a GPU -------------===//
//
// Skipped where there is no CUDA driver or device (CI); run on a GPU machine
// to check JIT loading, launches, shared memory above 48 KiB, driver error
// messages and device buffers of the pools.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "salac/Runtime/CudaDriver.h"
#include "salac/Runtime/salart.h"

#include <gtest/gtest.h>

#include <vector>

using salart_test::TempDir;

namespace {

std::string lastError() { return salart_last_error(); }

class Gpu : public ::testing::Test {
protected:
  static salart_context *ctx;

  void SetUp() override {
    if (!ctx) {
      int rc = salart_init(0, &ctx);
      if (rc == SALART_ERROR_NO_DRIVER)
        GTEST_SKIP() << "no GPU: " << lastError();
      ASSERT_EQ(rc, SALART_OK) << lastError();
    }
  }
  static void TearDownTestSuite() {
    salart_context_destroy(ctx);
    ctx = nullptr;
  }
};
salart_context *Gpu::ctx = nullptr;

TEST_F(Gpu, DeviceInfoAndSharedPrimaryContext) {
  salart_device_info info;
  ASSERT_EQ(salart_context_info(ctx, &info), SALART_OK);
  EXPECT_GE(info.cc_major, 7);
  EXPECT_GT(info.multiprocessors, 0);
  EXPECT_GT(info.max_shared_per_block_optin, 48 * 1024);
  EXPECT_GT(std::string(info.name).size(), 0u);
  int version = 0;
  ASSERT_EQ(salart_driver_version(&version), SALART_OK);
  EXPECT_GE(version, 11000);
  // A second init retains the same primary context.
  salart_context *again = nullptr;
  ASSERT_EQ(salart_init(0, &again), SALART_OK);
  void *h1 = nullptr, *h2 = nullptr;
  salart_context_handle(ctx, &h1);
  salart_context_handle(again, &h2);
  EXPECT_EQ(h1, h2);
  ASSERT_EQ(salart_context_destroy(again), SALART_OK);
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  int count = 0;
  ASSERT_EQ(salart_device_count(&count), SALART_OK);
  salart_context *bad = nullptr;
  EXPECT_EQ(salart_init(count, &bad), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("out of range"), std::string::npos);
}

TEST_F(Gpu, LoadQueryAndLaunch) {
  TempDir d;
  salart_test::writeTestPackage(d);
  salart_package *pkg = nullptr;
  ASSERT_EQ(salart_package_open(ctx, d.path().c_str(), &pkg), SALART_OK)
      << lastError();
  const char *log = nullptr;
  ASSERT_EQ(salart_package_jit_log(pkg, &log), SALART_OK);
  std::printf("JIT info log:\n%s\n", log);
  salart_kernel *k = nullptr;
  ASSERT_EQ(salart_kernel_find(pkg, "salart_test_scale", &k), SALART_OK);
  salart_kernel_info info;
  ASSERT_EQ(salart_kernel_get_info(k, &info), SALART_OK);
  std::printf("scale: %d regs, %d local bytes, ptx %d, binary %d\n",
              info.num_regs, info.local_bytes, info.ptx_version,
              info.binary_version);
  EXPECT_GT(info.num_regs, 0);
  EXPECT_EQ(info.local_bytes, 0);
  EXPECT_GE(info.max_threads_per_block, 128);
  EXPECT_EQ(info.ptx_version, 80);    // the PTX target, .target sm_80
  EXPECT_GE(info.binary_version, 70); // the SASS it was JIT-compiled to

  const int64_t n = 1000;
  std::vector<float> x(n), y(n, -1.f);
  for (int64_t i = 0; i < n; ++i)
    x[size_t(i)] = float(i) * 0.5f;
  uint64_t dx = 0, dy = 0;
  ASSERT_EQ(salart_mem_alloc(ctx, n * 4, &dx), SALART_OK) << lastError();
  ASSERT_EQ(salart_mem_alloc(ctx, n * 4, &dy), SALART_OK);
  ASSERT_EQ(salart_memcpy_htod(ctx, dx, x.data(), n * 4), SALART_OK);
  ASSERT_EQ(salart_memset_d8(ctx, dy, 0, n * 4), SALART_OK);

  int64_t elems = n;
  float alpha = 3.f;
  void *args[] = {&dx, &dy, &elems, &alpha};
  ASSERT_EQ(salart_launch(k, args, nullptr), SALART_OK) << lastError();
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  ASSERT_EQ(salart_memcpy_dtoh(ctx, y.data(), dy, n * 4), SALART_OK);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(y[size_t(i)], 3.f * x[size_t(i)]) << i;

  // n = 0: zero grid, nothing launched, y unchanged.
  alpha = 100.f;
  elems = 0;
  ASSERT_EQ(salart_launch_by_name(pkg, "salart_test_scale", args, nullptr),
            SALART_OK)
      << lastError();
  // Explicit grid: only the first 2 x 128 elements.
  elems = n;
  alpha = -1.f;
  uint32_t grid[3] = {2, 1, 1}, block[3] = {128, 1, 1};
  ASSERT_EQ(salart_launch_explicit(k, grid, block, 0, args, nullptr),
            SALART_OK)
      << lastError();
  ASSERT_EQ(salart_memcpy_dtoh(ctx, y.data(), dy, n * 4), SALART_OK);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(y[size_t(i)], (i < 256 ? -1.f : 3.f) * x[size_t(i)]) << i;

  // Too many threads for the block: our message, before the driver's.
  uint32_t big[3] = {2048, 1, 1};
  EXPECT_EQ(salart_launch_explicit(k, grid, big, 0, args, nullptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("2048 threads"), std::string::npos)
      << lastError();

  ASSERT_EQ(salart_mem_free(ctx, dx), SALART_OK);
  ASSERT_EQ(salart_mem_free(ctx, dy), SALART_OK);
  // A driver failure names the function and the CUresult.
  EXPECT_EQ(salart_mem_free(ctx, 0x10), SALART_ERROR_DRIVER);
  EXPECT_NE(lastError().find("cuMemFree_v2 failed: CUDA_ERROR_"),
            std::string::npos)
      << lastError();
  ASSERT_EQ(salart_package_close(pkg), SALART_OK);
}

TEST_F(Gpu, DynamicSharedMemoryAbove48KiB) {
  TempDir d;
  salart_test::writeTestPackage(d);
  salart_package *pkg = nullptr;
  ASSERT_EQ(salart_package_open(ctx, d.path().c_str(), &pkg), SALART_OK)
      << lastError();
  salart_kernel *k = nullptr;
  ASSERT_EQ(salart_kernel_find(pkg, "salart_test_smem", &k), SALART_OK);
  const int32_t blocks = 3;
  uint64_t out = 0;
  ASSERT_EQ(salart_mem_alloc(ctx, blocks * 128 * 4, &out), SALART_OK);
  int32_t nb = blocks;
  void *args[] = {&out, &nb};
  ASSERT_EQ(salart_launch(k, args, nullptr), SALART_OK) << lastError();
  std::vector<int32_t> got(blocks * 128);
  ASSERT_EQ(salart_memcpy_dtoh(ctx, got.data(), out, got.size() * 4),
            SALART_OK)
      << lastError();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < 128; ++t)
      ASSERT_EQ(got[size_t(b * 128 + t)], b * 1000 + 127 - t) << b << "," << t;
  // An explicit launch asking for more raises the limit again.
  uint32_t grid[3] = {1, 1, 1}, block[3] = {128, 1, 1};
  ASSERT_EQ(salart_launch_explicit(k, grid, block, 100 * 1024, args, nullptr),
            SALART_OK)
      << lastError();
  // Beyond what the device allows: the driver's refusal, with context.
  EXPECT_EQ(salart_launch_explicit(k, grid, block, 1 << 20, args, nullptr),
            SALART_ERROR_DRIVER);
  EXPECT_NE(lastError().find("cuFuncSetAttribute failed"), std::string::npos)
      << lastError();
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  salart_mem_free(ctx, out);
  salart_package_close(pkg);
}

TEST_F(Gpu, JitErrorLogIsInTheMessage) {
  TempDir d;
  std::string ptx = salart_test::kScalePtx;
  ptx.replace(ptx.find("mul.f32 %f2, %f2, %f1;"), 22,
              "mul.f32 %f2, %f2, %fundefined;");
  d.write("manifest.json", salart_test::kScaleManifest);
  d.write("kernels.ptx", ptx);
  salart_package *pkg = nullptr;
  EXPECT_EQ(salart_package_open(ctx, d.path().c_str(), &pkg),
            SALART_ERROR_DRIVER);
  std::string msg = lastError();
  std::printf("%s\n", msg.c_str());
  EXPECT_NE(msg.find("cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("JIT error log:\n"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fundefined"), std::string::npos) << msg;
  EXPECT_EQ(pkg, nullptr);
}

TEST_F(Gpu, PoolDeviceBuffers) {
  salart_pool *kv = nullptr;
  ASSERT_EQ(salart_kv_pool_create(64, 2, 128, 2, 16, &kv), SALART_OK);
  ASSERT_EQ(salart_pool_allocate_device(kv, ctx, 2), SALART_OK)
      << lastError();
  EXPECT_EQ(salart_pool_allocate_device(kv, ctx, 2),
            SALART_ERROR_INVALID_ARGUMENT);
  uint64_t k0, v0, k1, v1;
  ASSERT_EQ(salart_pool_device_ptr(kv, 0, 0, &k0), SALART_OK);
  ASSERT_EQ(salart_pool_device_ptr(kv, 0, 1, &v0), SALART_OK);
  ASSERT_EQ(salart_pool_device_ptr(kv, 1, 0, &k1), SALART_OK);
  ASSERT_EQ(salart_pool_device_ptr(kv, 1, 1, &v1), SALART_OK);
  const uint64_t tensorBytes = 16ull * 64 * 2 * 128 * 2;
  EXPECT_EQ(v0 - k0, tensorBytes);
  EXPECT_EQ(k1 - k0, 2 * tensorBytes);
  EXPECT_EQ(v1 - k0, 3 * tensorBytes);
  EXPECT_EQ(salart_pool_device_ptr(kv, 2, 0, &k0),
            SALART_ERROR_INVALID_ARGUMENT);
  std::vector<uint8_t> host(tensorBytes, 0xAB);
  ASSERT_EQ(salart_memcpy_dtoh(ctx, host.data(), v1, tensorBytes), SALART_OK);
  for (uint8_t b : host)
    ASSERT_EQ(b, 0); // allocated zeroed
  ASSERT_EQ(salart_pool_destroy(kv), SALART_OK);

  salart_state_pool *st = nullptr;
  ASSERT_EQ(salart_state_pool_create(4, 16, 3, &st), SALART_OK);
  ASSERT_EQ(salart_state_pool_allocate_device(st, ctx, 2), SALART_OK);
  const size_t slotBytes = 4 * 16 * 16 * 4, layerBytes = 3 * slotBytes;
  uint64_t l0, l1;
  ASSERT_EQ(salart_state_pool_device_ptr(st, 0, &l0), SALART_OK);
  ASSERT_EQ(salart_state_pool_device_ptr(st, 1, &l1), SALART_OK);
  EXPECT_EQ(l1 - l0, layerBytes);
  ASSERT_EQ(salart_memset_d8(ctx, l0, 0xFF, 2 * layerBytes), SALART_OK);
  int32_t slot;
  ASSERT_EQ(salart_state_pool_acquire(st, &slot), SALART_OK);
  ASSERT_EQ(salart_state_pool_zero_slot(st, slot, nullptr), SALART_OK)
      << lastError();
  std::vector<uint8_t> all(2 * layerBytes);
  ASSERT_EQ(salart_memcpy_dtoh(ctx, all.data(), l0, all.size()), SALART_OK);
  for (size_t i = 0; i < all.size(); ++i) {
    size_t s = (i % layerBytes) / slotBytes;
    ASSERT_EQ(all[i], s == size_t(slot) ? 0 : 0xFF) << i;
  }
  ASSERT_EQ(salart_state_pool_destroy(st), SALART_OK);
}

TEST_F(Gpu, GraphCaptureAndReplay) {
  TempDir d;
  salart_test::writeTestPackage(d);
  salart_package *pkg = nullptr;
  ASSERT_EQ(salart_package_open(ctx, d.path().c_str(), &pkg), SALART_OK)
      << lastError();
  salart_kernel *k = nullptr;
  ASSERT_EQ(salart_kernel_find(pkg, "salart_test_scale", &k), SALART_OK);
  const int64_t n = 1000;
  const size_t bytes = n * 4;
  std::vector<float> x(n), got(n);
  for (int64_t i = 0; i < n; ++i)
    x[size_t(i)] = float(i) - 300.f;
  uint64_t dx = 0, dy = 0, dz = 0;
  ASSERT_EQ(salart_mem_alloc(ctx, bytes, &dx), SALART_OK) << lastError();
  ASSERT_EQ(salart_mem_alloc(ctx, bytes, &dy), SALART_OK);
  ASSERT_EQ(salart_mem_alloc(ctx, bytes, &dz), SALART_OK);
  ASSERT_EQ(salart_memcpy_htod(ctx, dx, x.data(), bytes), SALART_OK);
  ASSERT_EQ(salart_memset_d8(ctx, dy, 0xFF, bytes), SALART_OK); // NaN
  ASSERT_EQ(salart_memset_d8(ctx, dz, 0xFF, bytes), SALART_OK);
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK);

  // y = 3x, then z = -2y: two dependent launches.
  int64_t elems = n;
  float three = 3.f, minusTwo = -2.f;
  void *a1[] = {&dx, &dy, &elems, &three};
  void *a2[] = {&dy, &dz, &elems, &minusTwo};
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK) << lastError();
  ASSERT_EQ(salart_launch(k, a1, nullptr), SALART_OK) << lastError();
  ASSERT_EQ(salart_launch(k, a2, nullptr), SALART_OK) << lastError();
  // Refused by libsalart, so the real driver never invalidates the capture.
  EXPECT_EQ(salart_synchronize(ctx), SALART_ERROR_CAPTURE);
  EXPECT_EQ(salart_memcpy_dtoh(ctx, got.data(), dz, bytes),
            SALART_ERROR_CAPTURE);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  int64_t nodes = 0;
  ASSERT_EQ(salart_graph_num_nodes(g, &nodes), SALART_OK);
  EXPECT_EQ(nodes, 2);
  // Recorded, not run: z is still NaN.
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK);
  ASSERT_EQ(salart_memcpy_dtoh(ctx, got.data(), dz, bytes), SALART_OK);
  EXPECT_NE(got[5], got[5]);

  ASSERT_EQ(salart_graph_launch(g, nullptr), SALART_OK) << lastError();
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  ASSERT_EQ(salart_memcpy_dtoh(ctx, got.data(), dz, bytes), SALART_OK);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(got[size_t(i)], -6.f * x[size_t(i)]) << i;

  // A replay reads the buffers as they are now; on the context's stream.
  for (float &v : x)
    v = v * 0.25f + 1.f;
  ASSERT_EQ(salart_memcpy_htod(ctx, dx, x.data(), bytes), SALART_OK);
  void *own = nullptr;
  ASSERT_EQ(salart_context_stream(ctx, &own), SALART_OK);
  ASSERT_EQ(salart_graph_launch(g, own), SALART_OK) << lastError();
  ASSERT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  ASSERT_EQ(salart_memcpy_dtoh(ctx, got.data(), dz, bytes), SALART_OK);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(got[size_t(i)], -6.f * x[size_t(i)]) << i;

  EXPECT_EQ(salart_package_close(pkg), SALART_ERROR_CAPTURE); // in use
  ASSERT_EQ(salart_graph_destroy(g), SALART_OK);
  EXPECT_EQ(salart_graph_launch(g, nullptr), SALART_ERROR_INVALID_ARGUMENT);

  // A synchronous call made behind libsalart's back (as PyTorch's allocator
  // would) is refused by the driver, which invalidates the capture.
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK) << lastError();
  ASSERT_EQ(salart_launch(k, a1, nullptr), SALART_OK) << lastError();
  const salac::rt::CudaDriver *drv = nullptr;
  ASSERT_TRUE(salac::rt::getDriver(&drv).ok());
  salac::rt::CUdeviceptr p = 0;
  EXPECT_EQ(drv->cuMemAlloc(&p, 256),
            salac::rt::CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  g = nullptr;
  EXPECT_EQ(salart_graph_end(ctx, &g), SALART_ERROR_CAPTURE);
  EXPECT_NE(lastError().find("was invalidated"), std::string::npos)
      << lastError();
  EXPECT_EQ(g, nullptr);
  int state = -1;
  ASSERT_EQ(salart_graph_capturing(ctx, &state), SALART_OK);
  EXPECT_EQ(state, 0);

  ASSERT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  salart_mem_free(ctx, dx);
  salart_mem_free(ctx, dy);
  salart_mem_free(ctx, dz);
  ASSERT_EQ(salart_package_close(pkg), SALART_OK) << lastError();
}

} // namespace
