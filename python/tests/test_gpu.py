"""Kernels launched through libsalart with PyTorch tensors (needs torch, a
CUDA GPU, libsalart and a package)."""

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible to torch", allow_module_level=True)

import salac  # noqa: E402
from salac import opcases  # noqa: E402


@pytest.fixture(scope="module")
def pkg(package_dir, salart_lib):
    p = salac.Package(package_dir).load(0, runtime=salac.Runtime(salart_lib))
    yield p
    p.close()


def test_load_shares_torch_context(pkg):
    x = torch.ones(4, device="cuda")  # torch first or second: the same primary context
    ctx = pkg.runtime.context(0)
    assert ctx.name == torch.cuda.get_device_name(0)
    assert ctx.compute_capability == torch.cuda.get_device_capability(0)
    assert pkg.loaded and isinstance(pkg.jit_log(), str)
    assert (x + 1).sum().item() == 8


def test_every_supported_kernel_small(pkg):
    g = torch.Generator(device="cuda")
    g.manual_seed(0)
    ran = 0
    for k in pkg:
        assert k.info()["num_regs"] > 0
        case, why = opcases.case_for(k.spec)
        if case is None:
            continue
        sc = case.scenarios(k.spec, (8,))[0]
        args = case.make_inputs(k.spec, sc, "cuda", g)
        ref = case.reference(k.spec, args)
        k(**args)
        torch.cuda.synchronize()
        for o in case.outputs:
            r = opcases.compare(args[o], ref[o], k.spec.param(o).dtype)
            assert r["pass"], (k.name, o, r)
        ran += 1
    assert ran >= 1


def elementwise(pkg):
    for k in pkg:
        case, _ = opcases.case_for(k.spec)
        if case is not None and set(s.name for s in k.spec.scalar_params) == {"tokens"}:
            return k, case
    pytest.skip("no tokens-only kernel in the package")


def test_zero_tokens_launches_nothing(pkg):
    k, case = elementwise(pkg)
    args = case.make_inputs(k.spec, {"tokens": 0}, "cuda", torch.Generator(device="cuda"))
    k(**args)
    torch.cuda.synchronize()


def test_side_stream_and_positional_call(pkg):
    k, case = elementwise(pkg)
    g = torch.Generator(device="cuda")
    args = case.make_inputs(k.spec, {"tokens": 5}, "cuda", g)
    ref = case.reference(k.spec, args)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        k(*[args[p.name] for p in k.params])  # launched on s, torch's current stream
    s.synchronize()
    assert opcases.compare(args["output"], ref["output"], "bf16")["pass"]
    opcases.poison(args["output"])
    k(**args, stream=s)  # an explicit stream argument
    s.synchronize()
    assert opcases.compare(args["output"], ref["output"], "bf16")["pass"]


def test_real_tensor_errors(pkg):
    k, case = elementwise(pkg)
    args = case.make_inputs(k.spec, {"tokens": 4}, "cuda", torch.Generator(device="cuda"))
    name = k.spec.pointer_params[0].name
    bad = dict(args, **{name: args[name].float()})
    with pytest.raises(salac.ArgumentError, match=f"'{name}' has dtype float32"):
        k(**bad)
    bad = dict(args, **{name: args[name].cpu()})
    with pytest.raises(salac.ArgumentError, match="on device 'cpu'"):
        k(**bad)
    t = args[name]
    if t.dim() >= 2 and t.shape[0] > 1:
        nc = t.transpose(0, 1).contiguous().transpose(0, 1)
        with pytest.raises(salac.ArgumentError, match="not contiguous"):
            k(**dict(args, **{name: nc}))
    with pytest.raises(salac.ArgumentError, match="tokens"):
        k(**dict(args, tokens=5))


def test_capture_records_then_replays(pkg):
    k, case = elementwise(pkg)
    g = torch.Generator(device="cuda")
    g.manual_seed(1)
    args = case.make_inputs(k.spec, {"tokens": 5}, "cuda", g)
    ref = case.reference(k.spec, args)
    with salac.capture(pkg) as graph:
        k(**args)
    torch.cuda.synchronize()
    assert torch.isnan(args["output"].float()).all()  # recorded, not run
    assert graph.num_nodes == 1
    graph.replay()
    torch.cuda.synchronize()
    assert opcases.compare(args["output"], ref["output"], "bf16")["pass"]
    # A replay reads the inputs as they are now.
    args2 = case.make_inputs(k.spec, {"tokens": 5}, "cuda", g)
    for name, t in args2.items():
        if name != "output" and hasattr(t, "copy_"):
            args[name].copy_(t)
    ref2 = case.reference(k.spec, args)
    opcases.poison(args["output"])
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    graph.replay(stream=s)
    s.synchronize()
    assert opcases.compare(args["output"], ref2["output"], "bf16")["pass"]
    graph.close()
    with pytest.raises(salac.CaptureError, match="closed"):
        graph.replay()


def test_capture_refuses_foreign_stream_and_sync(pkg):
    k, case = elementwise(pkg)
    args = case.make_inputs(k.spec, {"tokens": 3}, "cuda", torch.Generator(device="cuda"))
    s = torch.cuda.Stream()
    ctx = pkg.runtime.context(pkg.device)
    with salac.capture(pkg) as graph:
        assert ctx.capturing() == 1
        with pytest.raises(salac.CaptureError, match="not being captured"):
            k(**args, stream=s)
        with pytest.raises(salac.CaptureError, match="cuCtxSynchronize"):
            ctx.synchronize()
        k(**args, stream=ctx.stream())  # the capture stream itself: recorded
    assert ctx.capturing() == 0 and graph.num_nodes == 1
    with pytest.raises(salac.CaptureError, match="CUDA graph"):
        pkg.close()  # the graph still launches its kernels
    graph.close()
