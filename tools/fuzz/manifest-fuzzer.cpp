//===- manifest-fuzzer.cpp - libFuzzer target: libsalart's manifest reader ===//
//
// Any bytes through parseManifest and the PTX entry scan: a Status, never a
// crash, a hang or unbounded memory (scripts/fuzz.sh builds and runs it).
//
//===----------------------------------------------------------------------===//
#include "salac/Runtime/Manifest.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  salac::rt::Manifest manifest;
  (void)salac::rt::parseManifest(text, "fuzz.json", manifest);
  (void)salac::rt::ptxEntryNames(text);
  return 0;
}
