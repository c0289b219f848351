// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// Recurrent linear attention (decode): a block per (sequence, head), a thread
// per value column of the f32 state; q and k of the token staged in shared
// memory. Chunked (prefill): the same grid with 8 warps, 64-token chunks of Q, K
// and V in shared memory (48 KiB, by cp.async), every product on tensor cores.

!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
func.func @linear(%q: tensor<?x32x128xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x32x128xbf16> {
  %o = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : tensor<?x32x128xbf16>, !st -> tensor<?x32x128xbf16>
  %p = sala.linear_attention chunked %o, %o, %o, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : tensor<?x32x128xbf16>, !st -> tensor<?x32x128xbf16>
  return %p : tensor<?x32x128xbf16>
}

// MLIR: sala.linear_attention recurrent {{.*}}sala.kernel = @sala_kernels::@sala_linear_attention_recurrent_h32_d128_bf16
// MLIR: sala.linear_attention chunked {{.*}}sala.kernel = @sala_kernels::@sala_linear_attention_chunked_h32_d128_bf16
// MLIR: gpu.func @sala_linear_attention_recurrent_h32_d128_bf16({{.*}}) workgroup(%{{.*}} : memref<128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// MLIR-SAME: block = array<i64: 128, 1, 1>, grid = [{div = 1 : i64, mul = 32 : i64, param = "batch"}, 1, 1]
// MLIR-SAME: shape = ["slots", 32, 128, 128]
// The decay of head h is exp(-slope_h), baked in: exp(-2^-8) for the last head.
// MLIR: arith.constant 0.996101379 : f32
// MLIR: gpu.barrier
// MLIR: gpu.barrier

// MLIR: gpu.func @sala_linear_attention_chunked_h32_d128_bf16({{.*}}) workgroup(%{{.*}} : memref<8192xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8192xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8192xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// MLIR-SAME: block = array<i64: 256, 1, 1>
// MLIR: nvgpu.device_async_copy
// MLIR: nvgpu.ldmatrix {{.*}}numTiles = 4 : i32, transpose = false
// MLIR: nvvm.mma.sync
// MLIR: nvgpu.ldmatrix {{.*}}numTiles = 4 : i32, transpose = true

// PTX-LABEL: .visible .entry sala_linear_attention_recurrent_h32_d128_bf16(
// PTX: .shared .align 16 .b8
// PTX: bar.sync 0;
// The state row walk, unrolled: f32 loads and stores, 512 bytes apart.
// PTX: ld.global.b32 {{.*}}+-512]
// PTX: st.global.b32 {{.*}}+-512]

// PTX-LABEL: .visible .entry sala_linear_attention_chunked_h32_d128_bf16(
// PTX: cp.async.cg.shared.global
// PTX: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
