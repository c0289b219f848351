// RUN: salac-opt %s --convert-sala-to-loops --split-input-file --verify-diagnostics | FileCheck %s

// Signatures: a KV cache becomes its K and V buffers in place, compressed keys
// and state pools one buffer each; tensor results become allocated memrefs.

!kv = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 8, element_type = bf16>
// CHECK-LABEL: func.func @append(
// CHECK-SAME:    %[[K:[a-z0-9]+]]: memref<?x2x8xbf16>, %[[V:[a-z0-9]+]]: memref<?x2x8xbf16>,
// CHECK-SAME:    %[[CK:[a-z0-9]+]]: memref<?x16x2x8xbf16>, %[[CV:[a-z0-9]+]]: memref<?x16x2x8xbf16>,
// CHECK-SAME:    %[[PAGES:[a-z0-9]+]]: memref<?x?xi32>, %[[CU:[a-z0-9]+]]: memref<?xi32>, %[[LENS:[a-z0-9]+]]: memref<?xi32>)
// For every sequence and new token: position = history + j, its page and row.
// CHECK:         scf.for %[[B:.*]] = %{{.*}} to %{{.*}}
// CHECK:           memref.load %[[CU]][%[[B]]] : memref<?xi32>
// CHECK:           memref.load %[[LENS]][%[[B]]] : memref<?xi32>
// CHECK:           scf.for %[[J:.*]] = %{{.*}} to %{{.*}}
// CHECK:             %[[ROW:.*]] = arith.addi %{{.*}}, %[[J]] : index
// CHECK:             %[[POS:.*]] = arith.addi %{{.*}}, %[[J]] : index
// CHECK:             %[[LP:.*]] = arith.divui %[[POS]], %{{.*}} : index
// CHECK:             memref.load %[[PAGES]][%[[B]], %[[LP]]] : memref<?x?xi32>
// CHECK:             arith.remui %[[POS]], %{{.*}} : index
// CHECK:                 %[[KR:.*]] = memref.load %[[K]][%[[ROW]], %{{.*}}, %{{.*}}] : memref<?x2x8xbf16>
// CHECK-NEXT:            memref.store %[[KR]], %[[CK]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x16x2x8xbf16>
// CHECK-NEXT:            %[[VR:.*]] = memref.load %[[V]][%[[ROW]], %{{.*}}, %{{.*}}] : memref<?x2x8xbf16>
// CHECK-NEXT:            memref.store %[[VR]], %[[CV]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x16x2x8xbf16>
// CHECK:         return
func.func @append(%k: tensor<?x2x8xbf16>, %v: tensor<?x2x8xbf16>, %c: !kv,
                  %p: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) {
  sala.kv_append %k, %v into %c[%p] lens(%cu, %l) : tensor<?x2x8xbf16>, !kv
  return
}

// -----

// compress_keys: only the windows completed in this step, summed in f64, the
// mean rounded correctly to bf16 (round-to-odd to f32, then to bf16).
!kv = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 8, element_type = bf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 8, element_type = bf16>
// CHECK-LABEL: func.func @compress(
// CHECK-SAME:    %{{[a-z0-9]+}}: memref<?x16x2x8xbf16>, %[[CV:[a-z0-9]+]]: memref<?x16x2x8xbf16>, %{{[a-z0-9]+}}: memref<?x?xi32>,
// CHECK-SAME:    %[[KEYS:[a-z0-9]+]]: memref<?x4x2x8xbf16>,
// CHECK:         %[[FIRST:.*]] = arith.select
// CHECK:         %[[LAST:.*]] = arith.select
// CHECK:         scf.for %{{.*}} = %[[FIRST]] to %[[LAST]]
// CHECK:           %[[SUM:.*]] = scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (f64)
// CHECK:             arith.extf %{{.*}} : bf16 to f64
// CHECK:           arith.mulf %[[SUM]], %{{.*}} : f64
// CHECK:           arith.truncf %{{.*}} : f64 to f32
// CHECK:           arith.ori %{{.*}} : i32
// CHECK:           %[[MEAN:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK:           memref.store %[[MEAN]], %[[KEYS]]
// CHECK-NOT:     memref.load %[[CV]][
// CHECK:         return
func.func @compress(%c: !kv, %p: tensor<?x?xi32>, %keys: !ck, %kp: tensor<?x?xi32>,
                    %cu: tensor<?xi32>, %l: tensor<?xi32>) {
  sala.compress_keys %c[%p] into %keys[%kp] lens(%cu, %l) : !kv, !ck
  return
}

// -----

