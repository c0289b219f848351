// RUN: salac-opt %s --sala-fuse-kv-access --split-input-file | FileCheck %s
// RUN: salac-opt %s --sala-fuse-kv-access --sala-unfuse --split-input-file | FileCheck %s --check-prefix=BACK

// sala-fuse-kv-access replaces a kv_append and the compress_keys that follows
// it (same cache, page table and batch) with one sala.fused_kv_update;
// sala-unfuse expands it back.

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k2 = !sala.compressed_keys<kernel_size = 128, kernel_stride = 64, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!t = tensor<?x2x16xbf16>

// As sala-decompose writes a sparse mixer with K1 and K2: the append and the
// K1 compression fuse; the K2 compression stays, after them.
// Before:
//   kv_append %k, %v into %kv    compress_keys %kv into %k1    compress_keys %kv into %k2
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[K:[^:]*]]: tensor<?x2x16xbf16>, %[[V:[^:]*]]: tensor<?x2x16xbf16>, %[[KV:[^:]*]]: !kv_cache, %[[PT:[^:]*]]: tensor<?x?xi32>, %[[K1:[^:]*]]: !ckeys, %[[K1PT:[^:]*]]: tensor<?x?xi32>, %[[K2:[^:]*]]: !ckeys1, %[[K2PT:[^:]*]]: tensor<?x?xi32>, %[[CU:[^:]*]]: tensor<?xi32>, %[[L:[^:]*]]: tensor<?xi32>)
// CHECK-NEXT: sala.fused_kv_update %[[K]], %[[V]] into %[[KV]][%[[PT]]] compress(%[[K1]][%[[K1PT]]]) lens(%[[CU]], %[[L]]) : tensor<?x2x16xbf16>, !kv_cache, !ckeys
// CHECK-NEXT: sala.compress_keys %[[KV]][%[[PT]]] into %[[K2]][%[[K2PT]]]
// CHECK-NEXT: return
// BACK-LABEL: func.func @chain
// BACK-NEXT: sala.kv_append %arg0, %arg1 into %arg2[%arg3] lens(%arg8, %arg9)
// BACK-NEXT: sala.compress_keys %arg2[%arg3] into %arg4[%arg5] lens(%arg8, %arg9)
// BACK-NEXT: sala.compress_keys %arg2[%arg3] into %arg6[%arg7] lens(%arg8, %arg9)
// BACK-NEXT: return
func.func @chain(%k: !t, %v: !t, %kv: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %k2: !k2, %k2pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : !t, !kv
  sala.compress_keys %kv[%pt] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
  sala.compress_keys %kv[%pt] into %k2[%k2pt] lens(%cu, %lens) : !kv, !k2
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!t = tensor<?x2x16xbf16>

// Another cache access between them: nothing is fused.
// CHECK-LABEL: func.func @access_between
// CHECK-NEXT: sala.kv_append
// CHECK-NEXT: sala.kv_append
// CHECK-NEXT: sala.compress_keys
// CHECK-NOT: fused_kv_update
func.func @access_between(%k: !t, %v: !t, %kv: !kv, %kv2: !kv, %pt: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : !t, !kv
  sala.kv_append %k, %v into %kv2[%pt] lens(%cu, %lens) : !t, !kv
  sala.compress_keys %kv[%pt] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
  return
}

// -----

!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64, kv_heads = 2, head_dim = 16, element_type = bf16>
!t = tensor<?x2x16xbf16>

// The compression reads another page table: not the same access.
// CHECK-LABEL: func.func @other_table
// CHECK-NEXT: sala.kv_append
// CHECK-NEXT: sala.compress_keys
// CHECK-NOT: fused_kv_update
func.func @other_table(%k: !t, %v: !t, %kv: !kv, %pt: tensor<?x?xi32>, %pt2: tensor<?x?xi32>, %k1: !k1, %k1pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %kv[%pt] lens(%cu, %lens) : !t, !kv
  sala.compress_keys %kv[%pt2] into %k1[%k1pt] lens(%cu, %lens) : !kv, !k1
  return
}
