// RUN: salac-opt %s --sala-fuse-linear --split-input-file | FileCheck %s
// RUN: salac-opt %s --sala-fuse-linear --sala-unfuse --split-input-file | FileCheck %s --check-prefix=BACK

// sala-fuse-linear folds the decode chain around a recurrent linear_attention
// (q/k RMSNorm and RoPE before it, the full RMSNorm and the gate after it) into
// one sala.fused_linear_attention; sala-unfuse expands it back.

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// The whole chain, as sala-decompose writes a decode linear_mixer.
// Before:
//   %qn = rms_norm head %q, %qw    %kn = rms_norm head %k, %kw
//   %qr = rope neox %qn, %pos      %kr = rope neox %kn, %pos
//   %a = linear_attention recurrent %qr, %kr, %v
//   %n = rms_norm full %a, %ow     %o = sigmoid_gate %n, %z
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x4x16xbf16>, %[[K:[^:]*]]: tensor<?x4x16xbf16>, %[[V:[^:]*]]: tensor<?x4x16xbf16>, %[[Z:[^:]*]]: tensor<?x4x16xbf16>, %[[QW:[^:]*]]: tensor<16xbf16>, %[[KW:[^:]*]]: tensor<16xbf16>, %[[OW:[^:]*]]: tensor<64xbf16>, %[[POS:[^:]*]]: tensor<?xi32>, %[[P:[^:]*]]: !state_pool, %[[S:[^:]*]]: tensor<?xi32>, %[[CU:[^:]*]]: tensor<?xi32>, %[[L:[^:]*]]: tensor<?xi32>)
// CHECK-NEXT: %[[O:.*]] = sala.fused_linear_attention %[[Q]], %[[K]], %[[V]] gate(%[[Z]] : tensor<?x4x16xbf16>) qk_norm(%[[QW]], %[[KW]] : tensor<16xbf16>, tensor<16xbf16>) out_norm(%[[OW]] : tensor<64xbf16>) positions(%[[POS]]) state(%[[P]][%[[S]]]) lens(%[[CU]], %[[L]]) {out_eps = 9.765625E-4 : f32, qk_eps = 9.99999974E-6 : f32, slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02>, theta = 5.000000e+05 : f32} : tensor<?x4x16xbf16>, !state_pool
// CHECK-NEXT: return %[[O]]
// BACK-LABEL: func.func @chain
// BACK-NEXT: %[[QN:.*]] = sala.rms_norm head %arg0, %arg4 {eps = 9.99999974E-6 : f32}
// BACK-NEXT: %[[KN:.*]] = sala.rms_norm head %arg1, %arg5 {eps = 9.99999974E-6 : f32}
// BACK-NEXT: %[[QR:.*]] = sala.rope neox %[[QN]], %arg7 {theta = 5.000000e+05 : f32}
// BACK-NEXT: %[[KR:.*]] = sala.rope neox %[[KN]], %arg7 {theta = 5.000000e+05 : f32}
// BACK-NEXT: %[[A:.*]] = sala.linear_attention recurrent %[[QR]], %[[KR]], %arg2, %arg8[%arg9] lens(%arg10, %arg11)
// BACK-NEXT: %[[N:.*]] = sala.rms_norm full %[[A]], %arg6 {eps = 9.765625E-4 : f32}
// BACK-NEXT: %[[G:.*]] = sala.sigmoid_gate %[[N]], %arg3
// BACK-NEXT: return %[[G]]
func.func @chain(%q: !q, %k: !q, %v: !q, %z: !q, %qw: tensor<16xbf16>, %kw: tensor<16xbf16>, %ow: tensor<64xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %qn = sala.rms_norm head %q, %qw {eps = 1.0e-05 : f32} : !q, tensor<16xbf16>
  %kn = sala.rms_norm head %k, %kw {eps = 1.0e-05 : f32} : !q, tensor<16xbf16>
  %qr = sala.rope neox %qn, %pos {theta = 5.0e+05 : f32} : !q
  %kr = sala.rope neox %kn, %pos {theta = 5.0e+05 : f32} : !q
  %a = sala.linear_attention recurrent %qr, %kr, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow {eps = 9.765625e-04 : f32} : !q, tensor<64xbf16>
  %o = sala.sigmoid_gate %n, %z : !q
  return %o : !q
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// Only what the chain owns is folded: the normed q is also returned, so the
// norms stay (the ropes are still folded). The gate follows the attention
// directly (no output norm).
// CHECK-LABEL: func.func @shared_values
// CHECK: %[[QN:.*]] = sala.rms_norm head
// CHECK-NEXT: %[[KN:.*]] = sala.rms_norm head
// CHECK-NEXT: %[[O:.*]] = sala.fused_linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}} : tensor<?x4x16xbf16>) positions(%{{.*}}) state
// CHECK-NOT: qk_norm
// CHECK-NEXT: return %[[O]], %[[QN]]
func.func @shared_values(%q: !q, %k: !q, %v: !q, %z: !q, %w: tensor<16xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %qn = sala.rms_norm head %q, %w : !q, tensor<16xbf16>
  %kn = sala.rms_norm head %k, %w : !q, tensor<16xbf16>
  %qr = sala.rope neox %qn, %pos : !q
  %kr = sala.rope neox %kn, %pos : !q
  %a = sala.linear_attention recurrent %qr, %kr, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %o = sala.sigmoid_gate %a, %z : !q
  return %o, %qn : !q, !q
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// q and k rotated differently: no RoPE folding, hence no norm folding either
// (the norms feed the ropes, not the attention). An op with memory effects
// between the attention and the gate (another state update) keeps the gate
// out: folding it would move this state update past the other one.
// CHECK-LABEL: func.func @not_owned
// CHECK: sala.rope neox
// CHECK-NEXT: sala.rope neox
// CHECK-NEXT: %[[A:.*]] = sala.linear_attention recurrent
// CHECK-NEXT: %[[B:.*]] = sala.linear_attention recurrent
// CHECK-NEXT: sala.sigmoid_gate %[[A]]
// CHECK-NOT: sala.fused_linear_attention
func.func @not_owned(%q: !q, %k: !q, %v: !q, %z: !q, %w: tensor<16xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %qn = sala.rms_norm head %q, %w : !q, tensor<16xbf16>
  %kn = sala.rms_norm head %k, %w : !q, tensor<16xbf16>
  %qr = sala.rope neox %qn, %pos : !q
  %kr = sala.rope neox %kn, %pos {theta = 5.0e+05 : f32} : !q
  %a = sala.linear_attention recurrent %qr, %kr, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %b = sala.linear_attention recurrent %v, %v, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %o = sala.sigmoid_gate %a, %z : !q
  return %o, %b : !q, !q
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// Chunked (prefill) linear attention is left alone.
// CHECK-LABEL: func.func @prefill
// CHECK: sala.linear_attention chunked
// CHECK-NEXT: sala.rms_norm full
// CHECK-NOT: sala.fused_linear_attention
func.func @prefill(%q: !q, %ow: tensor<64xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %a = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow : !q, tensor<64xbf16>
  return %n : !q
}
