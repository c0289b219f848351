func.func @f(%x: tensor<?x32x128xbf16>, %w: tensor<64xbf16>) -> tensor<?x32x128xbf16> {
  %y = sala.rms_norm head %x, %w : tensor<?x32x128xbf16>, tensor<64xbf16>
  return %y : tensor<?x32x128xbf16>
}
