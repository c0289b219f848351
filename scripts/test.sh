#!/usr/bin/env bash
# Builds everything and runs every test suite: lit (dialect, passes, CLI, PTX),
# the GoogleTest unit tests (through lit), the Python package's tests and a
# short run of each libFuzzer target (scripts/fuzz.sh; skipped without clang).
# Ends with one summary line "N passed, M failed, K skipped"; exits 1 on failure.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SALAC_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh" all || { echo "build failed"; exit 1; }
log="$build/test-results"
mkdir -p "$log"

/usr/lib/llvm-22/bin/lit -sv "$build/test" 2>&1 | tee "$log/lit.log"
count() { grep -E "^ *$1 *:" "$log/lit.log" | head -1 | sed -E 's/.*: *([0-9]+).*/\1/'; }
passed=$(( $(count Passed || true) + 0 ))
failed=$(( $(count Failed || true) + 0 ))
skipped=$(( $(count Skipped || true) + $(count Unsupported || true) + 0 ))
unresolved=$(( $(count Unresolved || true) + $(count 'Timed Out' || true) + 0 ))
failed=$(( failed + unresolved ))

if [ -d "$root/python/tests" ]; then
  if python3 -c "import pytest" 2>/dev/null; then
    SALAC_BUILD_DIR="$build" python3 -m pytest -q -rs "$root/python/tests" \
      -o cache_dir="$build/.pytest_cache" 2>&1 | tee "$log/pytest.log"
    status=${PIPESTATUS[0]}
    line=$(tail -1 "$log/pytest.log")
    num() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' | head -1; }
    passed=$((passed + $(num passed || true) + 0))
    skipped=$((skipped + $(num skipped || true) + 0))
    f=$(( $(num failed || true) + $(num error || true) + 0 ))
    # pytest exits 1 on failures, 2+ on a broken run: count that as a failure.
    if [ "$f" -eq 0 ] && [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then f=1; fi
    failed=$((failed + f))
  else
    echo "pytest not available: Python tests skipped"
  fi
fi

# A short bounded fuzz run of each libFuzzer target, where clang is installed.
bash "$root/scripts/fuzz.sh" "${SALAC_FUZZ_SECONDS:-5}" 2>&1 | tee "$log/fuzz.log"
passed=$((passed + $(grep -c ", no crash$" "$log/fuzz.log")))
failed=$((failed + $(grep -cE ": (FAILED|did not build)" "$log/fuzz.log")))
skipped=$((skipped + $(grep -c "^fuzz: skipped" "$log/fuzz.log")))

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
