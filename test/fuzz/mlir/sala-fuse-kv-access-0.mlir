

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!t = tensor<?x2x16xbf16>

func.func @chain(%k: !t, %v: !t, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %k2: !k2, %k2pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : !t, !kv
  sala.compress_keys %kv[%pt] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
  sala.compress_keys %kv[%pt] into %k2[%k2pt] lens(%cu, %lens) : !kv, !k2
  return
}
