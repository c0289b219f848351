// Two blocks: @gate has a kernel for every op; @partly does not (chunked f32
// linear attention has no GPU kernel), so it cannot be planned as a mixer.
!st = !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>
func.func @gate(%x: tensor<?x32x128xbf16>, %z: tensor<?x32x128xbf16>) -> tensor<?x32x128xbf16> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x32x128xbf16>
  return %y : tensor<?x32x128xbf16>
}
func.func @partly(%x: tensor<?x2x16xf32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x16xf32> {
  %o = sala.linear_attention chunked %x, %x, %x, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5>} : tensor<?x2x16xf32>, !st -> tensor<?x2x16xf32>
  %g = sala.sigmoid_gate %o, %x : tensor<?x2x16xf32>
  return %g : tensor<?x2x16xf32>
}
