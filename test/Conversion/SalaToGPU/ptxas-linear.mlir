// REQUIRES: ptxas
// RUN: salac %S/linear-kernels.mlir --emit=ptx -o %t.ptx 2>/dev/null
// RUN: %check-ptx %t.ptx | FileCheck %s
// CHECK-DAG: check-ptx: ok sala_linear_attention_recurrent_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_linear_attention_chunked_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK: check-ptx: 2 kernels assembled for sm_90, no spills
