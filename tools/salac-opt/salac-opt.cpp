#include "salac/Dialect/Sala/IR/SalaDialect.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<salac::sala::SalaDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "salac optimizer driver\n", registry));
}
