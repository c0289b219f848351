#!/usr/bin/env bash
# Builds the kernel packages of the shape grid (issue "The compiler owns its
# kernels"): the embedded MiniCPM-SALA config at page sizes 64 and 1 and for
# sm_80, a TP=2 shard of it (16 query heads over 1 KV head, pages 64 and 16),
# a MiniCPM4-0.5B-shaped model (hidden 1024, 16 heads over 2 KV heads,
# head_dim 64, all layers InfLLM-V2), a GQA-2 model (8 heads over 4 KV heads),
# SALA with 128-token blocks (fused, and unfused) and with 32-token blocks
# (fused at page 64; unfused at page 16). Then, on the GPU machine:
#
#   bash scripts/shape-packages.sh pkgs-shapes     # here (needs build/bin/salac)
#   bash bench/shape-grid.sh pkgs-shapes           # there (carry pkgs-shapes)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: shape-packages.sh OUTDIR}
salac=${SALAC:-$root/build/bin/salac}
python3 "$root/scripts/shape-configs.py" "$out/configs"
"$salac" --strict --emit=package -o "$out/sala"
"$salac" --strict --emit=package --page-size=1 -o "$out/sala-p1"
"$salac" --strict --emit=package --chip=sm_80 -o "$out/sala-sm80"
"$salac" --strict --emit=package --tp=2 --tp-rank=1 -o "$out/sala-tp2" 2>/dev/null
"$salac" --strict --emit=package --tp=2 --tp-rank=1 --page-size=16 -o "$out/sala-tp2-p16" 2>/dev/null
"$salac" --strict "$out/configs/minicpm4-0.5b-shape.json" --emit=package -o "$out/minicpm4-0.5b-shape"
"$salac" --strict "$out/configs/gqa2.json" --emit=package -o "$out/gqa2"
# 128-token blocks: the fused selection takes 55,572 bytes of dynamic shared memory.
"$salac" --strict "$out/configs/block128.json" --emit=package -o "$out/block128"
"$salac" --strict --no-fuse "$out/configs/block128.json" --emit=package -o "$out/block128-nofuse"
# 32-token blocks: half-tile slots in stage 2 (whole pages, and 16-token pages).
"$salac" --strict "$out/configs/block32.json" --emit=package -o "$out/block32"
"$salac" --strict --no-fuse --page-size=16 "$out/configs/block32.json" --emit=package \
  -o "$out/block32-p16-nofuse"
rm -r "$out/configs"
echo "shape-packages: $(ls "$out" | wc -l) packages in $out"
