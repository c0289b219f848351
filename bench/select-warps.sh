#!/usr/bin/env bash
# The fused selection at 16 warps (the policy's on sm_90) against 8 warps
# (salac --select-threads=256), on the packages scripts/select-packages.sh
# built: the grid on the selection kernels of both, then the sparse decode
# baselines of both, alternating, ROUNDS times (default 3), in one call.
#
#   bash bench/select-warps.sh PKGDIR [ROUNDS]
#
# Logs in $OUT (else out/select-warps): build.log, grid-*.log, baselines-*.log.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:?usage: select-warps.sh PKGDIR [ROUNDS]}
rounds=${2:-3}
out=${OUT:-$root/out/select-warps}
mkdir -p "$out"
cd "$root"
export PYTHONUNBUFFERED=1
echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv 2>&1 | tail -1
bash "$root/bench/build-runtime.sh" "$out/build.log" || exit 1
export SALART_LIB=$root/build-rt/lib/libsalart.so
status=0
for w in warps16 warps8; do
  python3 bench/grid.py --package "$dir/$w" --only fused_sparse_select \
    >"$out/grid-$w.log" 2>&1 || status=1
  echo "grid $w: $(tail -1 "$out/grid-$w.log")"
done
for r in $(seq 1 "$rounds"); do
  for w in warps16 warps8; do
    python3 bench/baselines.py --salac-only --seed 7 --only sparse --package "$dir/$w" \
      >"$out/baselines-$w-$r.log" 2>&1 || status=1
    echo "round $r $w:"; grep -E "^\| sparse" "$out/baselines-$w-$r.log" || tail -3 "$out/baselines-$w-$r.log"
  done
done
echo "== done $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
exit $status
