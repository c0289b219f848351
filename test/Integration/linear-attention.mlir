// linear_attention on the host against the reference, recurrent and chunked
// (a chunked loop nest with an intra-chunk decay mask, not the recurrence):
// ragged batches with fresh sequences (their slots hold garbage and must be
// ignored), sequences with a history (their slots hold the state of a random
// history), sequences without new tokens, with and without a history (their
// slots must stay untouched), several chunks plus a partial one, and a zero
// slope (no decay).

// RUN: salac run %s --func=recurrent --q-lens=1,1,5,0,0 --contexts=0,40,7,3,0 | FileCheck %s
// RUN: salac run %s --func=chunked --q-lens=1,30,17,0,0 --contexts=0,12,0,5,0 | FileCheck %s
// RUN: salac run %s --func=chunked --q-lens=64 --contexts=100 --pool-slots=4 --seed=3 | FileCheck %s
// RUN: salac run %s --func=chunked_bf16 --mode=prefill | FileCheck %s --check-prefix=BF16
// CHECK:      result #0 (sala.linear_attention) {{.*}} f32 {{.*}} PASS
// CHECK-NEXT: state pool {{.*}} f32 {{.*}} PASS
// CHECK-NEXT: PASS: 2 of 2 outputs agree with the reference
// BF16:      result #0 (sala.linear_attention) {{.*}} bf16 {{.*}} PASS
// BF16-NEXT: state pool {{.*}} f32 {{.*}} PASS

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!st32 = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>

func.func @recurrent(%q: tensor<?x4x16xf32>, %k: tensor<?x4x16xf32>, %v: tensor<?x4x16xf32>,
                     %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>,
                     %lens: tensor<?xi32>) -> tensor<?x4x16xf32> {
  %o = sala.linear_attention recurrent %q, %k, %v, %pool[%slots] lens(%cu, %lens)
      {slopes = array<f64: 0.9, 0.3, 0.05, 0.0>} : tensor<?x4x16xf32>, !st -> tensor<?x4x16xf32>
  return %o : tensor<?x4x16xf32>
}

func.func @chunked(%q: tensor<?x4x16xf32>, %k: tensor<?x4x16xf32>, %v: tensor<?x4x16xf32>,
                   %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>,
                   %lens: tensor<?xi32>) -> tensor<?x4x16xf32> {
  %o = sala.linear_attention chunked %q, %k, %v, %pool[%slots] lens(%cu, %lens)
      {slopes = array<f64: 0.9, 0.3, 0.05, 0.0>, chunk_size = 8, scale = 0.125 : f32}
      : tensor<?x4x16xf32>, !st -> tensor<?x4x16xf32>
  return %o : tensor<?x4x16xf32>
}

// The model's shape: 32 heads of 128, default chunk of 64.
func.func @chunked_bf16(%q: tensor<?x32x128xbf16>, %k: tensor<?x32x128xbf16>,
                        %v: tensor<?x32x128xbf16>, %pool: !st32, %slots: tensor<?xi32>,
                        %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x32x128xbf16> {
  %o = sala.linear_attention chunked %q, %k, %v, %pool[%slots] lens(%cu, %lens)
      {slopes = array<f64: 0.84, 0.71, 0.59, 0.5, 0.42, 0.35, 0.3, 0.25, 0.21, 0.18, 0.15,
                           0.125, 0.1, 0.09, 0.07, 0.06, 0.05, 0.044, 0.037, 0.031, 0.026,
                           0.022, 0.019, 0.016, 0.013, 0.011, 0.009, 0.0078, 0.0066, 0.0055,
                           0.0046, 0.0039>}
      : tensor<?x32x128xbf16>, !st32 -> tensor<?x32x128xbf16>
  return %o : tensor<?x32x128xbf16>
}
