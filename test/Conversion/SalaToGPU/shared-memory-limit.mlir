// RUN: salac-opt %s --split-input-file --convert-sala-to-gpu 2>&1 | FileCheck %s

// A kernel that needs more than the 48 KiB of static shared memory a block
// may declare takes its buffers as dynamic shared memory, up to what its
// kernel config's max_shared_bytes allows (the target's opt-in limit), and
// its launch says how many bytes. Here the fused selection of 128-token
// blocks: its chunk's pooled probabilities grow with the pool stride (8
// compressed keys a block).

!q = tensor<?x32x128xbf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @f(%q: !q, %k: !ck, %kt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x80xi32> {
  %b = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 128, group_size = 16, init_blocks = 1, local_blocks = 16, pool_kernel = 9, pool_padding = 1, pool_stride = 8, topk = 64} : !q, !ck -> tensor<?x2x80xi32>
  return %b : tensor<?x2x80xi32>
}

// CHECK-NOT: warning
// CHECK: sala.fused_sparse_select {{.*}}sala.kernel = @sala_kernels::@[[K:[a-z0-9_]+]]
// CHECK: memref.global "public" @[[K]]_dynamic_shared : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 16 : i64}
// CHECK-NOT: workgroup(
// CHECK: gpu.func @[[K]](
// CHECK-NOT: workgroup(
// CHECK-SAME: shared_bytes = 55572
// CHECK: memref.get_global @[[K]]_dynamic_shared
// CHECK: memref.view {{.*}} to memref<

// -----

// Past the limit the op gets no kernel and is reported with the bytes it
// would need (here a config that allows only the static 48 KiB).

!q = tensor<?x32x128xbf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @f(%q: !q, %k: !ck, %kt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x80xi32> {
  %b = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 128, group_size = 16, init_blocks = 1, local_blocks = 16, pool_kernel = 9, pool_padding = 1, pool_stride = 8, topk = 64, sala.kernel_config = #sala.kernel_config<threads = 512, min_blocks_per_sm = 0, max_registers = 0, max_shared_bytes = 49152>} : !q, !ck -> tensor<?x2x80xi32>
  return %b : tensor<?x2x80xi32>
}

// CHECK: warning: sala.fused_sparse_select has no GPU kernel for this shape (its kernel would need {{[0-9]+}} bytes of shared memory, above the 49152 a block may have); 1 op is left without one
// CHECK-NOT: gpu.func
// CHECK: sala.fused_sparse_select
// CHECK-NOT: sala.kernel =
