//===- GraphTest.cpp - CUDA graph capture through the C API, no GPU -------===//
//
// The capture state machine of salart_graph_* driven through a fake driver
// (FakeDriver.h): what is recorded and what runs, which calls are refused
// during a capture (and that they never reach the driver, so the capture
// survives), the error of each misuse. Needs no GPU and no libcuda; the real
// thing is checked by GpuTest.cpp and bench/harness.py on a GPU machine.
//
//===----------------------------------------------------------------------===//

#include "CApi.h"
#include "FakeDriver.h"
#include "TestUtil.h"
#include "salac/Runtime/salart.h"

#include <gtest/gtest.h>

#include <thread>

using salart_test::TempDir;
using namespace salac::rt;

namespace {

std::string lastError() { return salart_last_error(); }

#define EXPECT_MSG(needle)                                                     \
  EXPECT_NE(lastError().find(needle), std::string::npos) << lastError()

TEST(FakeDriver, FillsEveryEntry) {
  // A driver entry added to CudaSymbols.def must be added to the fake too.
  const CudaDriver &d = salart_fake::driver();
#define SALART_CU_FN(member, symbol, params)                                   \
  EXPECT_NE(reinterpret_cast<void *>(d.member), nullptr) << #member;
#include "salac/Runtime/CudaSymbols.def"
#undef SALART_CU_FN
}

TEST(GraphApi, NullHandlesAndStatusName) {
  EXPECT_EQ(salart_graph_begin(nullptr), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_graph_begin: ctx is null");
  salart_graph *g = nullptr;
  EXPECT_EQ(salart_graph_end(nullptr, &g), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_graph_end: ctx is null");
  EXPECT_EQ(salart_graph_abort(nullptr), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(salart_graph_launch(nullptr, nullptr),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_graph_launch: graph is null");
  int64_t n = -1;
  EXPECT_EQ(salart_graph_num_nodes(nullptr, &n), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(n, -1);
  int state = -1;
  EXPECT_EQ(salart_graph_capturing(nullptr, &state),
            SALART_ERROR_INVALID_ARGUMENT);
  void *stream = nullptr;
  EXPECT_EQ(salart_context_stream(nullptr, &stream),
            SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(salart_graph_destroy(nullptr), SALART_OK); // like free(NULL)
  EXPECT_STREQ(salart_status_name(SALART_ERROR_CAPTURE),
               "SALART_ERROR_CAPTURE");
  EXPECT_EQ(int(SALART_ERROR_CAPTURE), int(Code::Capture));
}

/// A context on the fake driver, with the two-kernel test package loaded.
class Capture : public ::testing::Test {
protected:
  salart_context *ctx = nullptr;
  salart_package *pkg = nullptr;
  salart_kernel *scale = nullptr;
  TempDir dir;
  uint64_t x = 0x1000, y = 0x2000;
  int64_t n = 1000;
  float alpha = 2.f;
  void *args[4] = {&x, &y, &n, &alpha};

  void SetUp() override {
    salart_fake::reset();
    std::shared_ptr<Context> c;
    Status s = Context::create(salart_fake::driver(), 0, c);
    ASSERT_TRUE(s.ok()) << s.message();
    ctx = new salart_context{std::move(c)};
    salart_test::writeTestPackage(dir);
    ASSERT_EQ(salart_package_open(ctx, dir.path().c_str(), &pkg), SALART_OK)
        << lastError();
    ASSERT_EQ(salart_kernel_find(pkg, "salart_test_scale", &scale), SALART_OK);
  }
  void TearDown() override {
    int st = 0;
    if (ctx && salart_graph_capturing(ctx, &st) == SALART_OK && st == 1)
      salart_graph_abort(ctx);
    EXPECT_EQ(salart_package_close(pkg), SALART_OK) << lastError();
    EXPECT_EQ(salart_context_destroy(ctx), SALART_OK) << lastError();
    auto &f = salart_fake::state();
    EXPECT_EQ(f.graphsLive, 0);
    EXPECT_EQ(f.execsLive, 0);
    EXPECT_EQ(f.streamsDestroyed, int(f.streams.size()));
    // Nothing libsalart did was refused by the driver mid-capture.
    EXPECT_EQ(f.unsafeRefused, 0);
  }
  int capturing() {
    int st = -1;
    EXPECT_EQ(salart_graph_capturing(ctx, &st), SALART_OK);
    return st;
  }
  CUstream ownStream() {
    void *s = nullptr;
    EXPECT_EQ(salart_context_stream(ctx, &s), SALART_OK) << lastError();
    return static_cast<CUstream>(s);
  }
};

TEST_F(Capture, ContextStreamIsOwnedAndNonBlocking) {
  CUstream s = ownStream();
  EXPECT_NE(s, nullptr);
  EXPECT_EQ(ownStream(), s); // created once
  auto &f = salart_fake::state();
  ASSERT_EQ(f.streams.size(), 1u);
  EXPECT_EQ(f.streamFlags[0], CU_STREAM_NON_BLOCKING);
}

TEST_F(Capture, LaunchesAreRecordedThenReplayed) {
  auto &f = salart_fake::state();
  // Before: a NULL stream is the legacy default stream, as always.
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK) << lastError();
  ASSERT_EQ(f.eager, 1);
  EXPECT_EQ(f.eagerStreams[0], nullptr);

  EXPECT_EQ(capturing(), 0);
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK) << lastError();
  EXPECT_EQ(capturing(), 1);
  EXPECT_EQ(f.captureMode, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK) << lastError();
  ASSERT_EQ(salart_launch_by_name(pkg, "salart_test_scale", args, nullptr),
            SALART_OK);
  // The context's own stream, named explicitly, is recorded too.
  ASSERT_EQ(salart_launch(scale, args, ownStream()), SALART_OK);
  EXPECT_EQ(f.eager, 1); // nothing ran
  EXPECT_EQ(f.recorded, 5);
  for (CUstream s : f.recordedStreams)
    EXPECT_EQ(s, ownStream());

  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(capturing(), 0);
  int64_t nodes = 0;
  ASSERT_EQ(salart_graph_num_nodes(g, &nodes), SALART_OK);
  EXPECT_EQ(nodes, 5);

  ASSERT_EQ(salart_graph_launch(g, nullptr), SALART_OK) << lastError();
  EXPECT_EQ(f.lastGraphStream, nullptr);
  auto *torchStream = reinterpret_cast<void *>(0x7777);
  ASSERT_EQ(salart_graph_launch(g, torchStream), SALART_OK);
  EXPECT_EQ(f.lastGraphStream, torchStream);
  EXPECT_EQ(f.graphLaunches, 2);
  // After the capture a NULL stream is the legacy stream again.
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  EXPECT_EQ(f.eager, 2);
  EXPECT_EQ(f.eagerStreams.back(), nullptr);
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
}

TEST_F(Capture, MisalignedPointerIsRefused) {
  // x asks for 16-byte alignment in the manifest; y asks for none.
  uint64_t off = 0x1002, yOff = 0x2002;
  void *a[4] = {&off, &yOff, &n, &alpha};
  EXPECT_EQ(salart_launch(scale, a, nullptr), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_MSG("kernel 'salart_test_scale': parameter 'x' is at 0x1002, which is not "
             "16-byte aligned");
  EXPECT_EQ(salart_fake::state().eager, 0);
  off = 0x1010;
  EXPECT_EQ(salart_launch(scale, a, nullptr), SALART_OK) << lastError();
}

TEST_F(Capture, ZeroGridLaunchRecordsNothing) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  int64_t zero = 0;
  void *a[] = {&x, &y, &zero, &alpha};
  ASSERT_EQ(salart_launch(scale, a, nullptr), SALART_OK);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  int64_t nodes = -1;
  ASSERT_EQ(salart_graph_num_nodes(g, &nodes), SALART_OK);
  EXPECT_EQ(nodes, 0);
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
}

TEST_F(Capture, EndOrAbortWithoutBegin) {
  salart_graph *g = reinterpret_cast<salart_graph *>(0x1);
  EXPECT_EQ(salart_graph_end(ctx, &g), SALART_ERROR_CAPTURE);
  EXPECT_MSG("no graph capture in progress on device 0 (call "
             "salart_graph_begin first)");
  EXPECT_EQ(g, reinterpret_cast<salart_graph *>(0x1)); // untouched
  EXPECT_EQ(salart_graph_abort(ctx), SALART_ERROR_CAPTURE);
  EXPECT_MSG("no graph capture in progress");
  // Twice: the second end has nothing to end.
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  salart_graph *g1 = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g1), SALART_OK);
  EXPECT_EQ(salart_graph_end(ctx, &g), SALART_ERROR_CAPTURE);
  EXPECT_EQ(salart_graph_destroy(g1), SALART_OK);
}

TEST_F(Capture, EndWithNullOutKeepsTheCaptureOpen) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  EXPECT_EQ(salart_graph_end(ctx, nullptr), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "salart_graph_end: out is null");
  EXPECT_EQ(capturing(), 1);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK);
  int64_t nodes = 0;
  ASSERT_EQ(salart_graph_num_nodes(g, &nodes), SALART_OK);
  EXPECT_EQ(nodes, 1);
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
}

TEST_F(Capture, NestedBeginIsRefused) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  EXPECT_EQ(salart_graph_begin(ctx), SALART_ERROR_CAPTURE);
  EXPECT_MSG("device 0 is already capturing a CUDA graph (begun on this "
             "thread); nested captures are not supported");
  int rc = -1;
  std::string msg;
  std::thread t([&] {
    rc = salart_graph_begin(ctx);
    msg = salart_last_error();
  });
  t.join();
  EXPECT_EQ(rc, SALART_ERROR_CAPTURE);
  EXPECT_NE(msg.find("begun on another thread"), std::string::npos) << msg;
  // The first capture is unharmed.
  EXPECT_EQ(capturing(), 1);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
}

