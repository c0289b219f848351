func.func @f(%x: tensor<?x8x16xf32>, %z: tensor<?x8x16xf32>) -> tensor<?x8x16xf32> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x8x16xf32>
  %s = tensor.empty() : tensor<4xf32>
  return %y : tensor<?x8x16xf32>
}
