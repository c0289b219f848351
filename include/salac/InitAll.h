//===- InitAll.h - register salac's dialects and passes ---------*- C++ -*-===//
#ifndef SALAC_INITALL_H
#define SALAC_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace salac {
/// The sala dialect plus the upstream dialects salac's pipelines produce.
void registerAllDialects(mlir::DialectRegistry &registry);
/// salac's passes and pipelines plus the upstream passes they use.
void registerAllPasses();
} // namespace salac

#endif
