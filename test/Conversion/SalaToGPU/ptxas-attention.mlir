// REQUIRES: ptxas
// RUN: salac %S/attention-kernels.mlir --emit=ptx -o %t.ptx
// RUN: %check-ptx %t.ptx | FileCheck %s
// CHECK: check-ptx: 4 kernels assembled for sm_90, no spills
