// REQUIRES: ptxas
// RUN: salac %S/select-kernels.mlir --emit=ptx -o %t.ptx 2>/dev/null
// RUN: %check-ptx %t.ptx | FileCheck %s
// CHECK: check-ptx: 4 kernels assembled for sm_90, no spills
