// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// Stage-2 sparse attention and dense causal attention share one kernel shape:
// a block per (query token, KV group), 64-token K/V tiles staged in shared
// memory once for the group's 16 query heads, an online softmax.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv8 = !sala.kv_cache<page_size = 64, kv_heads = 8, head_dim = 128, element_type = bf16>
func.func @attn(%q: tensor<?x32x128xbf16>, %kv: !kv, %kv1: !kv1, %kv8: !kv8, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>,
                %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>) {
  %a = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : tensor<?x32x128xbf16>, !kv, tensor<?x2x96xi32> -> tensor<?x32x128xbf16>
  %b = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv -> tensor<?x32x128xbf16>
  %c = sala.dense_attention %q, %kv1[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv1 -> tensor<?x32x128xbf16>
  // 4 query heads per KV head is supported too.
  %d = sala.dense_attention %q, %kv8[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv8 -> tensor<?x32x128xbf16>
  return %a, %b, %c, %d : tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>
}

// MLIR: sala.sparse_attention {{.*}}sala.kernel = @sala_kernels::@sala_sparse_attention_b64_k96_p64_h32_d128_bf16
// MLIR: sala.dense_attention {{.*}}sala.kernel = @sala_kernels::@sala_dense_attention_p64_h32_d128_bf16
// MLIR: sala.dense_attention {{.*}}sala.kernel = @sala_kernels::@sala_dense_attention_p1_h32_d128_bf16
// MLIR: sala.dense_attention {{.*}}sala.kernel = @sala_kernels::@sala_dense_attention_p64_h32_d128_bf16_v2
// Shared memory: Q of 16 heads (f32, padded rows), a K tile with padded rows,
// a V tile, the scores, and the running max / sum / correction per head.
// MLIR: gpu.func @sala_sparse_attention_b64_k96_p64_h32_d128_bf16({{.*}}) workgroup(%{{.*}} : memref<2112xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<8704xbf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<8192xbf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<1024xf32, #gpu.address_space<workgroup>>
// MLIR-SAME: block = array<i64: 128, 1, 1>, grid = [{div = 1 : i64, mul = 2 : i64, param = "tokens"}, 1, 1]
// MLIR-SAME: shape = ["tokens", 2, 96]
// MLIR: vector.load {{.*}} {alignment = 16 : i64} : memref<1099511627776xbf16>, vector<8xbf16>
// MLIR: gpu.shuffle xor
// MLIR: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// MLIR: gpu.func @sala_dense_attention_p64_h32_d128_bf16_v2({{.*}}) workgroup(%{{.*}} : memref<528xf32

// PTX-LABEL: .visible .entry sala_sparse_attention_b64_k96_p64_h32_d128_bf16(
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: bar.sync 0;
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-LABEL: .visible .entry sala_dense_attention_p64_h32_d128_bf16(
