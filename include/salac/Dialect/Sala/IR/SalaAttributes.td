//===- SalaAttributes.td - sala attributes and enums ------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALAATTRIBUTES_TD
#define SALAC_DIALECT_SALA_IR_SALAATTRIBUTES_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "salac/Dialect/Sala/IR/SalaDialect.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Sala_MixerMode : I32EnumAttr<"MixerMode", "how a mixer is invoked", [
    I32EnumAttrCase<"Decode", 0, "decode">,
    I32EnumAttrCase<"Prefill", 1, "prefill">]> {
  let cppNamespace = "::salac::sala";
  let genSpecializedAttr = 0;
}
def Sala_MixerModeAttr : EnumAttr<Sala_Dialect, Sala_MixerMode, "mode">;

def Sala_NormScope : I32EnumAttr<"NormScope", "what an RMSNorm reduces over", [
    I32EnumAttrCase<"Head", 0, "head">,
    I32EnumAttrCase<"Full", 1, "full">]> {
  let cppNamespace = "::salac::sala";
  let genSpecializedAttr = 0;
}
def Sala_NormScopeAttr : EnumAttr<Sala_Dialect, Sala_NormScope, "norm_scope">;

def Sala_RopeStyle : I32EnumAttr<"RopeStyle", "how RoPE pairs channels", [
    I32EnumAttrCase<"NeoX", 0, "neox">,
    I32EnumAttrCase<"Interleaved", 1, "interleaved">]> {
  let cppNamespace = "::salac::sala";
  let genSpecializedAttr = 0;
}
def Sala_RopeStyleAttr : EnumAttr<Sala_Dialect, Sala_RopeStyle, "rope_style">;

def Sala_LinearForm : I32EnumAttr<"LinearForm",
    "which form of linear attention to compute", [
    I32EnumAttrCase<"Recurrent", 0, "recurrent">,
    I32EnumAttrCase<"Chunked", 1, "chunked">]> {
  let cppNamespace = "::salac::sala";
  let genSpecializedAttr = 0;
}
def Sala_LinearFormAttr : EnumAttr<Sala_Dialect, Sala_LinearForm, "linear_form">;

//===----------------------------------------------------------------------===//
// #sala.sparse: the InfLLM-V2 configuration of a sparse mixer
//===----------------------------------------------------------------------===//

def Sala_MixerKind : I32EnumAttr<"MixerKind", "which kind of attention a mixer is", [
    I32EnumAttrCase<"Sparse", 0, "sparse">,
    I32EnumAttrCase<"Linear", 1, "linear">]> {
  let cppNamespace = "::salac::sala";
  let genSpecializedAttr = 0;
}
def Sala_MixerKindAttr : EnumAttr<Sala_Dialect, Sala_MixerKind, "mixer_kind">;

def Sala_MixerAttr : AttrDef<Sala_Dialect, "Mixer"> {
  let mnemonic = "mixer";
  let summary = "which layer, kind and mode of a model a host function runs";
  let description = [{
    Set by the model front end on each mixer function (`sala.mixer`), and read
    by the mixer plans and the kernel plan instead of the function's name:

    ```mlir
    func.func @layer_00_sparse_decode(...) attributes {
        sala.mixer = #sala.mixer<layer = 0, kind = sparse, mode = decode>}
    ```
  }];
  let parameters = (ins "int64_t":$layer, "::salac::sala::MixerKind":$kind,
                        "::salac::sala::MixerMode":$mode);
  let assemblyFormat = "`<` struct(params) `>`";
  let extraClassDeclaration = [{
    /// The attribute's name on a function.
    static constexpr ::llvm::StringLiteral kFuncAttrName = "sala.mixer";
  }];
}

