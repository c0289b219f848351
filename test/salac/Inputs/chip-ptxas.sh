#!/usr/bin/env bash
# For one chip: compiles MiniCPM-SALA, its TP=2 shard, the MiniCPM4-0.5B-shaped
# model (head_dim 64) and the GQA-2 model with salac --strict, assembles each
# with ptxas (utils/check-ptx.py) and prints one line per model: its name and
# check-ptx's summary ("N kernels assembled for CHIP, no spills").
#   chip-ptxas.sh SALAC CHECK_PTX CHIP OUTDIR
set -uo pipefail
salac=$1 checkptx=$2 chip=$3 out=$4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
mkdir -p "$out"
python3 "$root/scripts/shape-configs.py" "$out/configs" || exit 1
for model in "sala:" "tp2:--tp=2 --tp-rank=1" "minicpm4-0.5b-shape:$out/configs/minicpm4-0.5b-shape.json" \
             "gqa2:$out/configs/gqa2.json"; do
  name=${model%%:*} args=${model#*:}
  # shellcheck disable=SC2086
  if ! "$salac" --strict --chip="$chip" $args -o "$out/$name.ptx" 2>"$out/$name.err"; then
    echo "$name: salac failed: $(head -1 "$out/$name.err")"
    continue
  fi
  echo "$name: $($checkptx "$out/$name.ptx" | tail -1)"
done
