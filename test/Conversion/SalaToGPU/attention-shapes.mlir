// REQUIRES: ptxas
// RUN: salac %s --emit=ptx -o %t.ptx
// RUN: %check-ptx %t.ptx | FileCheck %s
// RUN: salac %s --emit=ptx --chip=sm_80 -o %t.sm80.ptx
// RUN: %check-ptx %t.sm80.ptx --arch sm_80 | FileCheck %s --check-prefix=SM80

// Stage 2 and the dense fallback for shapes other than MiniCPM-SALA's: a
// 64-wide head (MiniCPM4-0.5B's), one KV head of 16 query heads (a TP=2
// shard), and groups of 1 and 2 query heads (rows of the MMA left empty).
// Each is one kernel, none spills; their results are checked on the GPU by
// the grid (bench/grid.sh on packages of such configs).

!kv64 = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 64, element_type = bf16>
!q64 = tensor<?x16x64xbf16>
!kv1 = !sala.kv_cache<page_size = 16, kv_heads = 1, head_dim = 128, element_type = bf16>
!q16 = tensor<?x16x128xbf16>
!kv4 = !sala.kv_cache<page_size = 1, kv_heads = 4, head_dim = 128, element_type = bf16>
!q4 = tensor<?x4x128xbf16>
!q8 = tensor<?x8x128xbf16>
func.func @f(%q64: !q64, %kv64: !kv64, %q16: !q16, %kv1: !kv1, %q4: !q4, %q8: !q8, %kv4: !kv4,
             %pt: tensor<?x?xi32>, %s2: tensor<?x2x96xi32>, %s1: tensor<?x1x96xi32>,
             %s4: tensor<?x4x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> (!q64, !q16, !q4, !q8) {
  %a = sala.fused_sparse_attention %q64, %kv64[%pt], %s2 gate(%q64 : !q64) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q64, !kv64, tensor<?x2x96xi32> -> !q64
  %b = sala.fused_sparse_attention %q16, %kv1[%pt], %s1 gate(%q16 : !q16) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q16, !kv1, tensor<?x1x96xi32> -> !q16
  %c = sala.sparse_attention %q4, %kv4[%pt], %s4 lens(%cu, %lens) {block_size = 64} : !q4, !kv4, tensor<?x4x96xi32> -> !q4
  %d = sala.dense_attention %q8, %kv4[%pt] lens(%cu, %lens) : !q8, !kv4 -> !q8
  return %a, %b, %c, %d : !q64, !q16, !q4, !q8
}

// CHECK-DAG: check-ptx: ok sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h16_d64_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_fused_sparse_attention_b64_k96_p16_dense8192_g_h16_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_sparse_attention_b64_k96_p1_h4_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_dense_attention_p1_h8_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK: check-ptx: 4 kernels assembled for sm_90, no spills
// SM80: check-ptx: 4 kernels assembled for sm_80, no spills

// Blocks of 128 tokens: each selected block is two 64-key tiles of the slot
// table (48 selected: 96 slots; the table holds the larger of that and the
// dense path's 128 tiles below dense_len).
// RUN: salac %S/Inputs/attention-b128.mlir --emit=ptx -o %t.b128.ptx
// RUN: %check-ptx %t.b128.ptx | FileCheck %s --check-prefix=B128
// B128: check-ptx: ok sala_fused_sparse_attention_b128_k48_p64_dense8192_g_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// B128: check-ptx: 1 kernels assembled for sm_90, no spills
// RUN: salac %S/Inputs/attention-b128.mlir --emit=mlir | FileCheck %s --check-prefix=B128IR
// B128IR: gpu.func @sala_fused_sparse_attention_b128_k48_p64_dense8192_g_h32_d128_bf16
// B128IR-SAME: memref<128xi32, #gpu.address_space<workgroup>>
