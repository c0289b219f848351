//===- Passes.td - salac conversion passes -----------------*- tablegen -*-===//
#ifndef SALAC_CONVERSION_PASSES_TD
#define SALAC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSalaToLoops : Pass<"convert-sala-to-loops", "::mlir::ModuleOp"> {
  let summary = "Lower primitive sala ops to scf/memref/arith/math loops on the host";
  let description = [{
    The portable lowering: every primitive sala op becomes a loop nest over
    memrefs that computes exactly the semantics of DESIGN.md sections 2-4 (the
    same as the C++ reference), accumulating in f32 (f64 for the compressed-key
    means and the RoPE angles). Composite mixers must be expanded first
    (`sala-decompose`); a composite op left in the input is an error.

    Types (and so function signatures) convert as follows:

    | sala / tensor type | memref type(s) |
    |---|---|
    | `tensor<...>` | `memref<...>` (identity layout, same shape) |
    | `!sala.kv_cache<page_size = P, kv_heads = G, head_dim = D, element_type = E>` | two memrefs, K then V: `memref<?xPxGxDxE>` each |
    | `!sala.compressed_keys<..., page_size = P, kv_heads = G, head_dim = D, element_type = E>` | `memref<?xPxGxDxE>` |
    | `!sala.state_pool<heads = H, head_dim = D, element_type = E>` | `memref<?xHxDxDxE>` |

    A function keeps its argument order, except that each `!sala.kv_cache`
    argument becomes two consecutive arguments (its K buffer, then its V buffer).
    Tensor results become memref results allocated by the function with
    `memref.alloc` (malloc): the caller owns them. Temporaries are freed before
    the function returns. Caches and state pools are updated in place. The
    lowered code assumes validated inputs (page tables inside the pool, lengths
    within the page tables, distinct slots); `salac run` validates in C++.

    With `c-interface`, every converted function gets `llvm.emit_c_interface`,
    so that the LLVM lowering emits a `_mlir_ciface_<name>` wrapper taking a
    pointer to the result descriptor(s) first, then a pointer to each memref
    descriptor.

    Before:

    ```mlir
    func.func @gate(%x: tensor<?x4x8xbf16>, %z: tensor<?x4x8xbf16>) -> tensor<?x4x8xbf16> {
      %y = sala.sigmoid_gate %x, %z : tensor<?x4x8xbf16>
      return %y : tensor<?x4x8xbf16>
    }
    ```

    After:

    ```mlir
    func.func @gate(%x: memref<?x4x8xbf16>, %z: memref<?x4x8xbf16>) -> memref<?x4x8xbf16> {
      %t = memref.dim %x, %c0 : memref<?x4x8xbf16>
      %y = memref.alloc(%t) : memref<?x4x8xbf16>
      scf.for %i = %c0 to %t step %c1 {
        scf.for %h = %c0 to %c4 step %c1 {
          scf.for %d = %c0 to %c8 step %c1 {
            ... x * 1 / (1 + exp(-z)) in f32, truncated to bf16 ...
            memref.store %r, %y[%i, %h, %d] : memref<?x4x8xbf16>
      } } }
      return %y : memref<?x4x8xbf16>
    }
    ```
  }];
  let options = [
    Option<"emitCInterface", "c-interface", "bool", /*default=*/"false",
           "Mark converted functions llvm.emit_c_interface">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
                           "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def ConvertSalaToGPU : Pass<"convert-sala-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Turn each GPU-lowerable sala op into a kernel of a gpu.module";
  let description = [{
    The GPU lowering. For every sala op that has a kernel for its shape,
    builds (once per distinct op, attributes, types and consumer
    specialisation) a `gpu.func` kernel in the `gpu.module @sala_kernels` of
    the module, and records the kernel on the op as `sala.kernel =
    @sala_kernels::@name`. Kernels take bare pointers (flat 1-D memrefs) and the
    runtime sizes as `index` scalars; their launch rules are attached as
    `sala.launch` attributes and become the package manifest. Ops without a
    kernel are left alone (the `salac` driver reports them).

    Kernels are formed by patterns, one `populateSala<Family>ToGPUPatterns`
    per op family (`lib/Conversion/SalaToGPU/<Family>Kernels.cpp`), applied
    in one walk; what an op tells its kernel (parameter roles, name,
    consumer specialisation) comes from its `KernelOpInterface`.

    Before:

    ```mlir
    %y = sala.sigmoid_gate %x, %z : tensor<?x32x128xbf16>
    ```

    After:

    ```mlir
    %y = sala.sigmoid_gate %x, %z {sala.kernel = @sala_kernels::@sala_sigmoid_gate_h32_d128_bf16}
        : tensor<?x32x128xbf16>
    gpu.module @sala_kernels {
      gpu.func @sala_sigmoid_gate_h32_d128_bf16(%x: memref<...xbf16>, ...) kernel { ... }
    }
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           // nvvm.mma.sync: MLIR 22 cannot lower a bf16 nvgpu.mma.sync.
                           "::mlir::NVVM::NVVMDialect"];
}

def SalaChooseKernelConfig : Pass<"sala-choose-kernel-config", "::mlir::ModuleOp"> {
  let summary = "Choose each kernel's launch policy from the op and the target";
  let description = [{
    The one owner of launch policy: sets `sala.kernel_config =
    #sala.kernel_config<...>` on every sala op that has a kernel (threads per
    block, the occupancy asked of ptxas, and for split-KV attention the split
    rule), from the op's shapes and the target: `chip` (the PTX target) and
    `sms` (the GPU's SM count, which the split rule fills); `linear-segment`
    walks chunked linear attention in segments of that many tokens, a block
    each (0, the default: a block a whole sequence). The kernel
    builders, the kernel plan (`--print-kernel-plan`) and the manifest read
    it; `convert-sala-to-gpu` asks the same policy for an op that has none.

    Before:

    ```mlir
    %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : !q) lens(%cu, %lens)
        {block_size = 64, dense_len = 8192} : !q, !kv, tensor<?x2x96xi32> -> !q
    ```

    After:

    ```mlir
    %o = sala.fused_sparse_attention %q, %kv[%pt], %sel gate(%z : !q) lens(%cu, %lens)
        {block_size = 64, dense_len = 8192, sala.kernel_config = #sala.kernel_config<
         threads = 128, min_blocks_per_sm = 0, max_registers = 255,
         split = #sala.split_rule<sms = 132, blocks_per_sm = 2, max_splits = 16,
                                  few_pairs_max_splits = 24, min_tiles_per_split = 4>>}
        : !q, !kv, tensor<?x2x96xi32> -> !q
    ```
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "Target chip (sm_80 ... sm_120)">,
    Option<"sms", "sms", "int64_t", /*default=*/"132",
           "SMs of the GPU the split rule fills (H100 SXM and H200: 132)">,
    Option<"linearSegment", "linear-segment", "int64_t", /*default=*/"0",
           "Tokens a block of chunked linear attention walks, a multiple of the "
           "op's chunk_size (0: one block a whole sequence)">,
    Option<"linearStages", "linear-stages", "int64_t", /*default=*/"1",
           "Chunks of Q, K and V in flight in the segmented linear kernel: 1, or 2 "
           "(the next chunk loads while one computes; needs linear-segment)">,
    Option<"selectThreads", "select-threads", "int64_t", /*default=*/"0",
           "Threads a block of the fused selection takes, to time one block size "
           "against another (0: the policy's choice for the chip)">,
  ];
}

#endif
