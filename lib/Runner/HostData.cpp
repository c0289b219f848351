//===- HostData.cpp - the values salac run passes to a block --------------===//
#include "HostData.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace salac::runner;

std::string salac::runner::typeName(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return s;
}

std::string salac::runner::shapeName(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t d = 0; d < shape.size(); ++d)
    s += (d ? "x" : "") + std::to_string(shape[d]);
  return s.empty() ? "scalar" : s;
}

HostTensor salac::runner::scoresToTensor(const ref::BlockScores &scores) {
  HostTensor t;
  t.shape = {scores.numTokens, scores.numKVHeads, scores.numBlocks};
  for (double v : scores.values)
    t.f.push_back(static_cast<float>(v));
  return t;
}

salac::ref::BlockScores salac::runner::tensorToScores(const HostTensor &tensor) {
  ref::BlockScores s;
  if (tensor.shape.size() == 3) {
    s.numTokens = tensor.shape[0];
    s.numKVHeads = tensor.shape[1];
    s.numBlocks = tensor.shape[2];
  }
  s.values.assign(tensor.f.begin(), tensor.f.end());
  return s;
}
