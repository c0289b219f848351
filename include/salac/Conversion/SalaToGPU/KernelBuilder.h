//===- KernelBuilder.h - building sala GPU kernels --------------*- C++ -*-===//
//
// A kernel is a gpu.func in the module's `gpu.module @sala_kernels`. Global
// buffers are flat 1-D memrefs of static (unbounded) extent so that the
// bare-pointer calling convention applies: each becomes one `.u64` pointer
// parameter in PTX. Runtime sizes are `index` scalars (`.u64`).
//
// The launch rules (block, grid as a function of scalar parameters, dynamic
// shared memory) and the parameter meanings are attached to the gpu.func as the
// `sala.launch` attribute; the kernel package's manifest is generated from it.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_CONVERSION_SALATOGPU_KERNELBUILDER_H
#define SALAC_CONVERSION_SALATOGPU_KERNELBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "salac/Dialect/Sala/IR/SalaInterfaces.h"
#include "llvm/ADT/SmallVector.h"
#include <array>
#include <string>
#include <utility>

namespace salac {

/// Static shared memory a thread block may declare (above it, the kernel's
/// buffers move to dynamic shared memory: KernelBuilder::moveSharedToDynamic).
inline constexpr int64_t kMaxStaticSharedBytes = 48 * 1024;
/// Alignment in bytes of every tensor a kernel takes (its widest access).
inline constexpr int64_t kTensorAlignBytes = 16;
/// Name of the gpu.module that holds every kernel salac forms.
inline constexpr llvm::StringLiteral kKernelModuleName = "sala_kernels";
/// Attribute on a sala op naming the kernel that implements it.
inline constexpr llvm::StringLiteral kKernelAttrName = "sala.kernel";
/// Attributes on a kernel: its launch rules, the op and the op's attributes.
inline constexpr llvm::StringLiteral kLaunchAttrName = "sala.launch";
inline constexpr llvm::StringLiteral kOpAttrName = "sala.op";
inline constexpr llvm::StringLiteral kOpAttributesAttrName = "sala.attributes";
/// Attribute on a kernel: its launch policy (the manifest's "config").
inline constexpr llvm::StringLiteral kConfigAttrName = "sala.config";

/// One grid dimension: `constant`, or ceil(value(param) * mul / div).
struct GridDim {
  int64_t constant = 1;
  std::string param;
  int64_t mul = 1, div = 1;
  static GridDim fixed(int64_t c) { return {c, "", 1, 1}; }
  static GridDim scaled(llvm::StringRef p, int64_t mul, int64_t div) {
    return {0, p.str(), mul, div};
  }
};

/// One dimension of a buffer's shape in the manifest: a constant, or the value
/// of a scalar size parameter.
struct Extent {
  Extent(int64_t size) : size(size) {}
  Extent(const char *param) : size(-1), param(param) {}
  Extent(std::string param) : size(-1), param(std::move(param)) {}
  int64_t size;
  std::string param;
};

/// Builds one kernel: declare its parameters, then `begin()`, emit the body at
/// the returned builder's insertion point, then `finish()`.
class KernelBuilder {
public:
  KernelBuilder(mlir::gpu::GPUModuleOp module, llvm::StringRef name,
                mlir::Location loc);

  /// Declare a global buffer parameter of `elementType` and row-major `shape`
  /// (recorded in the manifest so launchers can check tensors); returns its index.
  unsigned addBuffer(llvm::StringRef name, mlir::Type elementType,
                     llvm::ArrayRef<Extent> shape, llvm::StringRef meaning);
  /// The ragged-batch metadata every batched kernel takes, with the standard
  /// names and meanings: `cu_seqlens_q` [batch + 1] and `seq_lens` [batch].
  unsigned addCuSeqlens();
  unsigned addSeqLens();
  /// Declare a scalar size parameter (index; `.u64` in PTX).
  unsigned addSize(llvm::StringRef name, llvm::StringRef meaning);

