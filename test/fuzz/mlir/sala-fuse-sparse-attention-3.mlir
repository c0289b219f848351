
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

func.func @alone(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  return %s : !q
}
