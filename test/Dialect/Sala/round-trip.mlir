// RUN: salac-opt %s | FileCheck %s
// RUN: salac-opt %s | salac-opt | FileCheck %s
// RUN: salac-opt %s --mlir-print-op-generic | salac-opt | FileCheck %s

// Every sala type and op, printed in its custom form and parsed back.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

// Types print through short aliases.
// CHECK-DAG: ![[K1:ckeys[0-9]*]] = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
// CHECK-DAG: ![[K2:ckeys[0-9]*]] = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
// CHECK-DAG: ![[KV:kv_cache[0-9]*]] = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
// CHECK-DAG: ![[KV1:kv_cache[0-9]*]] = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
// CHECK-DAG: ![[ST:state_pool[0-9]*]] = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
// CHECK-DAG: ![[ST4:state_pool[0-9]*]] = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>

// CHECK-LABEL: func.func @cache_ops
func.func @cache_ops(%k: !kvt, %v: !kvt, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>,
                     %cu: tensor<?xi32>, %lens: tensor<?xi32>, %kvp1: !kv1) {
  // CHECK: sala.kv_append %{{.*}}, %{{.*}} into %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) : tensor<?x2x128xbf16>, ![[KV]]
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : !kvt, !kv
  // CHECK: sala.kv_append {{.*}} : tensor<?x2x128xbf16>, ![[KV1]]
  sala.kv_append %k, %v into %kvp1[%pt] lens(%cu, %lens) : !kvt, !kv1
  // CHECK: sala.compress_keys %{{.*}}[%{{.*}}] into %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) : ![[KV]], ![[K1]]
  sala.compress_keys %kv[%pt] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
  // CHECK: sala.fused_kv_update %{{.*}}, %{{.*}} into %{{.*}}[%{{.*}}] compress(%{{.*}}[%{{.*}}]) lens(%{{.*}}, %{{.*}}) : tensor<?x2x128xbf16>, ![[KV]], ![[K1]]
  sala.fused_kv_update %k, %v into %kv[%pt] compress(%k1[%k1pt]) lens(%cu, %lens) : !kvt, !kv, !k1
  return
}

// CHECK-LABEL: func.func @sparse_ops
func.func @sparse_ops(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %k2: !k2, %k2pt: tensor<?x?xi32>,
                      %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  // CHECK: %[[S:.*]] = sala.block_scores %{{.*}}, %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) {block_size = 64 : i64, group_size = 16 : i64, pool_kernel = 5 : i64, pool_padding = 1 : i64, pool_stride = 4 : i64} : tensor<?x32x128xbf16>, ![[K1]] -> tensor<?x2x?xf32>
  %s = sala.block_scores %q, %k1[%k1pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  // CHECK: sala.block_scores %{{.*}}, %{{.*}}[%{{.*}}] lse(%{{.*}}[%{{.*}}] : ![[K2]]) lens({{.*}}) {{{.*}}scale = 0.0883883461 : f32}
  %s2 = sala.block_scores %q, %k1[%k1pt] lse(%k2[%k2pt] : !k2) lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, scale = 0.0883883461 : f32} : !q, !k1 -> tensor<?x2x?xf32>
  // CHECK: %[[SEL:.*]] = sala.topk_blocks %[[S]] lens(%{{.*}}, %{{.*}}) {block_size = 64 : i64, init_blocks = 1 : i64, local_blocks = 32 : i64, topk = 64 : i64} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  // CHECK: sala.fused_sparse_select %{{.*}}, %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) {block_size = 64 : i64, group_size = 16 : i64, init_blocks = 1 : i64, local_blocks = 32 : i64, pool_kernel = 5 : i64, pool_padding = 1 : i64, pool_stride = 4 : i64, topk = 64 : i64} : tensor<?x32x128xbf16>, ![[K1]] -> tensor<?x2x96xi32>
  %fsel = sala.fused_sparse_select %q, %k1[%k1pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : !q, !k1 -> tensor<?x2x96xi32>
  // CHECK: %[[O:.*]] = sala.sparse_attention %{{.*}}, %{{.*}}[%{{.*}}], %[[SEL]] lens(%{{.*}}, %{{.*}}) {block_size = 64 : i64} : tensor<?x32x128xbf16>, ![[KV]], tensor<?x2x96xi32> -> tensor<?x32x128xbf16>
  %o = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  // CHECK: %[[D:.*]] = sala.dense_attention %{{.*}}, %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) : tensor<?x32x128xbf16>, ![[KV]] -> tensor<?x32x128xbf16>
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  // CHECK: %[[M:.*]] = sala.length_select %[[D]], %[[O]] lens(%{{.*}}, %{{.*}}) {threshold = 8192 : i64} : tensor<?x32x128xbf16>
  %m = sala.length_select %d, %o lens(%cu, %lens) {threshold = 8192} : !q
  // CHECK: sala.fused_sparse_attention %{{.*}}, %{{.*}}[%{{.*}}], %[[SEL]] gate(%[[M]] : tensor<?x32x128xbf16>) lens(%{{.*}}, %{{.*}}) {block_size = 64 : i64, dense_len = 8192 : i64} : tensor<?x32x128xbf16>, ![[KV]], tensor<?x2x96xi32> -> tensor<?x32x128xbf16>
  %f = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%m : !q) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  // CHECK: sala.fused_sparse_attention {{.*}} lens(%{{.*}}, %{{.*}}) {block_size = 64 : i64, dense_len = 0 : i64, scale = 1.250000e-01 : f32}
  %f0 = sala.fused_sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64, dense_len = 0, scale = 0.125 : f32} : !q, !kv, tensor<?x2x96xi32> -> !q
  return %f : !q
}

