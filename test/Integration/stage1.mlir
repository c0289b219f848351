// Stage 1 of InfLLM-V2 on the host against the reference: block scores from
// the compressed keys (exact softmax, and with the K2 normaliser), and top-k
// selection with more candidate blocks than slots, so that the selection is
// real; the generated scores come in few levels, so ties (to the lower block)
// occur.

// Queries before the first complete window (all -inf), at window boundaries,
// and far in; a sequence without new tokens.
// RUN: salac run %s --func=scores --q-lens=1,4,30,0 --contexts=300,20,100,3 | FileCheck %s --check-prefix=SCORES
// RUN: salac run %s --func=scores_k2 --q-lens=1,4,30 --contexts=300,60,100 | FileCheck %s --check-prefix=SCORES
// SCORES:      result #0 (sala.block_scores) {{.*}} f32 {{.*}} PASS
// SCORES-NEXT: PASS: 1 of 1 outputs agree with the reference

// RUN: salac run %s --func=topk --q-lens=1,5,2 --contexts=400,250,10 | FileCheck %s --check-prefix=TOPK
// RUN: salac run %s --func=topk_many --q-lens=3,1 --contexts=300,37 --seed=7 | FileCheck %s --check-prefix=TOPK
// TOPK:      result #0 (sala.topk_blocks) {{.*}} i32 mismatches 0 {{.*}} PASS
// TOPK-NEXT: PASS: 1 of 1 outputs agree with the reference

// Scores feeding the selection, as after sala-decompose.
// RUN: salac run %s --func=scores_topk --q-lens=2,1 --contexts=500,330 | FileCheck %s --check-prefix=CHAIN
// CHAIN:      result #0 (sala.topk_blocks) {{.*}} mismatches 0 {{.*}} PASS
// CHAIN-NEXT: PASS: 1 of 1

!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 16, element_type = f32>
!k2 = !sala.compressed_keys<kernel_size = 64, kernel_stride = 32, page_size = 2, kv_heads = 2, head_dim = 16, element_type = f32>

func.func @scores(%q: tensor<?x8x16xf32>, %k1: !k1, %p1: tensor<?x?xi32>, %cu: tensor<?xi32>,
                  %lens: tensor<?xi32>) -> tensor<?x2x?xf32> {
  %s = sala.block_scores %q, %k1[%p1] lens(%cu, %lens)
      {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1}
      : tensor<?x8x16xf32>, !k1 -> tensor<?x2x?xf32>
  return %s : tensor<?x2x?xf32>
}

func.func @scores_k2(%q: tensor<?x8x16xf32>, %k1: !k1, %p1: tensor<?x?xi32>, %k2: !k2,
                     %p2: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x2x?xf32> {
  %s = sala.block_scores %q, %k1[%p1] lse(%k2[%p2] : !k2) lens(%cu, %lens)
      {block_size = 32, group_size = 4, pool_kernel = 3, pool_stride = 2, pool_padding = 1,
       scale = 0.5 : f32}
      : tensor<?x8x16xf32>, !k1 -> tensor<?x2x?xf32>
  return %s : tensor<?x2x?xf32>
}

func.func @topk(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x2x3xi32> {
  %b = sala.topk_blocks %s lens(%cu, %lens)
      {block_size = 64, topk = 2, init_blocks = 1, local_blocks = 1}
      : tensor<?x2x?xf32> -> tensor<?x2x3xi32>
  return %b : tensor<?x2x3xi32>
}

func.func @topk_many(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x2x7xi32> {
  %b = sala.topk_blocks %s lens(%cu, %lens)
      {block_size = 16, topk = 4, init_blocks = 2, local_blocks = 3}
      : tensor<?x2x?xf32> -> tensor<?x2x7xi32>
  return %b : tensor<?x2x7xi32>
}

func.func @scores_topk(%q: tensor<?x8x16xf32>, %k1: !k1, %p1: tensor<?x?xi32>,
                       %cu: tensor<?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x4xi32> {
  %s = sala.block_scores %q, %k1[%p1] lens(%cu, %lens)
      {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1}
      : tensor<?x8x16xf32>, !k1 -> tensor<?x2x?xf32>
  %b = sala.topk_blocks %s lens(%cu, %lens)
      {block_size = 64, topk = 3, init_blocks = 1, local_blocks = 1}
      : tensor<?x2x?xf32> -> tensor<?x2x4xi32>
  return %b : tensor<?x2x4xi32>
}
