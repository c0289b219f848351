"""salac: Python front end of the salac compiler and its runtime.

    import salac, torch
    pkg = salac.compile(out_dir="pkg")          # or salac.Package("pkg")
    pkg.load(device=0)
    k = pkg.kernel("sala_rms_norm_head_h32_d128_bf16")
    k(input=x, weight=w, output=y, tokens=x.shape[0])
    with salac.capture(pkg) as g:               # recorded into a CUDA graph
        k(input=x, weight=w, output=y, tokens=x.shape[0])
    g.replay()
    step = salac.DecodeStep(pkg, layers, batch=8)  # every mixer of a decode step
    step.run(); g = step.capture(); g.replay()      # eager, or as one CUDA graph

Pure Python: the compiler is run as a subprocess, libsalart is used through
ctypes. torch is needed only to launch kernels and for salac.reference.
"""

from .compiler import compile  # noqa: A004 - the public name on purpose
from .errors import (ArgumentError, BinaryNotFoundError, CaptureError, CompileError,
                     CompileWarning, DriverError, ExhaustedError, InternalError,
                     InvalidArgumentError, KernelNotFoundError,
                     LibraryNotFoundError, ManifestError, NoDriverError,
                     NotFoundError, PackageError, RuntimeError, SalacError)
from ._locate import find_salac_binary, find_salart_library
from .graph import Graph, capture
from .manifest import FORMAT_VERSION, KernelSpec, Manifest, Param
from .package import Kernel, Package
from .runtime import Runtime, default_runtime
from .step import DecodeStep, PrefillStep

__version__ = "0.1.0"

__all__ = [
    "compile", "capture", "Graph", "DecodeStep", "PrefillStep", "Package", "Kernel", "Manifest", "KernelSpec", "Param",
    "Runtime", "default_runtime", "find_salac_binary", "find_salart_library",
    "FORMAT_VERSION", "SalacError", "CompileError", "CompileWarning",
    "BinaryNotFoundError", "LibraryNotFoundError", "ManifestError",
    "KernelNotFoundError", "ArgumentError", "RuntimeError",
    "InvalidArgumentError", "NoDriverError", "DriverError", "PackageError",
    "NotFoundError", "ExhaustedError", "InternalError", "CaptureError",
]
