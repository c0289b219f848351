//===- ChooseKernelConfig.cpp - sala-choose-kernel-config -----------------===//
//
// The launch policy of every kernel, in one place: threads per block, the
// occupancy asked of ptxas and the split-KV rule, per op and target. The
// builders take their block size from here and do not set occupancy
// themselves; the numbers' reasons are the comments below.
//
//===----------------------------------------------------------------------===//
#include "salac/Conversion/Passes.h"
#include "salac/Conversion/SalaToGPU/KernelConfig.h"
#include "salac/Dialect/Sala/IR/SalaLimits.h"
#include "salac/Dialect/Sala/IR/SalaOps.h"

#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

namespace salac {
#define GEN_PASS_DEF_SALACHOOSEKERNELCONFIG
#include "salac/Conversion/Passes.h.inc"
} // namespace salac

using namespace mlir;
using namespace salac;

namespace {

/// sm_90 and sm_100 (and their `a` variants): 228 KiB of shared memory an SM,
/// 65536 registers.
bool isHopperOrDatacenterBlackwell(StringRef chip) {
  return chip == "sm_90" || chip == "sm_90a" || chip == "sm_100" || chip == "sm_100a";
}

/// The split rule of the split-KV attention kernels (SplitRule.h gives the
/// measurements behind the numbers); only the SM count depends on the GPU.
sala::SplitRuleAttr splitRule(MLIRContext *ctx, const KernelTarget &t) {
  SplitRule r;
  return sala::SplitRuleAttr::get(ctx, t.sms, r.blocksPerSm, r.maxSplits,
                                  r.fewPairsMaxSplits, r.minTilesPerSplit);
}

/// The config of one kernel; every kernel may take the target's shared memory.
struct ConfigMaker {
  MLIRContext *ctx;
  const KernelTarget &t;
  sala::KernelConfigAttr operator()(int64_t threads, int64_t minBlocks = 0,
                                    int64_t maxRegisters = 0, int64_t tile = 0,
                                    int64_t stages = 0,
                                    sala::SplitRuleAttr split = nullptr,
                                    int64_t segment = 0) const {
    return sala::KernelConfigAttr::get(ctx, threads, minBlocks, maxRegisters, tile, stages,
                                       split, maxSharedBytesPerBlock(t.chip), segment);
  }
};

/// Chunked linear attention: 8 warps over the op's chunks, Q, K and V of one
/// chunk in shared memory at once, in segments of the target's linearSegment
/// tokens when it sets one (the pass checks that they are whole chunks).
/// Segments keep the state in registers across chunks: up to 255 of them.
sala::KernelConfigAttr chunkedLinearConfig(int64_t chunk, const ConfigMaker &config,
                                           const KernelTarget &t) {
  if (chunk > 4096) // past a config's tile bound: no kernel takes it anyway
    return config(256);
  if (t.linearSegment > 0 && t.linearSegment % chunk == 0)
    return config(256, 0, 255, /*tile=*/chunk, /*stages=*/t.linearStages, nullptr,
                  t.linearSegment);
  return config(256, 0, 0, /*tile=*/chunk, /*stages=*/1);
}

/// Stage 2 and dense attention walk 64-key tiles (16 keys for each of 4
/// warps), K and V of one tile in shared memory at once (the copies of one
/// overlap the products of the other).
constexpr int64_t kAttentionTile = 64, kAttentionStages = 1;

/// Stage 2 and dense attention: 4 warps (16 keys of a 64-key tile each).
sala::KernelConfigAttr attentionConfig(Operation *op, sala::KVCacheType cache,
                                       const KernelTarget &t) {
  MLIRContext *ctx = op->getContext();
  ConfigMaker config{ctx, t};
  if (isa<sala::DenseAttentionOp>(op) && cache.getKvHeads() <= 2)
    // Left alone, ptxas gives the dense kernel ~180 registers (2 blocks a
    // SM); with up to 2 KV heads it fits 168 (3 blocks a SM) without
    // spilling (ptxas-attention.mlir). With 4 KV heads and 1-token pages it
    // spills 8 bytes at 168 (attention-shapes.mlir), so there it keeps 2.
    return config(128, 3, 0, kAttentionTile, kAttentionStages, splitRule(ctx, t));
  // Stage 2 needs ~180: left to its own heuristics ptxas aims for 3 blocks a
  // SM at 168 registers and spills (the fused kernel, and the plain one with
  // 16-token pages); allowed every register it wants, it takes ~180 and 2
  // blocks a SM, as the split rule plans (no time lost: bench/RESULTS.md).
  return config(128, 0, 255, kAttentionTile, kAttentionStages, splitRule(ctx, t));
}

/// The fused KV update: one thread per column of a cache row (at least 256,
/// at most 1024), so that each thread forms the window's addresses once
/// (with two columns a thread, 4 KV heads of 128, they spilled).
int64_t fusedKVUpdateThreads(sala::KVCacheType cache) {
  int64_t row = cache.getKvHeads() * cache.getHeadDim();
  return std::min<int64_t>(1024, std::max<int64_t>(256, row));
}

/// The fused selection wants ~150-215 registers a thread (ptxas, sm_80 to
/// sm_120). At 16 warps it has 128: on sm_90/sm_100 that fits SALA's shapes
/// (4 bytes spill for its TP=2 shard), elsewhere it spilled 20-92 bytes. 8
/// warps with every register they want do not spill on any chip
/// (test/salac/chip-ptxas-*.test), one block a SM either way. On an H100 an
/// earlier 8-warp version (chunks of 256 blocks) was 2% faster at B=8 128K
/// and 8% slower at B=1 512K (2026-12-08); until this one (512-block chunks,
/// more loads in flight) is timed there, sm_90/sm_100 keep 16 warps (salac
/// --select-threads=256 builds the 8-warp kernel for that comparison:
/// scripts/select-packages.sh, bench/select-warps.sh). Each
/// chunk keeps the selected count of candidates, which must be at most half
/// of its blocks (SelectKernels.cpp): more than 256 selected blocks take more
/// threads, with the registers that leaves them.
sala::KernelConfigAttr fusedSelectConfig(sala::FusedSparseSelectOp op, const ConfigMaker &config) {
  // Every register a thread can have when one block fills the SM's 65536.
  auto allRegisters = [](int64_t threads) {
    return std::min<int64_t>(255, (65536 / threads) & ~int64_t(7));
  };
  if (int64_t asked = config.t.selectThreads) // the builder checks that it fits
    // 16 warps and more: the registers ptxas gives them (128 at 512).
    return asked >= 512 ? config(asked) : config(asked, 0, allRegisters(asked));
  int64_t twice = 2 * (op.getTopk() + op.getLocalBlocks());
  if (isHopperOrDatacenterBlackwell(config.t.chip) && twice <= fusedSelectChunkBlocks(512))
    return config(512);
  int64_t threads =
      twice <= fusedSelectChunkBlocks(256) ? 256 : int64_t(llvm::alignTo(twice, 32));
  return config(threads, 0, allRegisters(threads));
}

} // namespace

