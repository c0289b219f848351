//===- InputDepth.h - guard recursive parsers against deep input -*- C++ -*-===//
//
// llvm::json and the MLIR parser recurse once per nesting level: a file
// nested tens of thousands of levels deep overflows the stack before they
// can report an error. salac measures the nesting first, with a loop.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_MODEL_INPUTDEPTH_H
#define SALAC_MODEL_INPUTDEPTH_H

#include "llvm/ADT/StringRef.h"

namespace salac {

enum class InputSyntax { Json, Mlir };

/// Nesting past this is refused; real configs and sala blocks nest a few
/// levels (a config.json 3, a sala block about 8).
inline constexpr int kMaxInputDepth = 256;

/// The 1-based line where `text` first nests its brackets deeper than
/// `limit`, or 0 when it never does. Brackets in strings (and, for MLIR, in
/// `//` comments) do not count; for MLIR `<...>` counts, `->` does not.
unsigned lineNestedDeeperThan(llvm::StringRef text, InputSyntax syntax,
                              int limit = kMaxInputDepth);

} // namespace salac

#endif
