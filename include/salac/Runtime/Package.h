//===- Package.h - A device context and a loaded kernel package --*- C++ -*-===//
//
// The GPU side of libsalart: the primary context of a device, and a kernel
// package JIT-compiled into it with every kernel resolved and ready to launch
// from its manifest rules.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_PACKAGE_H
#define SALAC_RUNTIME_PACKAGE_H

#include "salac/Runtime/CudaDriver.h"
#include "salac/Runtime/Manifest.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace salac::rt {

class Package;

/// The primary context of one device. Using the primary context (not a new
/// one) lets libsalart share memory and streams with PyTorch and others in the
/// same process; retaining it works whether or not they created it first.
class Context {
public:
  static Status create(int ordinal, std::shared_ptr<Context> &out);
  /// The same through a given driver table, which must outlive the context
  /// (the unit tests pass a fake driver).
  static Status create(const CudaDriver &drv, int ordinal,
                       std::shared_ptr<Context> &out);
  ~Context();
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;

  const CudaDriver &driver() const { return *drv_; }
  CUcontext handle() const { return ctx_; }
  CUdevice device() const { return dev_; }
  int ordinal() const { return ordinal_; }
  const std::string &name() const { return name_; }
  int ccMajor() const { return ccMajor_; }
  int ccMinor() const { return ccMinor_; }
  int smCount() const { return smCount_; }
  int maxSharedOptin() const { return maxSharedOptin_; }

  /// Makes this context current on the calling thread (a no-op when it is).
  Status makeCurrent() const;
  // The synchronous calls below fail with Code::Capture, without reaching
  // the driver, on a thread that is capturing a graph on this context.
  Status synchronize() const;

  Status alloc(size_t bytes, CUdeviceptr &out) const;
  Status free(CUdeviceptr ptr) const;
  Status copyToDevice(CUdeviceptr dst, const void *src, size_t bytes) const;
  Status copyToHost(void *dst, CUdeviceptr src, size_t bytes) const;
  Status memsetD8(CUdeviceptr dst, unsigned char value, size_t bytes) const;
  /// Ordered on `stream` (a CUstream; null is the legacy default stream, or
  /// the capture while this thread captures: see resolveStream).
  Status memsetD8Async(CUdeviceptr dst, unsigned char value, size_t bytes,
                       CUstream stream) const;

  // --- CUDA graph capture ---------------------------------------------------
  // One capture at a time per context, on the context's own stream, in
  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: it belongs to the thread that began
  // it. On that thread, stream-ordered calls through this context that pass
  // a null stream are recorded into the graph instead of running, and calls
  // that would synchronize are refused before they reach the driver (which
  // would otherwise invalidate the capture). Other threads are unaffected.

  /// The context's own stream (CU_STREAM_NON_BLOCKING: no implicit ordering
  /// with the legacy default stream), created on first use and destroyed
  /// with the context. Captures record on it.
  Status ownStream(CUstream &out) const;
  /// Starts a capture on ownStream(). Fails (Code::Capture) when one is
  /// already in progress on this context, from any thread.
  Status beginCapture() const;
  /// Ends the capture this thread began: the captured graph and the packages
  /// it launched kernels of (each pinned once, see Package::pinned) pass to
  /// the caller, who must unpin them when done.
  Status endCapture(CUgraph &graph,
                    std::vector<const Package *> &pinned) const;
  /// Ends the capture this thread began and discards what it recorded.
  Status abortCapture() const;
  /// Whether a capture is in progress on this context (any thread), and
  /// whether the calling thread is the one capturing.
  bool capturing() const { return capturing_.load(std::memory_order_acquire); }
  bool capturingOnThisThread() const;
  /// The stream a stream-ordered call asking for `requested` must use. When
  /// this thread captures: null means the capture stream; the capture stream
  /// itself is accepted; any other stream is refused (Code::Capture), since
  /// its work would run now instead of being recorded. Otherwise `requested`
  /// unchanged. `recorded` tells whether `out` is the capturing stream.
  Status resolveStream(CUstream requested, const std::string &what,
                       CUstream &out, bool *recorded = nullptr) const;
  /// Code::Capture when this thread captures on this context: `what` (e.g.
  /// "cuCtxSynchronize") is not allowed during a capture.
  Status checkNotCapturing(const char *what) const;
  /// Called for each launch recorded into the capture: pins `pkg` (once per
  /// capture) so that it cannot be closed while a graph uses its kernels.
  void noteCapturedPackage(const Package *pkg) const;

private:
  Context() = default;
  Status ensureStreamLocked() const;
  void unpinLocked() const;