// CHECK-LABEL: func.func @linear_ops
func.func @linear_ops(%q: !q, %z: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pos: tensor<?xi32>,
                      %w: tensor<128xbf16>, %ow: tensor<4096xbf16>, %x4: tensor<?x4x16xf32>, %pool4: !st4) {
  // CHECK: sala.linear_attention recurrent %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) {slopes = array<f64: {{.*}}>} : tensor<?x32x128xbf16>, ![[ST]] -> tensor<?x32x128xbf16>
  %a = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st -> !q
  // CHECK: sala.linear_attention chunked {{.*}} {chunk_size = 64 : i64, slopes = array<f64: 1.000000e+00, 5.000000e-01, 2.500000e-01, 1.250000e-01>} : tensor<?x4x16xf32>, ![[ST4]]
  %b = sala.linear_attention chunked %x4, %x4, %x4, %pool4[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5, 0.25, 0.125>, chunk_size = 64} : tensor<?x4x16xf32>, !st4 -> tensor<?x4x16xf32>
  // CHECK: sala.rms_norm head %{{.*}}, %{{.*}} : tensor<?x32x128xbf16>, tensor<128xbf16>
  %n = sala.rms_norm head %q, %w {eps = 1.0e-06 : f32} : !q, tensor<128xbf16>
  // CHECK: sala.rms_norm full %{{.*}}, %{{.*}} {eps = 9.99999974E-6 : f32} : tensor<?x32x128xbf16>, tensor<4096xbf16>
  %n2 = sala.rms_norm full %q, %ow {eps = 1.0e-05 : f32} : !q, tensor<4096xbf16>
  // CHECK: sala.rope neox %{{.*}}, %{{.*}} : tensor<?x32x128xbf16>
  %r = sala.rope neox %q, %pos : !q
  // CHECK: sala.rope interleaved %{{.*}}, %{{.*}} {theta = 1.000000e+06 : f32} : tensor<?x32x128xbf16>
  %r2 = sala.rope interleaved %q, %pos {theta = 1.0e+06 : f32} : !q
  // CHECK: sala.sigmoid_gate %{{.*}}, %{{.*}} : tensor<?x32x128xbf16>
  %g = sala.sigmoid_gate %q, %z : !q
  return
}

// CHECK-LABEL: func.func @mixers
func.func @mixers(%q: !q, %k: !kvt, %v: !kvt, %z: !q, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>,
                  %k2: !k2, %k2pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pool: !st,
                  %slots: tensor<?xi32>, %pos: tensor<?xi32>, %w: tensor<128xbf16>, %ow: tensor<4096xbf16>) {
  // CHECK: sala.sparse_mixer decode %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}} : tensor<?x32x128xbf16>) cache(%{{.*}}[%{{.*}}]) keys(%{{.*}}[%{{.*}}]) lens(%{{.*}}, %{{.*}}) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>}
  %a = sala.sparse_mixer decode %q, %k, %v gate(%z : !q) cache(%kv[%pt]) keys(%k1[%k1pt]) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  // CHECK: sala.sparse_mixer prefill %{{.*}}, %{{.*}}, %{{.*}} cache({{.*}}) keys({{.*}}) lse(%{{.*}}[%{{.*}}] : ![[K2]]) lens
  %b = sala.sparse_mixer prefill %q, %k, %v cache(%kv[%pt]) keys(%k1[%k1pt]) lse(%k2[%k2pt] : !k2) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 0>} : !q, !kvt, !kv, !k1
  // CHECK: sala.linear_mixer decode %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}} : tensor<?x32x128xbf16>) qk_norm(%{{.*}}, %{{.*}} : tensor<128xbf16>, tensor<128xbf16>) out_norm(%{{.*}} : tensor<4096xbf16>) positions(%{{.*}}) state(%{{.*}}[%{{.*}}]) lens(%{{.*}}, %{{.*}})
  %c = sala.linear_mixer decode %q, %q, %q gate(%z : !q) qk_norm(%w, %w : tensor<128xbf16>, tensor<128xbf16>) out_norm(%ow : tensor<4096xbf16>)
      positions(%pos) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  // CHECK: sala.linear_mixer prefill %{{.*}}, %{{.*}}, %{{.*}} state(%{{.*}}[%{{.*}}]) lens(%{{.*}}, %{{.*}}) {chunk_size = 128 : i64, rope_style = #sala<rope_style interleaved>
  %d = sala.linear_mixer prefill %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, chunk_size = 128, rope_style = #sala<rope_style interleaved>} : !q, !st
  return
}

// The fused ops of a prefill linear layer (sala-fuse-linear{prefill=true}).
// CHECK-LABEL: func.func @prefill_linear_fused
func.func @prefill_linear_fused(%q: tensor<?x4x16xbf16>, %w: tensor<16xbf16>, %ow: tensor<64xbf16>, %pool: !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pos: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  // CHECK: sala.fused_linear_attention %{{.*}} qk_norm({{.*}}) positions(%{{.*}}) state({{.*}}) lens({{.*}}) {chunk_size = 32 : i64, form = #sala<linear_form chunked>
  %a = sala.fused_linear_attention %q, %q, %q qk_norm(%w, %w : tensor<16xbf16>, tensor<16xbf16>) positions(%pos) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, form = #sala<linear_form chunked>, chunk_size = 32} : tensor<?x4x16xbf16>, !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
  // CHECK: sala.fused_rms_norm_gate %{{.*}}, %{{.*}}, %{{.*}} {eps = 9.99999974E-6 : f32} : tensor<?x4x16xbf16>, tensor<64xbf16>
  %g = sala.fused_rms_norm_gate %a, %ow, %q {eps = 1.0e-05 : f32} : tensor<?x4x16xbf16>, tensor<64xbf16>
  return %g : tensor<?x4x16xbf16>
}