TEST_F(Capture, SynchronousCallsAreRefusedAndTheCaptureSurvives) {
  salart_pool *kv = nullptr;
  ASSERT_EQ(salart_kv_pool_create(16, 2, 128, 2, 4, &kv), SALART_OK);
  salart_state_pool *st = nullptr;
  ASSERT_EQ(salart_state_pool_create(2, 16, 2, &st), SALART_OK);
  ASSERT_EQ(salart_state_pool_allocate_device(st, ctx, 1), SALART_OK);
  uint64_t dptr = 0x5000;
  char host[16] = {0};

  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  EXPECT_EQ(salart_synchronize(ctx), SALART_ERROR_CAPTURE);
  EXPECT_MSG("synchronizing the device (cuCtxSynchronize) is not allowed "
             "while this thread captures a CUDA graph on device 0");
  EXPECT_MSG("the capture is intact");
  EXPECT_EQ(salart_mem_alloc(ctx, 64, &dptr), SALART_ERROR_CAPTURE);
  EXPECT_MSG("allocating 64 bytes (cuMemAlloc)");
  EXPECT_EQ(dptr, 0x5000u);
  EXPECT_EQ(salart_mem_free(ctx, dptr), SALART_ERROR_CAPTURE);
  EXPECT_EQ(salart_memcpy_htod(ctx, dptr, host, 16), SALART_ERROR_CAPTURE);
  EXPECT_MSG("cuMemcpyHtoD");
  EXPECT_EQ(salart_memcpy_dtoh(ctx, host, dptr, 16), SALART_ERROR_CAPTURE);
  EXPECT_EQ(salart_memset_d8(ctx, dptr, 0, 16), SALART_ERROR_CAPTURE);
  EXPECT_EQ(salart_pool_allocate_device(kv, ctx, 1), SALART_ERROR_CAPTURE);
  EXPECT_MSG("cuMemAlloc");
  salart_package *other = nullptr;
  EXPECT_EQ(salart_package_open(ctx, dir.path().c_str(), &other),
            SALART_ERROR_CAPTURE);
  EXPECT_MSG("loading a package (cuModuleLoadDataEx)");
  EXPECT_EQ(other, nullptr);
  EXPECT_EQ(salart_state_pool_destroy(st), SALART_ERROR_CAPTURE);
  EXPECT_MSG("destroying the linear-state pool's device buffers");
  EXPECT_EQ(salart_context_destroy(ctx), SALART_ERROR_CAPTURE);
  EXPECT_MSG("end it (salart_graph_end or salart_graph_abort) first");
  // A host-only package needs no driver: still fine.
  ASSERT_EQ(salart_package_open(nullptr, dir.path().c_str(), &other),
            SALART_OK);
  EXPECT_EQ(salart_package_close(other), SALART_OK);
  // Stream-ordered work with a NULL stream is recorded, not refused.
  ASSERT_EQ(salart_state_pool_zero_slot(st, 1, nullptr), SALART_OK)
      << lastError();
  ASSERT_EQ(salart_memset_d8_async(ctx, dptr, 0, 16, nullptr), SALART_OK);

  auto &f = salart_fake::state();
  EXPECT_EQ(f.unsafeRefused, 0); // none of it reached the driver
  EXPECT_EQ(f.syncs, 0);
  EXPECT_EQ(capturing(), 1);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  int64_t nodes = 0;
  ASSERT_EQ(salart_graph_num_nodes(g, &nodes), SALART_OK);
  EXPECT_EQ(nodes, 3); // the launch and the two memsets
  // After the capture all of it works again.
  EXPECT_EQ(salart_synchronize(ctx), SALART_OK) << lastError();
  EXPECT_EQ(f.syncs, 1);
  EXPECT_EQ(salart_state_pool_destroy(st), SALART_OK) << lastError();
  EXPECT_EQ(salart_pool_destroy(kv), SALART_OK);
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
}

