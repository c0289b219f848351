"""Finding the salac binary and libsalart."""

import os
import stat

import pytest

import salac
from salac import _locate


def make_exe(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def empty_repo(tmp_path, monkeypatch):
    """A repo root with no build, no $SALAC_* and an empty PATH."""
    monkeypatch.setattr(_locate, "repo_root", lambda: tmp_path)
    for var in ("SALAC_BIN", "SALAC_BUILD_DIR", "SALART_LIB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nobin"))
    return tmp_path


def test_salac_bin_env_wins(empty_repo, monkeypatch):
    exe = make_exe(empty_repo / "elsewhere" / "salac")
    make_exe(empty_repo / "build" / "bin" / "salac")
    monkeypatch.setenv("SALAC_BIN", str(exe))
    assert salac.find_salac_binary() == exe


def test_salac_bin_env_must_exist(empty_repo, monkeypatch):
    monkeypatch.setenv("SALAC_BIN", str(empty_repo / "missing"))
    with pytest.raises(salac.BinaryNotFoundError, match=r"\$SALAC_BIN is set to '.*missing'"):
        salac.find_salac_binary()


def test_repo_build_then_path(empty_repo, monkeypatch):
    on_path = make_exe(empty_repo / "nobin" / "salac")
    assert salac.find_salac_binary() == on_path
    built = make_exe(empty_repo / "build" / "bin" / "salac")
    assert salac.find_salac_binary() == built
    other = make_exe(empty_repo / "b2" / "bin" / "salac")
    monkeypatch.setenv("SALAC_BUILD_DIR", str(empty_repo / "b2"))
    assert salac.find_salac_binary() == other


def test_no_binary_anywhere(empty_repo):
    with pytest.raises(salac.BinaryNotFoundError, match="cannot find the salac compiler") as e:
        salac.find_salac_binary()
    assert "SALAC_BIN" in str(e.value) and "build.sh" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_compile_without_binary_is_a_clear_error(empty_repo):
    with pytest.raises(salac.BinaryNotFoundError):
        salac.compile(emit="ptx")


def test_salart_lib_order(empty_repo, monkeypatch):
    with pytest.raises(salac.LibraryNotFoundError, match="cannot find libsalart.so"):
        salac.find_salart_library()
    rt = empty_repo / "build-rt" / "lib" / "libsalart.so"
    rt.parent.mkdir(parents=True)
    rt.write_bytes(b"")
    assert salac.find_salart_library() == rt
    full = empty_repo / "build" / "lib" / "libsalart.so"
    full.parent.mkdir(parents=True)
    full.write_bytes(b"")
    assert salac.find_salart_library() == full
    monkeypatch.setenv("SALART_LIB", str(empty_repo / "nope.so"))
    with pytest.raises(salac.LibraryNotFoundError, match=r"\$SALART_LIB"):
        salac.find_salart_library()
    monkeypatch.setenv("SALART_LIB", str(rt))
    assert salac.find_salart_library() == rt


def test_bad_library_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "libsalart.so"
    bogus.write_text("not an ELF")
    with pytest.raises(salac.LibraryNotFoundError, match="cannot load libsalart"):
        salac.Runtime(bogus)


def test_real_repo_paths_exist_when_built():
    b = _locate.repo_root() / "build" / "bin" / "salac"
    if not b.exists() and not os.environ.get("SALAC_BUILD_DIR"):
        pytest.skip("compiler not built")
    assert salac.find_salac_binary().name == "salac"