// block_scores: a [T, kv_heads, blocks] result filled with -inf, per-head
// softmax over the visible entries (log-sum-exp), summed over the group,
// max-pooled onto blocks; scratch buffers freed.
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 8, element_type = bf16>
// CHECK-LABEL: func.func @scores(
// CHECK-SAME:    -> memref<?x2x?xf32>
// CHECK:         %[[OUT:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x2x?xf32>
// CHECK:         memref.store %{{.*}}, %[[OUT]]
// CHECK-DAG:     %[[QROW:.*]] = memref.alloc() : memref<8xf32>
// CHECK-DAG:     %[[S:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK-DAG:     %[[P:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK:         math.log
// CHECK:         math.exp
// CHECK:         memref.store %{{.*}}, %[[OUT]]
// CHECK-DAG:     memref.dealloc %[[QROW]]
// CHECK-DAG:     memref.dealloc %[[S]]
// CHECK-DAG:     memref.dealloc %[[P]]
// CHECK:         return %[[OUT]]
func.func @scores(%q: tensor<?x4x8xbf16>, %k1: !ck, %p1: tensor<?x?xi32>, %cu: tensor<?xi32>,
                  %l: tensor<?xi32>) -> tensor<?x2x?xf32> {
  %s = sala.block_scores %q, %k1[%p1] lens(%cu, %l)
      {block_size = 64, group_size = 2, pool_kernel = 5, pool_stride = 4, pool_padding = 1}
      : tensor<?x4x8xbf16>, !ck -> tensor<?x2x?xf32>
  return %s : tensor<?x2x?xf32>
}

// -----

