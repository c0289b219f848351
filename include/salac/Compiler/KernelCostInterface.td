//===- KernelCostInterface.td - what an op's kernel costs --*- tablegen -*-===//
#ifndef SALAC_COMPILER_KERNELCOSTINTERFACE_TD
#define SALAC_COMPILER_KERNELCOSTINTERFACE_TD

include "mlir/IR/OpBase.td"

def KernelCostOpInterface : OpInterface<"KernelCostOpInterface"> {
  let cppNamespace = "::salac";
  let description = [{
    The cost model of an op's kernel for one launch at a step's sizes: the
    DRAM bytes the op must move (each needed byte once) and its flops
    (KernelCost.h says what is counted; docs/KernelPlan.md the formulas).
    The compiler attaches it to every sala op that has a kernel, one model
    per op (lib/Compiler/KernelCost.cpp), so that the kernel plan asks the
    op instead of switching on it; an op without a model is an error the
    plan names.
  }];
  let methods = [
    InterfaceMethod<[{
        Adds the cost of one launch at `sizes` to `costing`.
      }], "void", "addKernelCost",
      (ins "const ::salac::StepSizes &":$sizes, "::salac::KernelCosting &":$costing)>,
  ];
}

#endif
