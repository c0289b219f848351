//===- LoopEmitter.h - helpers for writing host loop nests ------*- C++ -*-===//
//
// A thin layer over ImplicitLocOpBuilder so that each sala op's lowering reads
// like the loop nest it emits: scf.for with a body callback, loads that
// convert to the compute type, stores that round to the buffer's element type,
// the ragged-batch walk and paged addressing shared by every op.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_CONVERSION_SALATOLOOPS_LOOPEMITTER_H
#define SALAC_LIB_CONVERSION_SALATOLOOPS_LOOPEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace salac::loops {

/// The one value a 1:1-converted operand was converted to.
inline mlir::Value single(mlir::ValueRange converted) {
  assert(converted.size() == 1 && "expected a 1:1 converted operand");
  return converted.front();
}

/// Position of one token of a ragged batch.
struct TokenRef {
  mlir::Value seq; ///< b
  mlir::Value row; ///< index into the packed token dimension
  mlir::Value pos; ///< position in its sequence (history + j)
};

/// Per-sequence lengths of a ragged batch.
struct SeqRef {
  mlir::Value seq, qStart, qLen, seqLen, history;
};

class LoopEmitter {
public:
  LoopEmitter(mlir::OpBuilder &builder, mlir::Location loc) : b(loc, builder) {}

  mlir::ImplicitLocOpBuilder b;

  // Constants.
  mlir::Value idx(int64_t v);
  mlir::Value f32(double v);
  mlir::Value f64(double v);
  mlir::Value i32(int32_t v);
  mlir::Value constFloat(mlir::Type type, double v);

  // Index arithmetic (all values are non-negative unless stated).
  mlir::Value add(mlir::Value a, mlir::Value c);
  mlir::Value sub(mlir::Value a, mlir::Value c);
  mlir::Value mul(mlir::Value a, mlir::Value c);
  mlir::Value div(mlir::Value a, mlir::Value c); ///< unsigned
  mlir::Value rem(mlir::Value a, mlir::Value c); ///< unsigned
  mlir::Value min(mlir::Value a, mlir::Value c); ///< signed
  mlir::Value max(mlir::Value a, mlir::Value c); ///< signed
  mlir::Value lt(mlir::Value a, mlir::Value c);  ///< signed <
  mlir::Value le(mlir::Value a, mlir::Value c);  ///< signed <=
  mlir::Value select(mlir::Value cond, mlir::Value a, mlir::Value c);
  /// floor((n - kernel) / stride) + 1, or 0 when n < kernel.
  mlir::Value numWindows(mlir::Value n, int64_t kernel, int64_t stride);

  // Floating-point arithmetic (operands of one float type).
  mlir::Value fadd(mlir::Value a, mlir::Value c);
  mlir::Value fsub(mlir::Value a, mlir::Value c);
  mlir::Value fmul(mlir::Value a, mlir::Value c);
  mlir::Value fdiv(mlir::Value a, mlir::Value c);
  /// max that keeps the first operand unless the second is larger (NaN-free
  /// inputs: the reference's std::max).
  mlir::Value fmax(mlir::Value a, mlir::Value c);
  mlir::Value exp(mlir::Value a);
  mlir::Value log(mlir::Value a);
  mlir::Value sqrt(mlir::Value a);
  /// extf/truncf to `type` (identity when equal). Narrowing f64 -> bf16/f16
  /// goes through f32 with round-to-odd so that the result is correctly
  /// rounded (no double rounding), like the reference's roundToBF16(double).
  mlir::Value castFloat(mlir::Value v, mlir::Type type);

  // Memory.
  mlir::Value dim(mlir::Value memref, int64_t d);
  mlir::Value load(mlir::Value memref, mlir::ValueRange indices);
  /// Loads a float element converted to `type`.
  mlir::Value loadAs(mlir::Type type, mlir::Value memref, mlir::ValueRange indices);
  /// Loads an i32 element as an index.
  mlir::Value loadIndex(mlir::Value memref, mlir::ValueRange indices);
  void store(mlir::Value v, mlir::Value memref, mlir::ValueRange indices);
  /// Stores a float, rounded to the memref's element type.
  void storeAs(mlir::Value v, mlir::Value memref, mlir::ValueRange indices);
  /// memref.alloc of `type`, dynamic sizes in order.
  mlir::Value alloc(mlir::MemRefType type, mlir::ValueRange dynSizes = {});
  /// A scratch buffer of `elementType` and `shape` (kDynamic entries take the
  /// next value of `dynSizes`).
  mlir::Value scratch(mlir::Type elementType, llvm::ArrayRef<int64_t> shape,
                      mlir::ValueRange dynSizes = {});
  void dealloc(mlir::Value memref);
  /// Allocates the result of a converted op: `type` is the converted result
  /// type; its dynamic dims take the sizes of the same dims of `like`.
  mlir::Value allocLike(mlir::MemRefType type, mlir::Value like);

  // Control flow. Bodies are emitted with `b` positioned inside.
  void loop(mlir::Value lb, mlir::Value ub, llvm::function_ref<void(mlir::Value)> body,
            mlir::Value step = {});
  void loop(int64_t ub, llvm::function_ref<void(mlir::Value)> body) {
    loop(idx(0), idx(ub), body);
  }
  /// A loop carrying `init` values; the body returns the next values.
  llvm::SmallVector<mlir::Value>
  loopCarry(mlir::Value lb, mlir::Value ub, mlir::ValueRange init,
            llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value,
                                                              mlir::ValueRange)>
                body);
  /// Sum of body(i) over [lb, ub) in the type of `zero`.
  mlir::Value sum(mlir::Value lb, mlir::Value ub, mlir::Value zero,
                  llvm::function_ref<mlir::Value(mlir::Value)> body);
  void ifThen(mlir::Value cond, llvm::function_ref<void()> body);

  // The ragged batch: cu_seqlens_q [B+1], seq_lens [B] (i32 memrefs).
  SeqRef sequence(mlir::Value cuSeqlens, mlir::Value seqLens, mlir::Value b);
  /// Calls body for every sequence.
  void forEachSequence(mlir::Value cuSeqlens, mlir::Value seqLens,
                       llvm::function_ref<void(const SeqRef &)> body);
  /// Calls body for every token of every sequence.
  void forEachToken(mlir::Value cuSeqlens, mlir::Value seqLens,
                    llvm::function_ref<void(const TokenRef &)> body);
  /// max over b of seq_lens[b] (0 for an empty batch).
  mlir::Value maxSeqLen(mlir::Value seqLens);

  /// Physical page and row of logical entry `entry` of sequence `seq` in a
  /// paged store of `pageSize` entries per page.
  std::pair<mlir::Value, mlir::Value> pageRow(mlir::Value pageTable, mlir::Value seq,
                                              mlir::Value entry, int64_t pageSize);
};

} // namespace salac::loops

#endif
