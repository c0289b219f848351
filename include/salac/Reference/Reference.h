//===- Reference.h - salac reference semantics, umbrella header ----------===//
//
// Plain C++17 reference of every sala op (library SalacReference, namespace
// salac::ref). See Common.h (status, bf16, batch and cache views), Sparse.h
// (KV cache, InfLLM-V2 sparse attention, dense attention, sparse mixer) and
// Linear.h (rms_norm, rope, sigmoid_gate, linear attention, linear mixer).
//
//===----------------------------------------------------------------------===//

#ifndef SALAC_REFERENCE_REFERENCE_H
#define SALAC_REFERENCE_REFERENCE_H

#include "salac/Reference/Common.h"
#include "salac/Reference/Linear.h"
#include "salac/Reference/Sparse.h"

#endif // SALAC_REFERENCE_REFERENCE_H
