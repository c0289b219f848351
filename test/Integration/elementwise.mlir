// rms_norm (per head and over all channels), rope (rotate-half and
// interleaved, at positions up to ~1M where an f32 angle would be far off) and
// sigmoid_gate on the host against the reference.

// RUN: salac run %s --func=norm_head --q-lens=3,1 --contexts=0,9 | FileCheck %s --check-prefix=NORM
// RUN: salac run %s --func=norm_full --q-lens=2,5 | FileCheck %s --check-prefix=NORM
// NORM:      result #0 (sala.rms_norm) {{.*}} PASS
// NORM-NEXT: PASS: 1 of 1

// RUN: salac run %s --func=rope_neox --q-lens=2,3 --contexts=0,1000000 | FileCheck %s --check-prefix=ROPE
// RUN: salac run %s --func=rope_interleaved --q-lens=4,1 --contexts=17,65535 | FileCheck %s --check-prefix=ROPE
// ROPE:      result #0 (sala.rope) {{.*}} PASS
// ROPE-NEXT: PASS: 1 of 1

// RUN: salac run %s --func=gate --q-lens=3,4 | FileCheck %s --check-prefix=GATE
// RUN: salac run %s --func=gate_bf16 --q-lens=3,4 | FileCheck %s --check-prefix=GATE
// GATE:      result #0 (sala.sigmoid_gate) {{.*}} PASS
// GATE-NEXT: PASS: 1 of 1

// A block that returns one value twice: both results are read before the
// block's allocation is freed (result #1 read freed memory, err 7e37).
// RUN: salac run %s --func=gate_twice --q-lens=3,4 | FileCheck %s --check-prefix=TWICE
// TWICE:      result #0 (sala.sigmoid_gate) {{.*}} PASS
// TWICE-NEXT: result #1 (sala.sigmoid_gate) {{.*}} PASS
// TWICE-NEXT: PASS: 2 of 2

func.func @norm_head(%x: tensor<?x4x16xf32>, %w: tensor<16xbf16>) -> tensor<?x4x16xf32> {
  %y = sala.rms_norm head %x, %w {eps = 1.0e-06 : f32} : tensor<?x4x16xf32>, tensor<16xbf16>
  return %y : tensor<?x4x16xf32>
}

func.func @norm_full(%x: tensor<?x4x16xf32>, %w: tensor<64xf32>) -> tensor<?x4x16xf32> {
  %y = sala.rms_norm full %x, %w {eps = 1.0e-02 : f32} : tensor<?x4x16xf32>, tensor<64xf32>
  return %y : tensor<?x4x16xf32>
}

func.func @rope_neox(%x: tensor<?x4x16xf32>, %pos: tensor<?xi32>) -> tensor<?x4x16xf32> {
  %y = sala.rope neox %x, %pos {theta = 1.0e+04 : f32} : tensor<?x4x16xf32>
  return %y : tensor<?x4x16xf32>
}

func.func @rope_interleaved(%x: tensor<?x4x16xf32>, %pos: tensor<?xi32>) -> tensor<?x4x16xf32> {
  %y = sala.rope interleaved %x, %pos {theta = 5.0e+05 : f32} : tensor<?x4x16xf32>
  return %y : tensor<?x4x16xf32>
}

func.func @gate(%x: tensor<?x4x16xf32>, %z: tensor<?x4x16xf32>) -> tensor<?x4x16xf32> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x4x16xf32>
  return %y : tensor<?x4x16xf32>
}

func.func @gate_bf16(%x: tensor<?x4x16xbf16>, %z: tensor<?x4x16xbf16>) -> tensor<?x4x16xbf16> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x4x16xbf16>
  return %y : tensor<?x4x16xbf16>
}

func.func @gate_twice(%x: tensor<?x4x16xf32>, %z: tensor<?x4x16xf32>) -> (tensor<?x4x16xf32>, tensor<?x4x16xf32>) {
  %y = sala.sigmoid_gate %x, %z : tensor<?x4x16xf32>
  return %y, %y : tensor<?x4x16xf32>, tensor<?x4x16xf32>
}