TEST_F(Capture, OtherThreadsAreUnaffected) {
  auto &f = salart_fake::state();
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  int launch = -1, sync = -1, end = -1, state = -1;
  std::string endMsg;
  std::thread t([&] {
    launch = salart_launch(scale, args, nullptr); // runs, on the legacy stream
    sync = salart_synchronize(ctx);
    salart_graph_capturing(ctx, &state);
    salart_graph *g = nullptr;
    end = salart_graph_end(ctx, &g);
    endMsg = salart_last_error();
  });
  t.join();
  EXPECT_EQ(launch, SALART_OK);
  EXPECT_EQ(sync, SALART_OK);
  EXPECT_EQ(state, 2); // another thread captures
  EXPECT_EQ(end, SALART_ERROR_CAPTURE);
  EXPECT_NE(endMsg.find("was begun on another thread; captures are "
                        "thread-local: end it on that thread"),
            std::string::npos)
      << endMsg;
  EXPECT_EQ(f.eager, 1);
  EXPECT_EQ(f.eagerStreams[0], nullptr);
  EXPECT_EQ(f.syncs, 1);
  EXPECT_EQ(f.recorded, 0);
  EXPECT_EQ(capturing(), 1);
  ASSERT_EQ(salart_graph_abort(ctx), SALART_OK) << lastError();
  EXPECT_EQ(capturing(), 0);
}

