"""salac.compile through the real compiler binary (build/bin/salac)."""

import json
import warnings

import pytest

import salac
from conftest import ROOT


@pytest.fixture(autouse=True)
def _quiet_compile_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", salac.CompileWarning)
        yield


def test_package_from_embedded_config(salac_bin, tmp_path):
    pkg = salac.compile(out_dir=tmp_path / "pkg")
    assert isinstance(pkg, salac.Package)
    assert pkg.format_version == 1 and pkg.chip == "sm_90"
    assert (tmp_path / "pkg" / "kernels.ptx").is_file()
    assert (tmp_path / "pkg" / "salac_kernels.h").is_file()
    assert len(pkg) >= 1
    ptx = pkg.ptx_path.read_text()
    for k in pkg:
        assert f".entry {k.name}(" in ptx
        assert k.op.startswith("sala.")


def test_package_into_a_temporary_directory(salac_bin):
    pkg = salac.compile(layers=[1], mode="decode")
    assert pkg.path.is_dir() and len(pkg) >= 1


def test_text_emits(salac_bin):
    ptx = salac.compile(emit="ptx", layers="0,1")
    assert ".target sm_90" in ptx and ".entry" in ptx
    sala = salac.compile(emit="sala", layers=[0, 1], mode="decode", page_size=1)
    assert "sala.sparse_mixer" in sala and "sala.linear_mixer" in sala
    assert "page_size = 1" in sala and "prefill" not in sala


def test_config_as_dict_and_as_path(salac_bin, tmp_path):
    cfg_path = ROOT / "examples" / "minicpm-sala" / "config.json"
    if not cfg_path.is_file():
        pytest.skip("no example config")
    from_path = salac.compile(cfg_path, emit="sala", layers=[0])
    from_dict = salac.compile(json.loads(cfg_path.read_text()), emit="sala", layers=[0])
    assert from_path == from_dict


def test_compiler_errors_carry_stderr(salac_bin, tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("garbage {\n")
    with pytest.raises(salac.CompileError) as e:
        salac.compile(bad, emit="mlir")
    assert "error" in e.value.stderr and e.value.returncode != 0
    assert "bad.mlir" in str(e.value)
    with pytest.raises(salac.CompileError, match="out of range"):
        salac.compile(emit="sala", layers=[999])


def test_argument_errors(salac_bin, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        salac.compile(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="emit must be one of"):
        salac.compile(emit="cubin")
    with pytest.raises(ValueError, match="mode must be"):
        salac.compile(mode="train")
    with pytest.raises(ValueError, match="page_size"):
        salac.compile(page_size=0)
    with pytest.raises(ValueError, match="out_dir is only used"):
        salac.compile(emit="ptx", out_dir=tmp_path)
    with pytest.raises(ValueError, match="layers"):
        salac.compile(layers=["x"])
    with pytest.raises(ValueError, match="tp must be an int >= 1, got 0"):
        salac.compile(tp=0)
    with pytest.raises(ValueError, match="tp_rank 2 is out of range: ranks are 0..1 for tp=2"):
        salac.compile(tp=2, tp_rank=2)
    with pytest.raises(ValueError, match="linear_segment must be an int >= 0, got -64"):
        salac.compile(linear_segment=-64)


def test_tensor_parallel_shard_and_gpu(salac_bin):
    """A TP=2 shard's sparse mixer has 16 query heads over one KV head; --gpu
    reaches the kernel config's split rule."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", salac.CompileWarning)
        text = salac.compile(emit="sala", layers=[0], mode="decode", tp=2, tp_rank=1)
        mlir = salac.compile(emit="mlir", layers=[0], mode="decode", gpu="h200")
    assert "tensor<?x16x128xbf16>, %arg1: tensor<?x1x128xbf16>" in text
    assert "sala.tp = {first_kv_head = 1" in text
    assert "split = <sms = 132," in mlir
    with pytest.raises(salac.CompileError, match="unknown --gpu 'a100'"):
        salac.compile(emit="sala", gpu="a100")


def test_warnings_become_compile_warnings(salac_bin, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", salac.CompileWarning)
        pkg = salac.compile(out_dir=tmp_path)
    lines = [str(w.message) for w in caught if issubclass(w.category, salac.CompileWarning)]
    assert lines == [l for l in pkg.compile_log.splitlines() if "warning:" in l]


@pytest.mark.parametrize("fuse,segment,fold", [(True, 0, False), (False, 0, False),
                                               (True, 64, False), (True, 64, True)])
def test_grids_fit_a_million_token_prefill(salac_bin, fuse, segment, fold):
    """Grid y and z stay within CUDA's 65535 by construction, x within 2^31-1,
    when one launch takes a 1M-token prompt (every scalar 1 otherwise; a
    fused selection's parts at a 1M context: 65536 compressed keys / 512;
    the chunked linear kernel in its smallest segments, with the prefill
    fold's kernels too)."""
    pkg = salac.compile(fuse=fuse, linear_segment=segment, fuse_linear_prefill=fold)
    big = {"tokens": 1 << 20, "max_q_len": 1 << 20, "select_splits": 128}
    for k in pkg:
        scalars = {p.name: big.get(p.name, 1) for p in k.spec.scalar_params}
        x, y, z = k.spec.grid_for(scalars)
        assert x <= 2**31 - 1 and y <= 65535 and z <= 65535, (k.name, (x, y, z))
