"""Exceptions raised by the salac package.

Every exception derives from SalacError and also from the builtin it is most
like, so callers that catch ValueError/LookupError/RuntimeError keep working.
"""

import builtins


class SalacError(Exception):
    """Base class of every error raised by salac."""


class CompileError(SalacError):
    """The salac compiler failed; `stderr` holds its diagnostics."""

    def __init__(self, message, *, stderr="", returncode=None, command=None):
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode
        self.command = command


class CompileWarning(UserWarning):
    """A warning printed by the salac compiler (e.g. ops with no GPU lowering)."""


class BinaryNotFoundError(SalacError, FileNotFoundError):
    """No salac compiler binary could be found."""


class LibraryNotFoundError(SalacError, FileNotFoundError):
    """No libsalart shared library could be found."""


class ManifestError(SalacError, ValueError):
    """A kernel package (manifest.json or the files it names) is malformed."""


class KernelNotFoundError(SalacError, LookupError):
    """A package has no kernel of the requested name."""

    def __str__(self):  # LookupError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class ArgumentError(SalacError, TypeError, ValueError):
    """Arguments passed to a kernel do not match its manifest signature."""


class RuntimeError(SalacError, builtins.RuntimeError):  # noqa: A001
    """An error reported by libsalart; the message is salart_last_error()."""

    status = None  # salart_status value, set on instances
    status_name = None

    def __init__(self, message, *, status=None, status_name=None, function=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        if status_name is not None:
            self.status_name = status_name
        self.function = function


class InvalidArgumentError(RuntimeError):
    """SALART_ERROR_INVALID_ARGUMENT"""


class NoDriverError(RuntimeError):
    """SALART_ERROR_NO_DRIVER: no libcuda.so.1, or cuInit failed."""


class DriverError(RuntimeError):
    """SALART_ERROR_DRIVER: a CUDA driver call failed."""


class PackageError(RuntimeError):
    """SALART_ERROR_PACKAGE: missing or malformed package contents."""


class NotFoundError(RuntimeError):
    """SALART_ERROR_NOT_FOUND: unknown kernel or sequence."""


class ExhaustedError(RuntimeError):
    """SALART_ERROR_EXHAUSTED: a pool has no free page or slot."""


class InternalError(RuntimeError):
    """SALART_ERROR_INTERNAL"""


class CaptureError(RuntimeError):
    """SALART_ERROR_CAPTURE, or the same misuse caught in Python: a CUDA graph
    capture or replay that cannot be done (nested capture, ending none,
    replaying a closed graph, a synchronizing call or a foreign stream during
    a capture, closing a package a graph still uses)."""


# salart_status value -> exception class (salart.h).
STATUS_CLASSES = {
    1: InvalidArgumentError,
    2: NoDriverError,
    3: DriverError,
    4: PackageError,
    5: NotFoundError,
    6: ExhaustedError,
    7: InternalError,
    8: CaptureError,
}
