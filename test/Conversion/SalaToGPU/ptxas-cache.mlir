// REQUIRES: ptxas
// RUN: salac %S/cache-kernels.mlir --emit=ptx -o %t.ptx
// RUN: %check-ptx %t.ptx | FileCheck %s
// CHECK: check-ptx: 5 kernels assembled for sm_90, no spills
