// The whole lightning mixer (sala.linear_mixer: qk RMSNorm, RoPE, linear
// attention, output RMSNorm, gate), decomposed and lowered to host loops,
// against the reference mixer: recurrent in decode, chunked in prefill, ragged
// batches with fresh sequences and histories.

// RUN: salac run %s --func=decode --q-lens=1,1,1 --contexts=0,33,200 | FileCheck %s
// RUN: salac run %s --func=prefill --q-lens=20,1,9,0 --contexts=0,14,3,2 | FileCheck %s
// CHECK:      result #0 (sala.linear_mixer) {{.*}} f32 {{.*}} PASS
// CHECK-NEXT: state pool {{.*}} PASS
// CHECK-NEXT: PASS: 2 of 2 outputs agree with the reference

// Without the optional parts (no norms, no RoPE, no gate).
// RUN: salac run %s --func=bare --q-lens=3,8 --contexts=5,0 | FileCheck %s

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>

func.func @decode(%q: tensor<?x4x16xf32>, %k: tensor<?x4x16xf32>, %v: tensor<?x4x16xf32>,
                  %z: tensor<?x4x16xf32>, %qw: tensor<16xf32>, %kw: tensor<16xf32>,
                  %ow: tensor<64xf32>, %pos: tensor<?xi32>, %pool: !st,
                  %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x4x16xf32> {
  %o = sala.linear_mixer decode %q, %k, %v gate(%z : tensor<?x4x16xf32>)
      qk_norm(%qw, %kw : tensor<16xf32>, tensor<16xf32>) out_norm(%ow : tensor<64xf32>)
      positions(%pos) state(%pool[%slots]) lens(%cu, %lens)
      {slopes = array<f64: 0.5, 0.125, 0.03125, 0.0078125>}
      : tensor<?x4x16xf32>, !st
  return %o : tensor<?x4x16xf32>
}

func.func @prefill(%q: tensor<?x4x16xf32>, %k: tensor<?x4x16xf32>, %v: tensor<?x4x16xf32>,
                   %z: tensor<?x4x16xf32>, %qw: tensor<16xf32>, %kw: tensor<16xf32>,
                   %ow: tensor<64xf32>, %pos: tensor<?xi32>, %pool: !st,
                   %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x4x16xf32> {
  %o = sala.linear_mixer prefill %q, %k, %v gate(%z : tensor<?x4x16xf32>)
      qk_norm(%qw, %kw : tensor<16xf32>, tensor<16xf32>) out_norm(%ow : tensor<64xf32>)
      positions(%pos) state(%pool[%slots]) lens(%cu, %lens)
      {slopes = array<f64: 0.5, 0.125, 0.03125, 0.0078125>, chunk_size = 8,
       rope_style = #sala<rope_style interleaved>, theta = 5.0e+05 : f32}
      : tensor<?x4x16xf32>, !st
  return %o : tensor<?x4x16xf32>
}

func.func @bare(%q: tensor<?x4x16xf32>, %k: tensor<?x4x16xf32>, %v: tensor<?x4x16xf32>,
                %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x4x16xf32> {
  %o = sala.linear_mixer prefill %q, %k, %v state(%pool[%slots]) lens(%cu, %lens)
      {slopes = array<f64: 1.0, 0.1, 0.01, 0.0>, chunk_size = 4}
      : tensor<?x4x16xf32>, !st
  return %o : tensor<?x4x16xf32>
}
