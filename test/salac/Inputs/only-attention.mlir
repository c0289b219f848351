!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @f(%q: tensor<?x32x128xbf16>, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x32x128xbf16> {
  %o = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : tensor<?x32x128xbf16>, !kv -> tensor<?x32x128xbf16>
  return %o : tensor<?x32x128xbf16>
}
