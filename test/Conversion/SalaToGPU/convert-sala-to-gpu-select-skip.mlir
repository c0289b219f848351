// RUN: salac-opt %s --convert-sala-to-gpu --verify-each | FileCheck %s --check-prefix=SKIP

!q = tensor<?x32x128xbf16>
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>

// A fused selection whose every user is a fused stage 2 with a dense fallback
// (dense_len 8192) is specialised on it: sequences below 8192 are skipped
// (`_from8192`, manifest skip_below_seq_len). Feeding plain stage 2 as well,
// it selects for every sequence.
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @select_for_fallback(%q: !q, %z: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q, !q) {
  %sel = sala.fused_sparse_select %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : !q, !k1 -> tensor<?x2x96xi32>
  %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : !q) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  %sel2 = sala.fused_sparse_select %z, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : !q, !k1 -> tensor<?x2x96xi32>
  %o2 = sala.fused_sparse_attention %z, %kv[%pt], %sel2 lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  %o3 = sala.sparse_attention %z, %kv[%pt], %sel2 lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  return %o, %o2, %o3 : !q, !q, !q
}
// SKIP-LABEL: func.func @select_for_fallback
// SKIP: sala.fused_sparse_select {{.*}}sala.kernel = @sala_kernels::@sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_from8192_h32_d128_bf16
// SKIP: sala.fused_sparse_attention {{.*}}sala.kernel = @sala_kernels::@sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16
// SKIP: sala.fused_sparse_select {{.*}}sala.kernel = @sala_kernels::@sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_h32_d128_bf16,
// SKIP: gpu.func @sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_from8192_h32_d128_bf16({{.*}}sala.attributes = {{{.*}}skip_below_seq_len = 8192 : i64
