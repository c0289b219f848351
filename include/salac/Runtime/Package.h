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

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace salac::rt {

/// The primary context of one device. Using the primary context (not a new
/// one) lets libsalart share memory and streams with PyTorch and others in the
/// same process; retaining it works whether or not they created it first.
class Context {
public:
  static Status create(int ordinal, std::shared_ptr<Context> &out);
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
  Status synchronize() const;

  Status alloc(size_t bytes, CUdeviceptr &out) const;
  Status free(CUdeviceptr ptr) const;
  Status copyToDevice(CUdeviceptr dst, const void *src, size_t bytes) const;
  Status copyToHost(void *dst, CUdeviceptr src, size_t bytes) const;
  Status memsetD8(CUdeviceptr dst, unsigned char value, size_t bytes) const;
  /// Ordered on `stream` (a CUstream; null is the legacy default stream).
  Status memsetD8Async(CUdeviceptr dst, unsigned char value, size_t bytes,
                       CUstream stream) const;

private:
  Context() = default;
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

  /// Launches with the manifest's block, shared memory and grid rules; a grid
  /// with a zero dimension launches nothing and succeeds.
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
};

} // namespace salac::rt

#endif // SALAC_RUNTIME_PACKAGE_H
