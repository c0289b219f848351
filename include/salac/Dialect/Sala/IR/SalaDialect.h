//===- SalaDialect.h - the sala dialect -------------------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALADIALECT_H
#define SALAC_DIALECT_SALA_IR_SALADIALECT_H

#include "mlir/IR/Dialect.h"

#include "salac/Dialect/Sala/IR/SalaDialect.h.inc"

#endif
