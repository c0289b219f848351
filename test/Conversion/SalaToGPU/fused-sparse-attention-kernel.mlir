// RUN: salac %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: salac %s --emit=ptx | FileCheck %s --check-prefix=PTX

// sala.fused_sparse_attention (from sala-fuse-sparse-attention) is the stage-2
// kernel of attention-kernels.mlir with two more things: a sequence shorter
// than dense_len lists every block up to the query's own in the slots the
// selection fills otherwise (it never reads the selection), and the output is
// gated as sala.sigmoid_gate gates it, before anything is stored.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!q = tensor<?x32x128xbf16>
func.func @f(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q,
             %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : !q) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  %s = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : !q) lens(%cu, %lens) {block_size = 64, dense_len = 0} : !q, !kv, tensor<?x2x96xi32> -> !q
  return %o, %s : !q, !q
}

// The name carries dense_len and the gate; the gate logits are a parameter
// between the lengths and the output.
// MLIR: sala.fused_sparse_attention {{.*}}sala.kernel = @sala_kernels::@sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16
// MLIR: sala.fused_sparse_attention {{.*}}sala.kernel = @sala_kernels::@sala_fused_sparse_attention_b64_k96_p64_g_h32_d128_bf16
// Slots for the longer of the two lists: 96 selected blocks or the 128 blocks
// below dense_len.
// MLIR-LABEL: gpu.func @sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16(
// MLIR-SAME: memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// ptxas is told it may use every register it needs (left to its own
// heuristics it aims for 3 blocks a SM at 168 and spills).
// MLIR-SAME: nvvm.maxnreg = 255 : i32
// MLIR-SAME: dense_len = 8192 : i64
// MLIR-SAME: name = "seq_lens"{{.*}}name = "gate", shape = ["tokens", 32, 128]}, {{.*}}name = "output"
// The thread's selected block is loaded before the sequence's length is
// known (no round trip added on the way to the first tile); then the length
// against dense_len: all its blocks in order, or the selection.
// MLIR: %[[DENSE:.*]] = arith.cmpi ult, %{{.*}}, %c8192 : index
// MLIR: %[[SELBLK:.*]] = memref.load %arg4
// MLIR: scf.if %[[DENSE]] {
// MLIR-NEXT: arith.addi
// MLIR-NEXT: scf.for %[[I:.*]] = {{.*}} step %c128 {
// MLIR-NEXT: arith.index_cast %[[I]] : index to i32
// MLIR: } else {
// MLIR-NEXT: scf.if
// MLIR-NEXT: arith.cmpi sge, %[[SELBLK]], %c0_i32 : i32
// The gate: the output rounded to bf16, then x * rcp(1 + exp(-z)), rounded
// again (an approximate reciprocal: no IEEE division in the split merge).
// MLIR: arith.truncf %{{.*}} : vector<4xf32> to vector<4xbf16>
// MLIR: arith.extf %{{.*}} : vector<4xbf16> to vector<4xf32>
// MLIR: vector.load %arg7[%{{.*}}] {alignment = 8 : i64} : memref<1099511627776xbf16>, vector<4xbf16>
// MLIR: arith.negf
// MLIR: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// MLIR: arith.addf
// MLIR: llvm.inline_asm "rcp.approx.ftz.f32 $0, $1;"
// MLIR: arith.mulf
// MLIR: gpu.func @sala_fused_sparse_attention_b64_k96_p64_g_h32_d128_bf16(
// MLIR-SAME: memref<96xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<96xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})

// PTX-LABEL: .visible .entry sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16(
// PTX: .maxnreg 255
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX: rcp.approx.ftz.f32
// PTX-NOT: div.rn.f32
// PTX-LABEL: .visible .entry sala_fused_sparse_attention_b64_k96_p64_g_h32_d128_bf16(
