#!/usr/bin/env bash
# Installs the Debian packages salac's build and tests need, if any is missing.
# Idempotent and silent when everything is present.
set -euo pipefail
pkgs=(cmake ninja-build g++ python3 libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
      libgtest-dev zlib1g-dev libzstd-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Python test dependencies (optional: the Python tests skip when these are absent).
if command -v python3 >/dev/null && ! python3 -c "import pytest, numpy" 2>/dev/null; then
  python3 -m pip install -q pytest numpy >/dev/null 2>&1 || echo "setup: pip install pytest numpy failed; Python tests will be skipped" >&2
fi
exit 0
