// RUN: salac-opt %s --verify-each --sala-choose-kernel-config="linear-segment=128" --convert-sala-to-gpu | FileCheck %s
// RUN: salac-opt %s --verify-each --sala-choose-kernel-config="linear-segment=128 linear-stages=2" --convert-sala-to-gpu | FileCheck %s --check-prefix=STAGES
// RUN: not salac-opt %s --sala-choose-kernel-config="linear-stages=2" 2>&1 | FileCheck %s --check-prefix=NOSEG
// RUN: not salac-opt %s --sala-choose-kernel-config="linear-segment=100" 2>&1 | FileCheck %s --check-prefix=WHOLE
// RUN: not salac-opt %s --sala-choose-kernel-config="linear-segment=2000000" 2>&1 | FileCheck %s --check-prefix=BOUND

// Chunked linear attention in segments (a kernel config's segment): a block per
// (segment, sequence, head), the blocks' order from a ticket counter, each
// segment's own K^T V contribution summed first, the state at its start taken
// from its predecessor's published row (a spin on its flag), the state at its
// end published, then its chunks walked with the state in registers and a
// bf16 value/residue copy in shared memory (2 x 32 KiB past the three tiles).

!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
func.func @prefill(%q: tensor<?x32x128xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x32x128xbf16> {
  %o = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : tensor<?x32x128xbf16>, !st -> tensor<?x32x128xbf16>
  return %o : tensor<?x32x128xbf16>
}

// CHECK: sala.linear_attention chunked {{.*}}sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 255, tile = 64, stages = 1, segment = 128>
// CHECK: gpu.func @sala_linear_attention_chunked_h32_d128_bf16(
// CHECK-SAME: config = {max_registers = 255 : i64, min_blocks_per_sm = 0 : i64, segment = 128 : i64, stages = 1 : i64, threads = 256 : i64, tile = 64 : i64}
// CHECK-SAME: grid = [{div = 1 : i64, mul = 32 : i64, param = "batch"}, {div = 128 : i64, mul = 1 : i64, param = "max_q_len"}, 1]
// CHECK-SAME: name = "segment_states"{{.*}}shape = ["segment_rows", 32, 128, 128]
// CHECK-SAME: name = "segment_flags"{{.*}}shape = ["segment_rows", 32]
// CHECK-SAME: name = "tickets"{{.*}}shape = [1]
// CHECK-SAME: name = "max_q_len"
// CHECK-SAME: name = "segment_rows"
// CHECK-SAME: shared_bytes = 114692
// Q, K, V tiles, the state's value and residue copies, the ticket's cell.
// CHECK: memref.view {{.*}}[%c0{{.*}} to memref<8192xbf16
// CHECK: memref.view {{.*}}[%c16384{{.*}} to memref<8192xbf16
// CHECK: memref.view {{.*}}[%c32768{{.*}} to memref<8192xbf16
// CHECK: memref.view {{.*}}[%c49152{{.*}} to memref<16384xbf16
// CHECK: memref.view {{.*}}[%c81920{{.*}} to memref<16384xbf16
// CHECK: memref.view {{.*}}[%c114688{{.*}} to memref<1xi32
// The ticket: one atomic add by thread 0, the grid's size from gridDim.
// CHECK: gpu.grid_dim x
// CHECK: memref.atomic_rmw addi
// The segment's own contribution (K and V only, no Q: 4 rows a thread, 2 tiles).
// CHECK: scf.for
// CHECK-COUNT-8: nvgpu.device_async_copy
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: nvgpu.ldmatrix {{.*}}transpose = true
// The wait on the predecessor's flag (a trap past 10 s: an error, not a
// hang), then the acquire fence.
// CHECK: scf.while
// CHECK: memref.atomic_rmw addi
// CHECK: nvvm.read.ptx.sreg.globaltimer
// CHECK: arith.constant 10000000000 : i64
// CHECK: llvm.intr.trap
// CHECK: scf.condition
// CHECK: fence.acq_rel.gpu
// The publish: the release fence, then the flag.
// CHECK: fence.acq_rel.gpu
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi
// The chunks: the shared state copies, then Q, K and V (4 rows a thread, 3 tiles).
// CHECK: scf.for
// CHECK: vector.store {{.*}} : memref<16384xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK-COUNT-12: nvgpu.device_async_copy
// CHECK: nvgpu.ldmatrix {{.*}} : memref<16384xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>

// Two stages: two sets of tiles (163,844 bytes); the segment's first chunk
// issued before each loop, then each chunk waits for its own copies while the
// next chunk's stay in flight (numGroups = 1), and the loop drains them.
// STAGES: config = {max_registers = 255 : i64, min_blocks_per_sm = 0 : i64, segment = 128 : i64, stages = 2 : i64, threads = 256 : i64, tile = 64 : i64}
// STAGES-SAME: shared_bytes = 163844
// STAGES: memref.view {{.*}} to memref<16384xbf16
// STAGES: scf.for
// STAGES: nvgpu.device_async_wait {{.*}} {numGroups = 1 : i32}
// STAGES: nvgpu.device_async_wait {{.*}} {numGroups = 0 : i32}
// STAGES: scf.for
// STAGES: nvgpu.device_async_wait {{.*}} {numGroups = 1 : i32}
// STAGES: nvgpu.device_async_wait {{.*}} {numGroups = 0 : i32}
// NOSEG: error: sala-choose-kernel-config: linear-stages must be 1, or 2 with a linear-segment, got 2
// WHOLE: error: linear-segment 100 is not a multiple of the op's chunk_size 64
// BOUND: error: sala-choose-kernel-config: linear-segment must be in [0, 1048576] tokens, got 2000000
