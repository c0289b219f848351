#!/usr/bin/env bash
# The shape grid on the GPU machine: bench/grid.sh once per model of the
# packages that scripts/shape-packages.sh built (a model's page sizes
# together; the sm_80 package alone, since its kernels carry the same names
# as the sm_90 ones and grid.py runs a name once).
#
#   bash bench/shape-grid.sh PKGDIR [-- grid.py options...]
#
# Logs: $OUT (else out/shape-grid)/shape-grid.log (every grid.py line) and
# shape-grid.md (every model's tables). Exits 1 if any model's grid failed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:?usage: shape-grid.sh PKGDIR [-- grid.py options...]}
shift
[ "${1:-}" = -- ] && shift
out=${OUT:-$root/out/shape-grid}
mkdir -p "$out"
work=$(mktemp -d)
: >"$out/shape-grid.log"
: >"$out/shape-grid.md"
status=0
for model in "sala sala-p1" "sala-sm80" "sala-tp2 sala-tp2-p16" "minicpm4-0.5b-shape" "gqa2" \
             "block128 block128-nofuse" "block32 block32-p16-nofuse"; do
  pkgs=()
  for p in $model; do [ -d "$dir/$p" ] && pkgs+=("$dir/$p"); done
  [ ${#pkgs[@]} -eq 0 ] && continue
  name=${model%% *}
  OUT=$work/$name bash "$root/bench/grid.sh" "${pkgs[@]}" -- "$@" >"$work/$name.log" 2>&1
  rc=$?
  [ $rc -ne 0 ] && status=1
  echo "$name (${pkgs[*]}): $(grep -E '^grid:' "$work/$name.log" || echo "grid.sh exit $rc")"
  { echo "######## $name: ${pkgs[*]} (exit $rc)"; cat "$work/$name.log"; } >>"$out/shape-grid.log"
  { echo "## $name: ${pkgs[*]}"; echo; cat "$work/$name/grid.md" 2>/dev/null; echo; } \
    >>"$out/shape-grid.md"
done
rm -rf "$work"
exit $status
