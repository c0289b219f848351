#!/usr/bin/env bash
# The main job: compile the embedded MiniCPM-SALA config and show the result.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SALAC_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh" salac >/dev/null
out="$build/demo"
mkdir -p "$out"
salac="$build/bin/salac"

echo "== salac: the embedded MiniCPM-SALA config (32 mixers: 8 sparse, 24 linear; decode + prefill)"
"$salac" --emit=sala -o "$out/minicpm-sala.sala.mlir"
echo "sala graph:  $out/minicpm-sala.sala.mlir ($(grep -c 'func.func @layer_' "$out/minicpm-sala.sala.mlir") mixer functions)"
start=$(date +%s%N)
"$salac" --emit=ptx --list-kernels -o "$out/minicpm-sala.ptx"
end=$(date +%s%N)
echo "PTX:         $out/minicpm-sala.ptx ($(wc -c <"$out/minicpm-sala.ptx") bytes, compiled in $(( (end - start) / 1000000 )) ms)"
echo "entry points:"
grep '.visible .entry' "$out/minicpm-sala.ptx" | sed 's/.visible .entry /  /; s/($//'
echo "ptxas (sm_90):"
python3 "$root/utils/check-ptx.py" "$out/minicpm-sala.ptx" | sed 's/^check-ptx: /  /'

echo
echo "== executing on this machine's CPU (no GPU needed): salac run, checked against the C++ reference"
for args in "--layer=0 --mode=decode" "--layer=0 --mode=prefill" "--layer=0 --mode=decode --dense-len=0 --contexts=900,300" \
            "--layer=1 --mode=decode" "--layer=1 --mode=prefill"; do
  echo "-- salac run $args"
  "$salac" run $args | sed -n '1,2p;/result #0/p;/^PASS\|^FAIL/p'
done
