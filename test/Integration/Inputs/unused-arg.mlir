func.func @f(%x: tensor<?x8x16xf32>, %z: tensor<?x8x16xf32>, %unused: tensor<?xi32>) -> tensor<?x8x16xf32> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x8x16xf32>
  return %y : tensor<?x8x16xf32>
}
