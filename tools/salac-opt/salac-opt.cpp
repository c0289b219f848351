//===- salac-opt.cpp - the salac optimizer driver -------------------------===//
//
// An mlir-opt-style driver with the sala dialect, salac's passes, and only the
// upstream dialects and passes salac's pipelines use.
//
//===----------------------------------------------------------------------===//
#include "salac/InitAll.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  salac::registerAllDialects(registry);
  salac::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "salac optimizer driver\n", registry));
}
