// RUN: salac-opt %s --sala-decompose --split-input-file | FileCheck %s

// sala-decompose expands the composite mixers into the primitive ops that
// define them (DESIGN.md sections 2 and 3).

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

// A decode sparse mixer with a gate and the dense fallback: append, compress,
// stage 1, top-k, stage 2, the dense path joined by length, then the gate.
// CHECK-LABEL: func.func @sparse_decode
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x32x128xbf16>, %[[K:[^:]*]]: tensor<?x2x128xbf16>, %[[V:[^:]*]]: tensor<?x2x128xbf16>, %[[Z:[^:]*]]: tensor<?x32x128xbf16>, %[[KV:[^:]*]]: !kv_cache, %[[PT:[^:]*]]: tensor<?x?xi32>, %[[K1:[^:]*]]: !ckeys, %[[K1PT:[^:]*]]: tensor<?x?xi32>, %[[CU:[^:]*]]: tensor<?xi32>, %[[LENS:[^:]*]]: tensor<?xi32>)
// CHECK-NEXT: sala.kv_append %[[K]], %[[V]] into %[[KV]][%[[PT]]] lens(%[[CU]], %[[LENS]])
// CHECK-NEXT: sala.compress_keys %[[KV]][%[[PT]]] into %[[K1]][%[[K1PT]]] lens(%[[CU]], %[[LENS]])
// CHECK-NEXT: %[[S:.*]] = sala.block_scores %[[Q]], %[[K1]][%[[K1PT]]] lens(%[[CU]], %[[LENS]]) {block_size = 64 : i64, group_size = 16 : i64, pool_kernel = 5 : i64, pool_padding = 1 : i64, pool_stride = 4 : i64}
// CHECK-NEXT: %[[SEL:.*]] = sala.topk_blocks %[[S]] lens(%[[CU]], %[[LENS]]) {block_size = 64 : i64, init_blocks = 1 : i64, local_blocks = 32 : i64, topk = 64 : i64} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
// CHECK-NEXT: %[[SP:.*]] = sala.sparse_attention %[[Q]], %[[KV]][%[[PT]]], %[[SEL]] lens(%[[CU]], %[[LENS]]) {block_size = 64 : i64}
// CHECK-NEXT: %[[D:.*]] = sala.dense_attention %[[Q]], %[[KV]][%[[PT]]] lens(%[[CU]], %[[LENS]])
// CHECK-NEXT: %[[M:.*]] = sala.length_select %[[D]], %[[SP]] lens(%[[CU]], %[[LENS]]) {threshold = 8192 : i64}
// CHECK-NEXT: %[[G:.*]] = sala.sigmoid_gate %[[M]], %[[Z]]
// CHECK-NEXT: return %[[G]]
func.func @sparse_decode(%q: !q, %k: !kvt, %v: !kvt, %z: !q, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.sparse_mixer decode %q, %k, %v gate(%z : !q) cache(%kv[%pt]) keys(%k1[%k1pt]) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  return %o : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

// dense_len = 0: always sparse, no dense path. K2 given: compressed too, and
// stage 1 takes its normaliser from it. No gate. A smaller config changes the
// pool geometry (block 32 / stride 8 -> pool stride 4, kernel 5, padding 1)
// and the selection width (topk 8 + window 256/32 = 16).
// CHECK-LABEL: func.func @sparse_prefill
// CHECK: sala.kv_append
// CHECK-NEXT: sala.compress_keys %{{.*}} into %[[K1:[^\[]*]]
// CHECK-NEXT: sala.compress_keys %{{.*}} into %[[K2:[^\[]*]]
// CHECK-NEXT: sala.block_scores %{{.*}}, %[[K1]][%{{.*}}] lse(%[[K2]][%{{.*}}] : !ckeys{{[0-9]*}}) lens({{.*}}) {block_size = 32 : i64, group_size = 16 : i64, pool_kernel = 5 : i64, pool_padding = 1 : i64, pool_stride = 4 : i64}
// CHECK-NEXT: sala.topk_blocks {{.*}} {block_size = 32 : i64, init_blocks = 2 : i64, local_blocks = 8 : i64, topk = 8 : i64} : tensor<?x2x?xf32> -> tensor<?x2x16xi32>
// CHECK-NEXT: %[[O:.*]] = sala.sparse_attention
// CHECK-NOT: sala.dense_attention
// CHECK-NOT: sala.sigmoid_gate
// CHECK: return %[[O]]
func.func @sparse_prefill(%q: !q, %k: !kvt, %v: !kvt, %kv: !kv, %pt: tensor<?x?xi32>,
    %k1: !sala.compressed_keys<kernel_size = 16, kernel_stride = 8, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>,
    %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.sparse_mixer prefill %q, %k, %v cache(%kv[%pt]) keys(%k1[%pt]) lse(%k2[%pt] : !k2) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 16, kernel_stride = 8, block_size = 32, topk = 8, window_size = 256, init_blocks = 2, dense_len = 0>}
      : !q, !kvt, !kv, !sala.compressed_keys<kernel_size = 16, kernel_stride = 8, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
  return %o : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

// Linear decode: q/k norms, RoPE, recurrent linear attention, full norm, gate.
// CHECK-LABEL: func.func @linear_decode
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x32x128xbf16>, %[[K:[^:]*]]: tensor<?x32x128xbf16>, %[[V:[^:]*]]: tensor<?x32x128xbf16>, %[[Z:[^:]*]]: tensor<?x32x128xbf16>, %[[QW:[^:]*]]: tensor<128xbf16>, %[[KW:[^:]*]]: tensor<128xbf16>, %[[OW:[^:]*]]: tensor<4096xbf16>, %[[POS:[^:]*]]: tensor<?xi32>, %[[POOL:[^:]*]]: !state_pool, %[[SLOTS:[^:]*]]: tensor<?xi32>, %[[CU:[^:]*]]: tensor<?xi32>, %[[LENS:[^:]*]]: tensor<?xi32>)
// CHECK-NEXT: %[[QN:.*]] = sala.rms_norm head %[[Q]], %[[QW]] : tensor<?x32x128xbf16>, tensor<128xbf16>
// CHECK-NEXT: %[[KN:.*]] = sala.rms_norm head %[[K]], %[[KW]] : tensor<?x32x128xbf16>, tensor<128xbf16>
// CHECK-NEXT: %[[QR:.*]] = sala.rope neox %[[QN]], %[[POS]] : tensor<?x32x128xbf16>
// CHECK-NEXT: %[[KR:.*]] = sala.rope neox %[[KN]], %[[POS]] : tensor<?x32x128xbf16>
// CHECK-NEXT: %[[A:.*]] = sala.linear_attention recurrent %[[QR]], %[[KR]], %[[V]], %[[POOL]][%[[SLOTS]]] lens(%[[CU]], %[[LENS]]) {slopes = array<f64: 0.8408964152537145, {{.*}}, 3.906250e-03>}
// CHECK-NEXT: %[[N:.*]] = sala.rms_norm full %[[A]], %[[OW]] : tensor<?x32x128xbf16>, tensor<4096xbf16>
// CHECK-NEXT: %[[G:.*]] = sala.sigmoid_gate %[[N]], %[[Z]]
// CHECK-NEXT: return %[[G]]
func.func @linear_decode(%q: !q, %k: !q, %v: !q, %z: !q, %qw: tensor<128xbf16>, %kw: tensor<128xbf16>, %ow: tensor<4096xbf16>,
                         %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.linear_mixer decode %q, %k, %v gate(%z : !q) qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>)
      out_norm(%ow : tensor<4096xbf16>) positions(%pos) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  return %o : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

// Linear prefill without optional parts: only the chunked linear attention,
// keeping the mixer's chunk size, eps and theta where they apply.
// CHECK-LABEL: func.func @linear_prefill
// CHECK-NEXT: %[[A:.*]] = sala.linear_attention chunked %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}[%{{.*}}] lens(%{{.*}}, %{{.*}}) {chunk_size = 32 : i64, slopes = array<f64: 1.000000e+00, 5.000000e-01>}
// CHECK-NEXT: return %[[A]]
func.func @linear_prefill(%x: tensor<?x2x16xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x16xf32> {
  %o = sala.linear_mixer prefill %x, %x, %x state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>, chunk_size = 32} : tensor<?x2x16xf32>, !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>
  return %o : tensor<?x2x16xf32>
}
