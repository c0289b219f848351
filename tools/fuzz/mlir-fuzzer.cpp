//===- mlir-fuzzer.cpp - libFuzzer target: sala blocks through the graph ---===//
//
// Any bytes as a .mlir file, the way salac and salac-opt take one: the input
// depth guard, the parser, the verifiers (sala, func, arith, tensor), then
// the graph passes, verified after each: sala-decompose, the four fusions
// and sala-unfuse. An error or a module, never a crash, a hang or unbounded
// memory (scripts/fuzz.sh builds and runs it).
//
//===----------------------------------------------------------------------===//
#include "salac/Dialect/Sala/IR/SalaDialect.h"
#include "salac/Dialect/Sala/Transforms/Passes.h"
#include "salac/Model/InputDepth.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace mlir;

// The sala dialect's storage classes allocate from MLIR's arena through
// inline LLVM code built here with AddressSanitizer, which poisons each new
// slab and unpoisons what it hands out; libMLIR's own copy (built without)
// then hands out the rest of that slab still poisoned, and reading a builtin
// attribute from it is reported as use-after-poison (valgrind on salac-opt:
// clean). Manual poisoning is off; heap errors are still caught.
extern "C" const char *__asan_default_options() { return "allow_user_poisoning=0"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // MLIR's lexer stops at a NUL past the end of its buffer, as salac's and
  // salac-opt's file buffers have (llvm::MemoryBuffer); libFuzzer's data
  // has none, and the lexer read on into the heap (reported as an overflow
  // in memchr after thousands of inputs, when the byte past the end was not
  // 0). A std::string keeps one.
  std::string source(reinterpret_cast<const char *>(data), size);
  llvm::StringRef text(source);
  if (salac::lineNestedDeeperThan(text, salac::InputSyntax::Mlir))
    return 0; // salac refuses it with one line, before the recursive parser
  // A fresh context an input: nothing one input interns is kept for the next.
  DialectRegistry registry;
  registry.insert<salac::sala::SalaDialect, func::FuncDialect, arith::ArithDialect,
                  tensor::TensorDialect>();
  MLIRContext ctx(registry, MLIRContext::Threading::DISABLED);
  ctx.loadAllAvailableDialects();
  ctx.printOpOnDiagnostic(false);
  ctx.getDiagEngine().registerHandler([](Diagnostic &) { return success(); });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &ctx);
  if (!module)
    return 0;
  PassManager pm(&ctx);
  pm.enableVerifier(true);
  pm.addPass(salac::sala::createSalaDecompose());
  pm.addPass(salac::sala::createSalaFuseKVAccess());
  pm.addPass(salac::sala::createSalaFuseSparseSelect());
  pm.addPass(salac::sala::createSalaFuseSparseAttention());
  salac::sala::SalaFuseLinearOptions linear;
  linear.prefill = true; // the chunked fold too (a superset of the default)
  pm.addPass(salac::sala::createSalaFuseLinear(linear));
  pm.addPass(salac::sala::createSalaUnfuse());
  (void)pm.run(*module);
  return 0;
}
