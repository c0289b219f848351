"""ctypes bindings of libsalart (include/salac/Runtime/salart.h).

Only the package/launch and graph-capture parts of the C API are bound; every
call is checked and a failure raises the salac.RuntimeError subclass of its
status, carrying salart_last_error().
"""

import ctypes
import threading
from pathlib import Path

from . import errors
from ._locate import find_salart_library

c_int, c_uint, c_void_p, c_char_p = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p, ctypes.c_char_p
P = ctypes.POINTER


class DeviceInfo(ctypes.Structure):
    _fields_ = [("ordinal", c_int), ("cc_major", c_int), ("cc_minor", c_int),
                ("multiprocessors", c_int), ("max_shared_per_block_optin", c_int),
                ("name", ctypes.c_char * 256)]


class KernelInfo(ctypes.Structure):
    _fields_ = [("num_params", c_int), ("block", c_uint * 3),
                ("shared_bytes", c_uint), ("num_regs", c_int),
                ("local_bytes", c_int), ("static_shared_bytes", c_int),
                ("const_bytes", c_int), ("max_threads_per_block", c_int),
                ("ptx_version", c_int), ("binary_version", c_int)]

    def as_dict(self):
        d = {name: getattr(self, name) for name, _ in self._fields_}
        d["block"] = tuple(self.block)
        return d


# name -> argtypes; every function returns int salart_status.
_SIGNATURES = {
    "salart_driver_version": [P(c_int)],
    "salart_device_count": [P(c_int)],
    "salart_init": [c_int, P(c_void_p)],
    "salart_context_destroy": [c_void_p],
    "salart_context_make_current": [c_void_p],
    "salart_synchronize": [c_void_p],
    "salart_context_info": [c_void_p, P(DeviceInfo)],
    "salart_package_open": [c_void_p, c_char_p, P(c_void_p)],
    "salart_package_close": [c_void_p],
    "salart_package_num_kernels": [c_void_p, P(c_int)],
    "salart_package_kernel_name": [c_void_p, c_int, P(c_char_p)],
    "salart_package_jit_log": [c_void_p, P(c_char_p)],
    "salart_kernel_find": [c_void_p, c_char_p, P(c_void_p)],
    "salart_kernel_get_info": [c_void_p, P(KernelInfo)],
    "salart_kernel_grid": [c_void_p, P(c_void_p), P(ctypes.c_uint32)],
    "salart_launch": [c_void_p, P(c_void_p), c_void_p],
}

# CUDA graphs (salac.capture). Bound when present, so that a libsalart built
# before them still serves everything else; calling one then says to rebuild.
_GRAPH_SIGNATURES = {
    "salart_context_stream": [c_void_p, P(c_void_p)],
    "salart_graph_begin": [c_void_p],
    "salart_graph_end": [c_void_p, P(c_void_p)],
    "salart_graph_abort": [c_void_p],
    "salart_graph_capturing": [c_void_p, P(c_int)],
    "salart_graph_launch": [c_void_p, c_void_p],
    "salart_graph_num_nodes": [c_void_p, P(ctypes.c_int64)],
    "salart_graph_destroy": [c_void_p],
}

# manifest kind -> ctypes type of the value cuLaunchKernel reads.
ARG_CTYPES = {"ptr": ctypes.c_uint64, "i64": ctypes.c_int64,
              "i32": ctypes.c_int32, "f32": ctypes.c_float}


class Runtime:
    """A loaded libsalart. `Runtime()` finds it ($SALART_LIB, build/, build-rt/)."""

    def __init__(self, path=None):
        self.path = Path(path) if path else find_salart_library()
        try:
            self._lib = ctypes.CDLL(str(self.path))
        except OSError as e:
            raise errors.LibraryNotFoundError(
                f"cannot load libsalart from '{self.path}': {e}") from e
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(self._lib, name)
            fn.argtypes = argtypes
            fn.restype = c_int
        self._missing = set()
        for name, argtypes in _GRAPH_SIGNATURES.items():
            fn = getattr(self._lib, name, None)
            if fn is None:
                self._missing.add(name)
                continue
            fn.argtypes = argtypes
            fn.restype = c_int
        self._lib.salart_last_error.argtypes = []
        self._lib.salart_last_error.restype = c_char_p
        self._lib.salart_status_name.argtypes = [c_int]
        self._lib.salart_status_name.restype = c_char_p
        self._contexts = {}
        self._lock = threading.Lock()

    def call(self, name, *args):
        if name in self._missing:
            raise errors.LibraryNotFoundError(
                f"{name}: libsalart at '{self.path}' predates CUDA graph "
                "capture; rebuild it")
        status = getattr(self._lib, name)(*args)
        if status != 0:
            self.raise_status(status, name)
        return status

    def raise_status(self, status, function):
        msg = (self._lib.salart_last_error() or b"").decode("utf-8", "replace")
        sname = (self._lib.salart_status_name(status) or b"?").decode()
        cls = errors.STATUS_CLASSES.get(status, errors.RuntimeError)
        raise cls(f"{function}: {msg or sname}", status=status,
                  status_name=sname, function=function)

    def driver_version(self):
        v = c_int()
        self.call("salart_driver_version", ctypes.byref(v))
        return v.value

    def device_count(self):
        n = c_int()
        self.call("salart_device_count", ctypes.byref(n))
        return n.value

    def context(self, device=0):
        """The (cached) context handle of a device's primary context."""
        with self._lock:
            ctx = self._contexts.get(device)
            if ctx is None:
                ctx = Context(self, device)
                self._contexts[device] = ctx
            return ctx