int64_t salac::fusedSelectChunkBlocks(int64_t threads) {
  constexpr int64_t kAtLeast = 512;
  return threads * ((kAtLeast + threads - 1) / threads);
}

int64_t salac::maxSharedBytesPerBlock(StringRef chip) {
  if (isHopperOrDatacenterBlackwell(chip))
    return 227 * 1024;
  if (chip == "sm_80")
    return 163 * 1024;
  return 99 * 1024; // sm_86, sm_89, sm_120: the smallest of the chips
}

sala::KernelConfigAttr salac::chooseKernelConfig(Operation *op, const KernelTarget &t) {
  ConfigMaker config{op->getContext(), t};
  return llvm::TypeSwitch<Operation *, sala::KernelConfigAttr>(op)
      .Case<sala::RMSNormOp, sala::FusedRMSNormGateOp, sala::RopeOp, sala::SigmoidGateOp,
            sala::LengthSelectOp,
            sala::KVAppendOp, sala::CompressKeysOp>(
          [&](Operation *) { return config(256); })
      .Case([&](sala::FusedKVUpdateOp o) {
        return config(fusedKVUpdateThreads(o.getCache().getType()));
      })
      // The unfused selection kernels: 16 warps, one block a SM (radix select
      // and the stage-1 tiles are built for 512 threads).
      .Case<sala::BlockScoresOp, sala::TopkBlocksOp>([&](Operation *) { return config(512); })
      .Case([&](sala::FusedSparseSelectOp o) { return fusedSelectConfig(o, config); })
      .Case([&](sala::SparseAttentionOp o) {
        return attentionConfig(o, o.getCache().getType(), t);
      })
      .Case([&](sala::FusedSparseAttentionOp o) {
        return attentionConfig(o, o.getCache().getType(), t);
      })
      .Case([&](sala::DenseAttentionOp o) {
        return attentionConfig(o, o.getCache().getType(), t);
      })
      .Case([&](sala::LinearAttentionOp o) {
        // Recurrent: one thread per state column.
        int64_t d = cast<RankedTensorType>(o.getQuery().getType()).getDimSize(2);
        if (o.getForm() == sala::LinearForm::Recurrent)
          return config(d);
        return chunkedLinearConfig(o.getEffectiveChunkSize(), config, t);
      })
      // Decode is bound by the state traffic: keep 6 blocks (24 warps) a SM in
      // flight, i.e. at most 80 registers a thread (ptxas-linear.mlir checks
      // that this does not spill).
      .Case([&](sala::FusedLinearAttentionOp o) {
        if (o.getForm() == sala::LinearForm::Chunked)
          return chunkedLinearConfig(o.getEffectiveChunkSize(), config, t);
        return config(128, 6);
      })
      .Default([](Operation *) { return sala::KernelConfigAttr(); });
}

