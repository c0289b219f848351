//===- SalaInterfaces.td - sala op interfaces --------------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALAINTERFACES_TD
#define SALAC_DIALECT_SALA_IR_SALAINTERFACES_TD

include "mlir/IR/OpBase.td"

def Sala_KernelOpInterface : OpInterface<"KernelOpInterface"> {
  let cppNamespace = "::salac::sala";
  let description = [{
    What a sala op that has a kernel tells that kernel and the tools around
    it, in one place per op instead of one switch per tool: the names of its
    operands and results as kernel parameters (the mixer plans bind launches
    by them), the kernel's readable base name, and what the kernel is
    specialised on beyond the op's own attributes and types (its consumers).
    The GPU conversion, the kernel plan and the manifest read it; whether a
    kernel exists for a given shape is the conversion's business, not the op's.
  }];
  let methods = [
    InterfaceMethod<[{
        The op's operands and results under the names its kernel's parameters
        have (`query`, `cache`, `slot_ids`, `output`...), in operand order;
        absent optional operands are left out. A `!sala.kv_cache` operand
        (role `cache`) is two kernel parameters, `k_cache` and `v_cache`.
      }], "void", "getKernelRoles",
      (ins "::salac::sala::KernelRoles &":$roles)>,
    InterfaceMethod<[{
        A readable kernel name from the op and its static attributes and
        shapes (`sala_rms_norm_head_h32_d128_bf16`); distinct kernels of one
        base name get `_v2`, `_v3`... when they are formed.
      }], "std::string", "getKernelName">,
    InterfaceMethod<[{
        What the kernel is specialised on beyond the op's own attributes and
        types, from its consumers (e.g. `skip_from_seq_len` when a
        `length_select` discards its rows of long sequences), as manifest
        attributes. Ops that differ here need different kernels.
      }], "::mlir::NamedAttrList", "getKernelSpecialisation", (ins), [{}],
      [{ return {}; }]>,
  ];
}

#endif
