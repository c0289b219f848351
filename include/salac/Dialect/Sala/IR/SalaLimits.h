//===- SalaLimits.h - the sizes the sala dialect accepts -------*- C++ -*-===//
//
// One table of bounds for every size a sala type, attribute or op carries.
// The verifiers enforce them; docs/Bounds.md lists them with the reasons.
// They are far above any real model (MiniCPM-SALA: 32 heads, head_dim 128,
// 64-token blocks and pages) and far below what would overflow the 64-bit
// size arithmetic, unroll without end, or name a kernel with a negative
// number.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_DIALECT_SALA_IR_SALALIMITS_H
#define SALAC_DIALECT_SALA_IR_SALALIMITS_H

#include <cstdint>

namespace salac::sala {

/// Query, KV and linear heads of one op or cache.
inline constexpr int64_t kMaxHeads = 1024;
/// Channels of one head.
inline constexpr int64_t kMaxHeadDim = 1024;
/// Tokens of a KV-cache page or a compressed-key page.
inline constexpr int64_t kMaxPageSize = 65536;
/// Tokens of a sparse block, and of a compression window.
inline constexpr int64_t kMaxBlockSize = 4096;
/// Blocks a selection keeps (top-k, initial blocks).
inline constexpr int64_t kMaxSelectedBlocks = 4096;
/// Tokens of the local window and of dense_len (16M).
inline constexpr int64_t kMaxWindowTokens = int64_t(1) << 24;
/// Tokens of a chunk of chunked linear attention.
inline constexpr int64_t kMaxChunkSize = 4096;
/// Tokens a block of a chunked scan walks (a kernel config's `segment`, 1M).
inline constexpr int64_t kMaxSegmentTokens = int64_t(1) << 20;
/// Tokens of one step (a static token dimension).
inline constexpr int64_t kMaxTokens = (int64_t(1) << 31) - 1;

} // namespace salac::sala

#endif
