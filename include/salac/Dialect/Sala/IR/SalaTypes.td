//===- SalaTypes.td - sala cache and state types ----------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALATYPES_TD
#define SALAC_DIALECT_SALA_IR_SALATYPES_TD

include "mlir/IR/AttrTypeBase.td"
include "salac/Dialect/Sala/IR/SalaDialect.td"

class Sala_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Sala_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Sala_KVCacheType : Sala_Type<"KVCache", "kv_cache"> {
  let summary = "a paged KV cache of one layer";
  let description = [{
    A pool of pages, each `page_size` tokens x `kv_heads` x `head_dim`, keys and
    values stored separately, of `element_type`. Sequences reach their pages
    through a page table (logical page -> physical page).

    ```mlir
    !sala.kv_cache<page_size = 64, kv_heads = 2, head_dim = 128, element_type = bf16>
    ```
  }];
  let parameters = (ins "int64_t":$page_size, "int64_t":$kv_heads,
                        "int64_t":$head_dim, "::mlir::Type":$element_type);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Sala_CompressedKeysType : Sala_Type<"CompressedKeys", "compressed_keys"> {
  let summary = "a paged store of mean-pooled (compressed) keys";
  let description = [{
    Compressed keys of one layer: entry `i` of a sequence is the mean of keys
    `stride*i .. stride*i + kernel_size - 1` of each KV head. Entries are paged like
    the KV cache, `page_size` entries per page, with their own page table.

    ```mlir
    !sala.compressed_keys<kernel_size = 32, kernel_stride = 16, page_size = 64,
                          kv_heads = 2, head_dim = 128, element_type = bf16>
    ```

    `kernel_stride` must be positive and divide `kernel_size`.
  }];
  let parameters = (ins "int64_t":$kernel_size, "int64_t":$kernel_stride,
                        "int64_t":$page_size, "int64_t":$kv_heads,
                        "int64_t":$head_dim, "::mlir::Type":$element_type);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Sala_StatePoolType : Sala_Type<"StatePool", "state_pool"> {
  let summary = "a pool of linear-attention states";
  let description = [{
    Slots of recurrent state for simple gated linear attention: one slot holds
    `heads` matrices of `head_dim x head_dim` `element_type` (key dim major). A
    sequence holds a slot index.

    ```mlir
    !sala.state_pool<heads = 32, head_dim = 128, element_type = f32>
    ```
  }];
  let parameters = (ins "int64_t":$heads, "int64_t":$head_dim,
                        "::mlir::Type":$element_type);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif
