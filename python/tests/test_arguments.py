"""Kernel argument checking against the manifest, with fake tensors (no torch,
no GPU)."""

import pytest

import salac
from conftest import FakeTensor, manifest_data, rms_kernel, write_manifest


@pytest.fixture
def kernel(tmp_path):
    k = rms_kernel()
    k["params"].insert(3, {"name": "cu", "kind": "ptr", "dtype": "i32",
                           "shape": ["tokens+1"]})
    k["params"].append({"name": "eps", "kind": "f32"})
    k["params"].append({"name": "flags", "kind": "i32"})
    pkg = salac.Package(write_manifest(tmp_path, manifest_data(k)))
    return pkg.kernel("sala_rms_norm_head_h4_d8_bf16")


def good(tokens=3):
    return dict(input=FakeTensor((tokens, 4, 8), ptr=0x1000),
                weight=FakeTensor((8,), ptr=0x2000),
                output=FakeTensor((tokens, 4, 8), ptr=0x3000),
                cu=FakeTensor((tokens + 1,), dtype="torch.int32", ptr=0x4000),
                tokens=tokens, eps=1e-6, flags=7)


def test_binds_in_manifest_order(kernel):
    assert kernel.bind(**good()) == [0x1000, 0x2000, 0x3000, 0x4000, 3, 1e-6, 7]
    g = good()
    positional = [g[p.name] for p in kernel.params]
    assert kernel.bind(*positional) == kernel.bind(**g)
    assert kernel.bind(*positional[:2], **{k: g[k] for k in list(g)[2:]})[0] == 0x1000


def test_zero_tokens_is_fine(kernel):
    assert kernel.bind(**good(0))[4] == 0


def err(kernel, **changes):
    args = good()
    args.update(changes)
    for k in [k for k, v in changes.items() if v is DROP]:
        del args[k]
    with pytest.raises(salac.ArgumentError) as e:
        kernel.bind(**args)
    msg = str(e.value)
    assert "sala_rms_norm_head_h4_d8_bf16" in msg
    return msg


DROP = object()


def test_missing_argument(kernel):
    msg = err(kernel, weight=DROP, tokens=DROP)
    assert "missing argument(s) 'weight', 'tokens'" in msg


def test_unknown_argument(kernel):
    assert "no parameter 'bias'" in err(kernel, bias=FakeTensor((8,)))


def test_too_many_positional(kernel):
    with pytest.raises(salac.ArgumentError, match="takes 7 arguments.*got 8"):
        kernel.bind(*range(8))


def test_given_twice(kernel):
    g = good()
    with pytest.raises(salac.ArgumentError, match="'input' given both"):
        kernel.bind(g.pop("input"), input=FakeTensor((3, 4, 8)), **g)


def test_wrong_dtype(kernel):
    msg = err(kernel, weight=FakeTensor((8,), dtype="torch.float32"))
    assert "'weight' has dtype float32, expected bf16 (bfloat16)" in msg
    assert "dtype int64, expected i32" in err(
        kernel, cu=FakeTensor((4,), dtype="torch.int64"))


def test_cpu_tensor(kernel):
    assert "'input' is on device 'cpu'" in err(kernel, input=FakeTensor((3, 4, 8), device=("cpu",)))


def test_wrong_device_index(tmp_path):
    pkg = salac.Package(write_manifest(tmp_path, manifest_data()))
    spec = pkg.kernel("sala_rms_norm_head_h4_d8_bf16").spec
    args = dict(input=FakeTensor((2, 4, 8), device=("cuda", 1)), weight=FakeTensor((8,)),
                output=FakeTensor((2, 4, 8)), tokens=2)
    with pytest.raises(salac.ArgumentError, match="'input' is on cuda:1, but the package is "
                                                  "loaded on cuda:0"):
        spec.bind((), args, device_index=0)
    assert spec.bind((), args, device_index=None)  # not loaded: any GPU


def test_not_contiguous(kernel):
    assert "'output' is not contiguous" in err(
        kernel, output=FakeTensor((3, 4, 8), contiguous=False))


def test_misaligned_tensor(tmp_path):
    """A tensor 2 bytes off a 16-byte boundary (a sliced view, say) is refused
    where the manifest asks for 16-byte alignment (salac's kernels load 16
    bytes at a time); without `align` any address goes."""
    k = rms_kernel()
    k["params"][0]["align"] = 16
    kernel = salac.Package(write_manifest(tmp_path, manifest_data(k))).kernel(
        "sala_rms_norm_head_h4_d8_bf16")
    args = dict(input=FakeTensor((3, 4, 8), ptr=0x1002), weight=FakeTensor((8,), ptr=0x2002),
                output=FakeTensor((3, 4, 8), ptr=0x3000), tokens=3)
    with pytest.raises(salac.ArgumentError,
                       match="'input' is at 0x1002, which is not 16-byte aligned"):
        kernel.bind(**args)
    args["input"] = FakeTensor((3, 4, 8), ptr=0x1010)
    assert kernel.bind(**args)[:2] == [0x1010, 0x2002]


def test_shape_mismatch(kernel):
    msg = err(kernel, input=FakeTensor((3, 4, 9)))
    assert "'input' has shape [3, 4, 9], expected [tokens=3, 4, 8] (dim 2 is 9, expected 8)" in msg
    msg = err(kernel, output=FakeTensor((5, 4, 8)))
    assert "(dim 0 is 5, expected 3 = 'tokens')" in msg
    assert "(rank 2, expected 3)" in err(kernel, input=FakeTensor((3, 32)))
    assert "expected [tokens+1=4]" in err(kernel, cu=FakeTensor((3,), dtype="torch.int32"))


def test_scalar_types(kernel):
    assert "'tokens' (i64) needs an int, got float" in err(kernel, tokens=3.0)
    assert "needs an int, got bool" in err(kernel, tokens=True)
    assert "needs an int, got FakeTensor" in err(kernel, tokens=FakeTensor((1,)))
    assert "'flags' (i32) = 2147483648 does not fit in i32" in err(kernel, flags=1 << 31)
    assert "'eps' (f32) needs a float, got str" in err(kernel, eps="small")
    assert "'tokens' = -1 is a size and must be >= 0" in err(kernel, tokens=-1)


def test_tensor_where_scalar_or_scalar_where_tensor(kernel):
    assert "'weight' needs a tensor" in err(kernel, weight=3)


def test_calling_an_unloaded_package(kernel):
    with pytest.raises(salac.SalacError, match=r"not loaded: call \.load\(device\)"):
        kernel(**good())
