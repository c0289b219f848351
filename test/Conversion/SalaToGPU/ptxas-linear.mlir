// REQUIRES: ptxas
// RUN: salac %S/linear-kernels.mlir --emit=ptx -o %t.ptx 2>/dev/null
// RUN: %check-ptx %t.ptx | FileCheck %s
// CHECK: check-ptx: ok sala_linear_attention_recurrent_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
