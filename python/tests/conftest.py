"""Shared fixtures. Tests that need the compiler binary, libsalart, torch or a
GPU skip with the reason when it is missing."""

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

import salac  # noqa: E402


def _binary_or_none():
    try:
        return salac.find_salac_binary()
    except salac.BinaryNotFoundError:
        return None


@pytest.fixture(scope="session")
def salac_bin():
    b = _binary_or_none()
    if b is None:
        pytest.skip("no salac binary (build it with `bash scripts/build.sh all`)")
    return b


@pytest.fixture(scope="session")
def salart_lib():
    try:
        return salac.find_salart_library()
    except salac.LibraryNotFoundError as e:
        pytest.skip(f"libsalart not built: {e}")


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory):
    """A real package: $SALAC_TEST_PACKAGE, else compiled by the salac binary,
    else <repo>/pkg (the GPU machine has a carried package but no compiler)."""
    env = os.environ.get("SALAC_TEST_PACKAGE")
    if env:
        return Path(env)
    if _binary_or_none() is not None:
        out = tmp_path_factory.mktemp("pkg")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", salac.CompileWarning)
            salac.compile(out_dir=out)
        return out
    if (ROOT / "pkg" / "manifest.json").is_file():
        return ROOT / "pkg"
    pytest.skip("no package: no salac binary, no $SALAC_TEST_PACKAGE, no pkg/")


class FakeDevice:
    def __init__(self, type_, index=None):
        self.type, self.index = type_, index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"


class FakeTensor:
    """Just what argument checking looks at: dtype, shape, device,
    is_contiguous(), data_ptr()."""

    def __init__(self, shape, dtype="torch.bfloat16", device=("cuda", 0),
                 contiguous=True, ptr=0x7F0000001000):
        self.shape, self.dtype = tuple(shape), dtype
        self.device = FakeDevice(*device)
        self._contiguous, self._ptr = contiguous, ptr

    def is_contiguous(self):
        return self._contiguous

    def data_ptr(self):
        return self._ptr


def write_manifest(directory, data, ptx=".version 8.0\n.target sm_90\n"):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    (directory / "manifest.json").write_text(text)
    if ptx is not None:
        (directory / "kernels.ptx").write_text(ptx)
    return directory


def rms_kernel(name="sala_rms_norm_head_h4_d8_bf16", **over):
    """A manifest kernel entry shaped like salac's per-head RMSNorm."""
    k = {
        "name": name, "op": "sala.rms_norm",
        "attributes": {"scope": "head", "eps": 1e-6, "heads": 4, "head_dim": 8},
        "params": [
            {"name": "input", "kind": "ptr", "dtype": "bf16", "shape": ["tokens", 4, 8]},
            {"name": "weight", "kind": "ptr", "dtype": "bf16", "shape": [8]},
            {"name": "output", "kind": "ptr", "dtype": "bf16", "shape": ["tokens", 4, 8]},
            {"name": "tokens", "kind": "i64"},
        ],
        "block": [256, 1, 1],
        "grid": [{"param": "tokens", "mul": 4, "div": 8}, 1, 1],
        "shared_bytes": 0,
    }
    k.update(over)
    return k


def manifest_data(*kernels, version=1):
    return {"format_version": version, "producer": "test", "chip": "sm_90",
            "ptx": "kernels.ptx", "kernels": list(kernels) or [rms_kernel()]}