sala::KernelConfigAttr salac::kernelConfigOf(Operation *op) {
  if (auto c = op->getAttrOfType<sala::KernelConfigAttr>(sala::KernelConfigAttr::kOpAttrName))
    return c;
  return chooseKernelConfig(op, KernelTarget());
}

int64_t salac::tileTokens(Operation *op) {
  sala::KernelConfigAttr c = kernelConfigOf(op);
  return c ? c.getTile() : 0;
}

int64_t salac::selectedTiles(Operation *op) {
  auto tiles = [op](auto stage2) {
    int64_t tile = tileTokens(op);
    return tile ? stage2.getBlocks().getType().getDimSize(2) *
                      std::max<int64_t>(1, stage2.getBlockSize() / tile)
                : 0;
  };
  if (auto sa = dyn_cast<sala::SparseAttentionOp>(op))
    return tiles(sa);
  if (auto fa = dyn_cast<sala::FusedSparseAttentionOp>(op))
    return tiles(fa);
  return 0;
}

std::optional<SplitRule> salac::splitRuleOf(sala::KernelConfigAttr config) {
  if (!config || !config.getSplit())
    return std::nullopt;
  sala::SplitRuleAttr a = config.getSplit();
  return SplitRule{a.getSms(), a.getBlocksPerSm(), a.getMaxSplits(), a.getFewPairsMaxSplits(),
                   a.getMinTilesPerSplit()};
}

namespace {
struct SalaChooseKernelConfig
    : salac::impl::SalaChooseKernelConfigBase<SalaChooseKernelConfig> {
  using Base::Base;
  void runOnOperation() override {
    int64_t smCount = sms;
    if (smCount < 1 || smCount > 65535) {
      getOperation().emitError() << "sala-choose-kernel-config: sms must be in [1, 65535], got "
                                 << smCount;
      return signalPassFailure();
    }
    if (linearSegment < 0 || linearSegment > sala::kMaxSegmentTokens) {
      getOperation().emitError() << "sala-choose-kernel-config: linear-segment must be in [0, "
                                 << sala::kMaxSegmentTokens << "] tokens, got "
                                 << int64_t(linearSegment);
      return signalPassFailure();
    }
    if (selectThreads != 0 &&
        (selectThreads < 128 || selectThreads > 1024 || selectThreads % 32 != 0)) {
      getOperation().emitError() << "sala-choose-kernel-config: select-threads must be 0 "
                                    "(the policy's) or a multiple of 32 in [128, 1024], got "
                                 << int64_t(selectThreads);
      return signalPassFailure();
    }
    if (linearStages != 1 && (linearStages != 2 || linearSegment == 0)) {
      getOperation().emitError() << "sala-choose-kernel-config: linear-stages must be 1, or 2 "
                                    "with a linear-segment, got "
                                 << int64_t(linearStages);
      return signalPassFailure();
    }
    KernelTarget target{chip, smCount, linearSegment, linearStages, selectThreads};
    auto checkChunk = [&](Operation *op, sala::LinearForm form, int64_t chunk) {
      if (form != sala::LinearForm::Chunked || linearSegment % chunk == 0)
        return WalkResult::advance();
      op->emitError() << "linear-segment " << int64_t(linearSegment)
                      << " is not a multiple of the op's chunk_size " << chunk;
      return WalkResult::interrupt();
    };
    WalkResult chunks = getOperation().walk([&](Operation *op) {
      if (auto la = dyn_cast<sala::LinearAttentionOp>(op))
        return checkChunk(op, la.getForm(), la.getEffectiveChunkSize());
      if (auto f = dyn_cast<sala::FusedLinearAttentionOp>(op))
        return checkChunk(op, f.getForm(), f.getEffectiveChunkSize());
      return WalkResult::advance();
    });
    if (chunks.wasInterrupted())
      return signalPassFailure();
    getOperation().walk([&](sala::KernelOpInterface op) {
      if (sala::KernelConfigAttr c = chooseKernelConfig(op, target))
        op->setAttr(sala::KernelConfigAttr::kOpAttrName, c);
    });
  }
};
} // namespace
