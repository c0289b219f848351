func.func @sala_kernels(%x: tensor<?x4x128xbf16>, %z: tensor<?x4x128xbf16>) -> tensor<?x4x128xbf16> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x4x128xbf16>
  return %y : tensor<?x4x128xbf16>
}
