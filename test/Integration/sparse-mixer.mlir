// The whole InfLLM-V2 mixer (sala.sparse_mixer, expanded by sala-decompose and
// lowered to host loops) against the reference mixer. A small top-k (2 + 1
// local block) makes the selection real at a few hundred tokens; dense_len 128
// puts sequences of one batch on both paths (127 tokens: dense, 128: sparse).

// RUN: salac run %s --func=mixer --q-lens=1,1,1,1 --contexts=100,126,127,500 | FileCheck %s --check-prefix=MIX
// RUN: salac run %s --func=mixer --mode=prefill --q-lens=40,70,1,0 --contexts=0,200,127,9 | FileCheck %s --check-prefix=MIX
// MIX:      result #0 (sala.sparse_mixer) {{.*}} f32 {{.*}} PASS
// MIX-NEXT: arg #4 kv cache K {{.*}} PASS
// MIX-NEXT: arg #4 kv cache V {{.*}} PASS
// MIX-NEXT: arg #6 compressed keys {{.*}} PASS
// MIX-NEXT: PASS: 4 of 4 outputs agree with the reference

// Page size 1 (SGLang's layout), the K2 normaliser, bf16.
// RUN: salac run %s --func=mixer_p1_k2 --q-lens=1,3,0 --contexts=300,64,5 | FileCheck %s --check-prefix=K2
// RUN: salac run %s --func=mixer_p1_k2 --mode=prefill --q-lens=65,2 --contexts=31,250 --seed=5 | FileCheck %s --check-prefix=K2
// K2:      result #0 (sala.sparse_mixer) {{.*}} bf16 {{.*}} PASS
// K2-NEXT: arg #4 kv cache K {{.*}} PASS
// K2-NEXT: arg #4 kv cache V {{.*}} PASS
// K2-NEXT: arg #6 compressed keys {{.*}} PASS
// K2-NEXT: arg #8 compressed keys {{.*}} PASS
// K2-NEXT: PASS: 5 of 5 outputs agree with the reference

!kv = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 32, element_type = f32>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 32, element_type = f32>
!kvb = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 32, element_type = bf16>
!k1b = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 32, element_type = bf16>
!k2b = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 2, kv_heads = 2, head_dim = 32, element_type = bf16>

func.func @mixer(%q: tensor<?x8x32xf32>, %k: tensor<?x2x32xf32>, %v: tensor<?x2x32xf32>,
                 %z: tensor<?x8x32xf32>, %cache: !kv, %pages: tensor<?x?xi32>, %k1: !k1,
                 %k1pages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x8x32xf32> {
  %o = sala.sparse_mixer decode %q, %k, %v gate(%z : tensor<?x8x32xf32>)
      cache(%cache[%pages]) keys(%k1[%k1pages]) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 2,
                             window_size = 64, init_blocks = 1, dense_len = 128>}
      : tensor<?x8x32xf32>, tensor<?x2x32xf32>, !kv, !k1
  return %o : tensor<?x8x32xf32>
}

func.func @mixer_p1_k2(%q: tensor<?x8x32xbf16>, %k: tensor<?x2x32xbf16>,
                       %v: tensor<?x2x32xbf16>, %z: tensor<?x8x32xbf16>, %cache: !kvb,
                       %pages: tensor<?x?xi32>, %k1: !k1b, %k1pages: tensor<?x?xi32>,
                       %k2: !k2b, %k2pages: tensor<?x?xi32>, %cu: tensor<?xi32>,
                       %lens: tensor<?xi32>) -> tensor<?x8x32xbf16> {
  %o = sala.sparse_mixer prefill %q, %k, %v gate(%z : tensor<?x8x32xbf16>)
      cache(%cache[%pages]) keys(%k1[%k1pages]) lse(%k2[%k2pages] : !k2b) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 2,
                             window_size = 128, init_blocks = 1, dense_len = 0>}
      : tensor<?x8x32xbf16>, tensor<?x2x32xbf16>, !kvb, !k1b
  return %o : tensor<?x8x32xbf16>
}
