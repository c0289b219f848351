"""CUDA graphs of kernel launches: record a sequence of kernel calls once,
replay it for the cost of one launch.

    with salac.capture(pkg) as g:          # kernel calls are recorded, not run
        rms(input=q, weight=wq, output=q, tokens=n)
        rope(input=q, positions=pos, output=q, tokens=n)
    g.replay()                             # runs both, on torch's current stream
    g.replay(stream=s)                     # or any stream
    g.close()                              # or let it be collected

What a graph holds: each launch's arguments as they were bound at capture
time -- device pointers and scalars, not data. So:
  - the tensors passed during the capture must stay alive, at the same
    address, for as long as the graph is replayed. The Graph keeps a
    reference to every tensor (and package) used in the block, so they are
    not freed under it; do not replace them (x = new tensor does not change
    what the graph reads), update their contents in place (x.copy_(...));
  - scalars (token counts, batch sizes) are frozen: capture one graph per
    shape;
  - every replay reads and writes whatever those buffers hold at that time.
    A kernel that updates state in place (linear attention) advances it on
    every replay.

Inside the block, only the calls of salac kernels of the captured context,
made on this thread, are recorded; torch operations (and kernel calls from
other threads) run immediately as usual. Allocate every tensor before the
block: an allocation inside it that reaches cudaMalloc is refused by the
driver and spoils the capture (the block then ends with CaptureError). A
kernel call with an explicit stream= other than the context's own is refused,
since it would run instead of being recorded. An exception in the block
discards the capture and propagates.
"""

import ctypes
import threading

from . import errors

_tls = threading.local()


def active():
    """The Graph this thread is capturing into, or None."""
    return getattr(_tls, "graph", None)


