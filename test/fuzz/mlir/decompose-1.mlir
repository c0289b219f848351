
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

func.func @sparse_prefill(%q: !q, %k: !kvt, %v: !kvt, %kv: !kv, %pt: tensor<?x?xi32>,
    %k1: !sala.compressed_keys<kernel_size = 16, kernel_stride = 8, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>,
    %k2: !k2, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.sparse_mixer prefill %q, %k, %v cache(%kv[%pt]) keys(%k1[%pt]) lse(%k2[%pt] : !k2) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 16, kernel_stride = 8, block_size = 32, topk = 8, window_size = 256, init_blocks = 2, dense_len = 0>}
      : !q, !kvt, !kv, !sala.compressed_keys<kernel_size = 16, kernel_stride = 8, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
  return %o : !q
}