// topk_blocks: -1 padding, all candidates when they fit, else rank by key
// (forced blocks +inf, NaN as -inf, ties to the lower index).
// CHECK-LABEL: func.func @topk(
// CHECK-SAME:    %{{[a-z0-9]+}}: memref<?x2x?xf32>, %{{[a-z0-9]+}}: memref<?xi32>, %{{[a-z0-9]+}}: memref<?xi32>) -> memref<?x2x3xi32>
// CHECK:         %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<?x2x3xi32>
// CHECK:         scf.if
// CHECK:         scf.if
// CHECK:           arith.cmpf uno
// CHECK:           arith.cmpf ogt
// CHECK:           arith.cmpf oeq
// CHECK:         return %[[OUT]]
func.func @topk(%s: tensor<?x2x?xf32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x3xi32> {
  %b = sala.topk_blocks %s lens(%cu, %l) {block_size = 64, topk = 2, init_blocks = 1, local_blocks = 1}
      : tensor<?x2x?xf32> -> tensor<?x2x3xi32>
  return %b : tensor<?x2x3xi32>
}

// -----

// Dense and sparse attention joined by length_select: the two intermediate
// results are freed before the return, the selected one is returned.
!kv = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 8, element_type = bf16>
// CHECK-LABEL: func.func @attention(
// CHECK-SAME:    %[[BLOCKS:[a-z0-9]+]]: memref<?x2x3xi32>
// CHECK:         %[[SPARSE:.*]] = memref.alloc(%{{.*}}) : memref<?x4x8xbf16>
// CHECK:         %[[POS:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK:         memref.load %[[BLOCKS]]
// CHECK:         memref.dealloc %[[POS]]
// CHECK:         %[[DENSE:.*]] = memref.alloc(%{{.*}}) : memref<?x4x8xbf16>
// CHECK:         %[[SEL:.*]] = memref.alloc(%{{.*}}) : memref<?x4x8xbf16>
// CHECK:         arith.select %{{.*}} : bf16
// CHECK-DAG:     memref.dealloc %[[SPARSE]]
// CHECK-DAG:     memref.dealloc %[[DENSE]]
// CHECK-NOT:     memref.dealloc %[[SEL]]
// CHECK:         return %[[SEL]]
func.func @attention(%q: tensor<?x4x8xbf16>, %c: !kv, %p: tensor<?x?xi32>,
                     %blocks: tensor<?x2x3xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>)
    -> tensor<?x4x8xbf16> {
  %s = sala.sparse_attention %q, %c[%p], %blocks lens(%cu, %l) {block_size = 64}
      : tensor<?x4x8xbf16>, !kv, tensor<?x2x3xi32> -> tensor<?x4x8xbf16>
  %d = sala.dense_attention %q, %c[%p] lens(%cu, %l) : tensor<?x4x8xbf16>, !kv -> tensor<?x4x8xbf16>
  %o = sala.length_select %d, %s lens(%cu, %l) {threshold = 100} : tensor<?x4x8xbf16>
  return %o : tensor<?x4x8xbf16>
}

// -----

// linear_attention: per sequence with new tokens (scf.if), per head, the
// state is zero for a fresh sequence and the slot's otherwise, and goes back to
// the slot. Recurrent: one update per token. Chunked: a loop over chunks
// (step = chunk_size) with an intra-chunk score matrix and a decay table.
!st = !sala.state_pool<heads = 4, head_dim = 16, element_type = f32>
// CHECK-LABEL: func.func @recurrent(
// CHECK-SAME:    %[[POOL:[a-z0-9]+]]: memref<?x4x16x16xf32>
// CHECK:         %[[SLOPES:.*]] = memref.alloc() : memref<4xf64>
// CHECK:         %[[STATE:.*]] = memref.alloc() : memref<16x16xf32>
// CHECK:         scf.if
// CHECK:           memref.load %[[POOL]]
// CHECK:           arith.select
// CHECK:           math.exp %{{.*}} : f64
// CHECK:           memref.store %{{.*}}, %[[POOL]]
// CHECK:         memref.dealloc %[[SLOPES]]
// CHECK:         memref.dealloc %[[STATE]]
func.func @recurrent(%q: tensor<?x4x16xbf16>, %pool: !st, %slots: tensor<?xi32>,
                     %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  %o = sala.linear_attention recurrent %q, %q, %q, %pool[%slots] lens(%cu, %l)
      {slopes = array<f64: 1.0, 0.5, 0.25, 0.125>} : tensor<?x4x16xbf16>, !st -> tensor<?x4x16xbf16>
  return %o : tensor<?x4x16xbf16>
}

// CHECK-LABEL: func.func @chunked(
// CHECK-DAG:     %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG:     %[[DECAY:.*]] = memref.alloc() : memref<9xf32>
// CHECK-DAG:     %[[A:.*]] = memref.alloc() : memref<8x8xf32>
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[C8]]
// CHECK:           memref.store %{{.*}}, %[[A]]
// CHECK:           memref.load %[[DECAY]]
func.func @chunked(%q: tensor<?x4x16xbf16>, %pool: !st, %slots: tensor<?xi32>,
                   %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x4x16xbf16> {
  %o = sala.linear_attention chunked %q, %q, %q, %pool[%slots] lens(%cu, %l)
      {slopes = array<f64: 1.0, 0.5, 0.25, 0.125>, chunk_size = 8}
      : tensor<?x4x16xbf16>, !st -> tensor<?x4x16xbf16>
  return %o : tensor<?x4x16xbf16>
}

// -----

// Elementwise ops: f32 arithmetic (f64 for RoPE angles), rounded on store.
// CHECK-LABEL: func.func @elementwise(
// CHECK:         math.sqrt %{{.*}} : f32
// CHECK:         math.powf %{{.*}}, %{{.*}} : f64
// CHECK:         math.cos %{{.*}} : f64
// CHECK:         math.sin %{{.*}} : f64
// CHECK:         math.exp %{{.*}} : f32
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
// CHECK:         return %{{.*}} : memref<?x4x16xbf16>
func.func @elementwise(%x: tensor<?x4x16xbf16>, %w: tensor<16xbf16>, %pos: tensor<?xi32>)
    -> tensor<?x4x16xbf16> {
  %n = sala.rms_norm head %x, %w : tensor<?x4x16xbf16>, tensor<16xbf16>
  %r = sala.rope neox %n, %pos : tensor<?x4x16xbf16>
  %g = sala.sigmoid_gate %r, %x : tensor<?x4x16xbf16>
  return %g : tensor<?x4x16xbf16>
}

// -----

// Composite mixers are defined by their decomposition.
!st = !sala.state_pool<heads = 2, head_dim = 16, element_type = f32>
func.func @composite(%x: tensor<?x2x16xf32>, %pool: !st, %slots: tensor<?xi32>,
                     %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x16xf32> {
  // expected-error @+1 {{'sala.linear_mixer' op is a composite mixer: run sala-decompose before convert-sala-to-loops}}
  %o = sala.linear_mixer decode %x, %x, %x state(%pool[%slots]) lens(%cu, %l)
      {slopes = array<f64: 1.0, 0.5>} : tensor<?x2x16xf32>, !st
  return %o : tensor<?x2x16xf32>
}

// -----

// So are fused ops (sala-unfuse expands them back).
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
func.func @fused(%q: tensor<?x8x16xbf16>, %k1: !k1, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %l: tensor<?xi32>) -> tensor<?x2x96xi32> {
  // expected-error @+1 {{'sala.fused_sparse_select' op is a fused op: run sala-unfuse before convert-sala-to-loops}}
  %sel = sala.fused_sparse_select %q, %k1[%pt] lens(%cu, %l) {block_size = 64, group_size = 4, pool_kernel = 5, pool_stride = 4, pool_padding = 1, topk = 64, init_blocks = 1, local_blocks = 32} : tensor<?x8x16xbf16>, !k1 -> tensor<?x2x96xi32>
  return %sel : tensor<?x2x96xi32>
}
