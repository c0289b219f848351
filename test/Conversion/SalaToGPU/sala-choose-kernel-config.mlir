// RUN: salac-opt %s --sala-choose-kernel-config --verify-each | FileCheck %s
// RUN: salac-opt %s --sala-choose-kernel-config="sms=170" --verify-each | FileCheck %s --check-prefix=SMS
// RUN: salac-opt %s --sala-choose-kernel-config --convert-sala-to-gpu --verify-each | FileCheck %s --check-prefix=GPU
// RUN: salac-opt %s --sala-choose-kernel-config="chip=sm_86" --verify-each | FileCheck %s --check-prefix=SM86
// RUN: salac-opt %s --sala-choose-kernel-config="chip=sm_80" --verify-each | FileCheck %s --check-prefix=SM80
// RUN: salac-opt %s --sala-choose-kernel-config="select-threads=256" --verify-each | FileCheck %s --check-prefix=SEL256
// RUN: not salac-opt %s --sala-choose-kernel-config="select-threads=100" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADSEL
// RUN: not salac-opt %s --sala-choose-kernel-config="select-threads=256" --convert-sala-to-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=SELFIT
// RUN: salac-opt %s --sala-choose-kernel-config="chip=sm_90a" --verify-each | FileCheck %s --check-prefix=SM90A
// RUN: not salac-opt %s --sala-choose-kernel-config="sms=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADSMS

// sala-choose-kernel-config: the launch policy of every op that has a kernel,
// as a typed attribute the builders, the kernel plan and the manifest read.

!q = tensor<?x32x128xbf16>
!q8 = tensor<?x8x128xbf16>
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv4 = !sala.kv_cache<page_size = 1, kv_heads = 4, head_dim = 128, element_type = bf16>
func.func @f(%q: !q, %z: !q, %q8: !q8, %kv: !kv, %kv4: !kv4, %pt: tensor<?x?xi32>,
             %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> (!q, !q, !q8, !q) {
  %g = sala.sigmoid_gate %q, %z : !q
  %s = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : !q) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d4 = sala.dense_attention %q8, %kv4[%pt] lens(%cu, %lens) : !q8, !kv4 -> !q8
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  return %g, %s, %d4, %d : !q, !q, !q8, !q
}

!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @select(%q: !q, %k: !ck, %kt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x2x96xi32>, tensor<?x2x332xi32>) {
  %a = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 64, group_size = 16, init_blocks = 1, local_blocks = 32, pool_kernel = 5, pool_padding = 1, pool_stride = 4, topk = 64} : !q, !ck -> tensor<?x2x96xi32>
  %b = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 64, group_size = 16, init_blocks = 1, local_blocks = 32, pool_kernel = 5, pool_padding = 1, pool_stride = 4, topk = 300} : !q, !ck -> tensor<?x2x332xi32>
  return %a, %b : tensor<?x2x96xi32>, tensor<?x2x332xi32>
}

// Elementwise: 256 threads, no occupancy asked.
// CHECK: sala.sigmoid_gate {{.*}}sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0>
// Stage 2: every register ptxas wants (2 blocks a SM), and the split rule.
// CHECK: sala.fused_sparse_attention {{.*}}sala.kernel_config = #sala.kernel_config<threads = 128, min_blocks_per_sm = 0, max_registers = 255, tile = 64, stages = 1, split = <sms = 132, blocks_per_sm = 2, max_splits = 16, few_pairs_max_splits = 24, min_tiles_per_split = 4>>
// Dense with 4 KV heads: as stage 2; with 2: 3 blocks a SM.
// CHECK: sala.dense_attention {{.*}}#sala.kernel_config<threads = 128, min_blocks_per_sm = 0, max_registers = 255,
// CHECK: sala.dense_attention {{.*}}#sala.kernel_config<threads = 128, min_blocks_per_sm = 3, max_registers = 0,
// The chip's opt-in shared memory a block (omitted: sm_90's 232448).
// SM86: sala.sigmoid_gate {{.*}}#sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, max_shared_bytes = 101376>
// SM90A: sala.sigmoid_gate {{.*}}#sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0>}
// SM80: sala.sigmoid_gate {{.*}}#sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, max_shared_bytes = 166912>
// The GPU's SM count is the split rule's.
// SMS: sala.fused_sparse_attention {{.*}}split = <sms = 170,

// The kernels take the config: block size, and the occupancy as NVVM
// attributes of the gpu.func.
// GPU-LABEL: gpu.func @sala_fused_sparse_attention_b64_k96_p64_dense8192_g_h32_d128_bf16
// GPU-SAME: known_block_size = array<i32: 128, 1, 1>
// GPU-SAME: nvvm.maxnreg = 255 : i32
// GPU-SAME: sala.config = {max_registers = 255 : i64, min_blocks_per_sm = 0 : i64, split_rule = {blocks_per_sm = 2 : i64, few_pairs_max_splits = 24 : i64, max_splits = 16 : i64, min_tiles_per_split = 4 : i64, sms = 132 : i64}, stages = 1 : i64, threads = 128 : i64, tile = 64 : i64}
// GPU-LABEL: gpu.func @sala_dense_attention_p64_h32_d128_bf16
// GPU-SAME: nvvm.minctasm = 3 : i32

// The fused selection: 16 warps on sm_90/sm_100 (128 registers fit there),
// elsewhere 8 warps with every register they want (at 16 they spilled); a
// chunk of its blocks must hold twice the selected ones, so 332 selected take
// 672 threads and what registers that leaves them (65536 / 672, rounded down
// to 8).
// CHECK-LABEL: func.func @select
// CHECK: sala.fused_sparse_select {{.*}}sala.kernel_config = #sala.kernel_config<threads = 512, min_blocks_per_sm = 0, max_registers = 0>
// CHECK: sala.fused_sparse_select {{.*}}sala.kernel_config = #sala.kernel_config<threads = 672, min_blocks_per_sm = 0, max_registers = 96>
// SM86-LABEL: func.func @select
// select-threads: the fused selection's block size asked for (8 warps on
// sm_90, with every register they want), to time it against the policy's.
// SEL256: sala.fused_sparse_select {{.*}}sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 255>
// SEL256: sala.fused_sparse_select {{.*}}sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 255>
// SELFIT: error: 'sala.fused_sparse_select' op selects 332 blocks (topk + local_blocks), more than half of the 512 blocks of a chunk (256 threads)
// BADSEL: error: sala-choose-kernel-config: select-threads must be 0 (the policy's) or a multiple of 32 in [128, 1024], got 100
// SM86: sala.fused_sparse_select {{.*}}sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 255, max_shared_bytes = 101376>
// SM86: sala.fused_sparse_select {{.*}}sala.kernel_config = #sala.kernel_config<threads = 672, min_blocks_per_sm = 0, max_registers = 96, max_shared_bytes = 101376>
// GPU-LABEL: gpu.func @sala_fused_sparse_select_k32_s16_b64_k64_i1_l32_h32_d128_bf16
// GPU-SAME: known_block_size = array<i32: 512, 1, 1>
// GPU-LABEL: gpu.func @sala_fused_sparse_select_k32_s16_b64_k300_i1_l32_h32_d128_bf16
// GPU-SAME: known_block_size = array<i32: 672, 1, 1>

// BADSMS: sala-choose-kernel-config: sms must be in [1, 65535], got 0
