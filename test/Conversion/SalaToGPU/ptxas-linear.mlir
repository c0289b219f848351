// REQUIRES: ptxas
// RUN: salac %S/linear-kernels.mlir --emit=ptx -o %t.ptx 2>/dev/null
// RUN: salac %S/fused-linear-kernel.mlir --emit=ptx -o %t.fused.ptx 2>/dev/null
// RUN: %check-ptx %t.fused.ptx | FileCheck %s --check-prefix=FUSED
// RUN: %check-ptx %t.ptx | FileCheck %s
// CHECK-DAG: check-ptx: ok sala_linear_attention_recurrent_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_linear_attention_chunked_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK: check-ptx: 2 kernels assembled for sm_90, no spills
// FUSED-DAG: check-ptx: ok sala_fused_linear_attention_nrog_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FUSED-DAG: check-ptx: ok sala_fused_linear_attention_g_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FUSED: check-ptx: 2 kernels assembled for sm_90, no spills
