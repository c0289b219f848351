// kv_append and compress_keys on the host against the reference: ragged
// batches (a fresh sequence, one without new tokens, one crossing pages), page
// sizes 16 and 1, bf16 and f32 stores. Cache rows that hold no token are NaN, so
// a write to the wrong row shows up as a mismatch.

// RUN: salac run %s --func=append_p16 --q-lens=1,3,40,0 --contexts=0,30,100,5 | FileCheck %s --check-prefix=APPEND
// RUN: salac run %s --func=append_p1 --q-lens=2,0,17 --contexts=7,3,0 --seed=2 | FileCheck %s --check-prefix=APPEND
// APPEND:      arg #2 kv cache K {{.*}} max rel err 0.00e+00 {{.*}} PASS
// APPEND-NEXT: arg #2 kv cache V {{.*}} max rel err 0.00e+00 {{.*}} PASS
// APPEND-NEXT: PASS: 2 of 2 outputs agree with the reference

// Entries whose windows this step completes, and only those: contexts just
// before, at and after window boundaries (kernel 32, stride 16).
// RUN: salac run %s --func=compress_bf16 --q-lens=1,1,16,40,0 --contexts=30,31,16,100,64 | FileCheck %s --check-prefix=COMPRESS
// RUN: salac run %s --func=compress_f32_p1 --q-lens=3,50 --contexts=45,0 | FileCheck %s --check-prefix=COMPRESS
// A kernel that is not a power of two: the f64 mean is inexact and must be
// rounded to bf16 exactly once, as the reference rounds it.
// RUN: salac run %s --func=compress_k24 --q-lens=40,3 --contexts=0,70 | FileCheck %s --check-prefix=COMPRESS
// COMPRESS:      arg #2 compressed keys {{.*}} max rel err 0.00e+00 {{.*}} PASS
// COMPRESS-NEXT: PASS: 1 of 1 outputs agree with the reference

// Append then compress in one block: the new windows read the new keys.
// RUN: salac run %s --func=append_compress --q-lens=1,33,64 --contexts=31,15,0 | FileCheck %s --check-prefix=BOTH
// BOTH: PASS: 3 of 3 outputs agree with the reference

!kv16 = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 32, element_type = bf16>
!kv1 = !sala.kv_cache<page_size = 1, kv_heads = 2, head_dim = 32, element_type = f32>
!kvf = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 32, element_type = f32>
!k1 = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 32, element_type = bf16>
!k1f = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 1, kv_heads = 2, head_dim = 32, element_type = f32>
!k24 = !sala.compressed_keys<kernel_size = 24, kernel_stride = 8, page_size = 8, kv_heads = 2, head_dim = 32, element_type = bf16>

func.func @append_p16(%k: tensor<?x2x32xbf16>, %v: tensor<?x2x32xbf16>, %cache: !kv16,
                      %pages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %cache[%pages] lens(%cu, %lens) : tensor<?x2x32xbf16>, !kv16
  return
}

func.func @append_p1(%k: tensor<?x2x32xf32>, %v: tensor<?x2x32xf32>, %cache: !kv1,
                     %pages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %cache[%pages] lens(%cu, %lens) : tensor<?x2x32xf32>, !kv1
  return
}

func.func @compress_bf16(%cache: !kv16, %pages: tensor<?x?xi32>, %keys: !k1,
                         %kpages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.compress_keys %cache[%pages] into %keys[%kpages] lens(%cu, %lens) : !kv16, !k1
  return
}

func.func @compress_f32_p1(%cache: !kv1, %pages: tensor<?x?xi32>, %keys: !k1f,
                           %kpages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.compress_keys %cache[%pages] into %keys[%kpages] lens(%cu, %lens) : !kv1, !k1f
  return
}

func.func @compress_k24(%cache: !kv16, %pages: tensor<?x?xi32>, %keys: !k24,
                        %kpages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.compress_keys %cache[%pages] into %keys[%kpages] lens(%cu, %lens) : !kv16, !k24
  return
}

func.func @append_compress(%k: tensor<?x2x32xbf16>, %v: tensor<?x2x32xbf16>, %cache: !kv16,
                           %pages: tensor<?x?xi32>, %keys: !k1, %kpages: tensor<?x?xi32>,
                           %cu: tensor<?xi32>, %lens: tensor<?xi32>) {
  sala.kv_append %k, %v into %cache[%pages] lens(%cu, %lens) : tensor<?x2x32xbf16>, !kv16
  sala.compress_keys %cache[%pages] into %keys[%kpages] lens(%cu, %lens) : !kv16, !k1
  return
}
