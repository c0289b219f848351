// RUN: salac-opt %s --salac-cpu-pipeline | FileCheck %s
// RUN: salac-opt %s --salac-cpu-pipeline=c-interface=false | FileCheck %s --check-prefix=NOCIFACE

// salac-cpu-pipeline: sala graph (composite mixers included) all the way to the
// LLVM dialect for the host. bf16 conversions become integer arithmetic (no
// compiler-rt helper at run time); math becomes LLVM intrinsics; buffers come
// from malloc/free. The C interface wrapper takes a pointer to the result
// descriptor first, then one pointer per memref descriptor (the cache's K and V
// separately).

// CHECK-NOT:   sala.
// CHECK-NOT:   arith.
// CHECK-NOT:   bf16
// CHECK-DAG:   llvm.func @malloc(i64) -> !llvm.ptr
// CHECK-DAG:   llvm.func @free(!llvm.ptr)
// CHECK:       llvm.func @mixer(
// CHECK:         llvm.intr.exp
// CHECK:       llvm.func @_mlir_ciface_mixer(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-SAME:    attributes {llvm.emit_c_interface}

// NOCIFACE:     llvm.func @mixer(
// NOCIFACE-NOT: _mlir_ciface_

!kv = !sala.kv_cache<page_size = 16, kv_heads = 2, head_dim = 8, element_type = bf16>
!ck = !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 4, kv_heads = 2, head_dim = 8, element_type = bf16>
func.func @mixer(%q: tensor<?x4x8xbf16>, %k: tensor<?x2x8xbf16>, %v: tensor<?x2x8xbf16>,
                 %z: tensor<?x4x8xbf16>, %cache: !kv, %pages: tensor<?x?xi32>, %k1: !ck,
                 %k1pages: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>)
    -> tensor<?x4x8xbf16> {
  %o = sala.sparse_mixer decode %q, %k, %v gate(%z : tensor<?x4x8xbf16>)
      cache(%cache[%pages]) keys(%k1[%k1pages]) lens(%cu, %lens)
      {config = #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 2,
                             window_size = 64, init_blocks = 1, dense_len = 128>}
      : tensor<?x4x8xbf16>, tensor<?x2x8xbf16>, !kv, !ck
  return %o : tensor<?x4x8xbf16>
}
