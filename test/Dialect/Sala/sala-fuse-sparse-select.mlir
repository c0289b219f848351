// RUN: salac-opt %s --sala-fuse-sparse-select --split-input-file | FileCheck %s
// RUN: salac-opt %s --sala-fuse-sparse-select --sala-unfuse --split-input-file | FileCheck %s --check-prefix=BACK

// sala-fuse-sparse-select replaces stage 1 (block_scores) and the top-k that
// reads its scores with one sala.fused_sparse_select; sala-unfuse expands it
// back into the same pair.

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The chain as sala-decompose writes it for a sparse mixer.
// Before:
//   %s = block_scores %q, %k1[%kpt]   %sel = topk_blocks %s
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x8x16xbf16>, %[[K:[^:]*]]: !ckeys, %[[KPT:[^:]*]]: tensor<?x?xi32>, %[[CU:[^:]*]]: tensor<?xi32>, %[[L:[^:]*]]: tensor<?xi32>)
// CHECK-NEXT: %[[SEL:.*]] = sala.fused_sparse_select %[[Q]], %[[K]][%[[KPT]]] lens(%[[CU]], %[[L]]) {block_size = 64 : i64, group_size = 4 : i64, init_blocks = 1 : i64, local_blocks = 32 : i64, pool_kernel = 5 : i64, pool_padding = 1 : i64, pool_stride = 4 : i64, scale = 2.500000e-01 : f32, topk = 64 : i64} : tensor<?x8x16xbf16>, !ckeys -> tensor<?x2x96xi32>
// CHECK-NEXT: return %[[SEL]]
// BACK-LABEL: func.func @chain
// BACK-NEXT: %[[S:.*]] = sala.block_scores %arg0, %arg1[%arg2] lens(%arg3, %arg4) {block_size = 64 : i64, group_size = 4 : i64, pool_kernel = 5 : i64, pool_padding = 1 : i64, pool_stride = 4 : i64, scale = 2.500000e-01 : f32} : tensor<?x8x16xbf16>, !ckeys -> tensor<?x2x?xf32>
// BACK-NEXT: %[[SEL:.*]] = sala.topk_blocks %[[S]] lens(%arg3, %arg4) {block_size = 64 : i64, init_blocks = 1 : i64, local_blocks = 32 : i64, topk = 64 : i64} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
// BACK-NEXT: return %[[SEL]]
func.func @chain(%q: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x96xi32> {
  %s = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1, scale = 0.25 : f32} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}

// -----

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The scores have another user: nothing is fused.
// CHECK-LABEL: func.func @scores_also_returned
// CHECK-NEXT: sala.block_scores
// CHECK-NEXT: sala.topk_blocks
// CHECK-NOT: fused_sparse_select
func.func @scores_also_returned(%q: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (tensor<?x2x96xi32>, tensor<?x2x?xf32>) {
  %s = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return %sel, %s : tensor<?x2x96xi32>, tensor<?x2x?xf32>
}

// -----

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// More than FusedSparseSelectOp::kMaxSelected (512) blocks selected: the
// fused op does not take them, nothing is fused. 512 is fused.
// CHECK-LABEL: func.func @too_many_selected
// CHECK-NEXT: sala.block_scores
// CHECK-NEXT: sala.topk_blocks
// CHECK-NEXT: sala.fused_sparse_select {{.*}}local_blocks = 31 : i64{{.*}}topk = 481 : i64
// CHECK-NOT: block_scores
func.func @too_many_selected(%q: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (tensor<?x2x513xi32>, tensor<?x2x512xi32>) {
  %s = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 481, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x513xi32>
  %s2 = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel2 = sala.topk_blocks %s2 lens(%cu, %lens) {block_size = 64, topk = 481, init_blocks = 1, local_blocks = 31} : tensor<?x2x?xf32> -> tensor<?x2x512xi32>
  return %sel, %sel2 : tensor<?x2x513xi32>, tensor<?x2x512xi32>
}

// -----

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// Top-k over another batch (other lengths): not one chain.
// CHECK-LABEL: func.func @other_batch
// CHECK-NEXT: sala.block_scores
// CHECK-NEXT: sala.topk_blocks
// CHECK-NOT: fused_sparse_select
func.func @other_batch(%q: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %lens2: tensor<?xi32>) -> tensor<?x2x96xi32> {
  %s = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens2) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}

// -----

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The K2 log-sum-exp option has no fused form.
// CHECK-LABEL: func.func @lse_k2
// CHECK-NEXT: sala.block_scores {{.*}} lse(
// CHECK-NEXT: sala.topk_blocks
// CHECK-NOT: fused_sparse_select
func.func @lse_k2(%q: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x96xi32> {
  %s = sala.block_scores %q, %k1[%kpt] lse(%k2[%kpt] : !k2) lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}
