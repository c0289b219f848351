//===- SalaOps.h - sala operations ------------------------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALAOPS_H
#define SALAC_DIALECT_SALA_IR_SALAOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "salac/Dialect/Sala/IR/SalaAttributes.h"
#include "salac/Dialect/Sala/IR/SalaDialect.h"
#include "salac/Dialect/Sala/IR/SalaTypes.h"
#include "salac/Dialect/Sala/IR/SalaInterfaces.h"

#define GET_OP_CLASSES
#include "salac/Dialect/Sala/IR/SalaOps.h.inc"

#endif
