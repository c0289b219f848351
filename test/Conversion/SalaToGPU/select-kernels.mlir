// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// Stage 1 (block scores: two passes over the compressed keys, exact softmax,
// max-pool in shared memory) and top-k (binary search on the score bits, then
// ascending emission with block prefix sums), the two fused into one kernel
// (sala-fuse-sparse-select), plus the per-sequence dense/sparse join. The K2
// log-sum-exp option has no GPU kernel yet.

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
// The scores are also returned, so stage 1 and top-k stay two kernels.
func.func @select(%q: tensor<?x32x128xbf16>, %k1: !k1, %k1pt: tensor<?x?xi32>, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x2x96xi32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x32x128xbf16>) {
  %s = sala.block_scores %q, %k1[%k1pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  %s2 = sala.block_scores %q, %k1[%k1pt] lse(%k2[%k1pt] : !k2) lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x?xf32>
  %m = sala.length_select %q, %q lens(%cu, %lens) {threshold = 8192} : tensor<?x32x128xbf16>
  return %sel, %s, %s2, %m : tensor<?x2x96xi32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>, tensor<?x32x128xbf16>
}

// Only the selection is used: one fused kernel.
func.func @fused(%q: tensor<?x32x128xbf16>, %k1: !k1, %k1pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x96xi32> {
  %s = sala.block_scores %q, %k1[%k1pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}

// MLIR-LABEL: func.func @select
// MLIR: sala.block_scores {{.*}}sala.kernel = @sala_kernels::@sala_block_scores_k32_s16_b64_h32_d128_bf16
// MLIR: sala.topk_blocks {{.*}}sala.kernel = @sala_kernels::@sala_topk_blocks_b64_k64_i1_l32_g2
// MLIR: sala.block_scores {{.*}} lse(
// MLIR-NOT: sala.kernel =
// MLIR-SAME: -> tensor<?x2x?xf32>
// MLIR: sala.length_select {{.*}}sala.kernel = @sala_kernels::@sala_length_select_t8192_h32_d128_bf16
// MLIR-LABEL: func.func @fused
// MLIR-NEXT: sala.fused_sparse_select {{.*}}sala.kernel = @sala_kernels::@sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_h32_d128_bf16
// MLIR-NEXT: return
// Stage 1 is split over `splits` blocks per (token, KV group) for decode: raw
// scores and per-head statistics in a workspace, merged by the last block.
// MLIR: gpu.func @sala_block_scores_k32_s16_b64_h32_d128_bf16(
// MLIR-SAME: grid = [{div = 1 : i64, mul = 2 : i64, param = "tokens"}, {div = 1 : i64, mul = 1 : i64, param = "splits"}, 1]
// MLIR-SAME: shape = ["tokens", 2, "max_blocks"]
// MLIR-SAME: name = "partial_scores", shape = ["split_slots", 16, 2048]
// MLIR: gpu.func @sala_topk_blocks_b64_k64_i1_l32_g2(
// MLIR-SAME: shape = ["tokens", 2, 96]
// MLIR: gpu.shuffle up
// MLIR: gpu.func @sala_length_select_t8192_h32_d128_bf16(
// The fused kernel: parts of 512 keys claimed from tickets, chunk candidates,
// every counter back to zero.
// MLIR: gpu.func @sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_h32_d128_bf16(
// MLIR-SAME: grid = [{div = 1 : i64, mul = 2 : i64, param = "tokens"}, {div = 1 : i64, mul = 1 : i64, param = "select_splits"}, 1]
// MLIR-SAME: name = "blocks", shape = ["tokens", 2, 96]
// MLIR-SAME: name = "partial_scores", shape = ["select_slots", 16, 512]
// MLIR-SAME: name = "candidates", shape = ["tokens", 2, "max_blocks", 2]
// MLIR-SAME: name = "tickets", shape = [3]
// MLIR: scf.while
// MLIR: memref.atomic_rmw addi

// PTX-LABEL: .visible .entry sala_block_scores_k32_s16_b64_h32_d128_bf16(
// PTX: ld.global.v4.b32
// PTX: ex2.approx.ftz.f32
// PTX: bar.sync 0;
// The radix select: per pass a shared-memory histogram (a warp whose keys
// share the digit adds once), one warp's suffix scan of the 256 bins
// (shuffles down); then the winners ranked by a block scan (shuffles up).
// PTX-LABEL: .visible .entry sala_topk_blocks_b64_k64_i1_l32_g2(
// PTX: vote.sync.all.pred
// PTX: atom.shared.add.u32
// PTX: shfl.sync.down.b32
// PTX: shfl.sync.up.b32
// PTX-LABEL: .visible .entry sala_length_select_t8192_h32_d128_bf16(
// PTX-LABEL: .visible .entry sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_h32_d128_bf16(
// PTX: atom.global.add.u32
// PTX: nanosleep.u32
// PTX: fence.acq_rel.gpu
