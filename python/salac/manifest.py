"""Reading manifest.json (docs/KernelPackage.md, format 1) and checking kernel
arguments against it.

Pure Python: nothing here needs torch, a GPU or libsalart, so CI checks it.
Tensors are duck-typed (dtype, shape, device, is_contiguous(), data_ptr()).
"""

import json
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ArgumentError, KernelNotFoundError, ManifestError

FORMAT_VERSION = 1

# Manifest dtype -> (element bytes, accepted torch dtype names).
DTYPES = {
    "bf16": (2, ("bfloat16",)),
    "f16": (2, ("float16", "half")),
    "f32": (4, ("float32", "float")),
    "i32": (4, ("int32", "int")),
}
SCALAR_KINDS = ("i64", "i32", "f32")
_INT_RANGE = {"i64": (-(1 << 63), (1 << 63) - 1), "i32": (-(1 << 31), (1 << 31) - 1)}


def dtype_size(dtype):
    return DTYPES[dtype][0]


def _torch_dtype_name(dtype):
    """'torch.bfloat16' -> 'bfloat16'; works for torch dtypes and strings."""
    s = str(dtype)
    return s[len("torch."):] if s.startswith("torch.") else s


_DIM_RE = re.compile(r"^\s*(?:(\d+)\s*\*\s*)?([A-Za-z_]\w*)\s*(?:([-+*])\s*(\d+))?\s*$")


def parse_dim(d):
    """A shape entry: an int, or 'name', 'name+N', 'name-N', 'name*N', 'N*name'
    (salac writes 'batch+1' for cumulative-length arrays). Returns
    (name, mul, add) with extent = value(name) * mul + add, or None for an int."""
    if isinstance(d, int):
        return None
    m = _DIM_RE.match(d)
    if not m or (m.group(1) and m.group(3)):
        raise ValueError(f"cannot read shape entry {d!r}")
    mul, add = int(m.group(1) or 1), 0
    if m.group(3) == "*":
        mul = int(m.group(4))
    elif m.group(3):
        add = int(m.group(4)) * (1 if m.group(3) == "+" else -1)
    return m.group(2), mul, add


def eval_dim(d, scalars):
    p = parse_dim(d)
    if p is None:
        return d
    name, mul, add = p
    return scalars[name] * mul + add


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                 # ptr | i64 | i32 | f32
    dtype: str = None         # ptr only
    shape: tuple = ()         # ptr only: ints and scalar expressions
    meaning: str = ""
    align: int = 1            # ptr only: bytes its address must be a multiple of

    def __post_init__(self):
        # Parsed once: argument checking runs on every launch.
        dims = tuple((None, 0, d) if isinstance(d, int) else parse_dim(d)
                     for d in self.shape)
        object.__setattr__(self, "_dims", dims)
        names = DTYPES[self.dtype][1] if self.kind == "ptr" else ()
        object.__setattr__(self, "_accepted",
                           frozenset(names) | {"torch." + n for n in names})

    @property
    def is_pointer(self):
        return self.kind == "ptr"

    def resolve_shape(self, scalars):
        """Concrete extents given scalar values {name: int}."""
        return tuple(add if name is None else scalars[name] * mul + add
                     for name, mul, add in self._dims)

    def nbytes(self, scalars):
        return math.prod(self.resolve_shape(scalars)) * dtype_size(self.dtype)


