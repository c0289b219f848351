func.func @norm(%x: tensor<4x8x16xf32>, %w: tensor<16xf32>) -> tensor<4x8x16xf32> {
  %y = sala.rms_norm head %x, %w : tensor<4x8x16xf32>, tensor<16xf32>
  return %y : tensor<4x8x16xf32>
}