  void setBlock(int64_t x, int64_t y = 1, int64_t z = 1) { block = {x, y, z}; }
  /// Threads per block (1-D blocks): the kernel config's, set before the
  /// builder runs.
  int64_t threads() const { return block[0]; }
  /// Fails, naming both numbers, unless the config gives `n` threads: for
  /// kernels whose tiling is built for one block size.
  mlir::LogicalResult requireThreads(mlir::Operation *op, int64_t n) const;
  /// The kernel config's tile (tokens) and stages, set before the builder
  /// runs (0, 0: the config has none).
  void setTiling(int64_t tileTokens, int64_t tileStages) {
    tile = tileTokens;
    stages = tileStages;
  }
  /// The kernel config's segment: tokens a block of a chunked scan walks (0:
  /// a block walks a whole sequence). Set before the builder runs.
  void setSegment(int64_t tokens) { segment = tokens; }
  int64_t segmentTokens() const { return segment; }
  int64_t tileStages() const { return stages; }
  /// Fails, naming both, unless the config gives tiles of `tokens` with
  /// `stageCount` stages: for kernels whose code is built for one tiling.
  mlir::LogicalResult requireTiling(mlir::Operation *op, int64_t tokens,
                                    int64_t stageCount) const;
  /// The occupancy asked of ptxas (`nvvm.minctasm`, `nvvm.maxnreg`; 0: none),
  /// attached by finish().
  void setOccupancy(int64_t minBlocksPerSm, int64_t maxRegisters) {
    minBlocks = minBlocksPerSm;
    maxRegs = maxRegisters;
  }
  void setGrid(GridDim x, GridDim y = GridDim::fixed(1),
               GridDim z = GridDim::fixed(1)) {
    grid = {x, y, z};
  }
  /// Statically sized workgroup memory, returned as a memref value, aligned
  /// to 16 bytes (see the definition for why).
  mlir::Value addWorkgroupBuffer(mlir::Type elementType, int64_t elements);
  /// The same, aligned to `alignBytes` (`llvm.align` on the attribution): what
  /// 16-byte accesses (ldmatrix, cp.async, vector<8xbf16>) need at least.
  mlir::Value addWorkgroupBuffer(mlir::Type elementType, int64_t elements,
                                 int64_t alignBytes);

  /// Create the gpu.func; returns a builder positioned in its body.
  mlir::OpBuilder &begin();
  /// A typed view of `elements` elements at the start of an i8 workgroup
  /// buffer: one shared-memory region used as two element types.
  mlir::Value viewWorkgroupBuffer(mlir::Value bytes, mlir::Type elementType, int64_t elements);
  mlir::Value arg(unsigned i);
  /// Terminate the body, attach `sala.launch`; returns the kernel.
  mlir::gpu::GPUFuncOp finish();
  /// Bytes of the kernel's static workgroup buffers (alignment padding not
  /// counted): a block may have at most kMaxStaticSharedBytes.
  int64_t staticSharedBytes();
  /// After finish(): every workgroup buffer becomes a view of the kernel's
  /// dynamic shared memory, at an offset aligned as the buffer asked, and
  /// `sala.launch` records the bytes (the runtime opts the kernel in to
  /// them). Returns those bytes.
  int64_t moveSharedToDynamic();

  mlir::OpBuilder &builder() { return b; }
  mlir::Location getLoc() const { return loc; }

