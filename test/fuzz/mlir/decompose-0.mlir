

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

func.func @sparse_decode(%q: !q, %k: !kvt, %v: !kvt, %z: !q, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.sparse_mixer decode %q, %k, %v gate(%z : !q) cache(%kv[%pt]) keys(%k1[%k1pt]) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  return %o : !q
}
