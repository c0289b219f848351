// RUN: salac-opt %s -split-input-file -verify-diagnostics

// One case per verifier message of the sala dialect: every inconsistency names
// the attribute or operand and the values involved.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

// expected-error @+1 {{!sala.kv_cache parameter 'page_size' must be in [1, 65536], got 0}}
func.func private @t0(!sala.kv_cache<page_size = 0, kv_heads = 2, head_dim = 128, element_type = bf16>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.kv_cache parameter 'kv_heads' must be in [1, 1024], got -2}}
func.func private @t1(!sala.kv_cache<page_size = 64, kv_heads = -2, head_dim = 128, element_type = bf16>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.kv_cache element_type must be bf16, f16 or f32, got 'i32'}}
func.func private @t2(!sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = i32>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.compressed_keys kernel_stride (64) must not exceed kernel_size (32)}}
func.func private @t3(!sala.compressed_keys<kernel_size = 32, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.compressed_keys kernel_size (48) must be a multiple of kernel_stride (32)}}
func.func private @t4(!sala.compressed_keys<kernel_size = 48, kernel_stride = 32, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.compressed_keys parameter 'kernel_stride' must be in [1, 4096], got 0}}
func.func private @t5(!sala.compressed_keys<kernel_size = 32, kernel_stride = 0, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.state_pool parameter 'heads' must be in [1, 1024], got 0}}
func.func private @t6(!sala.state_pool<heads = 0, head_dim = 128, element_type = f32>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{!sala.state_pool element_type must be bf16, f16 or f32, got 'i8'}}
func.func private @t7(!sala.state_pool<heads = 32, head_dim = 128, element_type = i8>)

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse kernel_stride (48) must not exceed kernel_size (32)}}
func.func private @a0() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 48, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse block_size (40) must be a multiple of kernel_stride (16)}}
func.func private @a1() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 40, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse parameter 'topk' must be in [0, 4096], got -1}}
func.func private @a2() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = -1, window_size = 2048, init_blocks = 1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse window_size (2000) must be a non-negative multiple of block_size (64)}}
func.func private @a3() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2000, init_blocks = 1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse parameter 'init_blocks' must be in [0, 4096], got -1}}
func.func private @a4() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = -1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse parameter 'dense_len' must be in [0, 16777216], got -5}}
func.func private @a5() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = -5>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse selects no blocks: topk and window_size are both 0}}
func.func private @a6() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 0, window_size = 0, init_blocks = 1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
// expected-error @+1 {{#sala.sparse parameter 'block_size' must be in [1, 4096], got 0}}
func.func private @a7() attributes {c = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 0, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%k: tensor<?x4x128xbf16>, %kv: !kv, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.kv_append' op key has 4 heads but the cache has kv_heads = 2}}
  sala.kv_append %k, %k into %kv[%pt] lens(%cu, %lens) : tensor<?x4x128xbf16>, !kv
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%k: tensor<?x2x64xbf16>, %kv: !kv, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.kv_append' op key head_dim (64) does not match cache head_dim (128)}}
  sala.kv_append %k, %k into %kv[%pt] lens(%cu, %lens) : tensor<?x2x64xbf16>, !kv
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%k: tensor<?x2x128xf16>, %kv: !kv, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.kv_append' op key element type 'f16' differs from the cache's 'bf16'}}
  sala.kv_append %k, %k into %kv[%pt] lens(%cu, %lens) : tensor<?x2x128xf16>, !kv
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%k: tensor<?x?x128xbf16>, %kv: !kv, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.kv_append' op operand #0 must be 3-D [tokens, heads, head_dim] tensor of bf16, f16 or f32 with static heads in [1, 1024] and head_dim in [1, 1024], but got 'tensor<?x?x128xbf16>'}}
  sala.kv_append %k, %k into %kv[%pt] lens(%cu, %lens) : tensor<?x?x128xbf16>, !kv
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%k: !kvt, %v: tensor<?x2x128xf32>, %kv: !kv, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.kv_append' op failed to verify that all of {key, value} have same type}}
  "sala.kv_append"(%k, %v, %kv, %pt, %cu, %lens) : (!kvt, tensor<?x2x128xf32>, !kv, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>) -> ()
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%k: !kvt, %kv: !kv, %pt: tensor<4x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.kv_append' op operand #3 must be tensor<?x?xi32>, but got 'tensor<4x?xi32>'}}
  "sala.kv_append"(%k, %k, %kv, %pt, %cu, %lens) : (!kvt, !kvt, !kv, tensor<4x?xi32>, tensor<?xi32>, tensor<?xi32>) -> ()
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%kv: !kv, %k1: !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.compress_keys' op cache kv_heads (2) differs from compressed keys kv_heads (4)}}
  sala.compress_keys %kv[%pt] into %k1[%pt] lens(%cu, %lens) : !kv, !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%kv: !kv, %k1: !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 64, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.compress_keys' op compressed keys head_dim (64) does not match cache head_dim (128)}}
  sala.compress_keys %kv[%pt] into %k1[%pt] lens(%cu, %lens) : !kv, !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 64, element_type = bf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x32x64xbf16>, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op query head_dim (64) does not match compressed keys head_dim (128)}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : tensor<?x32x64xbf16>, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op group_size must be positive, got 0}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 0, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op query heads (32) must equal group_size (8) x kv_heads (2)}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 8, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op block_size (72) must be a positive multiple of the compressed keys' kernel_stride (16)}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 72, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op pool_kernel (5) and pool_stride (0) must be positive}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 0, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op pool_stride (2) x kernel_stride (16) must equal block_size (64)}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 2, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op pool_padding (5) must be in [0, pool_kernel = 5)}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 5} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op result has 4 KV heads but the compressed keys have 2}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x4x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op scale must be positive and finite, got -1}}
  %s = sala.block_scores %q, %k1[%pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, scale = -1.0 : f32} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op lse keys kernel_stride (24) must be a multiple of the keys' (16)}}
  %s = sala.block_scores %q, %k1[%pt] lse(%k2[%pt] : !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>) lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 1, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op lse keys (kv_heads 1, head_dim 128) differ from the keys (kv_heads 2, head_dim 128)}}
  %s = sala.block_scores %q, %k1[%pt] lse(%k2[%pt] : !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 1, head_dim = 128, element_type = bf16>) lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.topk_blocks' op block_size must be positive, got 0}}
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 0, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.topk_blocks' op topk (-3), init_blocks (1) and local_blocks (32) must be non-negative}}
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = -3, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.topk_blocks' op selects no blocks: topk and local_blocks are both 0}}
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 0, init_blocks = 1, local_blocks = 0} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.topk_blocks' op result must hold topk (64) + local_blocks (32) = 96 blocks per row, got 'tensor<?x2x95xi32>'}}
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x95xi32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.topk_blocks' op scores have 2 KV heads but the result has 4}}
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x4x96xi32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x30x128xbf16>, %kv: !sala.kv_cache<page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>, %sel: tensor<?x4x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_attention' op query heads (30) must be a multiple of kv_heads (4)}}
  %o = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : tensor<?x30x128xbf16>, !sala.kv_cache<page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>, tensor<?x4x96xi32> -> tensor<?x30x128xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %kv: !sala.kv_cache<page_size = 48, kv_heads = 2, head_dim = 128, element_type = bf16>, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_attention' op block_size (64) and the cache's page_size (48) must divide one another}}
  %o = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !sala.kv_cache<page_size = 48, kv_heads = 2, head_dim = 128, element_type = bf16>, tensor<?x2x96xi32> -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %kv: !kv, %sel: tensor<?x1x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_attention' op block indices have 1 KV heads but the cache has kv_heads = 2}}
  %o = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x1x96xi32> -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %kv: !kv, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_attention' op result shape 'tensor<?x16x128xbf16>' differs from query shape 'tensor<?x32x128xbf16>'}}
  %o = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> tensor<?x16x128xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x32x64xbf16>, %kv: !kv, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.dense_attention' op query head_dim (64) does not match cache head_dim (128)}}
  %o = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : tensor<?x32x64xbf16>, !kv -> tensor<?x32x64xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%a: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.length_select' op threshold must be non-negative, got -1}}
  %o = sala.length_select %a, %a lens(%cu, %lens) {threshold = -1} : !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !sala.state_pool<heads = 16, head_dim = 128, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op query has 32 heads but the state pool has 16}}
  %o = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !sala.state_pool<heads = 16, head_dim = 128, element_type = f32> -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op slopes has 2 entries but there are 32 heads}}
  %o = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 2.0>} : !q, !st -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x2x16xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op slopes[1] must be finite and non-negative, got -5.000000e-01}}
  %o = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, -0.5>} : tensor<?x2x16xf32>, !sala.state_pool<heads = 2, head_dim = 16, element_type = f32> -> tensor<?x2x16xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x2x16xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op chunk_size is only meaningful for the chunked form}}
  %o = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>, chunk_size = 64} : tensor<?x2x16xf32>, !sala.state_pool<heads = 2, head_dim = 16, element_type = f32> -> tensor<?x2x16xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x2x16xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op chunk_size must be positive, got 0}}
  %o = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>, chunk_size = 0} : tensor<?x2x16xf32>, !sala.state_pool<heads = 2, head_dim = 16, element_type = f32> -> tensor<?x2x16xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !sala.state_pool<heads = 32, head_dim = 64, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op query head_dim (128) does not match state pool head_dim (64)}}
  %o = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !sala.state_pool<heads = 32, head_dim = 64, element_type = f32> -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: !q, %w: tensor<64xbf16>) {
  // expected-error @+1 {{'sala.rms_norm' op weight has 64 elements but head_dim is 128}}
  %y = sala.rms_norm head %x, %w : !q, tensor<64xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: !q, %w: tensor<128xbf16>) {
  // expected-error @+1 {{'sala.rms_norm' op weight has 128 elements but heads x head_dim is 4096}}
  %y = sala.rms_norm full %x, %w : !q, tensor<128xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: !q, %w: tensor<128xbf16>) {
  // expected-error @+1 {{'sala.rms_norm' op eps must be positive, got 0}}
  %y = sala.rms_norm head %x, %w {eps = 0.0 : f32} : !q, tensor<128xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: tensor<?x32x127xbf16>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'sala.rope' op head_dim must be even for RoPE, got 127}}
  %y = sala.rope neox %x, %p : tensor<?x32x127xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: !q, %p: tensor<?xi32>) {
  // expected-error @+1 {{'sala.rope' op theta must be positive, got -1}}
  %y = sala.rope neox %x, %p {theta = -1.0 : f32} : !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: !q, %p: tensor<?xi64>) {
  // expected-error @+1 {{'sala.rope' op operand #1 must be tensor<?xi32>, but got 'tensor<?xi64>'}}
  %y = "sala.rope"(%x, %p) {style = #sala<rope_style neox>} : (!q, tensor<?xi64>) -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: !q, %z: tensor<?x32x128xf32>) {
  // expected-error @+1 {{'sala.sigmoid_gate' op failed to verify that all of {input, gate, output} have same type}}
  %y = "sala.sigmoid_gate"(%x, %z) : (!q, tensor<?x32x128xf32>) -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%x: tensor<?x32xbf16>, %z: tensor<?x32xbf16>) {
  // expected-error @+1 {{'sala.sigmoid_gate' op operand #0 must be 3-D [tokens, heads, head_dim] tensor of bf16, f16 or f32 with static heads in [1, 1024] and head_dim in [1, 1024], but got 'tensor<?x32xbf16>'}}
  %y = "sala.sigmoid_gate"(%x, %z) : (tensor<?x32xbf16>, tensor<?x32xbf16>) -> tensor<?x32xbf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: tensor<?x4x128xbf16>, %z: tensor<?x32x64xbf16>, %kv: !kv, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op key has 4 heads but the cache has kv_heads = 2}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, tensor<?x4x128xbf16>, !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: !kvt, %z: tensor<?x32x64xbf16>, %kv: !kv, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op gate type 'tensor<?x32x64xbf16>' differs from query type 'tensor<?x32x128xbf16>'}}
  %o = sala.sparse_mixer decode %q, %k, %k gate(%z : tensor<?x32x64xbf16>) cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: !kvt, %z: tensor<?x32x64xbf16>, %kv: !kv, %k1: !sala.compressed_keys<kernel_size = 64, kernel_stride = 32, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op compressed keys (kernel_size 64, kernel_stride 32) do not match config (kernel_size 32, kernel_stride 16)}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !sala.compressed_keys<kernel_size = 64, kernel_stride = 32, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: !kvt, %z: tensor<?x32x64xbf16>, %kv: !sala.kv_cache<page_size = 96, kv_heads = 2, head_dim = 128, element_type = bf16>, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op block_size (64) and the cache's page_size (96) must divide one another}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !sala.kv_cache<page_size = 96, kv_heads = 2, head_dim = 128, element_type = bf16>, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: !kvt, %z: tensor<?x32x64xbf16>, %kv: !kv, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op lse keys kernel_stride (24) must be a multiple of the keys' (16)}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lse(%k2[%pt] : !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x30x128xbf16>, %k: tensor<?x4x128xbf16>, %z: tensor<?x32x64xbf16>, %kv: !sala.kv_cache<page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 24, kernel_stride = 24, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op query heads (30) must be a multiple of kv_heads (4)}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : tensor<?x30x128xbf16>, tensor<?x4x128xbf16>, !sala.kv_cache<page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %w: tensor<64xbf16>, %ow: tensor<1024xbf16>) {
  // expected-error @+1 {{'sala.linear_mixer' op slopes has 1 entries but there are 32 heads}}
  %o = sala.linear_mixer decode %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 1.0>} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %w: tensor<64xbf16>, %ow: tensor<1024xbf16>) {
  // expected-error @+1 {{'sala.linear_mixer' op q norm weight has 64 elements but head_dim is 128}}
  %o = sala.linear_mixer decode %q, %q, %q qk_norm(%w, %w : tensor<64xbf16>, tensor<64xbf16>) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %w: tensor<64xbf16>, %ow: tensor<1024xbf16>) {
  // expected-error @+1 {{'sala.linear_mixer' op out norm weight has 1024 elements but heads x head_dim is 4096}}
  %o = sala.linear_mixer decode %q, %q, %q out_norm(%ow : tensor<1024xbf16>) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %w: tensor<64xbf16>, %ow: tensor<1024xbf16>) {
  // expected-error @+1 {{'sala.linear_mixer' op chunk_size is only meaningful in prefill mode}}
  %o = sala.linear_mixer decode %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, chunk_size = 64} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %w: tensor<64xbf16>, %ow: tensor<1024xbf16>) {
  // expected-error @+1 {{'sala.linear_mixer' op eps must be positive, got -1}}
  %o = sala.linear_mixer prefill %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, eps = -1.0 : f32} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: tensor<?x2x128xf16>, %kv: !kv, %k1: !k1, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op key element type 'f16' differs from the cache's 'bf16'}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, tensor<?x2x128xf16>, !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: !kvt, %kv: !kv, %k1: !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 1, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op compressed keys kv_heads (1) differs from the cache's (2)}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 1, head_dim = 128, element_type = bf16>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k: !kvt, %kv: !kv, %k1: !k1, %k2: !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 1, head_dim = 128, element_type = bf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.sparse_mixer' op lse keys (kv_heads 1, head_dim 128) do not match the cache}}
  %o = sala.sparse_mixer decode %q, %k, %k cache(%kv[%pt]) keys(%k1[%pt]) lse(%k2[%pt] : !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 1, head_dim = 128, element_type = bf16>) lens(%cu, %lens) {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %k1: !k1, %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.block_scores' op lse keys given without their page table}}
  %s = "sala.block_scores"(%q, %k1, %pt, %k2, %cu, %lens) {block_size = 64 : i64, group_size = 16 : i64, pool_kernel = 5 : i64, pool_stride = 4 : i64, pool_padding = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1, 1>} : (!q, !k1, tensor<?x?xi32>, !k2, tensor<?xi32>, tensor<?xi32>) -> tensor<?x2x?xf32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: tensor<?x2x15xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 15, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_mixer' op head_dim must be even for RoPE, got 15}}
  %o = sala.linear_mixer decode %q, %q, %q positions(%cu) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>} : tensor<?x2x15xf32>, !sala.state_pool<heads = 2, head_dim = 15, element_type = f32>
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_mixer' op theta must be positive, got 0}}
  %o = sala.linear_mixer decode %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, theta = 0.0 : f32} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_mixer' op chunk_size must be positive, got -64}}
  %o = sala.linear_mixer prefill %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, chunk_size = -64} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_mixer' op scale must be positive and finite, got 0}}
  %o = sala.linear_mixer decode %q, %q, %q gate(%q : !q) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, scale = 0.0 : f32} : !q, !st
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>
func.func @e(%q: !q, %z: tensor<?x32x64xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_mixer' op gate type 'tensor<?x32x64xbf16>' differs from query type 'tensor<?x32x128xbf16>'}}
  %o = sala.linear_mixer decode %q, %q, %q gate(%z : tensor<?x32x64xbf16>) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  return
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
func.func @fused_linear_bad_out_norm(%q: tensor<?x4x16xbf16>, %ow: tensor<16xbf16>, %pool: !st, %s: tensor<?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  // expected-error @+1 {{out norm weight}}
  %o = sala.fused_linear_attention %q, %q, %q out_norm(%ow : tensor<16xbf16>) state(%pool[%s]) lens(%cu, %l) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : tensor<?x4x16xbf16>, !st
  return %o : tensor<?x4x16xbf16>
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
func.func @fused_linear_bad_eps(%q: tensor<?x4x16xbf16>, %pool: !st, %s: tensor<?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  // expected-error @+1 {{qk_eps must be positive, got 0}}
  %o = sala.fused_linear_attention %q, %q, %q state(%pool[%s]) lens(%cu, %l) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, qk_eps = 0.0 : f32} : tensor<?x4x16xbf16>, !st
  return %o : tensor<?x4x16xbf16>
}

// -----

// The fused selection checks stage 1's attributes and the selection's.
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @fused_select_bad_pool(%q: tensor<?x32x128xbf16>, %k1: !k1, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x96xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op pool_stride (2) x kernel_stride (16) must equal block_size (64)}}
  %sel = sala.fused_sparse_select %q, %k1[%pt] lens(%cu, %l) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 2, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}

