"""The manifest's "mixers" section (docs/KernelPackage.md): each host function
the compiler formed kernels for -- one per layer and mode -- told in the
package's own terms: its arguments and the device buffers each stands for, the
sizes its launches need, the temporaries to allocate (intermediates,
workspaces), and its kernel launches in order with what each parameter binds
to. salac.DecodeStep runs and captures whole steps from it.

Pure Python: nothing here needs torch, a GPU or libsalart.
"""

from dataclasses import dataclass, field

from .errors import ManifestError
from .manifest import DTYPES, SplitRule, parse_dim

BINDING_KINDS = ("buffer", "intermediate", "workspace", "size")
ARGUMENT_TYPES = ("tensor", "kv_cache", "compressed_keys", "state_pool")
WORKSPACE_INITS = ("zero", "none")


@dataclass(frozen=True)
class Buffer:
    """A device buffer: dtype and row-major shape, each extent an int, a size
    expression ('tokens', 'batch+1') or '?' (not known to the compiler)."""
    name: str
    dtype: str
    shape: tuple
    argument: str = None      # the argument it belongs to (argument buffers)

    def __post_init__(self):
        dims = tuple(None if d == "?" else (None, 0, d) if isinstance(d, int)
                     else parse_dim(d) for d in self.shape)
        object.__setattr__(self, "_dims", dims)

    def resolve_shape(self, sizes):
        """Extents for size values {name: int}; None where the shape says '?'."""
        out = []
        for d in self._dims:
            if d is None:
                out.append(None)
            else:
                name, mul, add = d
                out.append(add if name is None else sizes[name] * mul + add)
        return tuple(out)

    def spelled(self, sizes):
        """'[tokens=8, 32, 128]': the expected shape for error messages."""
        parts = []
        for d, r in zip(self.shape, self.resolve_shape(sizes)):
            parts.append(str(d) if isinstance(d, int) or d == "?" else f"{d}={r}")
        return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class Argument:
    name: str
    type: str                 # tensor | kv_cache | compressed_keys | state_pool
    mlir_type: str
    buffers: tuple
    parameters: dict = field(default_factory=dict)
    written: bool = False


