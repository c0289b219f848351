//===- SalaAttributes.h - sala attributes and enums -------------*- C++ -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALAATTRIBUTES_H
#define SALAC_DIALECT_SALA_IR_SALAATTRIBUTES_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "salac/Dialect/Sala/IR/SalaEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "salac/Dialect/Sala/IR/SalaAttributes.h.inc"

#endif