// -----

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @fused_select_bad_count(%q: tensor<?x32x128xbf16>, %k1: !k1, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x64xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op result must hold topk (64) + local_blocks (32) = 96 blocks per row, got 'tensor<?x2x64xi32>'}}
  %sel = sala.fused_sparse_select %q, %k1[%pt] lens(%cu, %l) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x64xi32>
  return %sel : tensor<?x2x64xi32>
}

// -----

// The fused selection keeps at most 512 blocks (its kernel's chunks keep the
// best of theirs on chip); sala-fuse-sparse-select leaves more unfused.
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @fused_select_too_many(%q: tensor<?x32x128xbf16>, %k1: !k1, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x513xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op selects 513 blocks (topk + local_blocks); the fused selection takes at most 512 (leave larger selections unfused)}}
  %sel = sala.fused_sparse_select %q, %k1[%pt] lens(%cu, %l) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 481, init_blocks = 1, local_blocks = 32} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x513xi32>
  return %sel : tensor<?x2x513xi32>
}

// -----

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @fused_select_bad_heads(%q: tensor<?x32x128xbf16>, %k1: !k1, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x96xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op result has 4 KV heads but the compressed keys have 2}}
  %sel = sala.fused_sparse_select %q, %k1[%pt] lens(%cu, %l) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x32x128xbf16>, !k1 -> tensor<?x4x96xi32>
  return %sel : tensor<?x4x96xi32>
}