class Graph:
    """A CUDA graph of the kernel launches made on one libsalart context.
    States: new -> capturing -> ready -> closed (an aborted or failed capture
    goes straight to closed). See the module documentation."""

    def __init__(self, context):
        self.context = context          # salac.runtime.Context
        self.runtime = context.runtime
        self.device = context.device
        self.launches = 0               # kernel calls made in the block
        self._handle = None
        self._state = "new"
        self._keep = []                 # tensors and packages the graph uses
        self._kept = set()

    def __repr__(self):
        extra = f", {self.launches} launches" if self._state != "new" else ""
        return f"<salac.Graph cuda:{self.device} {self._state}{extra}>"

    state = property(lambda self: self._state)

    # --- capture ----------------------------------------------------------------

    def begin(self):
        """Starts recording; returns self. One capture per thread at a time."""
        if self._state != "new":
            raise errors.CaptureError(
                f"this graph is {self._state}: a Graph captures once; call "
                "salac.capture(...) again for a new one")
        cur = active()
        if cur is not None:
            raise errors.CaptureError(
                f"this thread is already capturing {cur!r}; nested captures are "
                "not supported")
        self.runtime.call("salart_graph_begin", self.context.handle)
        self._state = "capturing"
        _tls.graph = self
        return self

    def end(self):
        """Ends the capture and instantiates the graph; returns self."""
        self._check_capturing("end")
        _tls.graph = None
        h = ctypes.c_void_p()
        try:
            self.runtime.call("salart_graph_end", self.context.handle, ctypes.byref(h))
        except BaseException:
            self._release()
            raise
        self._handle = h
        self._state = "ready"
        return self

    def abort(self):
        """Ends the capture and discards what it recorded."""
        self._check_capturing("abort")
        _tls.graph = None
        try:
            self.runtime.call("salart_graph_abort", self.context.handle)
        finally:
            self._release()

    def __enter__(self):
        return self.begin()

    def __exit__(self, exc_type, exc, tb):
        if self._state != "capturing":
            return False
        if exc_type is None:
            self.end()
        else:  # keep the block's own exception; the capture is discarded
            try:
                self.abort()
            except errors.SalacError:
                pass
        return False

    def _check_capturing(self, what):
        if self._state != "capturing":
            raise errors.CaptureError(f"cannot {what} the capture of a graph that is "
                                      f"{self._state}")
        if active() is not self:
            raise errors.CaptureError(
                f"cannot {what} the capture on this thread: it was begun on another "
                "(captures are thread-local)")

    def _record(self, kernel, args, kwargs, stream):
        """Called for each kernel call while this graph captures: checks that
        the kernel is of the captured context, keeps its tensors alive, and
        returns the stream handle to launch on (None: the capture)."""
        native = kernel.package._native_or_raise()
        if native.context is not self.context:
            raise errors.CaptureError(
                f"kernel '{kernel.name}' is loaded on another libsalart context "
                f"(cuda:{kernel.package.device}) than the one being captured "
                f"(cuda:{self.device}); it would run now instead of being recorded")
        for v in (kernel.package, *args, *kwargs.values()):
            if (v is kernel.package or hasattr(v, "data_ptr")) and id(v) not in self._kept:
                self._kept.add(id(v))
                self._keep.append(v)
        self.launches += 1
        if stream is None:
            return None
        if hasattr(stream, "cuda_stream"):
            return stream.cuda_stream
        return int(stream)

    def keep(self, *objects):
        """Keeps `objects` alive as long as the graph (e.g. whatever owns the
        buffers of launches recorded with raw pointers, Kernel.launch_raw)."""
        if self._state == "closed":
            raise errors.CaptureError("cannot keep objects alive for a closed graph")
        for v in objects:
            if id(v) not in self._kept:
                self._kept.add(id(v))
                self._keep.append(v)

    # --- replay -----------------------------------------------------------------

    def _check_ready(self, what):
        if self._state == "ready":
            return
        if self._state == "closed":
            raise errors.CaptureError(f"cannot {what} a closed graph")
        raise errors.CaptureError(f"cannot {what} a graph that is {self._state}: end "
                                  "its capture first")

    def replay(self, stream=None):
        """Launches the whole graph, asynchronously, on `stream` (default:
        torch.cuda.current_stream(device) when torch is loaded, else the
        legacy default stream)."""
        from .package import _stream_handle
        self._check_ready("replay")
        self.runtime.call("salart_graph_launch", self._handle,
                          ctypes.c_void_p(_stream_handle(stream, self.device) or None))

    @property
    def num_nodes(self):
        """Nodes of the graph: one per recorded kernel launch (zero-sized
        launches record nothing)."""
        self._check_ready("inspect")
        n = ctypes.c_int64()
        self.runtime.call("salart_graph_num_nodes", self._handle, ctypes.byref(n))
        return n.value

    # --- lifetime ---------------------------------------------------------------

    def close(self):
        """Frees the graph (a replay in flight completes first); a capture in
        progress is discarded. Idempotent."""
        if self._state == "capturing" and active() is self:
            self.abort()
            return
        if self._state == "ready":
            h, self._handle = self._handle, None
            try:
                self.runtime.call("salart_graph_destroy", h)
            finally:
                self._release()

    def _release(self):
        self._state = "closed"
        self._keep.clear()
        self._kept.clear()

    def __del__(self):
        try:
            if self._state == "ready":
                self.close()
        except Exception:  # interpreter shutdown: nothing sensible to do
            pass


def capture(target, device=None):
    """A new Graph, to use as `with salac.capture(target) as g:` (or call
    g.begin() / g.end()). `target`: a loaded salac.Package (its context), a
    salac.Runtime (the context of `device`, default 0) or a runtime Context.
    Kernel calls of every package loaded on that context are recorded."""
    from .package import Package, _device_index
    from .runtime import Context, Runtime
    if isinstance(target, Package):
        if device is not None and _device_index(device) != target.device:
            raise errors.ArgumentError(f"package {target.path} is loaded on "
                                       f"cuda:{target.device}, not {device}")
        return Graph(target._native_or_raise().context)
    if isinstance(target, Runtime):
        return Graph(target.context(_device_index(0 if device is None else device)))
    if isinstance(target, Context):
        return Graph(target)
    raise errors.ArgumentError(
        f"salac.capture needs a loaded salac.Package, a salac.Runtime or a "
        f"runtime Context, not {type(target).__name__}")