TEST_F(Capture, AForeignStreamIsRefused) {
  auto &f = salart_fake::state();
  auto *foreign = reinterpret_cast<void *>(0x1234);
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  EXPECT_EQ(salart_launch(scale, args, foreign), SALART_ERROR_CAPTURE);
  EXPECT_MSG("kernel 'salart_test_scale': this thread is capturing a CUDA "
             "graph on device 0");
  EXPECT_MSG("is not being captured: its work would run now instead of "
             "being recorded");
  EXPECT_EQ(salart_memset_d8_async(ctx, 0x5000, 0, 16, foreign),
            SALART_ERROR_CAPTURE);
  EXPECT_MSG("memset: this thread is capturing");
  EXPECT_EQ(f.eager, 0);
  EXPECT_EQ(f.recorded, 0);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
}

TEST_F(Capture, DestroyedGraphIsAClearError) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK);
  ASSERT_EQ(salart_graph_destroy(g), SALART_OK);
  EXPECT_EQ(salart_graph_launch(g, nullptr), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_MSG("salart_graph_launch: graph ");
  EXPECT_MSG(" was destroyed (salart_graph_destroy)");
  int64_t nodes = -1;
  EXPECT_EQ(salart_graph_num_nodes(g, &nodes), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nodes, -1);
  EXPECT_EQ(salart_graph_destroy(g), SALART_ERROR_INVALID_ARGUMENT);
  EXPECT_MSG("salart_graph_destroy: graph ");
  EXPECT_EQ(salart_fake::state().graphLaunches, 0);
}

