// REQUIRES: ptxas
// RUN: salac %s --emit=ptx -o %t.ptx
// RUN: %check-ptx %t.ptx | FileCheck %s

// Every elementwise kernel assembles for sm_90 with ptxas, without spills.

func.func @elementwise(%x: tensor<?x32x128xbf16>, %z: tensor<?x32x128xbf16>, %w: tensor<128xbf16>,
                       %ow: tensor<4096xbf16>, %pos: tensor<?xi32>, %f: tensor<?x4x64xf32>,
                       %fw: tensor<64xf32>, %fp: tensor<?xi32>) -> (tensor<?x32x128xbf16>, tensor<?x4x64xf32>) {
  %a = sala.rms_norm head %x, %w : tensor<?x32x128xbf16>, tensor<128xbf16>
  %b = sala.rope neox %a, %pos : tensor<?x32x128xbf16>
  %c = sala.rms_norm full %b, %ow : tensor<?x32x128xbf16>, tensor<4096xbf16>
  %d = sala.sigmoid_gate %c, %z : tensor<?x32x128xbf16>
  %e = sala.rms_norm head %f, %fw : tensor<?x4x64xf32>, tensor<64xf32>
  %g = sala.rope interleaved %e, %fp {theta = 5.0e+05 : f32} : tensor<?x4x64xf32>
  return %d, %g : tensor<?x32x128xbf16>, tensor<?x4x64xf32>
}

// CHECK-DAG: check-ptx: ok sala_rms_norm_head_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_rope_neox_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_rms_norm_full_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_sigmoid_gate_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_rms_norm_head_h4_d64_f32 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_rope_interleaved_h4_d64_f32 registers={{[0-9]+}} spill_bytes=0
// CHECK: check-ptx: 6 kernels assembled for sm_90, no spills
