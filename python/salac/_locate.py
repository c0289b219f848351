"""Finding the salac binary and the libsalart shared library."""

import os
import shutil
from pathlib import Path

from .errors import BinaryNotFoundError, LibraryNotFoundError


def repo_root():
    """The salac checkout this package lives in (python/salac/ -> repo)."""
    return Path(__file__).resolve().parents[2]


def _build_dirs():
    # $SALAC_BUILD_DIR first: scripts/test.sh builds out of tree with it.
    dirs = []
    env = os.environ.get("SALAC_BUILD_DIR")
    if env:
        dirs.append(Path(env))
    dirs.append(repo_root() / "build")
    return dirs


def find_salac_binary():
    """$SALAC_BIN, else <build>/bin/salac, else `salac` on PATH."""
    env = os.environ.get("SALAC_BIN")
    if env:
        p = Path(env)
        if p.is_file() and os.access(p, os.X_OK):
            return p
        raise BinaryNotFoundError(
            f"$SALAC_BIN is set to '{env}', which is not an executable file")
    tried = []
    for d in _build_dirs():
        p = d / "bin" / "salac"
        tried.append(str(p))
        if p.is_file() and os.access(p, os.X_OK):
            return p
    found = shutil.which("salac")
    if found:
        return Path(found)
    raise BinaryNotFoundError(
        "cannot find the salac compiler: set $SALAC_BIN, build it with "
        "`bash scripts/build.sh all`, or put it on PATH (tried: "
        + ", ".join(tried) + ", PATH)")


def find_salart_library():
    """$SALART_LIB, else <build>/lib/libsalart.so, else build-rt/lib/."""
    env = os.environ.get("SALART_LIB")
    if env:
        p = Path(env)
        if p.is_file():
            return p
        raise LibraryNotFoundError(
            f"$SALART_LIB is set to '{env}', which does not exist")
    candidates = [d / "lib" / "libsalart.so" for d in _build_dirs()]
    candidates.append(repo_root() / "build-rt" / "lib" / "libsalart.so")
    for p in candidates:
        if p.is_file():
            return p
    raise LibraryNotFoundError(
        "cannot find libsalart.so: set $SALART_LIB or build the runtime "
        "(`cmake -G Ninja -S . -B build-rt -DSALAC_RUNTIME_ONLY=ON && "
        "ninja -C build-rt salart`); tried: "
        + ", ".join(str(p) for p in candidates))
