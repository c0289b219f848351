
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!q = tensor<?x8x16xbf16>

func.func @too_many_selected(%q: !q, %k1: !k1, %kpt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (tensor<?x2x513xi32>, tensor<?x2x512xi32>) {
  %s = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 481, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x513xi32>
  %s2 = sala.block_scores %q, %k1[%kpt] lens(%cu, %lens) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %sel2 = sala.topk_blocks %s2 lens(%cu, %lens) {block_size = 64, topk = 481, init_blocks = 1, local_blocks = 31} : tensor<?x2x?xf32> -> tensor<?x2x512xi32>
  return %sel, %sel2 : tensor<?x2x513xi32>, tensor<?x2x512xi32>
}