@dataclass(frozen=True)
class SplitKV:
    """How the runtime chooses `splits`: the compiler's split rule over
    `pairs_size` x `pairs_mul` (token, KV group) pairs and the tiles the
    kernel walks, ceil(value(tiles_bound) ...) at most `tiles` (0: no cap)."""
    pairs_size: str
    pairs_mul: int
    tiles: int
    tiles_bound: tuple         # (size, mul, div)
    rule: SplitRule

    def evaluate(self, sizes, sms=None):
        """The split count at `sizes`; `sms` overrides the compiled SM count
        (the device's own, where the caller knows it)."""
        size, mul, div = self.tiles_bound
        tiles = -(-sizes[size] * mul // div)
        if self.tiles:
            tiles = min(tiles, self.tiles)
        return self.rule.splits(sizes[self.pairs_size] * self.pairs_mul, tiles, sms)


@dataclass(frozen=True)
class Size:
    """Read off `buffer`'s extent `dim`; or the product of the sizes
    `product` times `mul`; or chosen per step: at most ceil(value(bound_size)
    * mul / div) when bound_size is set (the bound is a safe choice), else
    `default` when set, else the caller's to give."""
    name: str
    meaning: str = ""
    buffer: str = None
    dim: int = None
    product: tuple = None
    bound_size: str = None
    mul: int = 1
    div: int = 1
    default: int = None
    split_kv: SplitKV = None

    @property
    def chosen(self):
        """Whether the step chooses it (not read off or made of other sizes)."""
        return self.buffer is None and self.product is None

    def bound(self, sizes):
        if self.bound_size is None:
            return None
        return -(-sizes[self.bound_size] * self.mul // self.div)

    def value_of_product(self, sizes):
        v = self.mul
        for n in self.product:
            v *= sizes[n]
        return v


@dataclass(frozen=True)
class Temp:
    """An intermediate (op result) or a workspace (kernel scratch)."""
    buffer: Buffer
    op: str = ""
    kernel: str = None
    param: str = None
    init: str = "none"        # workspaces: "zero" before the first launch
    meaning: str = ""

    name = property(lambda self: self.buffer.name)


@dataclass(frozen=True)
class Binding:
    param: str
    kind: str                 # buffer | intermediate | workspace | size
    name: str


@dataclass(frozen=True)
class Launch:
    kernel: str
    op: str
    args: tuple


@dataclass
class MixerPlan:
    name: str
    layer: int
    kind: str
    mode: str
    arguments: list
    sizes: list
    intermediates: list
    workspaces: list
    outputs: list
    launches: list

    def __post_init__(self):
        self.buffers = {b.name: b for a in self.arguments for b in a.buffers}
        self._sizes = {s.name: s for s in self.sizes}
        self._temps = {t.name: t for t in self.intermediates + self.workspaces}

    def __repr__(self):
        return (f"<salac mixer {self.name}: layer {self.layer} {self.kind} {self.mode}, "
                f"{len(self.launches)} launches>")

    @property
    def input_names(self):
        """The names of the buffers a caller provides, in argument order."""
        return list(self.buffers)

    def argument_of(self, buffer_name):
        b = self.buffers[buffer_name]
        return next(a for a in self.arguments if a.name == b.argument)

    def size(self, name):
        return self._sizes[name]

    def temp(self, name):
        return self._temps[name]


def _str(v):
    return isinstance(v, str) and v != ""


def _shape_ok(shape):
    return isinstance(shape, list) and all(
        (isinstance(d, int) and not isinstance(d, bool)) or isinstance(d, str)
        for d in shape)


class _Parser:
    def __init__(self, manifest):
        self.m = manifest

    def err(self, where, msg):
        return ManifestError(f"{self.m.path}: {where}: {msg}")

    def buffer(self, where, d, argument=None):
        if not isinstance(d, dict) or not _str(d.get("name")):
            raise self.err(where, "a buffer needs a 'name'")
        name = d["name"]
        if d.get("dtype") not in DTYPES:
            raise self.err(where, f"buffer '{name}' has dtype {d.get('dtype')!r} "
                           f"(known: {', '.join(DTYPES)})")
        shape = d.get("shape")
        if not _shape_ok(shape):
            raise self.err(where, f"buffer '{name}' needs a 'shape' list of ints and "
                           "size names")
        try:
            return Buffer(name, d["dtype"], tuple(shape), argument)
        except ValueError as e:
            raise self.err(where, f"shape of '{name}': {e}") from None

    def mixer(self, i, d):
        if not isinstance(d, dict) or not _str(d.get("name")):
            raise self.err(f"mixers[{i}]", "needs a 'name'")
        where = f"mixer '{d['name']}'"
        layer = d.get("layer")
        if layer is not None and (not isinstance(layer, int) or isinstance(layer, bool)
                                  or layer < 0):
            raise self.err(where, f"'layer' must be a non-negative integer or null, "
                           f"got {layer!r}")
        for key in ("arguments", "sizes", "intermediates", "workspaces", "outputs",
                    "launches"):
            if not isinstance(d.get(key, []), list):
                raise self.err(where, f"'{key}' must be a list")
        args, seen = [], set()
        for j, a in enumerate(d.get("arguments", [])):
            if not isinstance(a, dict) or not _str(a.get("name")):
                raise self.err(where, f"argument #{j} needs a 'name'")
            if a.get("type") not in ARGUMENT_TYPES:
                raise self.err(where, f"argument '{a['name']}' has type "
                               f"{a.get('type')!r} (known: {', '.join(ARGUMENT_TYPES)})")
            bufs = a.get("buffers")
            if not isinstance(bufs, list) or not bufs:
                raise self.err(where, f"argument '{a['name']}' needs a non-empty "
                               "'buffers' list")
            bufs = tuple(self.buffer(where, b, a["name"]) for b in bufs)
            for b in bufs:
                if b.name in seen:
                    raise self.err(where, f"buffer name '{b.name}' appears twice")
                seen.add(b.name)
            args.append(Argument(a["name"], a["type"], a.get("mlir_type", ""), bufs,
                                 dict(a.get("parameters", {})), bool(a.get("written"))))
        buffers = {b.name: b for a in args for b in a.buffers}

        temps = {}

        def temp(kind, t):
            b = self.buffer(where, t)
            if b.name in buffers or b.name in temps:
                raise self.err(where, f"{kind} '{b.name}' has the name of another buffer")
            init = t.get("init", "none")
            if kind == "workspace" and init not in WORKSPACE_INITS:
                raise self.err(where, f"workspace '{b.name}' has init {init!r} "
                               f"(known: {', '.join(WORKSPACE_INITS)})")
            out = Temp(b, t.get("op", ""), t.get("kernel"), t.get("param"), init,
                       t.get("meaning", ""))
            temps[b.name] = kind
            return out

        inter = [temp("intermediate", t) for t in d.get("intermediates", [])]
        work = [temp("workspace", t) for t in d.get("workspaces", [])]

        sizes = []
        for j, s in enumerate(d.get("sizes", [])):
            if not isinstance(s, dict) or not _str(s.get("name")):
                raise self.err(where, f"size #{j} needs a 'name'")
            name, kw = s["name"], {}
            src = s.get("from")
            if src is not None:
                if not (isinstance(src, dict) and src.get("buffer") in buffers
                        and isinstance(src.get("dim"), int)
                        and 0 <= src["dim"] < len(buffers[src["buffer"]].shape)
                        and buffers[src["buffer"]].shape[src["dim"]] == name):
                    raise self.err(where, f"size '{name}': 'from' must name an argument "
                                   f"buffer and a dim whose extent is '{name}', got {src!r}")
                kw = {"buffer": src["buffer"], "dim": src["dim"]}
            product = s.get("product")
            if product is not None:
                if kw or not (isinstance(product, dict) and isinstance(product.get("sizes"), list)
                              and product["sizes"] and all(_str(n) for n in product["sizes"])
                              and isinstance(product.get("mul", 1), int)):
                    raise self.err(where, f"size '{name}': 'product' must be {{sizes, mul}} "
                                   f"(and not with 'from'), got {product!r}")
                kw = {"product": tuple(product["sizes"]), "mul": product.get("mul", 1)}
            default = s.get("default")
            if default is not None:
                if isinstance(default, bool) or not isinstance(default, int) or default < 0:
                    raise self.err(where, f"size '{name}': 'default' must be an integer "
                                   f">= 0, got {default!r}")
                kw["default"] = default
            bound = s.get("bound")
            if bound is not None:
                if not (isinstance(bound, dict) and _str(bound.get("size"))
                        and isinstance(bound.get("mul", 1), int)
                        and isinstance(bound.get("div", 1), int) and bound.get("div", 1) > 0):
                    raise self.err(where, f"size '{name}': 'bound' must be {{size, mul, div}}"
                                   f" with div > 0, got {bound!r}")
                kw.update(bound_size=bound["size"], mul=bound.get("mul", 1),
                          div=bound.get("div", 1))
            split = s.get("split_kv")
            if split is not None:
                kw["split_kv"] = self._split_kv(where, name, split)
            sizes.append(Size(name, s.get("meaning", ""), **kw))
        size_names = {s.name for s in sizes}
        for s in sizes:
            if s.split_kv is not None:
                for n in (s.split_kv.pairs_size, s.split_kv.tiles_bound[0]):
                    if n not in size_names:
                        raise self.err(where, f"size '{s.name}': its split_kv rule names "
                                       f"'{n}', which is not a size of the mixer")
            if s.bound_size is not None and s.bound_size not in size_names:
                raise self.err(where, f"size '{s.name}' is bounded by '{s.bound_size}', "
                               "which is not a size of the mixer")
            for n in s.product or ():
                if n not in size_names or n == s.name:
                    raise self.err(where, f"size '{s.name}' is a product of '{n}', which "
                                   "is not another size of the mixer")
        for b in list(buffers.values()) + [t.buffer for t in inter + work]:
            for dim in b._dims:
                if dim is not None and dim[0] is not None and dim[0] not in size_names:
                    raise self.err(where, f"the shape of '{b.name}' names '{dim[0]}', which "
                                   "is not a size of the mixer")

        outputs = d.get("outputs", [])
        for o in outputs:
            if o not in temps and o not in {a.name for a in args}:
                raise self.err(where, f"output '{o}' is neither an intermediate nor an "
                               "argument")

        launches = []
        for j, lj in enumerate(d.get("launches", [])):
            launches.append(self.launch(where, j, lj, buffers, temps, size_names))
        return MixerPlan(d["name"], layer, d.get("kind", ""), d.get("mode", ""), args,
                         sizes, inter, work, list(outputs), launches)

    def _split_kv(self, where, name, d):
        def pos(k, lo=1):
            v = d.get(k) if isinstance(d, dict) else None
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise self.err(where, f"size '{name}': split_kv '{k}' must be an integer "
                               f">= {lo}, got {v!r}")
            return v
        pairs, bound = (d.get("pairs"), d.get("tiles_bound")) if isinstance(d, dict) else (None, None)
        if not (isinstance(pairs, dict) and _str(pairs.get("size"))
                and isinstance(bound, dict) and _str(bound.get("size"))):
            raise self.err(where, f"size '{name}': split_kv needs 'pairs' and 'tiles_bound' "
                           f"naming sizes, got {d!r}")
        for k, v in (("pairs.mul", pairs.get("mul", 1)), ("tiles_bound.mul", bound.get("mul", 1)),
                     ("tiles_bound.div", bound.get("div", 1))):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise self.err(where, f"size '{name}': split_kv '{k}' must be an integer "
                               f">= 1, got {v!r}")
        rule = SplitRule.parse({k: d.get(k) for k in SplitRule.FIELDS},
                               lambda msg: self.err(where, f"size '{name}': split_kv {msg}"))
        return SplitKV(pairs["size"], pairs.get("mul", 1), pos("tiles", 0),
                       (bound["size"], bound.get("mul", 1), bound.get("div", 1)), rule)

    def launch(self, where, j, lj, buffers, temps, size_names):
        if not isinstance(lj, dict) or not _str(lj.get("kernel")):
            raise self.err(where, f"launch #{j} needs a 'kernel'")
        name = lj["kernel"]
        spec = self.m._by_name.get(name)
        if spec is None:
            raise self.err(where, f"launch #{j} names kernel '{name}', which is not in "
                           "the manifest's kernels")
        binds = lj.get("args")
        if not isinstance(binds, list):
            raise self.err(where, f"launch #{j} ({name}) needs an 'args' list")
        out = []
        for b in binds:
            kinds = [k for k in BINDING_KINDS if isinstance(b, dict) and k in b]
            if not isinstance(b, dict) or not _str(b.get("param")) or len(kinds) != 1:
                raise self.err(where, f"launch #{j} ({name}): each of 'args' needs a "
                               f"'param' and one of {', '.join(BINDING_KINDS)}, got {b!r}")
            kind = kinds[0]
            out.append(Binding(b["param"], kind, b[kind]))
        if [b.param for b in out] != spec.param_names:
            raise self.err(where, f"launch #{j} binds parameters "
                           f"{[b.param for b in out]}, but kernel '{name}' has "
                           f"{spec.param_names}")
        for b in out:
            p = spec.param(b.param)
            if b.kind == "size":
                if p.is_pointer or b.name not in size_names:
                    raise self.err(where, f"launch #{j} ({name}): parameter '{b.param}' is "
                                   f"bound to size '{b.name}', which "
                                   + ("is a pointer parameter" if p.is_pointer
                                      else "is not a size of the mixer"))
                continue
            if not p.is_pointer:
                raise self.err(where, f"launch #{j} ({name}): scalar parameter "
                               f"'{b.param}' must be bound to a size")
            if b.kind == "buffer":
                target = buffers.get(b.name)
            else:
                target = None if temps.get(b.name) != b.kind else b.name
            if target is None:
                raise self.err(where, f"launch #{j} ({name}): parameter '{b.param}' names "
                               f"{b.kind} '{b.name}', which the mixer does not have")
        return Launch(name, lj.get("op", spec.op), tuple(out))


def parse_mixers(manifest, data):
    """The MixerPlans of a manifest's "mixers" list (absent: none)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ManifestError(f"{manifest.path}: 'mixers' must be a list")
    p = _Parser(manifest)
    plans = [p.mixer(i, d) for i, d in enumerate(data)]
    names = set()
    for m in plans:
        if m.name in names:
            raise ManifestError(f"{manifest.path}: mixer '{m.name}' appears twice")
        names.add(m.name)
    return plans


def _dims(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def describe(plan):
    """The plan as text, one line per item (used by `python -m salac.mixers`
    and the tests). Launch arguments: `name` an argument buffer, `%name` an
    intermediate, `$name` a workspace, `#name` a size."""
    layer = "-" if plan.layer is None else plan.layer
    lines = [f"{plan.name}: layer {layer}, {plan.kind}, {plan.mode or '-'} -> "
             + ", ".join(plan.outputs)]
    for a in plan.arguments:
        bufs = ", ".join(f"{b.name} {b.dtype}{_dims(b.shape)}" for b in a.buffers)
        w = " (written)" if a.written else ""
        lines.append(f"  argument {a.name}: {a.mlir_type or a.type}{w} = {bufs}")
    for s in plan.sizes:
        if s.buffer is not None:
            how = f"= {s.buffer}.shape[{s.dim}]"
        elif s.product is not None:
            how = "= " + " * ".join(list(s.product) + ([str(s.mul)] if s.mul != 1 else []))
        elif s.split_kv is not None:
            r = s.split_kv.rule
            how = (f"by the split-KV rule over {s.split_kv.pairs_size} * {s.split_kv.pairs_mul} pairs "
                   f"({r.blocks_per_sm} blocks a SM on {r.sms} SMs, at most {r.max_splits} "
                   f"or {r.few_pairs_max_splits}, >= {r.min_tiles_per_split} tiles a split), "
                   "chosen per step")
        elif s.bound_size is not None:
            how = (f"<= {s.bound_size}" if (s.mul, s.div) == (1, 1) else
                   f"<= ceil({s.bound_size} * {s.mul} / {s.div})")
            how += ", chosen per step"
        elif s.default is not None:
            how = f"chosen per step, default {s.default}"
        else:
            how = "chosen per step"
        lines.append(f"  size {s.name} {how}")
    for t in plan.intermediates:
        lines.append(f"  intermediate {t.name} {t.buffer.dtype}{_dims(t.buffer.shape)} "
                     f"({t.op})")
    for t in plan.workspaces:
        lines.append(f"  workspace {t.name} {t.buffer.dtype}{_dims(t.buffer.shape)} "
                     f"init {t.init} ({t.kernel}.{t.param})")
    sigil = {"buffer": "", "intermediate": "%", "workspace": "$", "size": "#"}
    for launch in plan.launches:
        args = " ".join(f"{b.param}={sigil[b.kind]}{b.name}" for b in launch.args)
        lines.append(f"  launch {launch.kernel} {args}")
    return "\n".join(lines)


def _main(argv=None):
    import argparse
    from .manifest import Manifest
    ap = argparse.ArgumentParser(
        prog="python -m salac.mixers",
        description="Prints the mixers of a kernel package's manifest, one line per "
                    "argument, size, temporary and launch.")
    ap.add_argument("package", help="package directory or manifest.json")
    ap.add_argument("--mixer", action="append", help="only these mixers (repeatable)")
    a = ap.parse_args(argv)
    m = Manifest.load(a.package)
    plans = [p for p in m.mixers if not a.mixer or p.name in a.mixer]
    if not m.mixers:
        print(f"{m.path}: no mixers section")
    print("\n".join(describe(p) for p in plans))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
