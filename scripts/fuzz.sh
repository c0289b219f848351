#!/usr/bin/env bash
# libFuzzer targets (tools/fuzz/): the config.json loader and libsalart's
# manifest reader. Builds each with clang (-fsanitize=fuzzer,address,undefined)
# and runs it for SECONDS (default 10) from its seed corpus: the inputs in
# test/fuzz/<target>/ (seeds, and every crashing input found so far, kept as
# regression cases) plus the files named below. Needs the build's generated
# DefaultModelConfig.inc (scripts/build.sh) and LLVM 22's libLLVM.
#
#   bash scripts/fuzz.sh [SECONDS]
#
# Prints one line per target; exits 1 if a target crashed, leaked or ran out
# of time or memory on an input (libFuzzer writes it to $work/crash-*: copy it
# into test/fuzz/<target>/ once fixed; a copy is kept in build/fuzz-crashes/).
# Exits 0 with a message when no clang
# with libFuzzer is installed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SALAC_BUILD_DIR:-$root/build}
seconds=${1:-10}
cxx=${FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  for c in clang++-22 clang++; do command -v "$c" >/dev/null && { cxx=$c; break; }; done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$cxx" ] || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long){return 0;}' |
     "$cxx" -x c++ -fsanitize=fuzzer - -o "$work/probe" 2>/dev/null; then
  echo "fuzz: skipped (no clang with libFuzzer: install clang, e.g. clang-22)"
  exit 0
fi
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I"$root/include")
llvm=(-isystem /usr/lib/llvm-22/include -L/usr/lib/llvm-22/lib -lLLVM
      -Wl,-rpath,/usr/lib/llvm-22/lib)
declare -A sources=(
  [config]="tools/fuzz/config-fuzzer.cpp lib/Model/ModelConfig.cpp lib/Model/InputDepth.cpp"
  [manifest]="tools/fuzz/manifest-fuzzer.cpp lib/Runtime/Manifest.cpp lib/Runtime/Json.cpp"
)
declare -A extra_seeds=(
  [config]="examples/minicpm-sala/config.json"
  [manifest]=""
)
status=0
for target in config manifest; do
  srcs=()
  for s in ${sources[$target]}; do srcs+=("$root/$s"); done
  link=()
  [ "$target" = config ] && link=(-I"$build/lib/Model" "${llvm[@]}")
  if ! "$cxx" "${flags[@]}" "${srcs[@]}" "${link[@]}" -o "$work/$target" \
       >"$work/$target.build.log" 2>&1; then
    echo "fuzz $target: did not build"; tail -5 "$work/$target.build.log"; status=1; continue
  fi
  mkdir -p "$work/$target.corpus"
  cp "$root/test/fuzz/$target"/* "$work/$target.corpus/" 2>/dev/null
  for s in ${extra_seeds[$target]}; do cp "$root/$s" "$work/$target.corpus/"; done
  (cd "$work" && "./$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
     -max_len=65536 "$target.corpus" >"$target.log" 2>&1)
  rc=$?
  runs=$(grep -oE "Done [0-9]+ runs" "$work/$target.log" | grep -oE "[0-9]+")
  if [ $rc -eq 0 ]; then
    echo "fuzz $target: ${runs:-?} inputs in ${seconds} s, no crash"
  else
    echo "fuzz $target: FAILED (libFuzzer exit $rc); the input:"
    grep -E "SUMMARY|ERROR|Test unit written" "$work/$target.log" | head -5
    mkdir -p "$build/fuzz-crashes" && cp "$work"/crash-* "$work"/timeout-* "$work"/oom-* \
      "$build/fuzz-crashes/" 2>/dev/null
    status=1
  fi
done
exit $status
