

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 128, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
!st = !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
!st4 = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
!q = tensor<?x32x128xbf16>
!kvt = tensor<?x2x128xbf16>


func.func @cache_ops(%k: !kvt, %v: !kvt, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>,
                     %cu: tensor<?xi32>, %lens: tensor<?xi32>, %kvp1: !kv1) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : !kvt, !kv
  sala.kv_append %k, %v into %kvp1[%pt] lens(%cu, %lens) : !kvt, !kv1
  sala.compress_keys %kv[%pt] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
  sala.fused_kv_update %k, %v into %kv[%pt] compress(%k1[%k1pt]) lens(%cu, %lens) : !kvt, !kv, !k1
  return
}

func.func @sparse_ops(%q: !q, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %k2: !k2, %k2pt: tensor<?x?xi32>,
                      %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> !q {
  %s = sala.block_scores %q, %k1[%k1pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1} : !q, !k1 -> tensor<?x2x?xf32>
  %s2 = sala.block_scores %q, %k1[%k1pt] lse(%k2[%k2pt] : !k2) lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, scale = 0.0883883461 : f32} : !q, !k1 -> tensor<?x2x?xf32>
  %sel = sala.topk_blocks %s lens(%cu, %lens) {block_size = 64, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x2x?xf32> -> tensor<?x2x96xi32>
  %fsel = sala.fused_sparse_select %q, %k1[%k1pt] lens(%cu, %lens) {block_size = 64, group_size = 16, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : !q, !k1 -> tensor<?x2x96xi32>
  %o = sala.sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64} : !q, !kv, tensor<?x2x96xi32> -> !q
  %d = sala.dense_attention %q, %kv[%pt] lens(%cu, %lens) : !q, !kv -> !q
  %m = sala.length_select %d, %o lens(%cu, %lens) {threshold = 8192} : !q
  %f = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%m : !q) lens(%cu, %lens) {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
  %f0 = sala.fused_sparse_attention %q, %kv[%pt], %sel lens(%cu, %lens) {block_size = 64, dense_len = 0, scale = 0.125 : f32} : !q, !kv, tensor<?x2x96xi32> -> !q
  return %f : !q
}

func.func @linear_ops(%q: !q, %z: !q, %pool: !st, %slots: tensor<?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pos: tensor<?xi32>,
                      %w: tensor<128xbf16>, %ow: tensor<4096xbf16>, %x4: tensor<?x4x16xf32>, %pool4: !st4) {
  %a = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st -> !q
  %b = sala.linear_attention chunked %x4, %x4, %x4, %pool4[%slots] lens(%cu, %lens) {slopes = array<f64: 1.0, 0.5, 0.25, 0.125>, chunk_size = 64} : tensor<?x4x16xf32>, !st4 -> tensor<?x4x16xf32>
  %n = sala.rms_norm head %q, %w {eps = 1.0e-06 : f32} : !q, tensor<128xbf16>
  %n2 = sala.rms_norm full %q, %ow {eps = 1.0e-05 : f32} : !q, tensor<4096xbf16>
  %r = sala.rope neox %q, %pos : !q
  %r2 = sala.rope interleaved %q, %pos {theta = 1.0e+06 : f32} : !q
  %g = sala.sigmoid_gate %q, %z : !q
  return
}

func.func @mixers(%q: !q, %k: !kvt, %v: !kvt, %z: !q, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>,
                  %k2: !k2, %k2pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %pool: !st,
                  %slots: tensor<?xi32>, %pos: tensor<?xi32>, %w: tensor<128xbf16>, %ow: tensor<4096xbf16>) {
  %a = sala.sparse_mixer decode %q, %k, %v gate(%z : !q) cache(%kv[%pt]) keys(%k1[%k1pt]) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 8192>} : !q, !kvt, !kv, !k1
  %b = sala.sparse_mixer prefill %q, %k, %v cache(%kv[%pt]) keys(%k1[%k1pt]) lse(%k2[%k2pt] : !k2) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64, window_size = 2048, init_blocks = 1, dense_len = 0>} : !q, !kvt, !kv, !k1
  %c = sala.linear_mixer decode %q, %q, %q gate(%z : !q) qk_norm(%w, %w : tensor<128xbf16>, tensor<128xbf16>) out_norm(%ow : tensor<4096xbf16>)
      positions(%pos) state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>} : !q, !st
  %d = sala.linear_mixer prefill %q, %q, %q state(%pool[%slots]) lens(%cu, %lens) {slopes = array<f64: 0.8408964152537145, 0.70710678118654757, 0.59460355750136051, 0.5, 0.42044820762685725, 0.35355339059327379, 0.29730177875068026, 0.25, 0.21022410381342863, 0.17677669529663689, 0.14865088937534013, 0.125, 0.10511205190671431, 0.088388347648318447, 0.074325444687670064, 0.0625, 0.052556025953357156, 0.044194173824159223, 0.037162722343835032, 0.03125, 0.026278012976678578, 0.022097086912079612, 0.018581361171917516, 0.015625, 0.013139006488339289, 0.011048543456039806, 0.009290680585958758, 0.0078125, 0.0065695032441696445, 0.0055242717280199029, 0.004645340292979379, 0.00390625>, chunk_size = 128, rope_style = #sala<rope_style interleaved>} : !q, !st
  return
}
