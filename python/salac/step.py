"""A whole decode step -- every mixer of the package, layer after layer -- run
eagerly or captured as one CUDA graph.

    step = salac.DecodeStep(pkg, layers, batch=8)
    step.run()                  # every mixer's kernels, in layer order
    g = step.capture()          # one salac.Graph of the whole step
    g.replay()
    step.output(3)              # layer 3's output tensor

`layers` maps each layer index to that layer's inputs: {name: tensor}, the
names being the mixer's buffers in the manifest's "mixers" section
(docs/KernelPackage.md), e.g. for a linear layer query, key, value, gate,
q_norm_weight, k_norm_weight, out_norm_weight, positions, state, slot_ids,
cu_seqlens_q, seq_lens, and for a sparse layer query, key, value, gate,
k_cache, v_cache, page_table, keys, key_page_table, cu_seqlens_q, seq_lens
(`step.input_names(layer)`, or `pkg.manifest.mixers_for("decode")`). A
!sala.kv_cache argument may also be given by its argument name as a pair:
cache=(k_cache, v_cache). Tensors may be shared between layers (the batch
metadata usually is). A layer's output buffer is allocated by the step unless
the layer's dict names it ("output").

Everything is checked once, when the step is made, against the manifest:
every layer present, every buffer's dtype, shape (in terms of the step's sizes:
tokens, batch, pages...), device and contiguity, with errors naming the layer
and the argument. Intermediates and kernel workspaces are allocated then, and
every launch is bound to raw pointers: run() only launches. So, as with any
CUDA graph, the tensors must stay where they are: update their contents in
place (x.copy_(...)); the step and its graphs keep them alive.

Sizes no argument shows (the longest query length, the width of the block
scores) default to the bound the manifest gives (tokens; what the page table
can hold), so a captured step stays valid as sequences grow up to their page
tables' capacity; `sizes={"max_blocks": n}` overrides them.
"""

from . import graph as _graph
from .errors import ArgumentError, ManifestError, SalacError
from .manifest import DTYPES, _torch_dtype_name

_TORCH_DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "i32": "int32"}


def _torch_allocator(device):
    import torch

    def allocate(shape, dtype, zero):
        dt = getattr(torch, _TORCH_DTYPES[dtype])
        make = torch.zeros if zero else torch.empty
        return make(tuple(shape), dtype=dt, device=torch.device("cuda", device))
    return allocate


def _device_of(t):
    dev = getattr(t, "device", None)
    typ = getattr(dev, "type", None)
    if typ is None:
        typ, _, idx = str(dev).partition(":")
        return typ, int(idx) if idx else None
    return typ, dev.index


class _Mixer:
    """One layer's plan with its tensors and bound launches."""

    def __init__(self, plan, tensors, sizes, temps, launches):
        self.plan = plan
        self.tensors = tensors      # every buffer: inputs, intermediates, workspaces
        self.sizes = sizes
        self.temps = temps          # names the step allocated
        self.launches = launches    # [(Kernel, raw values)]


