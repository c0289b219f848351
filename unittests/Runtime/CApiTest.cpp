//===- CApiTest.cpp - The C API without a GPU -----------------------------===//

#include "TestUtil.h"
#include "salac/Runtime/salart.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using salart_test::TempDir;

namespace {

std::string lastError() { return salart_last_error(); }

TEST(CApi, NullHandlesNameTheFunctionAndArgument) {
  EXPECT_EQ(salart_pool_reserve(nullptr, 1, 1), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_pool_reserve: pool is null");
  salart_pool *pool = nullptr;
  ASSERT_EQ(salart_kv_pool_create(16, 2, 128, 2, 8, &pool), SALART_OK);
  EXPECT_EQ(salart_pool_free_pages(pool, nullptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_pool_free_pages: count is null");
  EXPECT_EQ(salart_pool_destroy(pool), SALART_OK);
  EXPECT_EQ(salart_pool_destroy(nullptr), SALART_OK); // like free(NULL)
  EXPECT_EQ(salart_launch(nullptr, nullptr, nullptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_launch: kernel is null");
}

TEST(CApi, KvPoolRoundTrip) {
  salart_pool *pool = nullptr;
  ASSERT_EQ(salart_kv_pool_create(64, 2, 128, 2, 4, &pool), SALART_OK)
      << lastError();
  int64_t v = 0;
  ASSERT_EQ(salart_pool_page_bytes(pool, &v), SALART_OK);
  EXPECT_EQ(v, 64 * 2 * 128 * 2);
  ASSERT_EQ(salart_pool_reserve(pool, 100, 65), SALART_OK);
  ASSERT_EQ(salart_pool_reserve(pool, 200, 64), SALART_OK);
  int64_t tokens = 0, units = 0, pages = 0;
  ASSERT_EQ(salart_pool_seq_info(pool, 100, &tokens, &units, &pages),
            SALART_OK);
  EXPECT_EQ(tokens, 65);
  EXPECT_EQ(units, 65);
  EXPECT_EQ(pages, 2);
  int32_t got[4];
  int64_t count = 0;
  ASSERT_EQ(salart_pool_seq_pages(pool, 100, got, 4, &count), SALART_OK);
  ASSERT_EQ(count, 2);
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[1], 1);
  EXPECT_EQ(salart_pool_seq_pages(pool, 100, got, 1, &count),
            SALART_ERROR_INVALID_ARGUMENT);

  int64_t seqs[] = {200, 100};
  int64_t maxPages = 0;
  ASSERT_EQ(salart_pool_max_pages(pool, seqs, 2, &maxPages), SALART_OK);
  EXPECT_EQ(maxPages, 2);
  int32_t table[4];
  ASSERT_EQ(salart_pool_page_table(pool, seqs, 2, 2, -1, table), SALART_OK);
  EXPECT_EQ(std::vector<int32_t>(table, table + 4),
            (std::vector<int32_t>{2, -1, 0, 1}));

  EXPECT_EQ(salart_pool_reserve(pool, 300, 129), SALART_ERROR_EXHAUSTED);
  EXPECT_NE(lastError().find("KV pool exhausted: need 3 more pages, 1 free of "
                             "4"),
            std::string::npos)
      << lastError();
  EXPECT_EQ(salart_pool_seq_info(pool, 300, &tokens, nullptr, nullptr),
            SALART_ERROR_NOT_FOUND);
  ASSERT_EQ(salart_pool_release(pool, 100), SALART_OK);
  ASSERT_EQ(salart_pool_free_pages(pool, &v), SALART_OK);
  EXPECT_EQ(v, 3);
  // No device buffers yet: a clear error, not a null pointer.
  uint64_t dptr = 0;
  EXPECT_EQ(salart_pool_device_ptr(pool, 0, 0, &dptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("KV pool has no device buffers"),
            std::string::npos)
      << lastError();
  EXPECT_EQ(salart_pool_allocate_device(pool, nullptr, 1),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(salart_pool_destroy(pool), SALART_OK);
}

TEST(CApi, CompressedKeyPool) {
  salart_pool *pool = nullptr;
  ASSERT_EQ(salart_ckey_pool_create(16, 2, 128, 2, 4, 32, 16, &pool),
            SALART_OK);
  ASSERT_EQ(salart_pool_reserve(pool, 5, 1000), SALART_OK);
  int64_t tokens = 0, units = 0, pages = 0;
  ASSERT_EQ(salart_pool_seq_info(pool, 5, &tokens, &units, &pages),
            SALART_OK);
  EXPECT_EQ(tokens, 1000);
  EXPECT_EQ(units, (1000 - 32) / 16 + 1); // 61 entries
  EXPECT_EQ(pages, 4);                    // ceil(61 / 16)
  EXPECT_EQ(salart_pool_reserve(pool, 6, 32), SALART_ERROR_EXHAUSTED);
  EXPECT_NE(lastError().find("compressed-key store exhausted"),
            std::string::npos);
  int64_t m = -1;
  ASSERT_EQ(salart_compressed_entries(1000, 32, 16, &m), SALART_OK);
  EXPECT_EQ(m, 61);
  ASSERT_EQ(salart_compressed_entries(127, 128, 64, &m), SALART_OK);
  EXPECT_EQ(m, 0);
  EXPECT_EQ(salart_compressed_entries(10, 0, 16, &m),
            SALART_ERROR_INVALID_ARGUMENT);
  uint64_t dptr;
  EXPECT_EQ(salart_pool_device_ptr(pool, 0, 1, &dptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("tensor 1 is not one of 0 (K)"),
            std::string::npos)
      << lastError();
  salart_pool_destroy(pool);
}

TEST(CApi, StatePool) {
  salart_state_pool *pool = nullptr;
  ASSERT_EQ(salart_state_pool_create(32, 128, 2, &pool), SALART_OK);
  int64_t bytes = 0;
  ASSERT_EQ(salart_state_pool_slot_bytes(pool, &bytes), SALART_OK);
  EXPECT_EQ(bytes, 2 << 20);
  int32_t a, b, c = -7;
  ASSERT_EQ(salart_state_pool_acquire(pool, &a), SALART_OK);
  ASSERT_EQ(salart_state_pool_acquire(pool, &b), SALART_OK);
  EXPECT_NE(a, b);
  EXPECT_EQ(salart_state_pool_acquire(pool, &c), SALART_ERROR_EXHAUSTED);
  EXPECT_EQ(c, -7);
  EXPECT_NE(lastError().find("all 2 slots are in use"), std::string::npos);
  ASSERT_EQ(salart_state_pool_release(pool, a), SALART_OK);
  int64_t free = 0;
  ASSERT_EQ(salart_state_pool_free_slots(pool, &free), SALART_OK);
  EXPECT_EQ(free, 1);
  EXPECT_EQ(salart_state_pool_zero_slot(pool, b, nullptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("no device buffers"), std::string::npos);
  EXPECT_EQ(salart_state_pool_create(32, 128, -1, &pool),
            SALART_ERROR_INVALID_ARGUMENT);
  salart_state_pool_destroy(pool);
}

TEST(CApi, HostOnlyPackage) {
  TempDir d;
  salart_test::writeTestPackage(d);
  salart_package *pkg = nullptr;
  ASSERT_EQ(salart_package_open(nullptr, d.path().c_str(), &pkg), SALART_OK)
      << lastError();
  int n = 0;
  ASSERT_EQ(salart_package_num_kernels(pkg, &n), SALART_OK);
  EXPECT_EQ(n, 2);
  const char *name = nullptr;
  ASSERT_EQ(salart_package_kernel_name(pkg, 1, &name), SALART_OK);
  EXPECT_STREQ(name, "salart_test_smem");
  EXPECT_EQ(salart_package_kernel_name(pkg, 2, &name),
            SALART_ERROR_INVALID_ARGUMENT);

  salart_kernel *k = nullptr;
  ASSERT_EQ(salart_kernel_find(pkg, "salart_test_scale", &k), SALART_OK);
  salart_kernel_info info;
  ASSERT_EQ(salart_kernel_get_info(k, &info), SALART_OK);
  EXPECT_EQ(info.num_params, 4);
  EXPECT_EQ(info.block[0], 128u);
  EXPECT_EQ(info.num_regs, -1);
  uint64_t x = 0, y = 0;
  int64_t elems = 1000;
  float alpha = 1.5f;
  void *args[] = {&x, &y, &elems, &alpha};
  uint32_t grid[3];
  ASSERT_EQ(salart_kernel_grid(k, args, grid), SALART_OK);
  EXPECT_EQ(grid[0], 8u); // ceil(1000 / 128)
  EXPECT_EQ(grid[1], 1u);
  EXPECT_EQ(salart_launch(k, args, nullptr), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("opened without a device context"),
            std::string::npos);

  EXPECT_EQ(salart_kernel_find(pkg, "nope", &k), SALART_ERROR_NOT_FOUND);
  EXPECT_NE(lastError().find("(kernels: salart_test_scale, salart_test_smem)"),
            std::string::npos)
      << lastError();
  EXPECT_EQ(salart_launch_by_name(pkg, "nope", args, nullptr),
            SALART_ERROR_NOT_FOUND);
  EXPECT_EQ(salart_package_close(pkg), SALART_OK);

  EXPECT_EQ(salart_package_open(nullptr, "/nonexistent/pkg", &pkg),
            SALART_ERROR_PACKAGE);
  EXPECT_NE(lastError().find("does not exist"), std::string::npos);
}

TEST(CApi, LastErrorIsPerThread) {
  EXPECT_EQ(salart_pool_reserve(nullptr, 1, 1), SALART_ERROR_INVALID_ARGUMENT);
  std::string other;
  std::thread t([&] {
    salart_state_pool_release(nullptr, 0);
    other = salart_last_error();
  });
  t.join();
  EXPECT_EQ(other, "salart_state_pool_release: pool is null");
  EXPECT_EQ(lastError(), "salart_pool_reserve: pool is null");
}

} // namespace
