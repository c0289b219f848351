"""salac.capture / salac.Graph without a GPU: the Python state machine against
a fake libsalart (what is recorded, what runs, every misuse), and libsalart's
own graph entry points through ctypes (null handles, the status class). The
real capture and replay are checked by bench/harness.py (section "graph") on
a GPU machine."""

import ctypes
import threading

import pytest

import salac
from conftest import FakeTensor, manifest_data, rms_kernel, write_manifest
from salac.runtime import Runtime

KERNEL = "sala_rms_norm_head_h4_d8_bf16"


class FakeRuntime:
    """Stands in for salac.Runtime: simulates libsalart's capture state for
    one context and records every call."""

    def __init__(self):
        self.calls = []
        self.capturing = False
        self.recorded = 0
        self.live = set()
        self.next = 0x100
        self.replays = []

    def call(self, name, *args):
        self.calls.append(name)
        if name == "salart_graph_begin":
            if self.capturing:
                raise salac.CaptureError("already capturing", status=8)
            self.capturing, self.recorded = True, 0
            self.thread = threading.get_ident()
        elif name == "salart_graph_end":
            if not self.capturing:
                raise salac.CaptureError("no graph capture in progress", status=8)
            self.capturing = False
            args[1]._obj.value = self.next
            self.live.add(self.next)
            self.next += 1
        elif name == "salart_graph_abort":
            self.capturing = False
        elif name == "salart_graph_launch":
            assert args[0].value in self.live
            self.replays.append((args[0].value, args[1].value))
        elif name == "salart_graph_num_nodes":
            args[1]._obj.value = self.recorded
        elif name == "salart_graph_destroy":
            self.live.remove(args[0].value)
        return 0


class FakeContext:
    def __init__(self, runtime, device=0):
        self.runtime, self.device, self.handle = runtime, device, ctypes.c_void_p(1)


class FakeNative:
    """NativePackage's launch: recorded while capturing on a NULL stream."""

    def __init__(self, context):
        self.context = context
        self.eager = []

    def launch(self, spec, values, stream=None):
        rt = self.context.runtime
        if rt.capturing and stream is None and rt.thread == threading.get_ident():
            rt.recorded += 1
        else:
            self.eager.append((spec.name, values, stream))

    def close(self):
        pass


@pytest.fixture(autouse=True)
def no_capture_left():
    """A failed test must not leave this thread capturing for the next one."""
    yield
    salac.graph._tls.graph = None


@pytest.fixture
def fake(tmp_path):
    """(runtime, context, package with a fake native side, its kernel)."""
    rt = FakeRuntime()
    ctx = FakeContext(rt)
    pkg = salac.Package(write_manifest(tmp_path, manifest_data(rms_kernel())))
    pkg._native, pkg.device = FakeNative(ctx), 0
    return rt, ctx, pkg, pkg.kernel(KERNEL)


def args(tokens=3, base=0x1000):
    return dict(input=FakeTensor((tokens, 4, 8), ptr=base),
                weight=FakeTensor((8,), ptr=base + 0x100),
                output=FakeTensor((tokens, 4, 8), ptr=base + 0x200), tokens=tokens)


def test_calls_in_the_block_are_recorded_then_replayed(fake):
    rt, ctx, pkg, k = fake
    a = args()
    with salac.capture(pkg) as g:
        assert g.state == "capturing" and salac.graph.active() is g
        k(**a)
        k(*[a[p.name] for p in k.params])
        k.launch_raw(k.bind(**a))
    assert g.state == "ready" and salac.graph.active() is None
    assert rt.recorded == 3 and pkg._native.eager == []
    assert g.launches == 3 and g.num_nodes == 3
    # The tensors of the block and the package are kept alive by the graph.
    kept = {id(v) for v in g._keep}
    assert {id(a["input"]), id(a["weight"]), id(a["output"]), id(pkg)} <= kept
    g.replay()                      # stream None: the legacy stream
    g.replay(stream=0x7777)
    assert rt.replays == [(0x100, None), (0x100, 0x7777)]
    # After the block, calls run again.
    k(**a)
    # The stream: None without torch; with torch (a GPU machine) torch's current
    # stream, 0 by default.
    assert len(pkg._native.eager) == 1 and pkg._native.eager[0][2] in (None, 0)
    g.close()
    assert g.state == "closed" and rt.live == set() and g._keep == []
    g.close()                       # idempotent
    assert rt.calls.count("salart_graph_destroy") == 1


def test_begin_end_without_with(fake):
    rt, ctx, pkg, k = fake
    g = salac.capture(pkg).begin()
    k(**args())
    assert g.end() is g and g.num_nodes == 1
    g.close()


def test_exception_in_the_block_discards_the_capture(fake):
    rt, ctx, pkg, k = fake
    with pytest.raises(ZeroDivisionError):
        with salac.capture(pkg) as g:
            k(**args())
            1 / 0
    assert g.state == "closed" and not rt.capturing
    assert "salart_graph_abort" in rt.calls and "salart_graph_end" not in rt.calls
    assert salac.graph.active() is None
    with pytest.raises(salac.CaptureError, match="cannot replay a closed graph"):
        g.replay()