  // Capture state; the flag is read without the lock on the launch path.
  mutable std::mutex captureMu_;
  mutable CUstream stream_ = nullptr;
  mutable std::atomic<bool> capturing_{false};
  mutable std::thread::id captureThread_;
  mutable std::vector<const Package *> capturePins_;
  const CudaDriver *drv_ = nullptr;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  int ordinal_ = -1;
  std::string name_;
  int ccMajor_ = 0, ccMinor_ = 0, smCount_ = 0, maxSharedOptin_ = 0;
};

/// One kernel of a package, with what the driver reports about it. The
/// driver-read fields are -1 in a package opened without a context.
struct Kernel {
  const KernelSpec *spec = nullptr;
  CUfunction fn = nullptr;
  int numRegs = -1;
  int localBytes = -1; // spill / local memory per thread
  int staticSharedBytes = -1;
  int constBytes = -1;
  int maxThreadsPerBlock = -1;
  int ptxVersion = -1, binaryVersion = -1;
  /// Dynamic shared memory the kernel may use now (48 KiB unless raised).
  mutable unsigned dynamicSharedLimit = kDefaultMaxDynamicShared;
};

class Package {
public:
  /// Reads and checks DIR (Manifest.h), then, when `ctx` is set, JIT-compiles
  /// the PTX into it and resolves every kernel. With a null `ctx` the package
  /// is host-only: kernels can be found and grids computed, not launched.
  static Status open(std::shared_ptr<Context> ctx, const std::string &dir,
                     std::unique_ptr<Package> &out);
  ~Package();
  Package(const Package &) = delete;
  Package &operator=(const Package &) = delete;

  const Manifest &manifest() const { return manifest_; }
  const std::string &dir() const { return dir_; }
  const std::string &jitInfoLog() const { return jitInfoLog_; }
  bool loaded() const { return module_ != nullptr; }
  size_t numKernels() const { return kernels_.size(); }
  const Kernel &kernel(size_t i) const { return kernels_[i]; }

  /// Not found: the error lists the package's kernels.
  Status find(std::string_view name, const Kernel *&out) const;

  /// CUDA graphs (and a capture in progress) that launch this package's
  /// kernels: while any does, the package must stay loaded.
  int pinned() const { return pins_.load(std::memory_order_acquire); }
  void pin() const { pins_.fetch_add(1, std::memory_order_acq_rel); }
  void unpin() const { pins_.fetch_sub(1, std::memory_order_acq_rel); }
  const std::shared_ptr<Context> &context() const { return ctx_; }

  /// Launches with the manifest's block, shared memory and grid rules; a grid
  /// with a zero dimension launches nothing and succeeds. While this thread
  /// captures on the package's context, the launch is recorded (see
  /// Context::resolveStream).
  Status launch(const Kernel &k, void **args, CUstream stream) const;
  Status launchExplicit(const Kernel &k, const uint32_t grid[3],
                        const uint32_t block[3], uint32_t sharedBytes,
                        void **args, CUstream stream) const;

private:
  Package() = default;
  Status loadModule(const std::string &ptxPath);
  Status prepareKernel(Kernel &k);

  std::shared_ptr<Context> ctx_;
  std::string dir_;
  Manifest manifest_;
  std::string ptx_;
  std::string jitInfoLog_;
  CUmodule module_ = nullptr;
  std::vector<Kernel> kernels_;
  std::unordered_map<std::string, size_t> byName_;
  mutable std::atomic<int> pins_{0};
};

} // namespace salac::rt

#endif // SALAC_RUNTIME_PACKAGE_H