class DecodeStep:
    """Every mixer of one mode (default "decode") of a loaded package, over
    per-layer inputs; see the module documentation.

    package: a loaded salac.Package whose manifest has a "mixers" section.
    layers:  {layer: {name: tensor}} (or a list indexed by layer), one entry for
             every layer the package has a mixer of this mode for.
    batch:   the number of sequences (checked against every layer; default:
             what the first layer's tensors say).
    tokens:  new tokens in the step (default in decode: batch, one per
             sequence; else what the first layer's tensors say).
    sizes:   values for sizes no argument shows ({"max_blocks": 256}); every
             other size is read off the tensors.
    allocate: allocate(shape, dtype, zero) -> tensor, for intermediates and
             workspaces (default: torch on the package's device).
    """

    def __init__(self, package, layers, *, batch=None, tokens=None, sizes=None,
                 mode="decode", allocate=None):
        self.package = package
        self.mode = mode
        manifest = package.manifest
        plans = manifest.mixers_for(mode)
        if not plans:
            raise ManifestError(
                f"{manifest.path} has no {mode} mixers: the package was written "
                "without a \"mixers\" section (an older salac) or compiled without "
                f"--mode={mode}; recompile it")
        by_layer = {}
        for p in plans:
            if p.layer in by_layer:
                raise ManifestError(f"{manifest.path}: layer {p.layer} has two {mode} "
                                    f"mixers ({by_layer[p.layer].name}, {p.name})")
            by_layer[p.layer] = p
        if package.device is None:
            raise SalacError(f"package {package.path} is not loaded: call .load(device) "
                             "before making a DecodeStep")
        self.device = package.device
        if isinstance(layers, (list, tuple)):
            layers = dict(enumerate(layers))
        if not isinstance(layers, dict):
            raise ArgumentError("DecodeStep: layers must be a dict {layer: {name: tensor}} "
                                f"or a list of such dicts, not {type(layers).__name__}")
        extra = sorted(set(layers) - set(by_layer), key=str)
        if extra:
            raise ArgumentError(
                f"DecodeStep: the package has no {mode} mixer for layer(s) "
                f"{', '.join(map(str, extra))} (its layers: "
                f"{', '.join(map(str, sorted(by_layer)))})")
        missing = [p for p in plans if p.layer not in layers]
        if missing:
            p = missing[0]
            raise ArgumentError(
                f"DecodeStep: no inputs for layer {p.layer} ({p.name})"
                + (f" and {len(missing) - 1} other layer(s)" if len(missing) > 1 else "")
                + f"; layer {p.layer} needs {', '.join(p.input_names)}")
        sizes = dict(sizes or {})
        known = {s.name for p in plans for s in p.sizes if s.chosen}
        unknown = sorted(set(sizes) - known)
        if unknown:
            raise ArgumentError(
                f"DecodeStep: sizes={{{', '.join(map(repr, unknown))}: ...}}: no mixer "
                "has such a size to choose (sizes chosen per step: "
                + (", ".join(sorted(known)) or "none") + "; the others follow from "
                "the tensors)")
        allocate = allocate or _torch_allocator(self.device)
        self.batch, self.tokens = batch, tokens
        self._mixers = []
        for p in plans:
            self._mixers.append(self._prepare(p, layers[p.layer], sizes, allocate))
        self._graphs = 0

    # --- checking and binding, once -------------------------------------------

    def _where(self, plan):
        return f"DecodeStep: layer {plan.layer} ({plan.name})"

    def _prepare(self, plan, given, chosen, allocate):
        where = self._where(plan)
        if not isinstance(given, dict):
            raise ArgumentError(f"{where}: inputs must be a dict {{name: tensor}}, not "
                                f"{type(given).__name__}")
        given = dict(given)
        # A multi-buffer argument (kv_cache) may come as a pair under its name.
        for a in plan.arguments:
            if len(a.buffers) > 1 and a.name in given and a.name not in plan.buffers:
                pair = given.pop(a.name)
                if not isinstance(pair, (tuple, list)) or len(pair) != len(a.buffers):
                    raise ArgumentError(
                        f"{where}: argument '{a.name}' ({a.type}) is "
                        f"{len(a.buffers)} buffers: pass ({', '.join(b.name for b in a.buffers)})"
                        f" or each by name")
                for b, t in zip(a.buffers, pair):
                    if b.name in given:
                        raise ArgumentError(f"{where}: '{b.name}' given twice (by name and "
                                            f"in '{a.name}')")
                    given[b.name] = t
        outputs = [o for o in plan.outputs if o not in plan.buffers]
        allowed = set(plan.buffers) | set(outputs)
        unknown = [n for n in given if n not in allowed]
        if unknown:
            raise ArgumentError(
                f"{where}: unknown input(s) {', '.join(map(repr, unknown))}; this mixer "
                f"takes {', '.join(plan.input_names)}"
                + (f" (and optionally its output buffer {', '.join(outputs)})"
                   if outputs else ""))
        absent = [n for n in plan.buffers if n not in given]
        if absent:
            descr = []
            for n in absent:
                a = plan.argument_of(n)
                descr.append(f"'{n}'" if a.name == n and a.type == "tensor"
                             else f"'{n}' (of argument '{a.name}', {a.type})")
            raise ArgumentError(f"{where}: missing input(s) {', '.join(descr)}")

        # Sizes: read off the tensors, then the ones chosen per step.
        sizes = {}
        for s in plan.sizes:
            if s.buffer is None:
                continue
            shape = self._shape_of(where, plan.buffers[s.buffer], given[s.buffer])
            if s.dim >= len(shape):
                raise ArgumentError(
                    f"{where}: '{s.buffer}' has shape {list(shape)}, expected "
                    f"{len(plan.buffers[s.buffer].shape)} dims")
            sizes[s.name] = int(shape[s.dim])
        # Decode: one new token per sequence unless told otherwise.
        tokens = self.tokens if self.tokens is not None else \
            self.batch if self.mode == "decode" else None
        for name, expected, what in (("batch", self.batch, "batch"),
                                     ("tokens", tokens, "tokens")):
            s = plan._sizes.get(name)
            if s is None or s.buffer is None:
                continue
            if expected is None:
                if name == "batch":
                    self.batch = sizes[name]
                continue
            if sizes[name] != expected:
                raise ArgumentError(
                    f"{where}: '{s.buffer}' has {sizes[name]} in dim {s.dim} "
                    f"('{name}'), but the step's {what} is {expected}"
                    + ("" if name == "batch" or self.tokens is not None else
                       " (in decode, tokens defaults to batch: one new token per "
                       "sequence)"))
        if self.tokens is None and "tokens" in sizes:
            self.tokens = sizes["tokens"]
        for s in plan.sizes:
            if not s.chosen:
                continue
            bound = s.bound(sizes) if s.bound_size in sizes else None
            if s.name in chosen:
                v = chosen[s.name]
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ArgumentError(f"DecodeStep: sizes['{s.name}'] must be an int >= 0, "
                                        f"got {v!r}")
                sizes[s.name] = v
            elif s.split_kv is not None:
                # The compiler's split-KV rule, on this device's SM count.
                sizes[s.name] = s.split_kv.evaluate(sizes, _device_sms(given))
            elif bound is not None:
                sizes[s.name] = bound
            elif s.default is not None:
                sizes[s.name] = s.default
            else:
                raise ArgumentError(
                    f"{where}: size '{s.name}' ({s.meaning or 'no meaning given'}) is not "
                    "shown by any argument and the manifest gives no bound or default: "
                    f"pass sizes={{'{s.name}': n}}")
        pending = [s for s in plan.sizes if s.product is not None]
        while pending:
            ready = [s for s in pending if all(n in sizes for n in s.product)]
            if not ready:
                raise ManifestError(f"{where}: sizes {', '.join(s.name for s in pending)} "
                                    "are products of sizes that cannot be known")
            for s in ready:
                sizes[s.name] = s.value_of_product(sizes)
                pending.remove(s)

        # Every given buffer against its manifest entry.
        tensors = {}
        for name, t in given.items():
            b = plan.buffers[name] if name in plan.buffers else plan.temp(name).buffer
            self._check(where, plan, b, t, sizes)
            tensors[name] = t
        temps = []
        for t in plan.intermediates + plan.workspaces:
            if t.name in tensors:
                continue
            shape = t.buffer.resolve_shape(sizes)
            if any(d is None for d in shape):
                raise ManifestError(f"{where}: the manifest leaves the shape of "
                                    f"'{t.name}' unknown ({list(t.buffer.shape)})")
            tensors[t.name] = allocate(shape, t.buffer.dtype, t.init == "zero")
            temps.append(t.name)

        launches = []
        for i, launch in enumerate(plan.launches):
            kernel = self.package.kernel(launch.kernel)
            values = {b.param: sizes[b.name] if b.kind == "size" else tensors[b.name]
                      for b in launch.args}
            try:
                raw = kernel.bind(**values)
            except ArgumentError as e:
                raise ArgumentError(f"{where}: launch #{i} ({launch.op}): {e}") from None
            launches.append((kernel, raw))
        return _Mixer(plan, tensors, sizes, temps, launches)

    @staticmethod
    def _shape_of(where, b, t):
        shape = getattr(t, "shape", None)
        if shape is None or not hasattr(t, "data_ptr"):
            raise ArgumentError(f"{where}: '{b.name}' must be a tensor ({b.dtype} "
                                f"{list(b.shape)}), got {type(t).__name__}")
        return tuple(int(d) for d in shape)

    def _check(self, where, plan, b, t, sizes):
        shape = self._shape_of(where, b, t)
        a = plan.argument_of(b.name) if b.name in plan.buffers else None
        what = f"'{b.name}'" + (f" (of argument '{a.name}', {a.type})"
                                if a is not None and a.name != b.name else "")
        dt = _torch_dtype_name(getattr(t, "dtype", None))
        if dt not in DTYPES[b.dtype][1]:
            raise ArgumentError(f"{where}: {what} has dtype {dt}, expected {b.dtype} "
                                f"({DTYPES[b.dtype][1][0]})")
        expected = b.resolve_shape(sizes)
        bad = len(shape) != len(expected) or any(
            e is not None and s != e for s, e in zip(shape, expected))
        if bad:
            if len(shape) != len(expected):
                detail = f" (rank {len(shape)}, expected {len(expected)})"
            else:
                i = next(i for i, (s, e) in enumerate(zip(shape, expected))
                         if e is not None and s != e)
                named = f" = '{b.shape[i]}'" if isinstance(b.shape[i], str) else ""
                detail = f" (dim {i} is {shape[i]}, expected {expected[i]}{named})"
            raise ArgumentError(f"{where}: {what} has shape {list(shape)}, expected "
                                f"{b.spelled(sizes)}{detail}")
        typ, idx = _device_of(t)
        if typ != "cuda" or (idx is not None and idx != self.device):
            raise ArgumentError(f"{where}: {what} is on {typ}" +
                                (f":{idx}" if idx is not None else "") +
                                f", expected cuda:{self.device} (the package's device)")
        if hasattr(t, "is_contiguous") and not t.is_contiguous():
            raise ArgumentError(f"{where}: {what} is not contiguous; pass .contiguous() "
                                "(and keep that tensor: the step records its address)")

    # --- running ----------------------------------------------------------------

    def run(self, stream=None):
        """Launches every mixer's kernels in layer order, asynchronously, on
        `stream` (default torch.cuda.current_stream(device)). Inside
        `with salac.capture(...)` they are recorded instead."""
        from .package import _stream_handle
        if _graph.active() is None:
            stream = _stream_handle(stream, self.device)
        for m in self._mixers:
            for kernel, raw in m.launches:
                kernel.launch_raw(raw, stream)

    def capture(self):
        """A salac.Graph of the whole step (every mixer's launches); replay()
        it. The graph keeps the step (and so all its tensors) alive. Scalars
        (batch, tokens, sizes) are frozen in it: make one step per shape."""
        g = _graph.capture(self.package)
        with g:
            self.run()
        g.keep(self)
        self._graphs += 1
        return g

    def reset_workspaces(self):
        """Zeroes the workspaces that must start at zero (done at allocation;
        the kernels leave them so: needed only after a failed launch)."""
        for m in self._mixers:
            for t in m.plan.workspaces:
                if t.init == "zero":
                    m.tensors[t.name].zero_()

    # --- what is in it ----------------------------------------------------------

    def __repr__(self):
        return (f"<salac.{type(self).__name__} {self.mode} of {len(self._mixers)} mixers, batch "
                f"{self.batch}, tokens {self.tokens}, {self.num_launches} launches>")

    @property
    def layers(self):
        return [m.plan.layer for m in self._mixers]

    @property
    def num_launches(self):
        return sum(len(m.launches) for m in self._mixers)

    @property
    def plans(self):
        return {m.plan.layer: m.plan for m in self._mixers}

    def _mixer(self, layer):
        for m in self._mixers:
            if m.plan.layer == layer:
                return m
        raise ArgumentError(f"DecodeStep has no layer {layer} (layers: "
                            f"{', '.join(map(str, self.layers))})")

    def input_names(self, layer):
        return self._mixer(layer).plan.input_names

    def output(self, layer):
        """The tensor layer `layer` writes its output to."""
        m = self._mixer(layer)
        return m.tensors[m.plan.outputs[0]]

    @property
    def outputs(self):
        return {m.plan.layer: m.tensors[m.plan.outputs[0]] for m in self._mixers}

    def tensors(self, layer):
        """Every buffer of a layer by name: inputs, intermediates, workspaces."""
        return dict(self._mixer(layer).tensors)

    def sizes(self, layer):
        return dict(self._mixer(layer).sizes)

    def written(self):
        """[(layer, name, tensor)]: the caches, compressed keys and state pools
        the step writes through (what to save to run it again from the same
        point)."""
        out = []
        for m in self._mixers:
            for a in m.plan.arguments:
                if a.written:
                    out += [(m.plan.layer, b.name, m.tensors[b.name]) for b in a.buffers]
        return out

    def intermediates(self, layer):
        m = self._mixer(layer)
        return {t.name: m.tensors[t.name] for t in m.plan.intermediates}

    def workspaces(self, layer):
        m = self._mixer(layer)
        return {t.name: m.tensors[t.name] for t in m.plan.workspaces}


def _device_sms(tensors):
    """The SM count of the GPU holding `tensors`, or None (then the manifest's)."""
    for t in tensors.values():
        dev = getattr(t, "device", None)
        if dev is not None and getattr(dev, "type", None) == "cuda":
            try:
                import torch
                return torch.cuda.get_device_properties(dev).multi_processor_count
            except (ImportError, RuntimeError, AssertionError):
                return None  # not a torch device we can ask
    return None


class PrefillStep(DecodeStep):
    """Every prefill mixer of a package (compiled with --mode=prefill or
    both) over a batch of prompts, fresh or continuing a history: chunked
    linear attention, the fused KV update, selection and stage 2 for every
    new token. The same as DecodeStep(..., mode="prefill"); tokens default to
    what the first layer's tensors say (the sum of the prompts' new tokens),
    and an engine that prefills in chunks (say 8K at a time onto the cache)
    makes one step per chunk shape."""

    def __init__(self, package, layers, *, batch=None, tokens=None, sizes=None,
                 allocate=None):
        super().__init__(package, layers, batch=batch, tokens=tokens, sizes=sizes,
                         mode="prefill", allocate=allocate)
