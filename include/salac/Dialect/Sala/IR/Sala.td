//===- Sala.td - the sala dialect, umbrella ----------------*- tablegen -*-===//
#ifndef SALAC_DIALECT_SALA_IR_SALA_TD
#define SALAC_DIALECT_SALA_IR_SALA_TD

include "salac/Dialect/Sala/IR/SalaDialect.td"
include "salac/Dialect/Sala/IR/SalaAttributes.td"
include "salac/Dialect/Sala/IR/SalaTypes.td"
include "salac/Dialect/Sala/IR/SalaInterfaces.td"
include "salac/Dialect/Sala/IR/SalaOps.td"

#endif
