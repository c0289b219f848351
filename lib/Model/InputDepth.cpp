//===- InputDepth.cpp - guard recursive parsers against deep input --------===//
#include "salac/Model/InputDepth.h"

using namespace salac;

unsigned salac::lineNestedDeeperThan(llvm::StringRef text, InputSyntax syntax, int limit) {
  bool mlir = syntax == InputSyntax::Mlir;
  int depth = 0;
  unsigned line = 1;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      continue;
    }
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (mlir && c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      size_t end = text.find('\n', i);
      i = (end == llvm::StringRef::npos ? text.size() : end) - 1;
    } else if (c == '[' || c == '{' || (mlir && (c == '(' || c == '<'))) {
      if (++depth > limit)
        return line;
    } else if (c == ']' || c == '}' ||
               (mlir && (c == ')' || (c == '>' && (i == 0 || text[i - 1] != '-'))))) {
      depth = depth > 0 ? depth - 1 : 0;
    }
  }
  return 0;
}