  // --- Helpers for bodies (index arithmetic, f32 math without libdevice) ---
  mlir::Value idx(int64_t v);
  mlir::Value i32(int64_t v);
  mlir::Value f32(double v);
  mlir::Value f64(double v);
  /// blockIdx.x * blockDim + threadIdx.x, with the static block size.
  mlir::Value globalThreadId();
  mlir::Value threadId();
  mlir::Value blockId();
  mlir::Value load(mlir::Value buffer, mlir::Value index);
  void store(mlir::Value value, mlir::Value buffer, mlir::Value index);
  mlir::Value toF32(mlir::Value v);
  mlir::Value fromF32(mlir::Value v, mlir::Type to);
  /// One PTX instruction `op $0, $1;` on an f32 (e.g. "ex2.approx.ftz.f32").
  mlir::Value ptxUnaryF32(llvm::StringRef instr, mlir::Value x);
  /// exp(x) = 2^(x log2 e), by ex2.approx (relative error ~2^-22).
  mlir::Value expF32(mlir::Value x);
  /// 1 / sqrt(x) by rsqrt.approx.
  mlir::Value rsqrtF32(mlir::Value x);
  /// cos and sin of RoPE pair `pair` (index) at `position` (an i32): the angle
  /// position * theta^(-2 pair / headDim) formed and range-reduced in f64.
  std::pair<mlir::Value, mlir::Value> ropeCosSin(mlir::Value position, mlir::Value pair,
                                                 double theta, int64_t headDim);
  /// `fence.acq_rel.gpu`: orders this thread's global memory accesses at GPU
  /// scope (for the last-block-finishes pattern across thread blocks).
  void fenceGpu();
  /// Atomic `buffer[index] += value` (integer); returns the old value.
  mlir::Value atomicAdd(mlir::Value buffer, mlir::Value index, mlir::Value value);
  /// Cross-block completion without waiting: every thread fences its global
  /// writes, thread 0 counts the block done on `counters[index]` (i32), and the
  /// block that arrives `arrivals`-th (an index value) runs `body` after an
  /// acquire fence, then resets the counter to 0 (so a captured graph can be
  /// replayed). `flag` is a one-element workgroup buffer (f32 or i32) that
  /// broadcasts the outcome; afterwards it holds 1 in the last block, else 0.
  /// Call it where the whole block is (it has barriers).
  void ifLastArrival(mlir::Value counters, mlir::Value index, mlir::Value arrivals,
                     mlir::Value flag, llvm::function_ref<void()> body);
  /// An i32 element of `buffer`, as an index (sign-extended).
  mlir::Value loadIndex(mlir::Value buffer, mlir::Value index);
  /// `n` consecutive elements as a vector, `alignBytes`-aligned (16-byte
  /// accesses are what make global memory traffic efficient).
  mlir::Value loadVector(mlir::Value buffer, mlir::Value index, int64_t n,
                         int64_t alignBytes);
  void storeVector(mlir::Value value, mlir::Value buffer, mlir::Value index,
                   int64_t alignBytes);
  /// The sequence b of a ragged batch that owns query row `token`:
  /// cu[b] <= token < cu[b+1]. Tries b = token first (decode: one row per
  /// sequence, one round trip), else a binary search over `batch` sequences.
  mlir::Value findSequence(mlir::Value cuSeqlens, mlir::Value batch,
                           mlir::Value token);
  /// min(token, batch - 1): the sequence of `token` when every sequence has
  /// one query token (decode).
  mlir::Value guessSequence(mlir::Value batch, mlir::Value token);
  /// Binary search of cu_seqlens: the last seq with cu[seq] <= token.
  mlir::Value searchSequence(mlir::Value cuSeqlens, mlir::Value batch,
                             mlir::Value token);
  /// The sequence owning query row `token` and the token's position in it
  /// (seq_lens[b] - q_len(b) + row offset).
  std::pair<mlir::Value, mlir::Value> queryPosition(mlir::Value cu, mlir::Value lens,
                                                    mlir::Value batch, mlir::Value token);
  /// scf.for whose body returns the values to yield (nothing without init).
  mlir::scf::ForOp
  forLoop(mlir::Value lb, mlir::Value ub, mlir::Value step, mlir::ValueRange init,
          llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value, mlir::ValueRange)>
              body);
  /// Emits `body` under `if (cond)`; the builder continues after it.
  void ifThen(mlir::Value cond, llvm::function_ref<void()> body);
  /// scf.if with an else region and no results.
  void ifThenElse(mlir::Value cond, llvm::function_ref<void()> thenBody,
                  llvm::function_ref<void()> elseBody);
  mlir::Value cmp(mlir::arith::CmpIPredicate pred, mlir::Value a, mlir::Value b);
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  mlir::Value div(mlir::Value a, mlir::Value b); // unsigned
  mlir::Value rem(mlir::Value a, mlir::Value b); // unsigned
  /// Max of `v` over a warp segment of `width` lanes.
  mlir::Value warpMax(mlir::Value v, int64_t width);
  mlir::Value select(mlir::Value c, mlir::Value a, mlir::Value b);
  /// Sum of `v` (f32 or i32) over the `width` lanes (a power of two <= 32) of a
  /// warp segment.
  mlir::Value warpSum(mlir::Value v, int64_t width);

private:
  struct Param {
    std::string name, kind, dtype, meaning;
    mlir::Type type;
    llvm::SmallVector<Extent> shape;
  };
  mlir::gpu::GPUModuleOp module;
  std::string name;
  mlir::Location loc;
  mlir::OpBuilder b;
  llvm::SmallVector<Param> params;
  llvm::SmallVector<mlir::Type> workgroupTypes;
  std::array<int64_t, 3> block = {256, 1, 1};
  int64_t minBlocks = 0, maxRegs = 0;
  int64_t tile = 0, stages = 0, segment = 0;
  std::array<GridDim, 3> grid = {GridDim::fixed(1), GridDim::fixed(1),
                                 GridDim::fixed(1)};
  mlir::gpu::GPUFuncOp func;
};

/// A shape extent that is a scalar parameter plus a constant ("batch+1").
inline std::string plus(llvm::StringRef param, int64_t n) {
  return (param + "+" + llvm::Twine(n)).str();
}

} // namespace salac

#endif
