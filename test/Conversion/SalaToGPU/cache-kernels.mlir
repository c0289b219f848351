// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// KV append and key compression read and write the paged layout directly.
// Kernels specialise on page size, heads, head dim and window; sizes are
// runtime arguments.

!kv64 = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @cache(%k: tensor<?x2x128xbf16>, %v: tensor<?x2x128xbf16>, %kv: !kv64, %kv1: !kv1, %pt: tensor<?x?xi32>,
                 %c: !k1, %cpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : tensor<?x2x128xbf16>, !kv64
  sala.kv_append %k, %v into %kv1[%pt] lens(%cu, %lens) : tensor<?x2x128xbf16>, !kv1
  sala.compress_keys %kv[%pt] into %c[%cpt] lens(%cu, %lens) : !kv64, !k1
  sala.compress_keys %kv1[%pt] into %c[%cpt] lens(%cu, %lens) : !kv1, !k1
  return
}

// The append right before the compression of the same cache: one fused kernel
// (sala-fuse-kv-access).
func.func @fused(%k: tensor<?x2x128xbf16>, %v: tensor<?x2x128xbf16>, %kv: !kv64, %pt: tensor<?x?xi32>,
                 %c: !k1, %cpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : tensor<?x2x128xbf16>, !kv64
  sala.compress_keys %kv[%pt] into %c[%cpt] lens(%cu, %lens) : !kv64, !k1
  return
}

// MLIR: sala.kv_append {{.*}} {sala.kernel = @sala_kernels::@sala_kv_append_p64_h2_d128_bf16, sala.kernel_config = #sala.kernel_config<{{.*}}>}
// MLIR: sala.kv_append {{.*}} {sala.kernel = @sala_kernels::@sala_kv_append_p1_h2_d128_bf16, sala.kernel_config = #sala.kernel_config<{{.*}}>}
// MLIR: sala.compress_keys {{.*}} {sala.kernel = @sala_kernels::@sala_compress_keys_k32_s16_p64_h2_d128_bf16, sala.kernel_config = #sala.kernel_config<{{.*}}>}
// MLIR: sala.compress_keys {{.*}} {sala.kernel = @sala_kernels::@sala_compress_keys_k32_s16_p1_h2_d128_bf16, sala.kernel_config = #sala.kernel_config<{{.*}}>}
// MLIR-LABEL: func.func @fused
// MLIR-NEXT: sala.fused_kv_update {{.*}} compress({{.*}}) {{.*}}{sala.kernel = @sala_kernels::@sala_fused_kv_update_p64_k32_s16_h2_d128_bf16, sala.kernel_config = #sala.kernel_config<{{.*}}>}
// MLIR-NEXT: return
// A thread per 16 bytes of a token row: 256 channels / 8 = 32 threads a token.
// MLIR: gpu.func @sala_kv_append_p64_h2_d128_bf16(
// MLIR-SAME: grid = [{div = 256 : i64, mul = 32 : i64, param = "tokens"}, 1, 1]
// MLIR-SAME: shape = ["pages", 64, 2, 128]
// MLIR-SAME: shape = ["batch+1"]
// The token's sequence: the guess seq = token (one token a sequence), else a
// binary search of cu_seqlens (log2(batch) steps).
// MLIR: scf.if
// MLIR: scf.while
// MLIR: vector.load {{.*}} {alignment = 16 : i64} : memref<1099511627776xbf16>, vector<8xbf16>
// MLIR: vector.store {{.*}} {alignment = 16 : i64} : memref<1099511627776xbf16>, vector<8xbf16>
// A block per (sequence, new entry): at most ceil(max_q_len / stride) entries.
// MLIR: gpu.func @sala_compress_keys_k32_s16_p64_h2_d128_bf16(
// MLIR-SAME: grid = [{div = 16 : i64, mul = 1 : i64, param = "max_q_len"}, {div = 1 : i64, mul = 1 : i64, param = "batch"}, 1]
// The fused update: a block per (sequence, new token).
// MLIR: gpu.func @sala_fused_kv_update_p64_k32_s16_h2_d128_bf16(
// MLIR-SAME: grid = [{div = 1 : i64, mul = 1 : i64, param = "max_q_len"}, {div = 1 : i64, mul = 1 : i64, param = "batch"}, 1]
// MLIR-SAME: name = "keys"

// PTX-LABEL: .visible .entry sala_kv_append_p64_h2_d128_bf16(
// PTX-COUNT-11: .param .u64
// PTX: ld.global.v4.b32
// PTX: st.global.v4.b32
// PTX: ld.global.v4.b32
// PTX: st.global.v4.b32
// PTX-LABEL: .visible .entry sala_kv_append_p1_h2_d128_bf16(
// PTX-LABEL: .visible .entry sala_compress_keys_k32_s16_p64_h2_d128_bf16(
// PTX: mov.u32 {{.*}}%ctaid.y
// The mean: a sum in f32, times 1/32, rounded to bf16 once.
// PTX: add.rn.f32
// PTX: mul.rn.f32 {{.*}}, 0f3D000000;
// PTX-NEXT: cvt.rn.bf16.f32
// PTX-LABEL: .visible .entry sala_fused_kv_update_p64_k32_s16_h2_d128_bf16(
// PTX: st.global.v4.b32
// The window's 32 keys loaded before they are summed.
// PTX-COUNT-32: ld.global.b16
// PTX: add.rn.f32
