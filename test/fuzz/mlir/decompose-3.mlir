
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

func.func @linear_prefill(%x: tensor<?x2x16xf32>, %pool: !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x16xf32> {
  %o = sala.linear_mixer prefill %x, %x, %x state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>, chunk_size = 32} : tensor<?x2x16xf32>, !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>
  return %o : tensor<?x2x16xf32>
}
