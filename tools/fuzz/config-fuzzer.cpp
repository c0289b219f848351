//===- config-fuzzer.cpp - libFuzzer target: the config.json loader -------===//
//
// Any bytes through parseModelConfig: an error or a config, never a crash,
// a hang or unbounded memory (scripts/fuzz.sh builds and runs it).
//
//===----------------------------------------------------------------------===//
#include "salac/Model/ModelConfig.h"

#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<salac::model::ModelConfig> config =
      salac::model::parseModelConfig(text, "fuzz.json");
  if (!config)
    llvm::consumeError(config.takeError());
  else
    (void)config->linearSlopes();
  return 0;
}
