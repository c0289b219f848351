func.func @f(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x96xi32> {
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}
