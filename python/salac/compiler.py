"""salac.compile: runs the salac compiler binary."""

import json
import os
import subprocess
import tempfile
import warnings
from pathlib import Path

from ._locate import find_salac_binary
from .errors import CompileError, CompileWarning
from .package import Package

EMITS = ("sala", "mlir", "llvm", "ptx", "package")
MODES = ("decode", "prefill", "both")


def _layers_arg(layers):
    if layers is None:
        return None
    if isinstance(layers, str):
        items = [s.strip() for s in layers.split(",") if s.strip()]
    elif isinstance(layers, int):
        items = [layers]
    else:
        items = list(layers)
    try:
        nums = [int(x) for x in items]
    except (TypeError, ValueError):
        raise ValueError(f"layers must be integers, got {layers!r}") from None
    if not nums or any(n < 0 for n in nums):
        raise ValueError(f"layers must be non-negative layer indices, got {layers!r}")
    return ",".join(str(n) for n in nums)


def compile(input=None, emit="package", out_dir=None, chip=None, layers=None,
            mode="both", page_size=64, *, lse_k2=False, strict=False, fuse=True, tp=1,
            tp_rank=0, gpu=None, linear_segment=0, fuse_linear_prefill=False, binary=None,
            timeout=600):
    """Compiles a model config or a sala MLIR file.

    input: None (the embedded MiniCPM-SALA config), a path to a config.json or
    a .mlir file, or a config as a dict. emit: sala|mlir|llvm|ptx give the
    text; "package" writes kernels.ptx, manifest.json and salac_kernels.h into
    out_dir (a new temporary directory when None) and returns a Package.
    Raises CompileError (with salac's stderr) when the compiler fails;
    compiler warnings become CompileWarning. tp, tp_rank: the mixers of one
    tensor-parallel shard (docs/TensorParallel.md); gpu: "h100" or "h200",
    whose SM count the kernels' split rule fills (default h100); fuse=False:
    salac --no-fuse (the primitive kernels, no fusion passes); chip: the
    target (default sm_90; emit="sala", the graph before kernels, takes
    none); linear_segment: tokens a block of the chunked linear kernel walks
    (salac --linear-segment; 0, the default: a whole sequence);
    fuse_linear_prefill: fold the q/k norms and RoPE into the chunked linear
    kernel (salac --fuse-linear-prefill)."""
    # A builtin-shadowing name on purpose: salac.compile is the public API.
    if emit not in EMITS:
        raise ValueError(f"emit must be one of {', '.join(EMITS)}, got {emit!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size <= 0:
        raise ValueError(f"page_size must be a positive int, got {page_size!r}")
    for name, v, lo in (("tp", tp, 1), ("tp_rank", tp_rank, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    if isinstance(linear_segment, bool) or not isinstance(linear_segment, int) \
            or linear_segment < 0:
        raise ValueError(f"linear_segment must be an int >= 0, got {linear_segment!r}")
    if tp_rank >= tp:
        raise ValueError(f"tp_rank {tp_rank} is out of range: ranks are 0..{tp - 1} for tp={tp}")
    if out_dir is not None and emit != "package":
        raise ValueError(f"out_dir is only used with emit='package' (emit={emit!r} "
                         "returns the text)")
    exe = Path(binary) if binary else find_salac_binary()
    cmd = [str(exe), f"--emit={emit}", f"--mode={mode}", f"--page-size={page_size}"]
    if chip is not None or emit != "sala":
        cmd.append(f"--chip={chip or 'sm_90'}")
    la = _layers_arg(layers)
    if la is not None:
        cmd.append(f"--layers={la}")
    if lse_k2:
        cmd.append("--lse-k2")
    if strict:
        cmd.append("--strict")
    if not fuse:
        cmd.append("--no-fuse")
    if tp != 1 or tp_rank != 0:
        cmd += [f"--tp={tp}", f"--tp-rank={tp_rank}"]
    if gpu is not None:
        cmd.append(f"--gpu={gpu}")
    if linear_segment:
        cmd.append(f"--linear-segment={linear_segment}")
    if fuse_linear_prefill:
        cmd.append("--fuse-linear-prefill")

    tmp = None
    try:
        if isinstance(input, dict):
            tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
            json.dump(input, tmp)
            tmp.close()
            cmd.append(tmp.name)
        elif input is not None:
            p = Path(os.fspath(input))
            if not p.is_file():
                raise FileNotFoundError(f"salac.compile: input '{p}' does not exist")
            cmd.append(str(p))
        if emit == "package":
            out = Path(out_dir) if out_dir is not None else Path(
                tempfile.mkdtemp(prefix="salac-pkg-"))
            out.mkdir(parents=True, exist_ok=True)
            cmd += ["-o", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise CompileError(f"salac timed out after {timeout} s: {' '.join(cmd)}",
                               stderr=(e.stderr or "") if isinstance(e.stderr, str)
                               else "", command=cmd) from None
    finally:
        if tmp is not None:
            os.unlink(tmp.name)

    if proc.returncode != 0:
        stderr = proc.stderr.strip()
        raise CompileError(f"salac failed (exit {proc.returncode}): "
                           f"{stderr or '(no diagnostics)'}", stderr=proc.stderr,
                           returncode=proc.returncode, command=cmd)
    for line in proc.stderr.splitlines():
        if "warning:" in line:
            warnings.warn(line, CompileWarning, stacklevel=2)
    if emit != "package":
        return proc.stdout
    pkg = Package(out)
    pkg.compile_log = proc.stderr
    return pkg
