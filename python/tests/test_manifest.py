"""manifest.json loading and its errors; Package without a GPU."""

import json

import pytest

import salac
from salac.manifest import parse_dim
from conftest import manifest_data, rms_kernel, write_manifest


def test_loads_kernels_params_and_grid(tmp_path):
    d = write_manifest(tmp_path, manifest_data())
    pkg = salac.Package(d)
    assert pkg.format_version == 1 and pkg.chip == "sm_90"
    assert pkg.kernel_names == ["sala_rms_norm_head_h4_d8_bf16"]
    k = pkg.kernel("sala_rms_norm_head_h4_d8_bf16")
    assert k.op == "sala.rms_norm" and k.attributes["scope"] == "head"
    assert [p.name for p in k.params] == ["input", "weight", "output", "tokens"]
    inp = k.spec.param("input")
    assert inp.is_pointer and inp.dtype == "bf16" and inp.shape == ("tokens", 4, 8)
    assert inp.resolve_shape({"tokens": 3}) == (3, 4, 8)
    assert inp.nbytes({"tokens": 3}) == 3 * 4 * 8 * 2
    assert not k.spec.param("tokens").is_pointer
    assert k.block == (256, 1, 1)
    # ceil(tokens * 4 / 8); zero tokens -> zero grid (nothing to launch)
    assert k.grid(tokens=3) == (2, 1, 1)
    assert k.grid(tokens=0) == (0, 1, 1)
    assert len(pkg) == 1 and "sala_rms_norm_head_h4_d8_bf16" in pkg
    assert not pkg.loaded


def test_missing_manifest(tmp_path):
    with pytest.raises(salac.ManifestError, match="does not exist"):
        salac.Package(tmp_path)
    with pytest.raises(salac.ManifestError, match="does not exist"):
        salac.Package(tmp_path / "nope")


def test_bad_json_names_the_position(tmp_path):
    d = write_manifest(tmp_path, '{"format_version": 1,\n "kernels": [,]}')
    with pytest.raises(salac.ManifestError, match=r"not valid JSON.*line 2"):
        salac.Package(d)


@pytest.mark.parametrize("version", [2, 0, "1", True, 1.5, None])
def test_bad_format_version(tmp_path, version):
    d = write_manifest(tmp_path, manifest_data(version=version))
    with pytest.raises(salac.ManifestError, match="format_version"):
        salac.Package(d)


def test_missing_format_version(tmp_path):
    data = manifest_data()
    del data["format_version"]
    with pytest.raises(salac.ManifestError, match="missing 'format_version'"):
        salac.Package(write_manifest(tmp_path, data))


def test_kernel_missing_lists_the_kernels(tmp_path):
    pkg = salac.Package(write_manifest(tmp_path, manifest_data()))
    with pytest.raises(salac.KernelNotFoundError,
                       match="no kernel 'nope'.*sala_rms_norm_head_h4_d8_bf16"):
        pkg.kernel("nope")
    with pytest.raises(LookupError):
        pkg.kernel("nope")


def test_ptx_file_missing(tmp_path):
    d = write_manifest(tmp_path, manifest_data(), ptx=None)
    with pytest.raises(salac.ManifestError, match="kernels.ptx"):
        salac.Package(d)


@pytest.mark.parametrize("mutate, message", [
    (lambda k: k["params"][0].update(dtype="f64"), "dtype 'f64'"),
    (lambda k: k["params"][0].update(kind="tensor"), "kind 'tensor'"),
    (lambda k: k["params"][0].pop("shape"), "needs a 'shape'"),
    (lambda k: k["params"][0].update(shape=["rows", 4, 8]), "names 'rows'"),
    (lambda k: k["params"][0].update(shape=["weight", 4, 8]), "names 'weight'"),
    (lambda k: k["params"][0].update(shape=["tokens+x", 4, 8]), "cannot read"),
    (lambda k: k.update(block=[0, 1, 1]), "'block'"),
    (lambda k: k.update(grid=[1, 1]), "'grid'"),
    (lambda k: k.update(grid=[{"param": "input"}, 1, 1]), "grid entry"),
    (lambda k: k.update(grid=[{"param": "tokens", "div": 0}, 1, 1]), "div > 0"),
    (lambda k: k.update(config=[]), "'config' must be an object"),
    (lambda k: k.update(config={"split_rule": {"sms": 0, "blocks_per_sm": 2,
                                               "max_splits": 16, "few_pairs_max_splits": 24,
                                               "min_tiles_per_split": 4}}),
     "split rule 'sms' must be an integer in \\[1, 65535\\], got 0"),
    (lambda k: k.update(config={"split_rule": {"sms": 132}}),
     "split rule 'blocks_per_sm' must be an integer"),
])
def test_malformed_kernel_entries(tmp_path, mutate, message):
    k = rms_kernel()
    mutate(k)
    with pytest.raises(salac.ManifestError, match=message) as e:
        salac.Package(write_manifest(tmp_path, manifest_data(k)))
    assert "sala_rms_norm_head_h4_d8_bf16" in str(e.value)


