#!/usr/bin/env bash
# The linear prefill round on the GPU machine (nvcc, CMake, PyTorch; no
# MLIR), on the packages scripts/prefill-packages.sh built: libsalart
# runtime-only, then correctness first -- the grid on every package's linear
# kernels (poisoned outputs, float64 reference, the segment chain's flags and
# counter back at zero) -- then bench/linear_prefill.py: the chunked kernels
# (whole, in segments of 1024 and 2048, with two stages at 1024) side by side with fla's chunk_simple_gla (installed from the carried wheel
# when PYTHONPATH has it), checked against float64, then timed.
#
#   bash bench/linear-prefill.sh PKGDIR [-- linear_prefill.py options...]
#
# Logs in $OUT (else out/linear-prefill): build.log, grid-*.log,
# linear_prefill.log and .json, linear_layer.log and .json (the whole layer,
# unfused and folded). Exits 1 if a grid failed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:?usage: linear-prefill.sh PKGDIR [-- linear_prefill.py options...]}
shift
[ "${1:-}" = -- ] && shift
out=${OUT:-$root/out/linear-prefill}
mkdir -p "$out"
cd "$root"
export PYTHONUNBUFFERED=1
echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv 2>&1 | tail -1
bash "$root/bench/build-runtime.sh" "$out/build.log" || exit 1
export SALART_LIB=$root/build-rt/lib/libsalart.so
status=0
for p in "$dir"/*/; do
  name=$(basename "$p")
  python3 bench/grid.py --package "$p" --only linear_attention,rms_norm_gate \
    --json "$out/grid-$name.json" >"$out/grid-$name.log" 2>&1 || status=1
  echo "grid $name: $(tail -1 "$out/grid-$name.log")"
done
pkgs=()
for p in whole seg1024 seg1024-2st seg2048; do  # the fold: grid only (more work than fla's)
  [ -d "$dir/$p" ] && pkgs+=(--package "$dir/$p")
done
python3 bench/linear_prefill.py "${pkgs[@]}" --json "$out/linear_prefill.json" "$@" \
  2>&1 | tee "$out/linear_prefill.log"
# The whole layer: 7 launches unfused, 2 with the fold (whole and in segments).
layers=()
for p in whole fold seg1024 fold-seg1024; do
  [ -d "$dir/$p" ] && layers+=(--package "$dir/$p")
done
python3 bench/linear_prefill.py --layer "${layers[@]}" --json "$out/linear_layer.json" "$@" \
  2>&1 | tee "$out/linear_layer.log"
echo "== done $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
exit $status
