"""A salac kernel package: its manifest, and its kernels launched through
libsalart with PyTorch tensors."""

import sys
from pathlib import Path

from . import graph as _graph
from .errors import ArgumentError, ManifestError, SalacError
from .manifest import Manifest


class Kernel:
    """One kernel of a package. Callable once the package is loaded:
    kernel(input=x, weight=w, output=y, tokens=n) or positionally, in manifest
    order. `stream=` (an int CUstream or an object with .cuda_stream) overrides
    the default, torch.cuda.current_stream(device). Inside
    `with salac.capture(...)` the call is recorded into the graph instead
    (salac.graph)."""

    def __init__(self, package, spec):
        self.package = package
        self.spec = spec

    name = property(lambda self: self.spec.name)
    op = property(lambda self: self.spec.op)
    attributes = property(lambda self: self.spec.attributes)
    params = property(lambda self: self.spec.params)
    block = property(lambda self: self.spec.block)
    shared_bytes = property(lambda self: self.spec.shared_bytes)

    def __repr__(self):
        sig = ", ".join(f"{p.name}: {p.dtype}{list(p.shape)}" if p.is_pointer
                        else f"{p.name}: {p.kind}" for p in self.params)
        return f"<salac.Kernel {self.name}({sig}) op={self.op}>"

    def grid(self, **scalars):
        """The grid the manifest gives for these scalar values."""
        return self.spec.grid_for(scalars)

    def bind(self, *args, **kwargs):
        """Checks the arguments; returns the raw values (pointers, scalars)."""
        return self.spec.bind(args, kwargs, self.package.device)

    def info(self):
        """Registers, spills (local_bytes), shared memory... from the driver."""
        return self.package._native_or_raise().kernel_info(self.name)

    def __call__(self, *args, stream=None, **kwargs):
        native = self.package._native_or_raise()
        values = self.spec.bind(args, kwargs, self.package.device)
        native.launch(self.spec, values, self._stream_for(args, kwargs, stream))

    def launch_raw(self, values, stream=None):
        """Launches with already-bound values (see bind); no checks here.
        Inside a salac.capture block the raw pointers are recorded: keeping
        their memory alive is the caller's job."""
        self.package._native_or_raise().launch(self.spec, values,
                                               self._stream_for((), {}, stream))

    def _stream_for(self, args, kwargs, stream):
        g = _graph.active()
        if g is not None:  # recorded: libsalart's capture stream unless named
            return g._record(self, args, kwargs, stream)
        return _stream_handle(stream, self.package.device)


def _stream_handle(stream, device):
    if stream is None:
        torch = sys.modules.get("torch")  # never import torch ourselves
        if torch is None:
            return None
        return torch.cuda.current_stream(device).cuda_stream
    if hasattr(stream, "cuda_stream"):
        return stream.cuda_stream
    return int(stream)


class Package:
    """A kernel package directory (kernels.ptx, manifest.json, salac_kernels.h).

    Package(dir) reads and checks the manifest; .load(device) opens the
    package through libsalart on that CUDA device's primary context (the one
    PyTorch uses) and returns self."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ManifestError(f"package directory '{self.path}' does not exist")
        self.manifest = Manifest.load(self.path / "manifest.json")
        self.ptx_path = self.path / self.manifest.ptx
        if not self.ptx_path.is_file():
            raise ManifestError(f"{self.manifest.path}: names PTX file "
                                f"'{self.manifest.ptx}', which does not exist")
        self.header_path = self.path / "salac_kernels.h"
        self._kernels = {s.name: Kernel(self, s) for s in self.manifest.kernels}
        self._native = None
        self.device = None
        self.runtime = None
        self.compile_log = ""

    def __repr__(self):
        state = f"loaded on cuda:{self.device}" if self.loaded else "not loaded"
        return (f"<salac.Package {str(self.path)!r} chip={self.chip} "
                f"{len(self)} kernels, {state}>")

    chip = property(lambda self: self.manifest.chip)
    producer = property(lambda self: self.manifest.producer)
    format_version = property(lambda self: self.manifest.format_version)
    loaded = property(lambda self: self._native is not None and
                      self._native.context is not None)

    @property
    def kernels(self):
        return list(self._kernels.values())

    @property
    def kernel_names(self):
        return list(self._kernels)

    def kernel(self, name):
        if name not in self._kernels:
            self.manifest.kernel(name)  # raises KernelNotFoundError listing names
        return self._kernels[name]

    def kernels_for_op(self, op):
        return [k for k in self._kernels.values() if k.op == op]

    def __len__(self):
        return len(self._kernels)

    def __iter__(self):
        return iter(self.kernels)

    def __contains__(self, name):
        return name in self._kernels

    def check(self, runtime=None):
        """Opens the package host-only through libsalart (no GPU needed), which
        checks the PTX has every kernel; returns libsalart's kernel names."""
        from .runtime import NativePackage, default_runtime
        native = NativePackage(runtime or default_runtime(), self.path)
        try:
            return native.kernel_names()
        finally:
            native.close()

    def load(self, device=0, runtime=None):
        """JIT-loads the PTX on `device` (an int or torch.device/'cuda:N')."""
        from .runtime import NativePackage, default_runtime
        device = _device_index(device)
        if self.loaded:
            if device == self.device:
                return self
            raise SalacError(f"package {self.path} is already loaded on "
                             f"cuda:{self.device}; open another Package for "
                             f"cuda:{device}")
        rt = runtime or default_runtime()
        ctx = rt.context(device)
        self._native = NativePackage(rt, self.path, ctx)
        self.runtime, self.device = rt, device
        return self

    def jit_log(self):
        return self._native_or_raise().jit_log()

    def close(self):
        """Unloads the package. Raises CaptureError while a CUDA graph that
        launches its kernels is alive (close or collect the graph first)."""
        if self._native is not None:
            self._native.close()
        self._native, self.device = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _native_or_raise(self):
        if not self.loaded:
            raise SalacError(f"package {self.path} is not loaded: call "
                                ".load(device) before launching its kernels")
        return self._native


def _device_index(device):
    if isinstance(device, int):
        return device
    typ = getattr(device, "type", None)
    if typ is not None:
        if typ != "cuda":
            raise ArgumentError(f"device {device} is not a CUDA device")
        if device.index is not None:
            return device.index
        torch = sys.modules.get("torch")  # "cuda" alone: torch's current device
        return torch.cuda.current_device() if torch is not None else 0
    s = str(device)
    if s == "cuda":
        return 0
    if s.startswith("cuda:"):
        return int(s[5:])
    raise ArgumentError(f"cannot interpret device {device!r}; use an index or 'cuda:N'")
