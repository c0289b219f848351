#!/usr/bin/env bash
# Builds the packages of the linear prefill round (issue "Prefill at the speed
# of the best kernels", point 1): one linear layer of MiniCPM-SALA, prefill
# only, as the default chunked kernel (one block a whole sequence), in
# segments of 256 (many segments at the grid's small shapes), 1024 and 2048
# tokens, in segments of 256 and 1024 with two chunks in flight
# (--linear-stages=2), and with the q/k norms and RoPE folded in (whole, and
# in segments of 1024). Then, on the GPU machine:
#
#   bash scripts/prefill-packages.sh pkgs-prefill      # here (needs build/bin/salac)
#   bash bench/linear-prefill.sh pkgs-prefill          # there (carry pkgs-prefill, .whl)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: prefill-packages.sh OUTDIR}
salac=${SALAC:-$root/build/bin/salac}
layer=(--strict --emit=package --layers=1 --mode=prefill)
"$salac" "${layer[@]}" -o "$out/whole"
for seg in 256 1024 2048; do
  "$salac" "${layer[@]}" --linear-segment=$seg -o "$out/seg$seg"
done
# Two stages: the next chunk's tiles load while one computes.
"$salac" "${layer[@]}" --linear-segment=256 --linear-stages=2 -o "$out/seg256-2st"
"$salac" "${layer[@]}" --linear-segment=1024 --linear-stages=2 -o "$out/seg1024-2st"
"$salac" "${layer[@]}" --fuse-linear-prefill -o "$out/fold"
"$salac" "${layer[@]}" --fuse-linear-prefill --linear-segment=1024 -o "$out/fold-seg1024"
echo "prefill-packages: $(ls "$out" | wc -l) packages in $out"
