// REQUIRES: ptxas
// RUN: salac %S/attention-kernels.mlir --emit=ptx -o %t.ptx
// RUN: %check-ptx %t.ptx | FileCheck %s
// The tensor-core attention kernels keep O (64 f32 a lane) and the softmax
// state in registers for the whole kernel: none of them may spill.
// CHECK-DAG: check-ptx: ok sala_sparse_attention_b64_k96_p64_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_dense_attention_p64_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_dense_attention_p1_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_dense_attention_p64_h32_d128_bf16_v2 registers={{[0-9]+}} spill_bytes=0
// CHECK: check-ptx: 4 kernels assembled for sm_90, no spills
// The fused stage 2 (dense fallback and gate) neither, at page sizes 64 and 1.
// RUN: salac %S/fused-sparse-attention-kernel.mlir --emit=ptx -o %t.fused.ptx
// RUN: %check-ptx %t.fused.ptx | FileCheck %s --check-prefix=FUSED
// FUSED-DAG: check-ptx: ok sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FUSED-DAG: check-ptx: ok sala_fused_sparse_attention_b64_k96_p64_g_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FUSED: check-ptx: 2 kernels assembled for sm_90, no spills
// Plain stage 2 at every page size too (with 16-token pages ptxas, left to
// its heuristics, took 168 registers and spilled; nvvm.maxnreg lifts that).
// RUN: salac --no-fuse --page-size=16 -o %t.p16.ptx
// RUN: %check-ptx %t.p16.ptx | FileCheck %s --check-prefix=P16
// P16: check-ptx: ok sala_sparse_attention_b64_k96_p16_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// P16: check-ptx: {{[0-9]+}} kernels assembled for sm_90, no spills