class Context:
    """salart_context: a retained primary context (shared with PyTorch)."""

    def __init__(self, runtime, device):
        self.runtime = runtime
        self.device = int(device)
        h = c_void_p()
        runtime.call("salart_init", self.device, ctypes.byref(h))
        self.handle = h
        info = DeviceInfo()
        runtime.call("salart_context_info", h, ctypes.byref(info))
        self.name = info.name.decode()
        self.compute_capability = (info.cc_major, info.cc_minor)
        self.multiprocessors = info.multiprocessors

    def synchronize(self):
        self.runtime.call("salart_synchronize", self.handle)

    def make_current(self):
        self.runtime.call("salart_context_make_current", self.handle)

    def stream(self):
        """The context's own CUstream (non-blocking), as an int; captures
        record on it."""
        s = c_void_p()
        self.runtime.call("salart_context_stream", self.handle, ctypes.byref(s))
        return s.value or 0

    def capturing(self):
        """0: no graph capture on this context, 1: this thread captures,
        2: another thread does."""
        st = c_int()
        self.runtime.call("salart_graph_capturing", self.handle, ctypes.byref(st))
        return st.value


class NativePackage:
    """salart_package: a package opened by libsalart, on a context or (ctx
    None) host-only, i.e. checked but not launchable."""

    def __init__(self, runtime, directory, context=None):
        self.runtime = runtime
        h = c_void_p()
        runtime.call("salart_package_open", context.handle if context else None,
                     str(directory).encode(), ctypes.byref(h))
        self.handle = h
        self.context = context
        self._kernels = {}

    def close(self):
        if self.handle:
            self.runtime.call("salart_package_close", self.handle)
            self.handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing sensible to do
            pass

    def kernel_names(self):
        n = c_int()
        self.runtime.call("salart_package_num_kernels", self.handle, ctypes.byref(n))
        names = []
        for i in range(n.value):
            s = c_char_p()
            self.runtime.call("salart_package_kernel_name", self.handle, i,
                              ctypes.byref(s))
            names.append(s.value.decode())
        return names

    def jit_log(self):
        s = c_char_p()
        self.runtime.call("salart_package_jit_log", self.handle, ctypes.byref(s))
        return (s.value or b"").decode("utf-8", "replace")

    def kernel(self, name):
        h = self._kernels.get(name)
        if h is None:
            h = c_void_p()
            self.runtime.call("salart_kernel_find", self.handle, name.encode(),
                              ctypes.byref(h))
            self._kernels[name] = h
        return h

    def kernel_info(self, name):
        info = KernelInfo()
        self.runtime.call("salart_kernel_get_info", self.kernel(name),
                          ctypes.byref(info))
        return info.as_dict()

    @staticmethod
    def pack_args(spec, values):
        """cuLaunchKernel's void** array; the holders keep the values alive."""
        holders = [ARG_CTYPES[p.kind](v) for p, v in zip(spec.params, values)]
        arr = (c_void_p * max(len(holders), 1))(
            *[ctypes.addressof(h) for h in holders])
        return arr, holders

    def grid(self, spec, values):
        arr, _holders = self.pack_args(spec, values)
        g = (ctypes.c_uint32 * 3)()
        self.runtime.call("salart_kernel_grid", self.kernel(spec.name), arr, g)
        return tuple(g)

    def launch(self, spec, values, stream=None):
        arr, _holders = self.pack_args(spec, values)
        self.runtime.call("salart_launch", self.kernel(spec.name), arr,
                          c_void_p(stream or None))


_default = None
_default_lock = threading.Lock()


def default_runtime():
    """The process-wide Runtime, loaded on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Runtime()
        return _default
