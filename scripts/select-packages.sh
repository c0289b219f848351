#!/usr/bin/env bash
# Builds the two sm_90 packages of the fused selection's block-size round
# (issue "The compiler owns its kernels", its last open case): the policy's
# 16 warps, and 8 warps with every register they want (salac
# --select-threads=256), which removes the 4-byte spill of the TP=2 shard.
# Then, on the GPU machine:
#
#   bash scripts/select-packages.sh pkgs-select     # here (needs build/bin/salac)
#   bash bench/select-warps.sh pkgs-select          # there (carry pkgs-select)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: select-packages.sh OUTDIR}
salac=${SALAC:-$root/build/bin/salac}
"$salac" --strict --emit=package --mode=decode -o "$out/warps16"
"$salac" --strict --emit=package --mode=decode --select-threads=256 -o "$out/warps8"
echo "select-packages: $(ls "$out" | wc -l) packages in $out"
