!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>
func.func @chain(%q: !q, %k: !q, %v: !q, %z: !q, %qw: tensor<16xbf16>, %kw: tensor<16xbf16>, %ow: tensor<64xbf16>, %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %qn = sala.rms_norm head %q, %qw {eps = 1.0e-05 : f32} : !q, tensor<16xbf16>
  %kn = sala.rms_norm head %k, %kw {eps = 1.0e-05 : f32} : !q, tensor<16xbf16>
  %qr = sala.rope neox %qn, %pos {theta = 5.0e+05 : f32} : !q
  %kr = sala.rope neox %kn, %pos {theta = 5.0e+05 : f32} : !q
  %a = sala.linear_attention chunked %qr, %kr, %v, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, chunk_size = 32} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow {eps = 9.765625e-04 : f32} : !q, tensor<64xbf16>
  %o = sala.sigmoid_gate %n, %z : !q
  return %o : !q
}
