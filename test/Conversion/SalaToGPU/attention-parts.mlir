// RUN: salac-opt %s --split-input-file --salac-kernels-pipeline | FileCheck %s --check-prefix=COPY
// RUN: salac-opt %s --split-input-file --salac-kernels-pipeline | FileCheck %s --check-prefix=MMA
// RUN: salac-opt %s --split-input-file --salac-kernels-pipeline | FileCheck %s --check-prefix=LDM
// RUN: salac-opt %s --split-input-file --salac-kernels-pipeline | FileCheck %s --check-prefix=EX2
// RUN: salac-opt %s --split-input-file --salac-kernels-pipeline | FileCheck %s --check-prefix=ARRIVE
// RUN: salac-opt %s --split-input-file --salac-kernels-pipeline | FileCheck %s --check-prefix=FENCE

// The parts of the attention kernel (AttentionKernels.cpp), counted in its IR
// at head_dim 128 and 64, so that a change to one part shows here:
// - the paged tile loader: a 64-key tile is 64 / (128 / (d / 8)) cp.async per
//   thread (8 at d = 128, 4 at d = 64), issued 4 times (K and V before the
//   loop, K and V of the next tile in it); the split merge stages two splits
//   a step, each (16 x d / 4 / 128) copies of O and one of (m, L), issued
//   twice (before and in its loop): 32 + 20 = 52 at d = 128, 16 + 12 = 28
//   at d = 64;
// - the MMA tile: S = Q K^T is d / 16 k-steps of 2 mma.sync, P V is d / 16
//   pairs of n-tiles of 4 (P split in its bf16 rounding and residue): 16 + 32
//   at d = 128, 8 + 16 at d = 64;
// - the fragments: Q and K, 2 ldmatrix a k-step, V one a pair of n-tiles;
// - the online softmax: per tile 2 row halves x (1 correction + 4 scores) =
//   10 ex2; the warps' combine 2 x (4 warps + 1 own) = 10; the split merge 2
//   splits a step x (rows a thread: 4 at d = 128, 2 at d = 64) x 2 = 16 / 8:
//   36 at d = 128, 28 at d = 64;
// - the split merge's last arrival: one atomic count between two GPU fences.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!q = tensor<?x32x128xbf16>
func.func @d128(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  return %d : !q
}

// COPY-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// COPY-COUNT-52: nvgpu.device_async_copy
// COPY-NOT: nvgpu.device_async_copy
// MMA-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// MMA-COUNT-48: nvvm.mma.sync
// MMA-NOT: nvvm.mma.sync
// LDM-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// LDM-COUNT-24: nvgpu.ldmatrix
// LDM-NOT: nvgpu.ldmatrix
// EX2-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// EX2-COUNT-36: ex2.approx.ftz.f32
// EX2-NOT: ex2.approx.ftz.f32
// ARRIVE-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// ARRIVE-COUNT-1: memref.atomic_rmw addi
// ARRIVE-NOT: memref.atomic_rmw
// FENCE-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// FENCE-COUNT-2: fence.acq_rel.gpu
// FENCE-NOT: fence.acq_rel.gpu

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 64, element_type = bf16>
!q = tensor<?x32x64xbf16>
func.func @d64(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  return %d : !q
}

// COPY-LABEL: gpu.func @sala_dense_attention_p64_h32_d64_bf16
// COPY-COUNT-28: nvgpu.device_async_copy
// COPY-NOT: nvgpu.device_async_copy
// MMA-LABEL: gpu.func @sala_dense_attention_p64_h32_d64_bf16
// MMA-COUNT-24: nvvm.mma.sync
// MMA-NOT: nvvm.mma.sync
// LDM-LABEL: gpu.func @sala_dense_attention_p64_h32_d64_bf16
// LDM-COUNT-12: nvgpu.ldmatrix
// LDM-NOT: nvgpu.ldmatrix
// EX2-LABEL: gpu.func @sala_dense_attention_p64_h32_d64_bf16
// EX2-COUNT-28: ex2.approx.ftz.f32
// EX2-NOT: ex2.approx.ftz.f32
// ARRIVE-LABEL: gpu.func @sala_dense_attention_p64_h32_d64_bf16
// ARRIVE-COUNT-1: memref.atomic_rmw addi
// ARRIVE-NOT: memref.atomic_rmw
// FENCE-LABEL: gpu.func @sala_dense_attention_p64_h32_d64_bf16
// FENCE-COUNT-2: fence.acq_rel.gpu
// FENCE-NOT: fence.acq_rel.gpu
