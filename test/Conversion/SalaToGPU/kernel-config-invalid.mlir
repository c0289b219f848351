// RUN: salac-opt %s --split-input-file --verify-diagnostics --convert-sala-to-gpu

// A kernel config is checked where it is parsed, and a kernel built for one
// block size refuses another.

!q = tensor<?x32x128xbf16>
func.func @threads(%q: !q, %z: !q) -> !q {
  // expected-error @+1 {{#sala.kernel_config threads must be a multiple of 32 in [32, 1024], got 100}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 100, min_blocks_per_sm = 0, max_registers = 0>} : !q
  return %g : !q
}

// -----

!q = tensor<?x32x128xbf16>
func.func @both(%q: !q, %z: !q) -> !q {
  // expected-error @+1 {{#sala.kernel_config sets both min_blocks_per_sm (2) and max_registers (128): choose one}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 2, max_registers = 128>} : !q
  return %g : !q
}

// -----

!q = tensor<?x32x128xbf16>
func.func @split(%q: !q, %z: !q) -> !q {
  // expected-error @+2 {{#sala.split_rule max_splits must be in [1, 65535], got 0}}
  // expected-error @+1 {{failed to parse Sala_KernelConfigAttr parameter 'split'}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, split = <sms = 132, blocks_per_sm = 2, max_splits = 0, few_pairs_max_splits = 24, min_tiles_per_split = 4>>} : !q
  return %g : !q
}

// -----

!q = tensor<?x32x128xbf16>
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @attention(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  // expected-error @+1 {{kernel_config threads = 256: this kernel is built for 128 threads a block}}
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0>} : !q, !kv -> !q
  return %d : !q
}

// -----

!q = tensor<?x32x128xbf16>
func.func @shared_too_large(%q: !q, %z: !q) -> !q {
  // expected-error @below {{#sala.kernel_config max_shared_bytes must be in [49152, 232448], got 300000}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, max_shared_bytes = 300000>} : !q
  return %g : !q
}

// -----

!q = tensor<?x32x128xbf16>
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @tile(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  // expected-error @+1 {{kernel_config tile = 128, stages = 2: this kernel is built for tiles of 64 tokens, 1 stage(s)}}
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) {sala.kernel_config = #sala.kernel_config<threads = 128, min_blocks_per_sm = 0, max_registers = 0, tile = 128, stages = 2>} : !q, !kv -> !q
  return %d : !q
}

// -----

!q = tensor<?x32x128xbf16>
func.func @tile_without_stages(%q: !q, %z: !q) -> !q {
  // expected-error @below {{#sala.kernel_config sets tile (64) and stages (0) together or neither}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, tile = 64>} : !q
  return %g : !q
}

// -----

// The fused selection takes 4 to 32 warps, with at most half of a chunk's
// blocks (at least 512) selected.
!q = tensor<?x32x128xbf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @select_threads(%q: !q, %k: !ck, %kt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x96xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op kernel_config threads = 96: the fused selection needs a multiple of 32 from 128 to 1024}}
  %b = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 64, group_size = 16, init_blocks = 1, local_blocks = 32, pool_kernel = 5, pool_padding = 1, pool_stride = 4, topk = 64, sala.kernel_config = #sala.kernel_config<threads = 96, min_blocks_per_sm = 0, max_registers = 0>} : !q, !ck -> tensor<?x2x96xi32>
  return %b : tensor<?x2x96xi32>
}

// -----

!q = tensor<?x32x128xbf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @select_chunk(%q: !q, %k: !ck, %kt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x332xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op selects 332 blocks (topk + local_blocks), more than half of the 512 blocks of a chunk (256 threads)}}
  %b = sala.fused_sparse_select %q, %k[%kt] lens(%cu, %lens) {block_size = 64, group_size = 16, init_blocks = 1, local_blocks = 32, pool_kernel = 5, pool_padding = 1, pool_stride = 4, topk = 300, sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 255>} : !q, !ck -> tensor<?x2x332xi32>
  return %b : tensor<?x2x332xi32>
}

// -----

!q = tensor<?x32x128xbf16>
func.func @segment_of_whole_tiles(%q: !q, %z: !q) -> !q {
  // expected-error @+1 {{#sala.kernel_config segment (100) must be a multiple of the tile (64)}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, tile = 64, stages = 1, segment = 100>} : !q
  return %g : !q
}

// -----

!q = tensor<?x32x128xbf16>
func.func @segment_bound(%q: !q, %z: !q) -> !q {
  // expected-error @+1 {{#sala.kernel_config segment must be 0 (none) or in [1, 1048576] tokens, got 2097152}}
  %g = sala.sigmoid_gate %q, %z {sala.kernel_config = #sala.kernel_config<threads = 256, min_blocks_per_sm = 0, max_registers = 0, tile = 64, stages = 1, segment = 2097152>} : !q
  return %g : !q
}
