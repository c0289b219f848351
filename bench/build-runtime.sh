#!/usr/bin/env bash
# Builds libsalart runtime-only into build-rt (on the GPU machine: no MLIR
# there), logging to LOG; prints the log's tail and exits 1 if it fails.
# bench/grid.sh and bench/sanitize.sh run it, then use
# SALART_LIB=build-rt/lib/libsalart.so.
#
#   bash bench/build-runtime.sh LOG
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log=${1:?usage: build-runtime.sh LOG}
if command -v ninja >/dev/null; then gen=Ninja; else gen="Unix Makefiles"; fi
if ! { cmake -G "$gen" -S "$root" -B "$root/build-rt" -DSALAC_RUNTIME_ONLY=ON \
         -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$root/build-rt" --target salart -j"$(nproc)"; } >"$log" 2>&1; then
  tail -30 "$log"
  echo "build-runtime.sh: libsalart did not build (see $log)"
  exit 1
fi
