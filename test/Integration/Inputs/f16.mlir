func.func @f(%x: tensor<?x8x16xf16>, %z: tensor<?x8x16xf16>) -> tensor<?x8x16xf16> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x8x16xf16>
  return %y : tensor<?x8x16xf16>
}