def Sala_SplitRuleAttr : AttrDef<Sala_Dialect, "SplitRule"> {
  let mnemonic = "split_rule";
  let summary = "split-KV policy of an attention kernel";
  let description = [{
    How many blocks share one (token, KV group) pair of a split-KV kernel,
    as the runtime evaluates it per step (docs/KernelPackage.md, `split_kv`):
    enough to give each of `sms` SMs `blocks_per_sm` blocks, each split
    walking at least `min_tiles_per_split` tiles, at most `max_splits`, or
    `few_pairs_max_splits` where `max_splits` would leave over half of the
    SMs idle.

    ```mlir
    #sala.split_rule<sms = 132, blocks_per_sm = 2, max_splits = 16,
                     few_pairs_max_splits = 24, min_tiles_per_split = 4>
    ```
  }];
  let parameters = (ins "int64_t":$sms, "int64_t":$blocks_per_sm, "int64_t":$max_splits,
                        "int64_t":$few_pairs_max_splits, "int64_t":$min_tiles_per_split);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Sala_KernelConfigAttr : AttrDef<Sala_Dialect, "KernelConfig"> {
  let mnemonic = "kernel_config";
  let summary = "how an op's kernel is launched: the launch policy";
  let description = [{
    Chosen once per op by `sala-choose-kernel-config` from the op and the
    target (`--chip`, `--gpu`), and read by the kernel builders, the kernel
    plan and the manifest (its `config`); nothing else decides these:
    threads per block; the occupancy asked of ptxas, `min_blocks_per_sm`
    (`nvvm.minctasm`, 0: none) or `max_registers` (`nvvm.maxnreg`, 0: none);
    for kernels that walk tokens in tiles, `tile` (tokens a tile: the keys of
    an attention tile, the chunk of chunked linear attention) and `stages`
    (tiles of each operand staged in shared memory at once), both omitted
    (0) for kernels without; for split-KV attention, the split rule; and `max_shared_bytes`, the
    shared memory a block may have on the target (its opt-in limit; 232448,
    the Hopper value, when omitted): a kernel that needs more than 48 KiB
    takes it as dynamic shared memory, up to this. For chunked linear
    attention, `segment` (tokens, a multiple of `tile`; 0, the default: one
    block walks a whole sequence): each block walks one segment of a
    sequence, and the segments' states are chained across blocks, so a long
    prefill fills the GPU.

    ```mlir
    sala.fused_sparse_attention ... {sala.kernel_config = #sala.kernel_config<
        threads = 128, min_blocks_per_sm = 0, max_registers = 255,
        split = #sala.split_rule<sms = 132, ...>>}
    ```
  }];
  let parameters = (ins "int64_t":$threads, "int64_t":$min_blocks_per_sm,
                        "int64_t":$max_registers,
                        DefaultValuedParameter<"int64_t", "0">:$tile,
                        DefaultValuedParameter<"int64_t", "0">:$stages,
                        OptionalParameter<"SplitRuleAttr">:$split,
                        DefaultValuedParameter<"int64_t", "232448">:$max_shared_bytes,
                        DefaultValuedParameter<"int64_t", "0">:$segment);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The attribute's name on an op.
    static constexpr ::llvm::StringLiteral kOpAttrName = "sala.kernel_config";
  }];
}

def Sala_SparseConfigAttr : AttrDef<Sala_Dialect, "SparseConfig"> {
  let mnemonic = "sparse";
  let summary = "InfLLM-V2 block-sparse attention configuration";
  let description = [{
    The `sparse_config` of a MiniCPM-SALA sparse layer: compression kernel and
    stride for K1, the 64-token block, top-k, the forced local window and initial
    blocks, and the length under which a sequence uses dense attention.

    ```mlir
    #sala.sparse<kernel_size = 32, kernel_stride = 16, block_size = 64, topk = 64,
                 window_size = 2048, init_blocks = 1, dense_len = 8192>
    ```

    `kernel_stride` must divide `kernel_size`, `block_size` must be a multiple of
    `kernel_stride`, and `window_size` a multiple of `block_size`.
  }];
  let parameters = (ins "int64_t":$kernel_size, "int64_t":$kernel_stride,
                        "int64_t":$block_size, "int64_t":$topk,
                        "int64_t":$window_size, "int64_t":$init_blocks,
                        "int64_t":$dense_len);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Blocks of the forced local window (window_size / block_size).
    int64_t getLocalBlocks() const { return getWindowSize() / getBlockSize(); }
    /// Blocks selected per query and KV group: topk + local window.
    int64_t getSelectCount() const { return getTopk() + getLocalBlocks(); }
  }];
}

#endif
