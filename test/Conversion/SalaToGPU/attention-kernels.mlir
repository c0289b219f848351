// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// Stage-2 sparse attention and dense causal attention share one kernel shape:
// a block per (query token, KV group), 64-token K/V tiles staged in shared
// memory once for the group's 16 query heads, an online softmax; S = Q K^T and
// O += P V on tensor cores (mma.sync m16n8k16, bf16 -> f32).

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv8 = !sala.kv_cache<page_size = 64, kv_heads = 8, head_dim = 128, element_type = bf16>
func.func @attn(%q: tensor<?x32x128xbf16>, %kv: !kv, %kv1: !kv1, %kv8: !kv8, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>,
                %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>) {
  %a = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : tensor<?x32x128xbf16>, !kv, tensor<?x2x96xi32> -> tensor<?x32x128xbf16>
  %b = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv -> tensor<?x32x128xbf16>
  %c = sala.dense_attention %q, %kv1[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv1 -> tensor<?x32x128xbf16>
  // 4 query heads per KV head is supported too.
  %d = sala.dense_attention %q, %kv8[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv8 -> tensor<?x32x128xbf16>
  return %a, %b, %c, %d : tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>, tensor<?x32x128xbf16>
}

// MLIR: sala.sparse_attention {{.*}}sala.kernel = @sala_kernels::@sala_sparse_attention_b64_k96_p64_h32_d128_bf16
// MLIR: sala.dense_attention {{.*}}sala.kernel = @sala_kernels::@sala_dense_attention_p64_h32_d128_bf16
// MLIR: sala.dense_attention {{.*}}sala.kernel = @sala_kernels::@sala_dense_attention_p1_h32_d128_bf16
// MLIR: sala.dense_attention {{.*}}sala.kernel = @sala_kernels::@sala_dense_attention_p64_h32_d128_bf16_v2
// Shared memory: the K tile and the V tile (64 x 128 bf16 each, as 32 KiB of
// bytes viewed as bf16 for the tiles and as f32 for the partial O of the 4
// warps and, in the split merge, 4 splits' partial O), Q of the 16 heads,
// each warp's max / sum per head for the combine, the merge's staged (m, L)
// rows, and each selected slot's first key and physical page (looked up once).
// MLIR: gpu.func @sala_sparse_attention_b64_k96_p64_h32_d128_bf16({{.*}}) workgroup(%{{.*}} : memref<32768xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2048xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<96xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<96xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// A block per (token, KV group) and split (split-KV: the caller's `splits`).
// MLIR-SAME: block = array<i64: 128, 1, 1>, grid = [{div = 1 : i64, mul = 2 : i64, param = "tokens"}, {div = 1 : i64, mul = 1 : i64, param = "splits"}, 1]
// MLIR-SAME: shape = ["tokens", 2, 96]
// MLIR-SAME: name = "partial_o", shape = ["split_slots", 16, 128]
// MLIR-SAME: name = "counters", shape = ["tokens", 2]
// K/V tiles by cp.async (zero-filled past the query).
// MLIR: nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1} : memref<1099511627776xbf16> to memref<16384xbf16, #gpu.address_space<workgroup>>
// MLIR: nvgpu.device_async_create_group
// MLIR: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// S = Q K^T: Q and K fragments by ldmatrix, bf16 MMA with f32 accumulators. (MLIR
// 22's convert-nvgpu-to-nvvm has no bf16 nvgpu.mma.sync, so it is nvvm.mma.sync.)
// MLIR: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false} : memref<16384xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// MLIR: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// Online softmax in registers: quad shuffles, ex2 in log2 units.
// MLIR: gpu.shuffle xor
// MLIR: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// O += P V: V fragments by ldmatrix.trans.
// MLIR: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = true}
// MLIR: nvvm.mma.sync
// MLIR: gpu.func @sala_dense_attention_p64_h32_d128_bf16_v2({{.*}}) workgroup(%{{.*}} : memref<32768xi8

// PTX-LABEL: .visible .entry sala_sparse_attention_b64_k96_p64_h32_d128_bf16(
// PTX-DAG: .shared .align 16 .b8 {{.*}}[32768];
// PTX-DAG: .shared .align 16 .b8 {{.*}}[4096];
// PTX-DAG: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, %r{{[0-9]+}};
// PTX-DAG: cp.async.wait_group 1;
// PTX-DAG: bar.sync 0;
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-LABEL: .visible .entry sala_dense_attention_p64_h32_d128_bf16(
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-LABEL: .visible .entry sala_dense_attention_p1_h32_d128_bf16(
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-LABEL: .visible .entry sala_dense_attention_p64_h32_d128_bf16_v2(
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// With splits > 1 each split writes its output and row statistics to the
// workspace; the split that finishes last (an atomic count between fences)
// merges them by their log-sum-exps.
// MLIR: memref.atomic_rmw addi
// MLIR: llvm.inline_asm has_side_effects "fence.acq_rel.gpu;"
// The merge stages 4 splits' partial O (f32) at a time in the tile slots by
// cp.async, through the f32 view of the same 32 KiB.
// MLIR: nvgpu.device_async_copy {{.*}}, 4, %{{.*}} {bypassL1} : memref<1099511627776xf32> to memref<8192xf32, #gpu.address_space<workgroup>>