// -----

// The fused KV update checks the append's and the compression's rules.
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1h4 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 4, head_dim = 128, element_type = bf16>
func.func @fused_kv_bad_heads(%k: tensor<?x2x128xbf16>, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1h4, %cu: tensor<?xi32>, %l: tensor<?xi32>) {
  // expected-error @+1 {{'sala.fused_kv_update' op cache kv_heads (2) differs from compressed keys kv_heads (4)}}
  sala.fused_kv_update %k, %k into %kv[%pt] compress(%k1[%pt]) lens(%cu, %l) : tensor<?x2x128xbf16>, !kv, !k1h4
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @fused_kv_bad_key(%k: tensor<?x4x128xbf16>, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %cu: tensor<?xi32>, %l: tensor<?xi32>) {
  // expected-error @+1 {{'sala.fused_kv_update' op key has 4 heads but the cache has kv_heads = 2}}
  sala.fused_kv_update %k, %k into %kv[%pt] compress(%k1[%pt]) lens(%cu, %l) : tensor<?x4x128xbf16>, !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!q = tensor<?x32x128xbf16>
func.func @e(%q: !q, %kv: !kv, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.fused_sparse_attention' op dense_len must be non-negative (0: every length sparse), got -1}}
  %o = sala.fused_sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64, dense_len = -1} : !q, !kv, tensor<?x2x96xi32> -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!q = tensor<?x32x128xbf16>
func.func @e(%q: !q, %kv: !kv, %sel: tensor<?x2x96xi32>, %z: tensor<?x32x128xf16>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.fused_sparse_attention' op gate type 'tensor<?x32x128xf16>' differs from query type 'tensor<?x32x128xbf16>'}}
  %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : tensor<?x32x128xf16>) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!q = tensor<?x32x128xbf16>
func.func @e(%q: !q, %kv: !kv, %sel: tensor<?x1x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pt: tensor<?x?xi32>) {
  // expected-error @+1 {{'sala.fused_sparse_attention' op block indices have 1 KV heads but the cache has kv_heads = 2}}
  %o = sala.fused_sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x1x96xi32> -> !q
  return
}

// -----

// Token tensors: bf16, f16 or f32 with static heads and head_dim in range
// (f64 and the like would fail deep in lowering; a dynamic head count named
// kernels with a negative number).
func.func @e(%x: tensor<?x4x128xf64>, %z: tensor<?x4x128xf64>) {
  // expected-error @+1 {{'sala.sigmoid_gate' op operand #0 must be 3-D [tokens, heads, head_dim] tensor of bf16, f16 or f32 with static heads in [1, 1024] and head_dim in [1, 1024], but got 'tensor<?x4x128xf64>'}}
  %y = sala.sigmoid_gate %x, %z : tensor<?x4x128xf64>
  return
}

// -----

func.func @e(%x: tensor<?x4x0xf32>, %z: tensor<?x4x0xf32>) {
  // expected-error @+1 {{'sala.sigmoid_gate' op operand #0 must be 3-D [tokens, heads, head_dim] tensor of bf16, f16 or f32 with static heads in [1, 1024] and head_dim in [1, 1024], but got 'tensor<?x4x0xf32>'}}
  %y = sala.sigmoid_gate %x, %z : tensor<?x4x0xf32>
  return
}

// -----

func.func @e(%x: tensor<?x4294967296x4294967296xf32>, %z: tensor<?x4294967296x4294967296xf32>) {
  // expected-error @+1 {{'sala.sigmoid_gate' op operand #0 must be 3-D [tokens, heads, head_dim] tensor of bf16, f16 or f32 with static heads in [1, 1024] and head_dim in [1, 1024], but got 'tensor<?x4294967296x4294967296xf32>'}}
  %y = sala.sigmoid_gate %x, %z : tensor<?x4294967296x4294967296xf32>
  return
}

// -----

// Sizes past SalaLimits.h: a 2^62-token page, a 2^40 top-k, a 1M-token block.
// expected-error @+1 {{!sala.kv_cache parameter 'page_size' must be in [1, 65536], got 4611686018427387904}}
func.func @e(%kv: !sala.kv_cache<page_size = 4611686018427387904, kv_heads = 2, head_dim = 128, element_type = bf16>) {
  return
}

// -----

// expected-error @+1 {{#sala.sparse parameter 'topk' must be in [0, 4096], got 1099511627776}}
func.func @e() attributes {s = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 1099511627776, window_size = 2048, init_blocks = 1, dense_len = 8192>} {
  return
}

// -----

// expected-error @+1 {{#sala.sparse parameter 'block_size' must be in [1, 4096], got 1048576}}
func.func @e() attributes {s = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 1048576, topk = 64, window_size = 0, init_blocks = 1, dense_len = 8192>} {
  return
}

// -----

// A 1M-token block with a 65537-wide pool window (the pool was unrolled in
// full when forming the kernel: memory without end).
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @fused_select_huge_block(%q: tensor<?x32x128xbf16>, %k1: !k1, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x96xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op block_size must be at most 4096, got 1048576}}
  %sel = sala.fused_sparse_select %q, %k1[%pt] lens(%cu, %l) {block_size = 1048576, group_size = 16, pool_kernel = 65537, pool_stride = 65536, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x32x128xbf16>, !k1 -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}

// -----

func.func @e(%q: tensor<?x2x16xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  // expected-error @+1 {{'sala.linear_attention' op chunk_size must be at most 4096, got 4294967296}}
  %o = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>, chunk_size = 4294967296} : tensor<?x2x16xf32>, !sala.state_pool<heads = 2, head_dim = 16, element_type = f32> -> tensor<?x2x16xf32>
  return
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
func.func @fused_linear_chunk_of_recurrent(%q: tensor<?x4x16xbf16>, %pool: !st, %s: tensor<?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  // expected-error @+1 {{'sala.fused_linear_attention' op chunk_size is only meaningful for the chunked form}}
  %o = sala.fused_linear_attention %q, %q, %q state(%pool[%s]) lens(%cu, %l) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, chunk_size = 64} : tensor<?x4x16xbf16>, !st
  return %o : tensor<?x4x16xbf16>
}

// -----

!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
func.func @fused_linear_chunk_bound(%q: tensor<?x4x16xbf16>, %pool: !st, %s: tensor<?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  // expected-error @+1 {{'sala.fused_linear_attention' op chunk_size must be at most 4096, got 8192}}
  %o = sala.fused_linear_attention %q, %q, %q state(%pool[%s]) lens(%cu, %l) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, form = #sala<linear_form chunked>, chunk_size = 8192} : tensor<?x4x16xbf16>, !st
  return %o : tensor<?x4x16xbf16>
}

// -----

func.func @fused_norm_gate_weight(%o: tensor<?x4x16xbf16>, %w: tensor<16xbf16>) -> tensor<?x4x16xbf16> {
  // expected-error @+1 {{'sala.fused_rms_norm_gate' op weight has 16 elements but heads x head_dim is 64}}
  %y = sala.fused_rms_norm_gate %o, %w, %o : tensor<?x4x16xbf16>, tensor<16xbf16>
  return %y : tensor<?x4x16xbf16>
}
