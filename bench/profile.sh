#!/usr/bin/env bash
# Nsight Compute profile of salac's sparse-decode kernels (the selection and
# stage 2) on the GPU machine: a full section set per kernel plus per-SASS
# instruction stall samples, for finding what limits a kernel.
#
#   SALART_LIB=build-rt/lib/libsalart.so bash bench/profile.sh pkg OUTDIR [CASES]
#
# CASES as bench/baselines.py --sparse-cases (default 8x128K,1x512K). Writes
# OUTDIR/<case>.ncu-rep, <case>-details.txt and <case>-sass.csv.
set -euo pipefail
pkg=${1:?usage: profile.sh PACKAGE OUTDIR [CASES]}
out=${2:?usage: profile.sh PACKAGE OUTDIR [CASES]}
cases=${3:-8x128K,1x512K}
ncu=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
IFS=, read -ra list <<<"$cases"
for c in "${list[@]}"; do
  # The first launch of each kernel is the checked eager one: profile those.
  "$ncu" --set full --import-source no --graph-profiling node \
    --section SourceCounters --section WarpStateStats \
    -k 'regex:fused_sparse_select|sparse_attention' --launch-count 2 -f -o "$out/$c" \
    python3 "$here/baselines.py" --package "$pkg" --only sparse --sparse-cases "$c" \
    --salac-only >"$out/$c-run.txt" 2>&1 || { tail -20 "$out/$c-run.txt"; exit 1; }
  "$ncu" -i "$out/$c.ncu-rep" --page details --print-details all >"$out/$c-details.txt"
  "$ncu" -i "$out/$c.ncu-rep" --page source --csv --print-source sass >"$out/$c-sass.csv" 2>&1 || true
done
