func.func @gate(%x: tensor<?x32x128xbf16>, %z: tensor<?x32x128xbf16>) -> tensor<?x32x128xbf16> {
  %y = sala.sigmoid_gate %x, %z : tensor<?x32x128xbf16>
  return %y : tensor<?x32x128xbf16>
}
