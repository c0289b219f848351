// RUN: salac-opt %s --verify-each --sala-fuse-linear="prefill=true" --split-input-file | FileCheck %s
// RUN: salac-opt %s --verify-each --sala-fuse-linear="prefill=true" --sala-unfuse --split-input-file | FileCheck %s --check-prefix=BACK
// RUN: salac-opt %s --sala-fuse-linear --split-input-file | FileCheck %s --check-prefix=OFF

// sala-fuse-linear{prefill=true} folds the q/k RMSNorms and RoPE of a chunked
// linear_attention into a chunked sala.fused_linear_attention (its chunk_size
// kept), and the output norm (it spans every head) with the gate after it
// into a sala.fused_rms_norm_gate. Without the option, chunked linear
// attention is left alone.

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// CHECK-LABEL: func.func @chain
// CHECK-NEXT: %[[A:.*]] = sala.fused_linear_attention %arg0, %arg1, %arg2 qk_norm(%arg4, %arg5 : tensor<16xbf16>, tensor<16xbf16>) positions(%arg7) state(%arg8[%arg9]) lens(%arg10, %arg11) {chunk_size = 32 : i64, form = #sala<linear_form chunked>, qk_eps = 9.99999974E-6 : f32,
// CHECK-NEXT: %[[G:.*]] = sala.fused_rms_norm_gate %[[A]], %arg6, %arg3 {eps = 9.765625E-4 : f32}
// CHECK-NEXT: return %[[G]]
// BACK-LABEL: func.func @chain
// BACK-NEXT: %[[QN:.*]] = sala.rms_norm head %arg0, %arg4 {eps = 9.99999974E-6 : f32}
// BACK-NEXT: %[[KN:.*]] = sala.rms_norm head %arg1, %arg5 {eps = 9.99999974E-6 : f32}
// BACK-NEXT: %[[QR:.*]] = sala.rope neox %[[QN]], %arg7 {theta = 5.000000e+05 : f32}
// BACK-NEXT: %[[KR:.*]] = sala.rope neox %[[KN]], %arg7 {theta = 5.000000e+05 : f32}
// BACK-NEXT: %[[A:.*]] = sala.linear_attention chunked %[[QR]], %[[KR]], %arg2, %arg8[%arg9] lens(%arg10, %arg11) {chunk_size = 32 : i64,
// BACK-NEXT: %[[N:.*]] = sala.rms_norm full %[[A]], %arg6 {eps = 9.765625E-4 : f32}
// BACK-NEXT: %[[G:.*]] = sala.sigmoid_gate %[[N]], %arg3
// OFF-LABEL: func.func @chain
// OFF-NOT: sala.fused_linear_attention
func.func @chain(%q: !q, %k: !q, %v: !q, %z: !q, %qw: tensor<16xbf16>, %kw: tensor<16xbf16>, %ow: tensor<64xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %qn = sala.rms_norm head %q, %qw {eps = 1.0e-05 : f32} : !q, tensor<16xbf16>
  %kn = sala.rms_norm head %k, %kw {eps = 1.0e-05 : f32} : !q, tensor<16xbf16>
  %qr = sala.rope neox %qn, %pos {theta = 5.0e+05 : f32} : !q
  %kr = sala.rope neox %kn, %pos {theta = 5.0e+05 : f32} : !q
  %a = sala.linear_attention chunked %qr, %kr, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, chunk_size = 32} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow {eps = 9.765625e-04 : f32} : !q, tensor<64xbf16>
  %o = sala.sigmoid_gate %n, %z : !q
  return %o : !q
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// Nothing before it to fold, and no gate after its norm: all stays as it is.
// CHECK-LABEL: func.func @bare
// CHECK-NEXT: sala.linear_attention chunked
// CHECK-NOT: sala.fused_linear_attention
func.func @bare(%q: !q, %ow: tensor<64xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %a = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow : !q, tensor<64xbf16>
  return %n : !q
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

// The norm's result used twice: the norm and the gate stay apart.
// CHECK-LABEL: func.func @shared_norm
// CHECK: sala.rms_norm full
// CHECK-NEXT: sala.sigmoid_gate
// CHECK-NOT: sala.fused_rms_norm_gate
func.func @shared_norm(%q: !q, %z: !q, %ow: tensor<64xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %a = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow : !q, tensor<64xbf16>
  %o = sala.sigmoid_gate %n, %z : !q
  return %o, %n : !q, !q
}
