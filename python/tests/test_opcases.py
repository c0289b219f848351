"""The harness's per-op cases on the CPU (needs torch): inputs are drawn for
every kernel of a real package, a pretend kernel writes the reference, and
the comparison passes; a wrong value or an unwritten element fails."""

import pytest

torch = pytest.importorskip("torch")

import salac  # noqa: E402
from salac import opcases  # noqa: E402


def test_every_case_on_cpu(package_dir):
    pkg = salac.Package(package_dir)
    g = torch.Generator()
    g.manual_seed(0)
    for k in pkg:
        case, why = opcases.case_for(k.spec)
        if case is None:
            assert why.startswith(f"no harness support for {k.op}")
            continue
        for sc in case.scenarios(k.spec, (1, 100)):
            a = case.make_inputs(k.spec, sc, "cpu", g)
            assert set(a) == set(k.spec.param_names), k.name  # exactly the kernel's params
            ref = case.reference(k.spec, a)
            assert case.bytes_moved(k.spec, a) > 0
            for o in case.outputs:
                dtype = k.spec.param(o).dtype
                assert a[o].shape == k.spec.param(o).resolve_shape(a)
                if a[o].is_floating_point() and o not in case.inout:
                    assert not torch.isfinite(a[o]).all(), f"{k.name}.{o} is not poisoned"
                a[o].copy_(ref[o].to(a[o].dtype))
                assert opcases.compare(a[o], ref[o], dtype)["pass"], (k.name, sc, o)
                flat = a[o].view(-1)
                i = int(torch.isfinite(ref[o].reshape(-1)).nonzero()[0])
                flat[i] = flat[i] + 1 if not a[o].is_floating_point() else float("nan")
                assert not opcases.compare(a[o], ref[o], dtype)["pass"]


def test_unknown_op_is_reported(tmp_path):
    from conftest import manifest_data, rms_kernel, write_manifest
    pkg = salac.Package(write_manifest(tmp_path, manifest_data(
        rms_kernel(op="sala.future_op"), rms_kernel(name="x", params=[
            {"name": "input", "kind": "ptr", "dtype": "bf16", "shape": ["rows", 4, 8]},
            {"name": "output", "kind": "ptr", "dtype": "bf16", "shape": ["rows", 4, 8]},
            {"name": "weight", "kind": "ptr", "dtype": "bf16", "shape": [8]},
            {"name": "rows", "kind": "i64"}],
            grid=[{"param": "rows", "mul": 1, "div": 1}, 1, 1]))))
    case, why = opcases.case_for(pkg.kernel("sala_rms_norm_head_h4_d8_bf16").spec)
    assert case is None and why == "no harness support for sala.future_op"
    case, why = opcases.case_for(pkg.kernel("x").spec)
    assert case is None and "no harness support for sala.rms_norm" in why and "rows" in why
