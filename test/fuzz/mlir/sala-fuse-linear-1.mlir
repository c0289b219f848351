
!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

func.func @shared_values(%q: !q, %k: !q, %v: !q, %z: !q, %w: tensor<16xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> (!q, !q) {
  %qn = sala.rms_norm head %q, %w : !q, tensor<16xbf16>
  %kn = sala.rms_norm head %k, %w : !q, tensor<16xbf16>
  %qr = sala.rope neox %qn, %pos : !q
  %kr = sala.rope neox %kn, %pos : !q
  %a = sala.linear_attention recurrent %qr, %kr, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %o = sala.sigmoid_gate %a, %z : !q
  return %o, %qn : !q, !q
}
