
!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x4x16xbf16>

func.func @prefill(%q: !q, %ow: tensor<64xbf16>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %a = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} : !q, !st -> !q
  %n = sala.rms_norm full %a, %ow : !q, tensor<64xbf16>
  return %n : !q
}
