#!/usr/bin/env bash
# The one command for the GPU machine (nvcc, CMake, PyTorch; no MLIR, no
# network). Builds libsalart only, runs its unit tests if they were built,
# the Python tests, the C header smoke test and the harness on a package
# built elsewhere with `build/bin/salac --emit=package -o pkg`.
#
#   bash bench/run.sh [PACKAGE_DIR] [harness options...]
#
# Logs go to $OUT when set (the device tool's output folder), else out/bench.
# Ends with one line per step; exits 1 if any step failed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
pkg=${1:-pkg}
shift || true
out=${OUT:-$root/out/bench}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
summary=()
failed=0
step() { # name status detail
  summary+=("$(printf '%-14s %-7s %s' "$1" "$2" "$3")")
  [ "$2" = FAIL ] && failed=1
  return 0
}

if [ ! -f "$pkg/manifest.json" ]; then
  echo "run.sh: no package at '$pkg' (build one with build/bin/salac --emit=package -o pkg)"
  exit 2
fi

# 1. libsalart, runtime-only (no MLIR needed).
echo "== build libsalart"
if command -v ninja >/dev/null; then gen=Ninja; else gen="Unix Makefiles"; fi
if cmake -G "$gen" -S . -B build-rt -DSALAC_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
      >"$out/build.log" 2>&1 &&
   if [ "$gen" = Ninja ]; then ninja -C build-rt salart; else make -C build-rt -j"$(nproc)" salart; fi \
      >>"$out/build.log" 2>&1; then
  step libsalart pass "build-rt/lib/libsalart.so ($gen)"
else
  tail -30 "$out/build.log"
  step libsalart FAIL "see build.log"
  printf '%s\n' "${summary[@]}"
  exit 1
fi
export SALART_LIB=$root/build-rt/lib/libsalart.so

# 2. Runtime unit tests, when GoogleTest was found at configure time.
echo "== runtime unit tests"
if cmake --build build-rt --target help 2>/dev/null | grep -q SalartTests; then
  if cmake --build build-rt --target SalartTests >>"$out/build.log" 2>&1 &&
     build-rt/bin/SalartTests >"$out/salart-tests.log" 2>&1; then
    step SalartTests pass "$(grep -E '^\[  PASSED' "$out/salart-tests.log" | head -1)"
  else
    tail -30 "$out/salart-tests.log" 2>/dev/null
    step SalartTests FAIL "see salart-tests.log"
  fi
else
  step SalartTests skipped "not built (GoogleTest not found by CMake)"
fi

# 3. Python tests (the reference and the GPU launches run here with torch).
echo "== python tests"
if python3 -c "import pytest" 2>/dev/null; then
  SALAC_TEST_PACKAGE=$root/$pkg python3 -m pytest -q -rs python/tests \
    -p no:cacheprovider 2>&1 | tee "$out/pytest.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] && st=pass || st=FAIL
  step pytest "$st" "$(tail -1 "$out/pytest.log")"
else
  step pytest skipped "pytest not installed"
fi

# 4. The C header with nothing but the driver API.
echo "== header smoke test"
cuda_h=$(ls -d /usr/local/cuda*/include/cuda.h 2>/dev/null | head -1)
smoke=$(python3 - "$pkg" <<'EOF'
import json, math, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
for k in m["kernels"]:
    if k["op"] == "sala.sigmoid_gate":
        shape = k["params"][0]["shape"]
        print(k["name"], math.prod(d for d in shape if isinstance(d, int)))
        break
EOF
)
if [ -z "$cuda_h" ]; then
  step header-smoke skipped "no cuda.h under /usr/local/cuda*/include"
elif [ -z "$smoke" ]; then
  step header-smoke skipped "no sala.sigmoid_gate kernel in the package"
else
  read -r smoke_kernel smoke_row <<<"$smoke"
  inc=$(dirname "$cuda_h")
  libs=()
  for d in "$inc/../lib64/stubs" "$inc/../lib64"; do [ -d "$d" ] && libs+=("-L$d"); done
  if gcc -std=c11 -O2 -Wall -I"$pkg" -I"$inc" -DSMOKE_KERNEL="$smoke_kernel" -DSMOKE_ROW="$smoke_row" \
        bench/header_smoke.c -o "$out/header_smoke" "${libs[@]}" -lcuda -lm \
        >"$out/header-smoke.log" 2>&1 &&
     "$out/header_smoke" "$pkg" 2>&1 | tee -a "$out/header-smoke.log" &&
     [ "${PIPESTATUS[0]}" -eq 0 ]; then
    step header-smoke pass "$(tail -1 "$out/header-smoke.log" | cut -c1-100)"
  else
    cat "$out/header-smoke.log"
    step header-smoke FAIL "see header-smoke.log"
  fi
  rm -f "$out/header_smoke"
fi

# 5. The harness: correctness, then speed, of every kernel.
echo "== harness"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem \
  --format=csv >"$out/nvidia-smi.csv" 2>&1 || true
python3 bench/harness.py --package "$pkg" --json "$out/results.json" \
  --markdown "$out/table.md" "$@" 2>&1 | tee "$out/harness.log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && st=pass || st=FAIL
step harness "$st" "$(grep '^harness:' "$out/harness.log" | tail -1)"

echo
echo "== summary ($(date -u '+%Y-%m-%d %H:%M UTC'), logs in $out)"
printf '%s\n' "${summary[@]}"
exit $failed
