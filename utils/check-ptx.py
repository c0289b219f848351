#!/usr/bin/env python3
"""Assemble a PTX file for a chip with ptxas and check every kernel.

Usage: check-ptx.py FILE.ptx [--arch sm_90]

The chip is --arch, else the PTX's own `.target`.

Prints one line per kernel (name, registers, spill bytes) and exits non-zero when
ptxas rejects the file or any kernel spills. ptxas comes from $SALAC_PTXAS, PATH,
or /usr/local/cuda/bin; without it the check is skipped with a message (exit 0).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def find_ptxas():
    for cand in [os.environ.get("SALAC_PTXAS"), shutil.which("ptxas"),
                 "/usr/local/cuda/bin/ptxas"]:
        if cand and os.path.exists(cand):
            return cand
    return None


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, arch = argv[1], None
    if "--arch" in argv:
        arch = argv[argv.index("--arch") + 1]
    else:
        with open(path) as f:
            m = re.search(r"^\.target\s+(sm_\w+)", f.read(), re.M)
        arch = m.group(1) if m else "sm_90"
    ptxas = find_ptxas()
    if not ptxas:
        print("check-ptx: SKIPPED: ptxas not found; PTX not assembled")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([ptxas, "-arch=" + arch, "-v", path, "-o",
                              os.path.join(tmp, "out.cubin")],
                             capture_output=True, text=True)
    log = out.stdout + out.stderr
    if out.returncode != 0:
        print("check-ptx: ptxas rejected %s:\n%s" % (path, log))
        return 1
    kernels, bad = [], False
    current = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current = {"name": m.group(1), "regs": None, "spill": 0}
            kernels.append(current)
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            current["spill"] = int(m.group(1)) + int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current["regs"] = int(m.group(1))
    for k in sorted(kernels, key=lambda k: k["name"]):
        status = "ok" if k["spill"] == 0 else "SPILLS"
        bad |= k["spill"] != 0
        print("check-ptx: %s %s registers=%s spill_bytes=%d" %
              (status, k["name"], k["regs"], k["spill"]))
    if not kernels:
        print("check-ptx: no kernels in %s" % path)
        return 1
    print("check-ptx: %d kernels assembled for %s, %s" %
          (len(kernels), arch, "spills found" if bad else "no spills"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
