"""libsalart through ctypes on a machine without a GPU: host-only package
checks, grids, and errors carried from salart_last_error."""

import shutil

import pytest

import salac
from salac.runtime import NativePackage, Runtime


@pytest.fixture(scope="module")
def runtime(salart_lib):
    return Runtime(salart_lib)


def test_host_only_open_agrees_with_the_manifest(runtime, package_dir):
    pkg = salac.Package(package_dir)
    assert pkg.check(runtime) == pkg.kernel_names


def test_grid_rules_agree_with_libsalart(runtime, package_dir):
    pkg = salac.Package(package_dir)
    native = NativePackage(runtime, package_dir)
    try:
        for k in pkg:
            for n in (0, 1, 7, 4096, 100003):
                scalars = {p.name: n for p in k.spec.scalar_params}
                values = [0 if p.is_pointer else scalars[p.name] for p in k.params]
                grid = k.grid(**scalars)
                if grid[0] > 2**31 - 1 or max(grid[1:]) > 65535:  # e.g. splits = 100003
                    with pytest.raises(salac.InvalidArgumentError, match="exceeds the CUDA limit"):
                        native.grid(k.spec, values)
                    continue
                assert native.grid(k.spec, values) == grid, (k.name, n)
    finally:
        native.close()


def test_kernel_info_is_host_only(runtime, package_dir):
    native = NativePackage(runtime, package_dir)
    name = salac.Package(package_dir).kernel_names[0]
    info = native.kernel_info(name)
    assert info["num_regs"] == -1 and info["block"][0] > 0
    with pytest.raises(salac.NotFoundError, match="no kernel 'nope'") as e:
        native.kernel("nope")
    assert e.value.status == 5 and e.value.status_name == "SALART_ERROR_NOT_FOUND"
    assert isinstance(e.value, RuntimeError)  # the builtin, too
    with pytest.raises(salac.InvalidArgumentError, match="without a device context"):
        pkg = salac.Package(package_dir)
        k = pkg.kernels[0]
        native.launch(k.spec, [0 if p.is_pointer else 1 for p in k.params])
    native.close()


def test_broken_ptx_is_a_package_error(runtime, package_dir, tmp_path):
    d = tmp_path / "broken"
    shutil.copytree(package_dir, d)
    first = salac.Package(d).kernel_names[0]
    ptx = (d / "kernels.ptx").read_text()
    (d / "kernels.ptx").write_text(ptx.replace(f".entry {first}(", ".entry renamed_kernel("))
    with pytest.raises(salac.PackageError) as e:
        salac.Package(d).check(runtime)
    assert first in str(e.value) and "salart_package_open" in str(e.value)


def test_load_without_a_driver(runtime, package_dir):
    try:
        runtime.driver_version()
        pytest.skip("a CUDA driver is present: covered by the GPU tests")
    except salac.NoDriverError as e:
        assert "libcuda" in str(e)
    with pytest.raises(salac.NoDriverError):
        salac.Package(package_dir).load(0, runtime=runtime)