TEST_F(Capture, PackageStaysLoadedWhileAGraphUsesIt) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  // During the capture: pinned, and closing would unload a module.
  EXPECT_EQ(salart_package_close(pkg), SALART_ERROR_CAPTURE);
  EXPECT_MSG("has kernels in 1 CUDA graph(s) or capture(s) still alive");
  salart_graph *g1 = nullptr, *g2 = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g1), SALART_OK);
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  ASSERT_EQ(salart_graph_end(ctx, &g2), SALART_OK);
  EXPECT_EQ(salart_package_close(pkg), SALART_ERROR_CAPTURE);
  EXPECT_MSG("has kernels in 2 CUDA graph(s)");
  EXPECT_EQ(salart_graph_destroy(g1), SALART_OK);
  EXPECT_EQ(salart_package_close(pkg), SALART_ERROR_CAPTURE);
  EXPECT_EQ(salart_graph_destroy(g2), SALART_OK);
  // An aborted capture lets go of the package too.
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  ASSERT_EQ(salart_graph_abort(ctx), SALART_OK);
  EXPECT_EQ(salart_package_close(pkg), SALART_OK) << lastError();
  pkg = nullptr;
}

TEST_F(Capture, AbortDiscardsTheRecording) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  ASSERT_EQ(salart_graph_abort(ctx), SALART_OK) << lastError();
  EXPECT_EQ(capturing(), 0);
  EXPECT_EQ(salart_fake::state().graphsLive, 0);
  EXPECT_EQ(salart_fake::state().eager, 0);
  // And a new capture can begin.
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_graph_abort(ctx), SALART_OK);
}

TEST_F(Capture, InvalidatedCaptureIsReported) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  // Someone else on this thread (PyTorch's allocator, say) makes an unsafe
  // driver call: the driver refuses it and invalidates the capture.
  CUdeviceptr p = 0;
  EXPECT_EQ(salart_fake::driver().cuMemAlloc(&p, 64),
            CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  salart_fake::state().unsafeRefused = 0; // not libsalart's doing
  EXPECT_EQ(salart_launch(scale, args, nullptr), SALART_ERROR_DRIVER);
  EXPECT_MSG("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED");
  salart_graph *g = nullptr;
  EXPECT_EQ(salart_graph_end(ctx, &g), SALART_ERROR_CAPTURE);
  EXPECT_MSG("the graph capture on device 0 was invalidated by a call the "
             "driver does not allow during a capture");
  EXPECT_MSG("cuStreamEndCapture failed: CUDA_ERROR_STREAM_CAPTURE_"
             "INVALIDATED");
  EXPECT_EQ(g, nullptr);
  EXPECT_EQ(capturing(), 0); // over: a new one can begin
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  ASSERT_EQ(salart_launch(scale, args, nullptr), SALART_OK);
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK) << lastError();
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
  // The invalidated capture let go of the package.
  EXPECT_EQ(salart_package_close(pkg), SALART_OK) << lastError();
  pkg = nullptr;
}

TEST_F(Capture, AbortOfAnInvalidatedCaptureSucceeds) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  CUdeviceptr p = 0;
  (void)salart_fake::driver().cuMemAlloc(&p, 64);
  salart_fake::state().unsafeRefused = 0;
  EXPECT_EQ(salart_graph_abort(ctx), SALART_OK) << lastError();
  EXPECT_EQ(capturing(), 0);
}

TEST_F(Capture, GraphKeepsItsContextAlive) {
  ASSERT_EQ(salart_graph_begin(ctx), SALART_OK);
  salart_graph *g = nullptr;
  ASSERT_EQ(salart_graph_end(ctx, &g), SALART_OK);
  ASSERT_EQ(salart_package_close(pkg), SALART_OK);
  pkg = nullptr;
  ASSERT_EQ(salart_context_destroy(ctx), SALART_OK);
  ctx = nullptr;
  EXPECT_EQ(salart_graph_launch(g, nullptr), SALART_OK) << lastError();
  EXPECT_EQ(salart_fake::state().streamsDestroyed, 0); // context still alive
  EXPECT_EQ(salart_graph_destroy(g), SALART_OK);
  EXPECT_EQ(salart_fake::state().streamsDestroyed, 1);
}

} // namespace
