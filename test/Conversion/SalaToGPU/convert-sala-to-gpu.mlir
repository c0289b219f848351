// RUN: salac-opt %s --convert-sala-to-gpu --verify-each | FileCheck %s
// RUN: salac-opt %s --convert-sala-to-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=WHY

// convert-sala-to-gpu builds one gpu.func per distinct (op, attributes, types),
// names it after them, records it on the op, and leaves ops without a GPU
// lowering alone.

!q = tensor<?x32x128xbf16>
!kv = !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
func.func @block(%q: !q, %k: !q, %z: !q, %w: tensor<128xbf16>, %ow: tensor<4096xbf16>, %pos: tensor<?xi32>, %kv: !kv, %pt: tensor<?x?xi32>, %cu: tensor<?xi32>, %lens: tensor<?xi32>, %qf: tensor<?x32x128xf32>) -> !q {
  %a = sala.rms_norm head %q, %w : !q, tensor<128xbf16>
  %b = sala.rms_norm head %k, %w : !q, tensor<128xbf16>
  %c = sala.rms_norm head %k, %w {eps = 1.0e-05 : f32} : !q, tensor<128xbf16>
  %d = sala.rope neox %a, %pos : !q
  %e = sala.rms_norm full %d, %ow : !q, tensor<4096xbf16>
  %f = sala.sigmoid_gate %e, %z : !q
  // f32 queries: the attention kernel is bf16-only, so no kernel for this one.
  %g = sala.dense_attention %qf, %kv[%pt] lens(%cu, %lens) : tensor<?x32x128xf32>, !kv -> tensor<?x32x128xf32>
  return %f : !q
}

// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @block
// Identical norms share a kernel; a different eps makes a second one.
// CHECK: sala.rms_norm head %{{.*}} {sala.kernel = @sala_kernels::@sala_rms_norm_head_h32_d128_bf16}
// CHECK-NEXT: sala.rms_norm head %{{.*}} {sala.kernel = @sala_kernels::@sala_rms_norm_head_h32_d128_bf16}
// CHECK-NEXT: sala.rms_norm head %{{.*}} {eps = 9.99999974E-6 : f32, sala.kernel = @sala_kernels::@sala_rms_norm_head_h32_d128_bf16_v2}
// CHECK-NEXT: sala.rope neox %{{.*}} {sala.kernel = @sala_kernels::@sala_rope_neox_h32_d128_bf16}
// CHECK-NEXT: sala.rms_norm full %{{.*}} {sala.kernel = @sala_kernels::@sala_rms_norm_full_h32_d128_bf16}
// CHECK-NEXT: sala.sigmoid_gate %{{.*}} {sala.kernel = @sala_kernels::@sala_sigmoid_gate_h32_d128_bf16}
// No kernel for this shape: left as it is.
// CHECK-NEXT: sala.dense_attention %{{.*}} lens(%{{.*}}, %{{.*}}) : tensor<?x32x128xf32>, !kv_cache -> tensor<?x32x128xf32>

// CHECK: gpu.module @sala_kernels
// Bare-pointer kernels: flat buffers and index sizes; the launch rule and the
// parameter meanings travel with the kernel.
// CHECK: gpu.func @sala_rms_norm_head_h32_d128_bf16(%{{.*}}: memref<1099511627776xbf16>, %{{.*}}: memref<1099511627776xbf16>, %{{.*}}: memref<1099511627776xbf16>, %{{.*}}: index) kernel
// CHECK-SAME: sala.launch = {block = array<i64: 256, 1, 1>, grid = [{div = 8 : i64, mul = 32 : i64, param = "tokens"}, 1, 1]
// CHECK-SAME: name = "input"
// CHECK-SAME: sala.op = "sala.rms_norm"
// A warp per 128-channel row: five xor shuffles, no barrier.
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return
// CHECK: gpu.func @sala_rms_norm_head_h32_d128_bf16_v2
// CHECK: arith.constant 9.99999974E-6 : f32
// CHECK: gpu.func @sala_rope_neox_h32_d128_bf16(%{{.*}}: memref<1099511627776xbf16>, %{{.*}}: memref<1099511627776xi32>, %{{.*}}: memref<1099511627776xbf16>, %{{.*}}: index)
// CHECK-SAME: grid = [{div = 256 : i64, mul = 2048 : i64, param = "tokens"}, 1, 1]
// The angle is formed and reduced in f64 before sin/cos.approx.
// CHECK: arith.sitofp %{{.*}} : i32 to f64
// CHECK: llvm.inline_asm "cos.approx.f32 $0, $1;", "=f,f"
// CHECK: llvm.inline_asm "sin.approx.f32 $0, $1;", "=f,f"
// A whole block per 4096-channel row: partial sums meet in workgroup memory.
// CHECK: gpu.func @sala_rms_norm_full_h32_d128_bf16({{.*}}) workgroup(%{{.*}} : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK-SAME: grid = [{div = 1 : i64, mul = 1 : i64, param = "tokens"}, 1, 1]
// CHECK: gpu.barrier
// CHECK: gpu.func @sala_sigmoid_gate_h32_d128_bf16
// CHECK-SAME: grid = [{div = 256 : i64, mul = 4096 : i64, param = "tokens"}, 1, 1]
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;", "=f,f"
// CHECK: arith.divf
// CHECK-NOT: gpu.func

// An op left without a kernel is reported once per op kind, with what a
// kernel needs.
// WHY: warning: sala.dense_attention has no GPU kernel for this shape (needs head_dim 64 or 128, blocks of 32, 64, 128 or 256 tokens, 1..16 query heads per KV head, bf16, dense_len <= 65536); 1 op is left without one
