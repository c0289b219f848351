//===- SalaDialect.td - the sala dialect definition -------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALADIALECT_TD
#define SALAC_DIALECT_SALA_IR_SALADIALECT_TD

include "mlir/IR/OpBase.td"

def Sala_Dialect : Dialect {
  let name = "sala";
  let cppNamespace = "::salac::sala";
  let summary = "Attention blocks of sparse+linear hybrid LLMs";
  let description = [{
    The `sala` dialect describes the attention blocks ("mixers") of sparse+linear
    hybrid language models such as MiniCPM-SALA: InfLLM-V2 block-sparse attention
    over a paged KV cache, and simple gated linear attention over a pool of
    recurrent states.

    Activations are ranked tensors laid out `[tokens, heads, head_dim]`, where the
    token dimension packs a ragged batch; per-sequence metadata follows the
    serving-engine convention: `cu_seqlens_q` (B+1 cumulative query lengths),
    `seq_lens` (B total KV lengths after this step's tokens are appended) and page
    tables (`[B, max_pages]` logical-to-physical page maps), all `i32`.

    Caches and state pools (`!sala.kv_cache`, `!sala.compressed_keys`,
    `!sala.state_pool`) are references to mutable device memory: ops that update
    them declare a write effect on that operand and return nothing for it.

    Composite ops (`sala.sparse_mixer`, `sala.linear_mixer`) describe a whole mixer;
    `sala-decompose` expands them into the primitive ops, which later passes fuse
    and lower. The exact semantics of every op are stated in DESIGN.md sections 2-4.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
  private:
    void registerTypes();
    void registerAttributes();
  public:
  }];
}

class Sala_Op<string mnemonic, list<Trait> traits = []>
    : Op<Sala_Dialect, mnemonic, traits>;

#endif
