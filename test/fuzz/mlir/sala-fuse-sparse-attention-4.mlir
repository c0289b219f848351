
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

func.func @output_also_returned(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  %o = sala.sigmoid_gate %m, %z : !q
  return %o, %m : !q, !q
}
