#!/usr/bin/env bash
# The correctness grid on the GPU machine (nvcc, CMake, PyTorch; no MLIR):
# builds libsalart runtime-only (as bench/run.sh does), then runs
# bench/grid.py on the packages given, one per page size, built elsewhere with
#   build/bin/salac --emit=package -o pkg
#   build/bin/salac --emit=package --page-size=1 -o pkg1
#
#   bash bench/grid.sh [PACKAGE_DIR...] [-- grid.py options...]
#
# Logs (build.log, grid.log, grid.json, grid.md, nvidia-smi.csv) go to $OUT
# when set, else out/grid. Exits with grid.py's status.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
pkgs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do pkgs+=(--package "$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#pkgs[@]} -eq 0 ] && pkgs=(--package pkg --package pkg1)
out=${OUT:-$root/out/grid}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem \
  --format=csv 2>&1 | tee "$out/nvidia-smi.csv"

echo "== build libsalart"
bash "$root/bench/build-runtime.sh" "$out/build.log" || exit 1
export SALART_LIB=$root/build-rt/lib/libsalart.so

echo "== grid"
python3 bench/grid.py "${pkgs[@]}" --json "$out/grid.json" --markdown "$out/grid.md" "$@" \
  2>&1 | tee "$out/grid.log"
rc=${PIPESTATUS[0]}
echo "== done $(date -u '+%Y-%m-%d %H:%M:%S UTC'), grid.py exit $rc"
exit "$rc"
