// RUN: salac-opt %s --convert-sala-to-gpu 2>&1 | FileCheck %s

// A kernel that would need more static shared memory than a block may have
// (48 KiB) is not formed: ptxas would reject it. The op is left without a
// kernel and reported with the bytes it would need. Here the fused selection
// of 128-token blocks: its chunk's pooled probabilities grow with the pool
// stride (8 compressed keys a block).

!q = tensor<?x32x128xbf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @f(%q: !q, %k: !ck, %kt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x80xi32> {
  %b = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 128, group_size = 16, init_blocks = 1, local_blocks = 16, pool_kernel = 9, pool_padding = 1, pool_stride = 8, topk = 64} : !q, !ck -> tensor<?x2x80xi32>
  return %b : tensor<?x2x80xi32>
}

// CHECK: warning: sala.fused_sparse_select has no GPU kernel for this shape (its kernel would need {{[0-9]+}} bytes of static shared memory, above the 49152 a block may have); 1 op is left without one
// CHECK-NOT: gpu.func
// CHECK: sala.fused_sparse_select
// CHECK-NOT: sala.kernel =
