
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>

func.func @linear_decode(%q: !q, %k: !q, %v: !q, %z: !q, %qw: tensor<128xbf16>, %kw: tensor<128xbf16>, %ow: tensor<4096xbf16>,
                         %pos: tensor<?xi32>, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %o = sala.linear_mixer decode %q, %k, %v gate(%z : !q) qk_norm(%qw, %kw : tensor<128xbf16>, tensor<128xbf16>)
      out_norm(%ow : tensor<4096xbf16>) positions(%pos) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  return %o : !q
}
