
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

func.func @not_the_fallback(%q: !q, %kv: !kv, %kv2: !kv, %pt: tensor<?x?xi32>, %sel: tensor<?x2x96xi32>, %z: !q, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %s = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) {scale = 0.5 : f32} : !q, !kv -> !q
  %m = sala.length_select %d, %s lens(%cu, %lens) {threshold = 8192} : !q
  %o = sala.sigmoid_gate %m, %z : !q
  %s2 = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d2 = sala.dense_attention %q, %kv2[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m2 = sala.length_select %d2, %s2 lens(%cu, %lens) {threshold = 8192} : !q
  return %o, %m2 : !q, !q
}
