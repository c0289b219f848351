// Chunked (prefill) linear attention: no GPU kernel yet.
!st = !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>
func.func @f(%x: tensor<?x2x16xf32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x16xf32> {
  %o = sala.linear_attention chunked %x, %x, %x, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>} : tensor<?x2x16xf32>, !st -> tensor<?x2x16xf32>
  return %o : tensor<?x2x16xf32>
}
