// REQUIRES: ptxas
// RUN: salac %S/linear-kernels.mlir --emit=ptx -o %t.ptx 2>/dev/null
// RUN: salac %S/fused-linear-kernel.mlir --emit=ptx -o %t.fused.ptx 2>/dev/null
// RUN: %check-ptx %t.fused.ptx | FileCheck %s --check-prefix=FUSED
// RUN: %check-ptx %t.ptx | FileCheck %s
// Chunked in segments (the state in registers, 255 at most): no spills on
// sm_90 and sm_100 (sm_80: 4 bytes, docs/Kernels.md).
// RUN: salac %S/linear-kernels.mlir --emit=ptx --linear-segment=1024 -o %t.seg90.ptx 2>/dev/null
// RUN: %check-ptx %t.seg90.ptx | FileCheck %s --check-prefix=SEG90
// RUN: salac %S/linear-kernels.mlir --emit=ptx --linear-segment=1024 --linear-stages=2 -o %t.seg90s2.ptx 2>/dev/null
// RUN: %check-ptx %t.seg90s2.ptx | FileCheck %s --check-prefix=SEG90
// RUN: salac %S/linear-kernels.mlir --emit=ptx --chip=sm_100 --linear-segment=1024 -o %t.seg100.ptx 2>/dev/null
// RUN: %check-ptx %t.seg100.ptx | FileCheck %s --check-prefix=SEG100
// The prefill layer with its q/k norms and RoPE folded into the chunked
// kernel (--fuse-linear-prefill): no spills on sm_90, sm_80 and sm_120 (with
// segments too, 60 bytes: docs/Kernels.md).
// RUN: salac --layers=1 --mode=prefill --fuse-linear-prefill -o %t.fold90.ptx 2>/dev/null
// RUN: %check-ptx %t.fold90.ptx | FileCheck %s --check-prefix=FOLD
// RUN: salac --layers=1 --mode=prefill --fuse-linear-prefill --chip=sm_80 -o %t.fold80.ptx 2>/dev/null
// RUN: %check-ptx %t.fold80.ptx | FileCheck %s --check-prefix=FOLD
// RUN: salac --layers=1 --mode=prefill --fuse-linear-prefill --chip=sm_120 -o %t.fold120.ptx 2>/dev/null
// RUN: %check-ptx %t.fold120.ptx | FileCheck %s --check-prefix=FOLD
// FOLD: check-ptx: ok sala_fused_linear_attention_chunked_nr_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FOLD: check-ptx: ok sala_fused_rms_norm_gate_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FOLD: check-ptx: 2 kernels assembled for sm_{{[0-9]+}}, no spills
// SEG90: check-ptx: ok sala_linear_attention_chunked_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// SEG90: check-ptx: 2 kernels assembled for sm_90, no spills
// SEG100: check-ptx: ok sala_linear_attention_chunked_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// SEG100: check-ptx: 2 kernels assembled for sm_100, no spills
// CHECK-DAG: check-ptx: ok sala_linear_attention_recurrent_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK-DAG: check-ptx: ok sala_linear_attention_chunked_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// CHECK: check-ptx: 2 kernels assembled for sm_90, no spills
// FUSED-DAG: check-ptx: ok sala_fused_linear_attention_nrog_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FUSED-DAG: check-ptx: ok sala_fused_linear_attention_g_h32_d128_bf16 registers={{[0-9]+}} spill_bytes=0
// FUSED: check-ptx: 2 kernels assembled for sm_90, no spills