def test_argument_error_in_the_block_discards_the_capture(fake):
    rt, ctx, pkg, k = fake
    with pytest.raises(salac.ArgumentError, match="tokens"):
        with salac.capture(pkg):
            k(**dict(args(), tokens=4))
    assert not rt.capturing and salac.graph.active() is None


def test_nested_capture_is_refused(fake):
    rt, ctx, pkg, k = fake
    with salac.capture(pkg) as g:
        with pytest.raises(salac.CaptureError, match="already capturing.*nested"):
            salac.capture(pkg).begin()
        k(**args())
    assert g.num_nodes == 1
    g.close()


def test_replay_before_the_capture_ends(fake):
    rt, ctx, pkg, k = fake
    g = salac.capture(pkg)
    with pytest.raises(salac.CaptureError, match="graph that is new: end its capture"):
        g.replay()
    with pytest.raises(salac.CaptureError, match="cannot end the capture of a graph that is new"):
        g.end()
    with g:
        with pytest.raises(salac.CaptureError, match="that is capturing"):
            g.replay()
    with pytest.raises(salac.CaptureError, match="a Graph captures once"):
        g.begin()
    g.close()


def test_end_on_another_thread_is_refused(fake):
    rt, ctx, pkg, k = fake
    g = salac.capture(pkg).begin()
    errors = []

    def other():
        try:
            g.end()
        except salac.CaptureError as e:
            errors.append(str(e))
        # And this thread's kernel calls are not recorded.
        k(**args())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "begun on another" in errors[0]
    assert len(pkg._native.eager) == 1 and rt.recorded == 0
    g.end()
    g.close()


def test_kernel_of_another_context_is_refused(fake, tmp_path):
    rt, ctx, pkg, k = fake
    other = salac.Package(write_manifest(tmp_path / "other", manifest_data(rms_kernel())))
    other._native, other.device = FakeNative(FakeContext(FakeRuntime())), 0
    with pytest.raises(salac.CaptureError, match="loaded on another libsalart context"):
        with salac.capture(pkg):
            other.kernel(KERNEL)(**args())
    assert other._native.eager == []


def test_explicit_stream_is_passed_to_libsalart(fake):
    """libsalart refuses a stream other than its capture stream; Python
    passes an explicit stream through rather than dropping it."""
    rt, ctx, pkg, k = fake

    class S:
        cuda_stream = 0x4242

    with salac.capture(pkg) as g:
        k(**args(), stream=S())
    assert pkg._native.eager[0][2] == 0x4242 and rt.recorded == 0
    g.close()


def test_close_while_capturing_aborts(fake):
    rt, ctx, pkg, k = fake
    g = salac.capture(pkg).begin()
    g.close()
    assert g.state == "closed" and not rt.capturing and salac.graph.active() is None


def test_capture_arguments(fake, tmp_path):
    rt, ctx, pkg, k = fake
    with pytest.raises(salac.ArgumentError, match="not str"):
        salac.capture("pkg")
    with pytest.raises(salac.ArgumentError, match="loaded on cuda:0, not 1"):
        salac.capture(pkg, device=1)
    unloaded = salac.Package(write_manifest(tmp_path / "u", manifest_data(rms_kernel())))
    with pytest.raises(salac.SalacError, match="not loaded"):
        salac.capture(unloaded)


# --- libsalart's graph entry points through ctypes ---------------------------

@pytest.fixture(scope="module")
def runtime(salart_lib):
    return Runtime(salart_lib)


def test_native_null_handles(runtime):
    with pytest.raises(salac.InvalidArgumentError, match="salart_graph_begin: ctx is null"):
        runtime.call("salart_graph_begin", None)
    h = ctypes.c_void_p()
    with pytest.raises(salac.InvalidArgumentError, match="ctx is null"):
        runtime.call("salart_graph_end", None, ctypes.byref(h))
    with pytest.raises(salac.InvalidArgumentError, match="graph is null"):
        runtime.call("salart_graph_launch", None, None)
    runtime.call("salart_graph_destroy", None)  # like free(NULL)
    assert runtime._lib.salart_status_name(8) == b"SALART_ERROR_CAPTURE"
    assert salac.errors.STATUS_CLASSES[8] is salac.CaptureError
    assert issubclass(salac.CaptureError, salac.RuntimeError)


def test_native_capture_without_a_driver(runtime):
    try:
        runtime.driver_version()
        pytest.skip("a CUDA driver is present: covered by the GPU harness")
    except salac.NoDriverError:
        pass
    with pytest.raises(salac.NoDriverError):
        salac.capture(runtime)


def test_old_library_is_named(salart_lib):
    rt = Runtime(salart_lib)
    rt._missing.add("salart_graph_begin")
    with pytest.raises(salac.LibraryNotFoundError, match="predates CUDA graph capture"):
        rt.call("salart_graph_begin", None)
