#!/usr/bin/env bash
# libFuzzer targets (tools/fuzz/): the config.json loader, sala blocks
# through the MLIR parser, the verifiers and the graph passes, and libsalart's
# manifest reader. Builds each with clang (-fsanitize=fuzzer,address,undefined)
# and runs it for SECONDS (default 10) from its seed corpus: the inputs in
# test/fuzz/<target>/ (seeds, and every crashing input found so far, kept as
# regression cases) plus the files named below. Needs the build's generated
# files (DefaultModelConfig.inc, the dialect's .inc; scripts/build.sh) and
# LLVM 22's libLLVM and libMLIR.
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
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I"$root/include"
       -isystem /usr/lib/llvm-22/include)
llvm=(-L/usr/lib/llvm-22/lib -lLLVM -Wl,-rpath,/usr/lib/llvm-22/lib)
declare -A sources=(
  [config]="tools/fuzz/config-fuzzer.cpp lib/Model/ModelConfig.cpp lib/Model/InputDepth.cpp"
  [mlir]="tools/fuzz/mlir-fuzzer.cpp lib/Model/InputDepth.cpp
          lib/Dialect/Sala/IR/SalaDialect.cpp lib/Dialect/Sala/IR/SalaOps.cpp
          lib/Dialect/Sala/IR/KernelOpInterface.cpp lib/Dialect/Sala/Transforms/Decompose.cpp
          lib/Dialect/Sala/Transforms/FuseKVAccess.cpp lib/Dialect/Sala/Transforms/FuseLinear.cpp
          lib/Dialect/Sala/Transforms/FuseSparseAttention.cpp
          lib/Dialect/Sala/Transforms/FuseSparseSelect.cpp"
  [manifest]="tools/fuzz/manifest-fuzzer.cpp lib/Runtime/Manifest.cpp lib/Runtime/Json.cpp"
)
declare -A extra_seeds=(
  [config]="examples/minicpm-sala/config.json"
  [mlir]=""
  [manifest]=""
)
# Compile flags and link flags of each target beyond the common ones (MLIR
# and LLVM are built without RTTI).
declare -A target_flags=(
  [config]="-I$build/lib/Model"
  [mlir]="-fno-rtti -I$build/include"
  [manifest]=""
)
declare -A target_libs=(
  [config]="${llvm[*]}"
  [mlir]="-lMLIR ${llvm[*]}"
  [manifest]=""
)
jobs=$(nproc 2>/dev/null || echo 2)
# One source of a target to its object.
compile() {
  # shellcheck disable=SC2086
  "$cxx" "${flags[@]}" ${target_flags[$1]} -c "$root/$2" -o "$work/$1.obj/${2//\//_}.o"
}
# Every source of a target, $jobs at a time (the dialect's take a minute
# each), then one link.
build_target() {
  local target=$1 pids=() failed=0 s p
  mkdir -p "$work/$target.obj"
  for s in ${sources[$target]}; do
    compile "$target" "$s" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
      wait "${pids[0]}" || failed=1
      pids=("${pids[@]:1}")
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ $failed -eq 0 ] || return 1
  # shellcheck disable=SC2086
  "$cxx" "${flags[@]}" "$work/$target.obj"/*.o ${target_libs[$target]} -o "$work/$target"
}
status=0
for target in config mlir manifest; do
  if ! build_target "$target" >"$work/$target.build.log" 2>&1; then
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