def test_duplicate_kernel_names(tmp_path):
    d = write_manifest(tmp_path, manifest_data(rms_kernel(), rms_kernel()))
    with pytest.raises(salac.ManifestError, match="appears twice"):
        salac.Package(d)


def test_top_level_must_be_an_object(tmp_path):
    with pytest.raises(salac.ManifestError, match="top level"):
        salac.Package(write_manifest(tmp_path, json.dumps([1, 2])))


def test_real_package_manifest(package_dir):
    """Whatever the compiler emits today, every param is well-formed and each
    string dimension names a scalar parameter."""
    pkg = salac.Package(package_dir)
    assert len(pkg) >= 1
    for k in pkg:
        assert k.op.startswith("sala.")
        scalars = {p.name for p in k.spec.scalar_params}
        for p in k.spec.pointer_params:
            for d in p.shape:
                ref = parse_dim(d)
                assert ref is None or ref[0] in scalars
            assert all(e >= 0 for e in p.resolve_shape({s: 5 for s in scalars}))
        assert all(v >= 0 for v in k.grid(**{s: 5 for s in scalars}))


@pytest.mark.parametrize("dim, value", [("batch", 4), ("batch+1", 5), ("batch-1", 3),
                                        ("batch*2", 8), ("2*batch", 8), (7, 7)])
def test_shape_expressions(dim, value):
    from salac.manifest import eval_dim
    assert eval_dim(dim, {"batch": 4}) == value


def test_cumulative_length_shape(tmp_path):
    k = rms_kernel()
    k["params"].insert(3, {"name": "cu", "kind": "ptr", "dtype": "i32",
                           "shape": ["tokens+1"]})
    pkg = salac.Package(write_manifest(tmp_path, manifest_data(k)))
    assert pkg.kernels[0].spec.param("cu").resolve_shape({"tokens": 3}) == (4,)


def test_hostile_manifest_files(tmp_path):
    """Bad UTF-8, deep nesting and huge numbers are ManifestErrors (they were
    a raw UnicodeDecodeError, RecursionError and ValueError)."""
    d = tmp_path / "utf8"
    d.mkdir()
    (d / "manifest.json").write_bytes(b'{"format_version": 1, "x": "\xff\xfe"}')
    with pytest.raises(salac.ManifestError, match="not UTF-8: byte 28 is 0xff"):
        salac.Package(d)
    deep = '{"format_version": 1, "x": "[[", "k": ' + "[" * 50000 + "]" * 50000 + "}"
    with pytest.raises(salac.ManifestError, match="nests deeper than 64 levels"):
        salac.Package(write_manifest(tmp_path / "deep", deep))
    huge = '{"format_version": 1, "kernels": [], "n": ' + "9" * 5000 + "}"
    with pytest.raises(salac.ManifestError, match="not a readable manifest"):
        salac.Package(write_manifest(tmp_path / "huge", huge))


@pytest.mark.parametrize("ptx", ["/etc/passwd", "../kernels.ptx", "sub/kernels.ptx", ".."])
def test_ptx_must_be_a_file_in_the_package(tmp_path, ptx):
    data = manifest_data()
    data["ptx"] = ptx
    with pytest.raises(salac.ManifestError, match="'ptx' must be a file name in the package"):
        salac.Package(write_manifest(tmp_path, data))


def test_negative_shapes_and_sizes(tmp_path):
    k = rms_kernel()
    k["params"][0]["shape"] = ["tokens", -4, 8]
    with pytest.raises(salac.ManifestError, match="negative entry -4"):
        salac.Package(write_manifest(tmp_path / "neg", manifest_data(k)))
    pkg = salac.Package(write_manifest(tmp_path / "ok", manifest_data()))
    kernel = pkg.kernel("sala_rms_norm_head_h4_d8_bf16")
    with pytest.raises(salac.ArgumentError, match="size 'tokens' must be non-negative, got -1"):
        kernel.grid(tokens=-1)
