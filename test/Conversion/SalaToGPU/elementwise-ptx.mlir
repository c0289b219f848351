// RUN: salac %s --emit=ptx -o %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: salac %s --emit=llvm | FileCheck %s --check-prefix=LLVM
// RUN: salac %s --emit=ptx --chip=sm_80 | FileCheck %s --check-prefix=SM80

// The elementwise ops lower through gpu/nvvm and LLVM's NVPTX backend to PTX
// (ptxas-elementwise.mlir assembles it). No libdevice calls: the math is
// PTX instructions, so no CUDA toolkit is needed to compile.

func.func @elementwise(%x: tensor<?x32x128xbf16>, %z: tensor<?x32x128xbf16>, %w: tensor<128xbf16>,
                       %ow: tensor<4096xbf16>, %pos: tensor<?xi32>, %f: tensor<?x4x64xf32>,
                       %fw: tensor<64xf32>, %fp: tensor<?xi32>) -> (tensor<?x32x128xbf16>, tensor<?x4x64xf32>) {
  %a = sala.rms_norm head %x, %w : tensor<?x32x128xbf16>, tensor<128xbf16>
  %b = sala.rope neox %a, %pos : tensor<?x32x128xbf16>
  %c = sala.rms_norm full %b, %ow : tensor<?x32x128xbf16>, tensor<4096xbf16>
  %d = sala.sigmoid_gate %c, %z : tensor<?x32x128xbf16>
  %e = sala.rms_norm head %f, %fw : tensor<?x4x64xf32>, tensor<64xf32>
  %g = sala.rope interleaved %e, %fp {theta = 5.0e+05 : f32} : tensor<?x4x64xf32>
  return %d, %g : tensor<?x32x128xbf16>, tensor<?x4x64xf32>
}

// CHECK: .version 8.0
// CHECK: .target sm_90
// CHECK: .address_size 64
// CHECK-NOT: __nv_
// CHECK-NOT: call
// Four bare-pointer parameters each: three pointers and the token count.
// CHECK-LABEL: .visible .entry sala_rms_norm_head_h32_d128_bf16(
// CHECK-NEXT: .param .u64 .ptr .align 1 sala_rms_norm_head_h32_d128_bf16_param_0,
// CHECK-NEXT: .param .u64 .ptr .align 1 sala_rms_norm_head_h32_d128_bf16_param_1,
// CHECK-NEXT: .param .u64 .ptr .align 1 sala_rms_norm_head_h32_d128_bf16_param_2,
// CHECK-NEXT: .param .u64 sala_rms_norm_head_h32_d128_bf16_param_3
// CHECK: shfl.sync.bfly.b32
// CHECK: rsqrt.approx.f32
// CHECK-LABEL: .visible .entry sala_rope_neox_h32_d128_bf16(
// CHECK: cvt.rn.f64.s32
// CHECK: cos.approx.f32
// CHECK: sin.approx.f32
// CHECK-LABEL: .visible .entry sala_rms_norm_full_h32_d128_bf16(
// CHECK: .shared .align 16 .b8 {{.*}}[32];
// CHECK: bar.sync 0;
// CHECK-LABEL: .visible .entry sala_sigmoid_gate_h32_d128_bf16(
// CHECK: ex2.approx.ftz.f32
// CHECK-LABEL: .visible .entry sala_rms_norm_head_h4_d64_f32(
// CHECK: ld.global.b32
// CHECK-LABEL: .visible .entry sala_rope_interleaved_h4_d64_f32(

// LLVM: target triple = "nvptx64-nvidia-cuda"
// LLVM: define ptx_kernel void @sala_rms_norm_head_h32_d128_bf16(ptr %0, ptr %1, ptr %2, i64 %3)
// LLVM: call float @llvm.nvvm.shfl.sync.bfly.f32(i32 -1, float %{{.*}}, i32 16, i32 31)
// LLVM: define ptx_kernel void @sala_rope_neox_h32_d128_bf16(

// SM80: .target sm_80
// SM80: .visible .entry sala_sigmoid_gate_h32_d128_bf16(
