#!/usr/bin/env bash
# compute-sanitizer (memcheck, synccheck, racecheck) over the compact grid
# (bench/grid.py --compact: every kernel, contexts to 13K) of the packages
# given, on the GPU machine. Builds libsalart runtime-only first.
#
#   bash bench/sanitize.sh PKG... [-- TOOL:SECONDS ...]   (default memcheck:230
#                                                         synccheck:90 racecheck:90)
# Logs: $OUT (else out/sanitize)/<tool>.log. Exits 1 if a tool reported errors
# or a grid check failed; a tool cut off by its time limit is reported as such.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
pkgs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do pkgs+=(--package "$1"); shift; done
[ $# -gt 0 ] && shift
tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(memcheck:230 synccheck:90 racecheck:90)
out=${OUT:-$root/out/sanitize}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
bash "$root/bench/build-runtime.sh" "$out/build.log" || exit 1
export SALART_LIB=$root/build-rt/lib/libsalart.so
compute-sanitizer --version | tail -1
status=0
for t in "${tools[@]}"; do
  tool=${t%%:*} limit=${t#*:}
  start=$(date +%s)
  timeout "$limit" compute-sanitizer --tool "$tool" --print-limit 20 \
    python3 bench/grid.py --compact "${pkgs[@]}" >"$out/$tool.log" 2>&1
  rc=$?
  echo "== $tool: exit $rc after $(( $(date +%s) - start )) s" \
       "$([ $rc -eq 124 ] && echo '(time limit: not finished)')"
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|^grid:" "$out/$tool.log"
  echo "   checks passed: $(grep -c ': pass ' "$out/$tool.log")"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && status=1
  grep -qE "ERROR SUMMARY: [1-9]" "$out/$tool.log" && status=1
done
exit $status
