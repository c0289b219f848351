!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!q = tensor<?x32x128xbf16>
func.func @f(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x48xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%q : !q) lens(%cu, %lens) {block_size = 128, dense_len = 8192} : !q, !kv, tensor<?x2x48xi32> -> !q
  return %o : !q
}
