// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// The kernel of sala.fused_linear_attention (sala-fuse-linear): a block per
// (sequence, head, 32 state columns); q/k RMSNorm and RoPE in shared memory;
// the state read and written once; the last block of each sequence (an atomic
// count, between fences) applies the full RMSNorm and the gate.

!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!q = tensor<?x32x128xbf16>
func.func @step(%q: !q, %k: !q, %v: !q, %z: !q, %qw: tensor<128xbf16>, %kw: tensor<128xbf16>, %ow: tensor<4096xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %o = sala.fused_linear_attention %q, %k, %v gate(%z : !q) qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>) out_norm(%ow : tensor<4096xbf16>) positions(%pos) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  // Without the output norm there is no cross-block step and no workspace.
  %p = sala.fused_linear_attention %q, %k, %v gate(%z : !q) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  return %o, %p : !q, !q
}

// MLIR: sala.fused_linear_attention {{.*}}sala.kernel = @sala_kernels::@sala_fused_linear_attention_nrog_h32_d128_bf16
// MLIR: sala.fused_linear_attention {{.*}}sala.kernel = @sala_kernels::@sala_fused_linear_attention_g_h32_d128_bf16
// MLIR-LABEL: gpu.func @sala_fused_linear_attention_nrog_h32_d128_bf16
// MLIR-SAME: block = array<i64: 128, 1, 1>, grid = [{div = 1 : i64, mul = 128 : i64, param = "batch"}, 1, 1]
// MLIR-SAME: name = "scratch"
// MLIR-SAME: name = "partials"
// MLIR-SAME: name = "counters"
// MLIR: memref.atomic_rmw addi
// MLIR-LABEL: gpu.func @sala_fused_linear_attention_g_h32_d128_bf16
// MLIR-NOT: name = "counters"
// MLIR-NOT: memref.atomic_rmw

// PTX-LABEL: .visible .entry sala_fused_linear_attention_nrog_h32_d128_bf16(
// PTX: fence.acq_rel.gpu;
// PTX: atom.global.add.u32
// PTX: fence.acq_rel.gpu;
// PTX-LABEL: .visible .entry sala_fused_linear_attention_g_h32_d128_bf16(
// PTX-NOT: atom.global
