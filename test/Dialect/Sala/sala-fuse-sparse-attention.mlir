// RUN: salac-opt %s --sala-fuse-sparse-attention --split-input-file | FileCheck %s
// RUN: salac-opt %s --sala-fuse-sparse-attention --sala-unfuse --split-input-file | FileCheck %s --check-prefix=BACK

// sala-fuse-sparse-attention folds the dense fallback (dense_attention and the
// length_select that picks it for short sequences) and the output gate into
// the sparse attention before them: one sala.fused_sparse_attention.
// sala-unfuse expands it back into the same chain.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The chain as sala-decompose writes it for a gated sparse mixer.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x8x16xbf16>, %[[KV:[^:]*]]: !kv_cache, %[[PT:[^:]*]]: tensor<?x?xi32>, %[[SEL:[^:]*]]: tensor<?x2x96xi32>, %[[Z:[^:]*]]: tensor<?x8x16xbf16>, %[[CU:[^:]*]]: tensor<?xi32>, %[[L:[^:]*]]: tensor<?xi32>)
// CHECK-NEXT: %[[O:.*]] = sala.fused_sparse_attention %[[Q]], %[[KV]][%[[PT]]], %[[SEL]] gate(%[[Z]] : tensor<?x8x16xbf16>) lens(%[[CU]], %[[L]]) {block_size = 64 : i64, dense_len = 8192 : i64, scale = 2.500000e-01 : f32} : tensor<?x8x16xbf16>, !kv_cache, tensor<?x2x96xi32> -> tensor<?x8x16xbf16>
// CHECK-NEXT: return %[[O]]
// BACK-LABEL: func.func @chain
// BACK-NEXT: %[[S:.*]] = sala.sparse_attention %arg0, %arg1[%arg2], %arg3 lens(%arg5, %arg6) {block_size = 64 : i64, scale = 2.500000e-01 : f32} : tensor<?x8x16xbf16>, !kv_cache, tensor<?x2x96xi32> -> tensor<?x8x16xbf16>
// BACK-NEXT: %[[D:.*]] = sala.dense_attention %arg0, %arg1[%arg2] lens(%arg5, %arg6) {scale = 2.500000e-01 : f32} : tensor<?x8x16xbf16>, !kv_cache -> tensor<?x8x16xbf16>
// BACK-NEXT: %[[M:.*]] = sala.length_select %[[D]], %[[S]] lens(%arg5, %arg6) {threshold = 8192 : i64} : tensor<?x8x16xbf16>
// BACK-NEXT: %[[G:.*]] = sala.sigmoid_gate %[[M]], %arg4 : tensor<?x8x16xbf16>
// BACK-NEXT: return %[[G]]
func.func @chain(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64, scale = 0.25 : f32} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) {scale = 0.25 : f32} : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  %o = sala.sigmoid_gate %m, %z : !q
  return %o : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// No gate (use_output_gate off): the fallback alone is folded.
// CHECK-LABEL: func.func @ungated
// CHECK-NEXT: %[[O:.*]] = sala.fused_sparse_attention %arg0, %arg1[%arg2], %arg3 lens(%arg4, %arg5) {block_size = 64 : i64, dense_len = 4096 : i64}
// CHECK-NEXT: return %[[O]]
// BACK-LABEL: func.func @ungated
// BACK-NEXT: sala.sparse_attention
// BACK-NEXT: sala.dense_attention
// BACK-NEXT: sala.length_select {{.*}} {threshold = 4096 : i64}
// BACK-NEXT: return
func.func @ungated(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 4096} : !q
  return %m : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// dense_len = 0 (every length sparse): the gate alone is folded.
// CHECK-LABEL: func.func @gate_only
// CHECK-NEXT: %[[O:.*]] = sala.fused_sparse_attention %arg0, %arg1[%arg2], %arg3 gate(%arg4 : tensor<?x8x16xbf16>) lens(%arg5, %arg6) {block_size = 64 : i64, dense_len = 0 : i64}
// CHECK-NEXT: return %[[O]]
// BACK-LABEL: func.func @gate_only
// BACK-NEXT: sala.sparse_attention
// BACK-NEXT: sala.sigmoid_gate
// BACK-NEXT: return
func.func @gate_only(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %o = sala.sigmoid_gate %s, %z : !q
  return %o : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// Nothing to fold: stage 2 alone stays sala.sparse_attention.
// CHECK-LABEL: func.func @alone
// CHECK-NEXT: sala.sparse_attention
// CHECK-NOT: fused_sparse_attention
func.func @alone(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  return %s : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The ungated output is also returned: the fallback is folded, the gate is not.
// CHECK-LABEL: func.func @output_also_returned
// CHECK-NEXT: %[[O:.*]] = sala.fused_sparse_attention %arg0, %arg1[%arg2], %arg3 lens(%arg5, %arg6) {block_size = 64 : i64, dense_len = 8192 : i64}
// CHECK-NEXT: %[[G:.*]] = sala.sigmoid_gate %[[O]], %arg4
// CHECK-NEXT: return %[[G]], %[[O]]
func.func @output_also_returned(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  %o = sala.sigmoid_gate %m, %z : !q
  return %o, %m : !q, !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The dense attention scales differently, and another one reads another
// cache: neither is the fallback of its stage 2, and a gate after a
// length_select that stays is not stage 2's either. Nothing is fused.
// CHECK-LABEL: func.func @not_the_fallback
// CHECK-NOT: fused_sparse_attention
// CHECK: sala.dense_attention {{.*}} {scale = 5.000000e-01 : f32}
// CHECK: sala.sigmoid_gate
// CHECK: sala.dense_attention %arg0, %arg2
// CHECK-NOT: fused_sparse_attention
func.func @not_the_fallback(%q: !q, %kv: !kv, %kv2: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) {scale = 0.5 : f32} : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  %o = sala.sigmoid_gate %m, %z : !q
  %s2 = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d2 = sala.dense_attention %q, %kv2[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m2 = sala.length_select %d2, %s2 lens(%cu, %lens) {threshold = 8192} : !q
  return %o, %m2 : !q, !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// A KV append between stage 2 and the dense read: the dense attention sees the
// appended rows, so folding it would change its result. Nothing is fused.
// CHECK-LABEL: func.func @write_between
// CHECK-NEXT: sala.sparse_attention
// CHECK-NEXT: sala.kv_append
// CHECK-NEXT: sala.dense_attention
// CHECK-NEXT: sala.length_select
// CHECK-NOT: fused_sparse_attention
func.func @write_between(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %k: tensor<?x2x16xbf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  sala.kv_append %k, %k into %kv[%pt] lens(%cu, %lens) : tensor<?x2x16xbf16>, !kv
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  return %m : !q
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

// The gate logits are computed after stage 2 (here a rope of the query): the
// fused op could not take stage 2's place with them, so the gate stays.
// CHECK-LABEL: func.func @gate_defined_after
// CHECK: sala.fused_sparse_attention {{.*}} lens(%arg4, %arg5) {block_size = 64 : i64, dense_len = 8192 : i64}
// CHECK: sala.rope
// CHECK: sala.sigmoid_gate
func.func @gate_defined_after(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pos: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  %z = sala.rope neox %q, %pos : !q
  %o = sala.sigmoid_gate %m, %z : !q
  return %o : !q
}