@dataclass(frozen=True)
class GridRule:
    """ceil(value_of(param) * mul / div), or a constant when param is None."""
    value: int = 1
    param: str = None
    mul: int = 1
    div: int = 1

    def evaluate(self, scalars):
        if self.param is None:
            return self.value
        return -(-scalars[self.param] * self.mul // self.div)


@dataclass(frozen=True)
class SplitRule:
    """The compiler's split-KV rule (#sala.split_rule, SplitRule.h): blocks per
    (token, KV group) pair, enough to give each of `sms` SMs `blocks_per_sm`
    blocks, each split walking at least `min_tiles_per_split` tiles, at most
    `max_splits` (`few_pairs_max_splits` where that would leave over half of
    the SMs idle), 1 once the pairs fill the GPU. It is read from a package
    (a kernel's "config", a mixer's `split_kv`), never restated."""
    sms: int
    blocks_per_sm: int
    max_splits: int
    few_pairs_max_splits: int
    min_tiles_per_split: int

    FIELDS = ("sms", "blocks_per_sm", "max_splits", "few_pairs_max_splits",
              "min_tiles_per_split")  # unannotated: not a field

    @classmethod
    def parse(cls, d, bad):
        """From a manifest object; `bad(msg)` makes the error to raise."""
        if not isinstance(d, dict):
            raise bad(f"a split rule must be an object, got {d!r}")
        vals = []
        for k in cls.FIELDS:
            v = d.get(k)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
                raise bad(f"split rule '{k}' must be an integer in [1, 65535], got {v!r}")
            vals.append(v)
        return cls(*vals)

    def splits(self, pairs, tiles, sms=None):
        """Blocks per pair for `pairs` (token, KV group) pairs over `tiles`
        tiles; `sms` overrides the compiled SM count (the device's own)."""
        sms = sms or self.sms
        pairs = max(1, pairs)
        want = -(-self.blocks_per_sm * sms // pairs)
        cap = self.few_pairs_max_splits if pairs * self.max_splits * 2 < sms else self.max_splits
        return max(1, min(want, tiles // self.min_tiles_per_split, cap))


@dataclass
class KernelSpec:
    name: str
    op: str
    attributes: dict
    params: list
    block: tuple
    grid: tuple
    shared_bytes: int
    config: dict = field(default_factory=dict)
    _by_name: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._by_name = {p.name: p for p in self.params}
        self._index = {p.name: i for i, p in enumerate(self.params)}
        self._sizes = sorted({d[0] for p in self.params if p.is_pointer
                              for d in p._dims if d[0] is not None})

    def param(self, name):
        return self._by_name[name]

    @property
    def split_rule(self):
        """The kernel's split-KV rule (its config's), or None."""
        return self.config.get("split_rule")

    @property
    def param_names(self):
        return [p.name for p in self.params]

    @property
    def scalar_params(self):
        return [p for p in self.params if not p.is_pointer]

    @property
    def pointer_params(self):
        return [p for p in self.params if p.is_pointer]

    def grid_for(self, scalars):
        """The launch grid for scalar values {name: value} (may contain 0;
        a negative size is an ArgumentError)."""
        for r in self.grid:
            v = scalars.get(r.param) if r.param is not None else None
            if isinstance(v, int) and v < 0:
                raise ArgumentError(f"{self.name}: size '{r.param}' must be non-negative, "
                                    f"got {v}")
        return tuple(r.evaluate(scalars) for r in self.grid)

    def bind(self, args=(), kwargs=None, device_index=None):
        """Checks arguments against the signature; returns one value per
        parameter in order (data_ptr() for tensors). Raises ArgumentError."""
        return bind_arguments(self, args, kwargs or {}, device_index)


# A manifest nests a few levels; json.loads recurses.
MAX_JSON_DEPTH = 64


def json_depth(text):
    """The deepest nesting of arrays and objects in JSON `text` (brackets in
    strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def text_byte(e):
    return f"0x{e.object[e.start]:02x}"


class Manifest:
    def __init__(self, data, path="manifest.json"):
        self.path = str(path)
        self.raw = data
        self._parse(data)

    @classmethod
    def load(cls, path):
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.json"
        if not path.is_file():
            raise ManifestError(f"no manifest: '{path}' does not exist "
                                "(is this a salac kernel package?)")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ManifestError(f"cannot read '{path}': {e}") from e
        except UnicodeDecodeError as e:
            raise ManifestError(f"'{path}' is not UTF-8: byte {e.start} is "
                                f"{text_byte(e)}") from e
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise ManifestError(f"'{path}' nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"'{path}' is not valid JSON: {e.msg} at line "
                                f"{e.lineno}, column {e.colno}") from e
        except (ValueError, RecursionError) as e:  # e.g. an integer of 5000 digits
            raise ManifestError(f"'{path}' is not a readable manifest: {e}") from e
        return cls(data, path)

    def _err(self, msg):
        return ManifestError(f"{self.path}: {msg}")

    def _parse(self, data):
        if not isinstance(data, dict):
            raise self._err(f"top level is a {type(data).__name__}, expected "
                            "an object")
        if "format_version" not in data:
            raise self._err("missing 'format_version'")
        v = data["format_version"]
        if type(v) is not int or v != FORMAT_VERSION:
            raise self._err(f"format_version {v!r} is not supported (this "
                            f"reader knows {FORMAT_VERSION})")
        self.format_version = v
        self.producer = data.get("producer", "")
        self.chip = data.get("chip", "")
        self.ptx = data.get("ptx", "kernels.ptx")
        if (not isinstance(self.ptx, str) or not self.ptx or "/" in self.ptx or
                "\\" in self.ptx or self.ptx in (".", "..")):
            raise self._err(f"'ptx' must be a file name in the package, got {self.ptx!r}")
        kernels = data.get("kernels")
        if not isinstance(kernels, list):
            raise self._err("'kernels' must be a list")
        self.kernels = []
        seen = set()
        for i, k in enumerate(kernels):
            spec = self._parse_kernel(i, k)
            if spec.name in seen:
                raise self._err(f"kernel '{spec.name}' appears twice")
            seen.add(spec.name)
            self.kernels.append(spec)
        self._by_name = {k.name: k for k in self.kernels}
        from .mixers import parse_mixers  # optional section; imports this module
        self.mixers = parse_mixers(self, data.get("mixers"))

    def _parse_kernel(self, i, k):
        if not isinstance(k, dict) or not isinstance(k.get("name"), str):
            raise self._err(f"kernel #{i} has no 'name'")
        name = k["name"]

        def bad(msg):
            return self._err(f"kernel '{name}': {msg}")

        params = []
        for j, p in enumerate(k.get("params", [])):
            if not isinstance(p, dict) or "name" not in p or "kind" not in p:
                raise bad(f"param #{j} needs 'name' and 'kind'")
            kind = p["kind"]
            if kind == "ptr":
                if p.get("dtype") not in DTYPES:
                    raise bad(f"param '{p['name']}' has dtype {p.get('dtype')!r}"
                              f" (known: {', '.join(DTYPES)})")
                shape = p.get("shape")
                if not isinstance(shape, list) or not all(
                        isinstance(d, (int, str)) and not isinstance(d, bool)
                        for d in shape):
                    raise bad(f"param '{p['name']}' needs a 'shape' list of "
                              "ints and parameter names")
                for d in shape:
                    try:
                        parse_dim(d)
                    except ValueError as e:
                        raise bad(f"shape of '{p['name']}': {e}") from None
                    if isinstance(d, int) and d < 0:
                        raise bad(f"shape of '{p['name']}' has a negative entry {d}")
                align = p.get("align", 1)
                if (type(align) is not int or not 1 <= align <= 4096 or
                        align & (align - 1)):
                    raise bad(f"param '{p['name']}' has align {align!r} (a power of two "
                              "in [1, 4096])")
                params.append(Param(p["name"], kind, p["dtype"], tuple(shape),
                                    p.get("meaning", ""), align))
            elif kind in SCALAR_KINDS:
                params.append(Param(p["name"], kind, meaning=p.get("meaning", "")))
            else:
                raise bad(f"param '{p['name']}' has kind {kind!r} (known: ptr, "
                          + ", ".join(SCALAR_KINDS) + ")")
        scalars = {p.name for p in params if not p.is_pointer}
        for p in params:
            for d in p.shape:
                ref = parse_dim(d)
                if ref is not None and ref[0] not in scalars:
                    raise bad(f"shape of '{p.name}' names '{ref[0]}', which is "
                              "not a scalar parameter")
        block = k.get("block")
        if not (isinstance(block, list) and len(block) == 3
                and all(isinstance(b, int) and b > 0 for b in block)):
            raise bad(f"'block' must be three positive integers, got {block!r}")
        grid = k.get("grid")
        if not isinstance(grid, list) or len(grid) != 3:
            raise bad(f"'grid' must have three entries, got {grid!r}")
        rules = []
        for g in grid:
            if isinstance(g, int) and not isinstance(g, bool):
                rules.append(GridRule(value=g))
            elif isinstance(g, dict) and g.get("param") in scalars:
                mul, div = g.get("mul", 1), g.get("div", 1)
                if not (isinstance(mul, int) and isinstance(div, int) and div > 0):
                    raise bad(f"grid rule {g!r} needs integer mul and div > 0")
                rules.append(GridRule(param=g["param"], mul=mul, div=div))
            else:
                raise bad(f"grid entry {g!r} is neither an integer nor a rule "
                          "on a scalar parameter")
        config = k.get("config", {})
        if not isinstance(config, dict):
            raise bad(f"'config' must be an object, got {config!r}")
        config = dict(config)
        if "split_rule" in config:
            config["split_rule"] = SplitRule.parse(config["split_rule"], bad)
        return KernelSpec(name=name, op=k.get("op", ""),
                          attributes=dict(k.get("attributes", {})),
                          params=params, block=tuple(block), grid=tuple(rules),
                          shared_bytes=int(k.get("shared_bytes", 0)), config=config)

    @property
    def kernel_names(self):
        return [k.name for k in self.kernels]

    def mixer(self, name):
        """The plan of the host function `name` (the "mixers" section)."""
        for m in self.mixers:
            if m.name == name:
                return m
        raise KernelNotFoundError(
            f"no mixer '{name}' in {self.path} (mixers: "
            + (", ".join(m.name for m in self.mixers) or "none") + ")")

    def mixers_for(self, mode):
        """The mixers of one mode ('decode', 'prefill') that have a layer index,
        by layer."""
        return sorted((m for m in self.mixers if m.mode == mode and m.layer is not None),
                      key=lambda m: m.layer)

    def kernel(self, name):
        try:
            return self._by_name[name]
        except KeyError:
            raise KernelNotFoundError(
                f"no kernel '{name}' in {self.path} (kernels: "
                + (", ".join(self.kernel_names) or "none") + ")") from None


# --- argument checking --------------------------------------------------------

def _scalar_value(spec, p, v):
    if p.kind == "f32":
        if type(v) is float or (type(v) is int):
            return float(v)
        try:
            if isinstance(v, bool) or hasattr(v, "data_ptr"):
                raise TypeError
            return float(v)
        except (TypeError, ValueError):
            raise ArgumentError(f"kernel '{spec.name}': parameter '{p.name}' (f32) needs "
                                f"a float, got {type(v).__name__}") from None
    if type(v) is not int:
        if isinstance(v, bool) or hasattr(v, "data_ptr"):
            iv = None
        else:
            try:
                iv = operator.index(v)
            except TypeError:
                iv = None
        if iv is None:
            raise ArgumentError(f"kernel '{spec.name}': parameter '{p.name}' ({p.kind}) "
                                f"needs an int, got {type(v).__name__}")
        v = iv
    lo, hi = _INT_RANGE[p.kind]
    if not lo <= v <= hi:
        raise ArgumentError(f"kernel '{spec.name}': parameter '{p.name}' ({p.kind}) = "
                            f"{v} does not fit in {p.kind}")
    return v


_MISSING = object()


def bind_arguments(spec, args, kwargs, device_index=None):
    """See KernelSpec.bind. Kept lean: it runs on every launch."""
    params = spec.params
    n = len(params)
    if len(args) > n:
        raise ArgumentError(
            f"kernel '{spec.name}' takes {n} arguments ({', '.join(spec.param_names)}), "
            f"got {len(args)} positional")
    vals = list(args) + [_MISSING] * (n - len(args))
    for k, v in kwargs.items():
        i = spec._index.get(k)
        if i is None:
            raise ArgumentError(f"kernel '{spec.name}' has no parameter '{k}' "
                                f"(parameters: {', '.join(spec.param_names)})")
        if i < len(args):
            raise ArgumentError(f"kernel '{spec.name}': parameter '{k}' given "
                                "both positionally and by name")
        vals[i] = v
    if any(v is _MISSING for v in vals):
        missing = [p.name for p, v in zip(params, vals) if v is _MISSING]
        raise ArgumentError(f"kernel '{spec.name}': missing argument(s) "
                            + ", ".join(f"'{m}'" for m in missing)
                            + f" (parameters: {', '.join(spec.param_names)})")
    # Scalars first: tensor shapes refer to them.
    scalars = {}
    for p, v in zip(params, vals):
        if p.kind != "ptr":
            scalars[p.name] = _scalar_value(spec, p, v)
    for name in spec._sizes:
        if scalars[name] < 0:
            raise ArgumentError(f"kernel '{spec.name}': parameter '{name}' = "
                                f"{scalars[name]} is a size and must be >= 0")
    out = []
    for p, t in zip(params, vals):
        if p.kind != "ptr":
            out.append(scalars[p.name])
            continue
        try:
            dtype, shape, dev = t.dtype, t.shape, t.device
        except AttributeError:
            dtype = shape = dev = None
        if shape is None or not hasattr(t, "data_ptr"):
            raise ArgumentError(f"kernel '{spec.name}': parameter '{p.name}' needs a "
                                f"tensor ({p.dtype} {list(p.shape)}), got {type(t).__name__}")
        if str(dtype) not in p._accepted:
            raise ArgumentError(f"kernel '{spec.name}': parameter '{p.name}' has dtype "
                                f"{_torch_dtype_name(dtype)}, expected {p.dtype} "
                                f"({DTYPES[p.dtype][1][0]})")
        typ, idx = _device_of(dev)
        if typ != "cuda" or (device_index is not None and idx is not None
                             and idx != device_index):
            _device_error(spec, p, typ, idx, device_index)
        expected = tuple(add if name is None else scalars[name] * mul + add
                         for name, mul, add in p._dims)
        if tuple(shape) != expected:
            _shape_error(spec, p, tuple(int(d) for d in shape), expected, scalars)
        if not t.is_contiguous():
            raise ArgumentError(
                f"kernel '{spec.name}': parameter '{p.name}' is not contiguous (strides "
                f"{tuple(t.stride()) if hasattr(t, 'stride') else '?'}); kernels take "
                "row-major tensors: pass .contiguous()")
        ptr = t.data_ptr()
        if ptr % p.align:
            raise ArgumentError(
                f"kernel '{spec.name}': parameter '{p.name}' is at {ptr:#x}, which is not "
                f"{p.align}-byte aligned (the kernel accesses {p.align} bytes at a time): "
                "pass a tensor that starts on such a boundary")
        out.append(ptr)
    return out


def _device_of(dev):
    if dev is None:
        return None, None
    typ = getattr(dev, "type", None)
    if typ is None:  # a string such as "cuda:0"
        typ, _, idx = str(dev).partition(":")
        return typ, int(idx) if idx else None
    return typ, dev.index


def _device_error(spec, p, typ, idx, device_index):
    where = f"kernel '{spec.name}': parameter '{p.name}'"
    if typ != "cuda":
        raise ArgumentError(f"{where} is on device '{typ}', expected a CUDA tensor")
    raise ArgumentError(f"{where} is on cuda:{idx}, but the package is loaded on "
                        f"cuda:{device_index}")


def _shape_error(spec, p, shape, expected, scalars):
    spelled = ", ".join(f"{d}={eval_dim(d, scalars)}" if isinstance(d, str) else str(d)
                        for d in p.shape)
    detail = ""
    if len(shape) != len(expected):
        detail = f" (rank {len(shape)}, expected {len(expected)})"
    else:
        for i, (a, b) in enumerate(zip(shape, expected)):
            if a != b:
                named = f" = '{p.shape[i]}'" if isinstance(p.shape[i], str) else ""
                detail = f" (dim {i} is {a}, expected {b}{named})"
                break
    raise ArgumentError(f"kernel '{spec.name}': parameter '{p.name}' has shape "
                        f"{list(shape)}, expected [{spelled}]{detail}")
