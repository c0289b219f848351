//===- SplitRule.h - the split-KV launch policy -----------------*- C++ -*-===//
//
// How many blocks share one (token, KV group) of a split-KV attention
// kernel. The one owner of that policy: the mixer plan writes it into the
// manifest (the `split_kv` rule of the `splits` size), the Python runtime
// evaluates it there for every caller (DecodeStep included), and tests and
// benchmarks read it from the manifest instead of restating it.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_CONVERSION_SALATOGPU_SPLITRULE_H
#define SALAC_CONVERSION_SALATOGPU_SPLITRULE_H

#include <algorithm>
#include <cstdint>

namespace salac {

/// Enough blocks per (token, KV group) pair to give every SM `blocksPerSm`
/// blocks, each split walking at least `minTilesPerSplit` tiles; at most
/// `maxSplits`, or `fewPairsMaxSplits` where `maxSplits` would leave more than
/// half of the SMs idle (one or two decode tokens); 1 once the pairs alone
/// fill the GPU. Measured on an H100 (bench/RESULTS.md, 2026-11-27): with the
/// pipelined merge, B=1 512K stage 2 12.6-12.9 us at 24 splits against
/// 13.2-13.3 at 16; B=8 128K 26.9 / 27.1-27.5 / 32.9 us at 12 / 16 / 24.
struct SplitRule {
  int64_t sms = 132;
  int64_t blocksPerSm = 2;
  int64_t maxSplits = 16;
  int64_t fewPairsMaxSplits = 24;
  int64_t minTilesPerSplit = 4;

  /// The split count for `pairs` (token, KV group) pairs over `tiles` tiles.
  int64_t splits(int64_t pairs, int64_t tiles) const {
    pairs = std::max<int64_t>(1, pairs);
    int64_t want = (blocksPerSm * sms + pairs - 1) / pairs;
    int64_t cap = pairs * maxSplits * 2 < sms ? fewPairsMaxSplits : maxSplits;
    return std::max<int64_t>(1, std::min({want, tiles / minTilesPerSplit, cap}));
  }
};

} // namespace salac

#endif
