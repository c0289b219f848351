"""Cases of the ops over ragged batches, paged caches and state pools."""

import math

from .base import (DEFAULT_TOKENS, OpCase, batch_args, cu_seqlens, page_table, poison, ragged_batch,
                   randn, row_chunks, scenario_batch, sparse_batch, torch_dtype, window_of)

# References that hold [query rows, ..., context] at once (stage 1, stage 2,
# dense attention) run over pieces of at most this many rows x longest context.
REF_ROWS_X_CONTEXT = 1 << 28


def by_rows(a, compute, rows=("query",), tables=("page_table",), budget=None):
    """compute(a) for a per-query-row reference, over row pieces of the batch
    (see row_chunks) when all rows at once would exceed the budget (rows x
    longest context, default REF_ROWS_X_CONTEXT); the pieces' results are
    stacked along the first dimension."""
    import torch
    cu, lens = a["cu_seqlens_q"].tolist(), a["seq_lens"].tolist()
    T = cu[-1]
    max_rows = max(1, (budget or REF_ROWS_X_CONTEXT) // max(lens + [1]))
    if T <= max_rows:
        return compute(a)
    out = None
    dev = a["cu_seqlens_q"].device
    for r0, r1, seqs, cu_sub, lens_sub in row_chunks(cu, lens, max_rows):
        sub = dict(a)
        for n in rows:
            sub[n] = a[n][r0:r1]
        for n in tables:
            sub[n] = a[n][torch.tensor(seqs, device=a[n].device)]
        sub["cu_seqlens_q"] = torch.tensor(cu_sub, dtype=torch.int32, device=dev)
        sub["seq_lens"] = torch.tensor(lens_sub, dtype=torch.int32, device=dev)
        part = compute(sub)
        if out is None:
            out = part.new_empty((T,) + tuple(part.shape[1:]))
        out[r0:r1] = part
    return out


class KvAppendCase(OpCase):
    op = "sala.kv_append"
    required = ("key", "value", "page_table", "cu_seqlens_q", "seq_lens")
    outputs = ("k_cache", "v_cache")
    scalars = ("tokens", "batch", "max_pages", "pages")

    def make_inputs(self, spec, sc, device, gen):
        import torch
        from .. import reference as R
        q_lens, seq_lens = scenario_batch(sc, lambda: ragged_batch(sc["tokens"], gen))
        kc = spec.param("k_cache")
        ps, kvh, d = kc.shape[1], kc.shape[2], kc.shape[3]
        table, pages = page_table(seq_lens, ps, device, gen)
        a = {"tokens": sum(q_lens), "batch": len(q_lens), "max_pages": table.shape[1],
             "pages": pages, "page_table": table, "cu_seqlens_q": cu_seqlens(q_lens, device),
             "seq_lens": torch.tensor(seq_lens, dtype=torch.int32, device=device)}
        a["key"] = randn((a["tokens"], kvh, d), spec.param("key").dtype, device, gen)
        a["value"] = randn((a["tokens"], kvh, d), spec.param("value").dtype, device, gen)
        for name in ("k_cache", "v_cache"):
            a[name] = randn((pages, ps, kvh, d), spec.param(name).dtype, device, gen)
        # Poison the rows this step writes.
        batch = R.Batch(a["cu_seqlens_q"], seq_lens)
        nan = torch.full((a["tokens"], kvh, d), float("nan"), device=device)
        R.kv_append(nan, nan, a["k_cache"], a["v_cache"], table, a["cu_seqlens_q"], batch.seq_lens)
        return a

    def reference(self, spec, a):
        from .. import reference as R
        kc, vc = a["k_cache"].clone(), a["v_cache"].clone()
        R.kv_append(a["key"], a["value"], kc, vc, a["page_table"], a["cu_seqlens_q"],
                    a["seq_lens"])
        return {"k_cache": kc, "v_cache": vc}

    def bytes_moved(self, spec, a):
        new = a["key"].nbytes + a["value"].nbytes          # read, then written
        meta = sum(a[n].nbytes for n in ("page_table", "cu_seqlens_q", "seq_lens"))
        return 2 * new + meta


class CompressKeysCase(KvAppendCase):
    op = "sala.compress_keys"
    required = ("k_cache", "page_table", "cu_seqlens_q", "seq_lens", "key_page_table")
    outputs = ("keys",)
    scalars = ("batch", "max_pages", "max_key_pages", "max_q_len", "pages", "key_pages")

    window = staticmethod(window_of)

    def unsupported(self, spec):
        if self.window(spec) is None:
            return (f"no harness support for {spec.op}: kernel size/stride are neither in "
                    "the attributes nor in the kernel name")
        return super().unsupported(spec)

    def make_inputs(self, spec, sc, device, gen):
        import torch
        from .. import reference as R
        kern, stride = self.window(spec)
        q_lens, seq_lens = scenario_batch(
            sc, lambda: ragged_batch(sc["tokens"], gen, window=(kern, stride)))
        kc, ks = spec.param("k_cache"), spec.param("keys")
        table, pages = page_table(seq_lens, kc.shape[1], device, gen)
        entries = [R.num_compressed(n, kern, stride) for n in seq_lens]
        ktable, kpages = page_table(entries, ks.shape[1], device, gen)
        a = {"batch": len(q_lens), "max_pages": table.shape[1], "pages": pages,
             "max_key_pages": ktable.shape[1], "key_pages": kpages, "max_q_len": max(q_lens),
             "page_table": table, "key_page_table": ktable,
             "cu_seqlens_q": cu_seqlens(q_lens, device),
             "seq_lens": torch.tensor(seq_lens, dtype=torch.int32, device=device),
             "k_cache": randn((pages,) + kc.shape[1:], kc.dtype, device, gen),
             "keys": randn((kpages,) + ks.shape[1:], ks.dtype, device, gen)}
        # Poison the entries whose windows this step completes.
        batch = R.Batch(a["cu_seqlens_q"], seq_lens)
        for b in range(batch.B):
            lo = R.num_compressed(batch.history(b), kern, stride)
            hi = R.num_compressed(seq_lens[b], kern, stride)
            if hi > lo:
                idx = torch.arange(lo, hi, device=device)
                R.scatter(a["keys"], ktable, b, idx,
                          torch.full((hi - lo,) + ks.shape[2:], float("nan"), device=device))
        return a

    def reference(self, spec, a):
        from .. import reference as R
        kern, stride = self.window(spec)
        keys = a["keys"].clone()
        R.compress_keys(a["k_cache"], a["page_table"], keys, a["key_page_table"],
                        a["cu_seqlens_q"], a["seq_lens"], kernel=kern, stride=stride)
        return {"keys": keys}

    def bytes_moved(self, spec, a):
        """The K rows under the new windows, read once; the new entries written."""
        from .. import reference as R
        kern, stride = self.window(spec)
        kc = spec.param("k_cache")
        row = math.prod(kc.shape[2:]) * 2
        batch = R.Batch(a["cu_seqlens_q"], a["seq_lens"])
        total = 0
        for b in range(batch.B):
            lo = R.num_compressed(batch.history(b), kern, stride)
            hi = R.num_compressed(batch.seq_lens[b], kern, stride)
            if hi > lo:
                total += (stride * (hi - 1) + kern - stride * lo) * row + (hi - lo) * row
        return total


class FusedKvUpdateCase(CompressKeysCase):
    """KV append and key compression in one kernel (sala-fuse-kv-access): the
    appended K/V rows and the entries whose windows the step completes, all
    NaN-poisoned before the launch, against kv_append then compress_keys."""
    op = "sala.fused_kv_update"
    required = ("key", "value", "page_table", "cu_seqlens_q", "seq_lens", "key_page_table")
    outputs = ("k_cache", "v_cache", "keys")
    scalars = ("tokens", "batch", "max_pages", "max_key_pages", "max_q_len", "pages",
               "key_pages")

    def make_inputs(self, spec, sc, device, gen):
        import torch
        from .. import reference as R
        a = super().make_inputs(spec, sc, device, gen)
        kc = spec.param("k_cache")
        a["tokens"] = int(a["cu_seqlens_q"][-1])
        a["key"] = randn((a["tokens"],) + kc.shape[2:], spec.param("key").dtype, device, gen)
        a["value"] = randn((a["tokens"],) + kc.shape[2:], spec.param("value").dtype, device,
                           gen)
        a["v_cache"] = randn(a["k_cache"].shape, spec.param("v_cache").dtype, device, gen)
        nan = torch.full((a["tokens"],) + kc.shape[2:], float("nan"), device=device)
        R.kv_append(nan, nan, a["k_cache"], a["v_cache"], a["page_table"], a["cu_seqlens_q"],
                    a["seq_lens"])
        return a

    def reference(self, spec, a):
        from .. import reference as R
        kern, stride = self.window(spec)
        kc, vc, keys = a["k_cache"].clone(), a["v_cache"].clone(), a["keys"].clone()
        R.kv_append(a["key"], a["value"], kc, vc, a["page_table"], a["cu_seqlens_q"],
                    a["seq_lens"])
        R.compress_keys(kc, a["page_table"], keys, a["key_page_table"], a["cu_seqlens_q"],
                        a["seq_lens"], kernel=kern, stride=stride)
        return {"k_cache": kc, "v_cache": vc, "keys": keys}

    def bytes_moved(self, spec, a):
        """New K and V read and written once; the windows' older K rows read;
        the new entries written."""
        new = a["key"].nbytes + a["value"].nbytes
        return 2 * new + super().bytes_moved(spec, a)


class LinearRecurrentCase(OpCase):
    op = "sala.linear_attention"
    required = ("query", "key", "value", "slot_ids", "cu_seqlens_q", "seq_lens")
    outputs = ("output", "state")
    inout = ("state",)
    scalars = ("tokens", "batch", "slots")

    def unsupported(self, spec):
        if spec.attributes.get("form", "recurrent") != "recurrent":
            return f"no harness support for {spec.op} (form {spec.attributes['form']})"
        return super().unsupported(spec)

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        # Decode batches, plus a small ragged multi-token batch; long prefills
        # are the chunked kernel's job.
        out = [{"tokens": t} for t in tokens if t <= 64]
        return out + [{"tokens": 13, "q_lens": (3, 1, 7, 2)}]

    def make_inputs(self, spec, sc, device, gen):
        import torch
        q = spec.param("query")
        h, d = q.shape[1], q.shape[2]
        if "seq_lens" in sc:
            q_lens, seq_lens = scenario_batch(sc, None)
        elif "q_lens" in sc:
            q_lens = list(sc["q_lens"])
            # Sequence 1 is fresh (its slot's content must be ignored).
            seq_lens = [n + (0 if i == 1 else 50 * i) for i, n in enumerate(q_lens)]
        else:
            q_lens, seq_lens = ragged_batch(sc["tokens"], gen)
        B, T = len(q_lens), sum(q_lens)
        slots = B + 3
        a = {"tokens": T, "batch": B, "slots": slots,
             "slot_ids": torch.randperm(slots, generator=gen, device=gen.device)[:B]
             .to(device=device, dtype=torch.int32),
             "cu_seqlens_q": cu_seqlens(q_lens, device),
             "seq_lens": torch.tensor(seq_lens, dtype=torch.int32, device=device),
             "state": randn((slots, h, d, d), spec.param("state").dtype, device, gen, 0.1),
             "output": torch.empty((T, h, d), dtype=torch_dtype(spec.param("output").dtype),
                                   device=device)}
        poison(a["output"])
        for n in ("query", "key", "value"):
            a[n] = randn((T, h, d), spec.param(n).dtype, device, gen)
        return a

    def reference(self, spec, a):
        from .. import reference as R
        state = a["state"].clone()
        at = spec.attributes
        o = R.linear_attention(a["query"], a["key"], a["value"], state, a["slot_ids"],
                               a["cu_seqlens_q"], form="recurrent", slopes=at.get("slopes"),
                               scale=at.get("scale"), seq_lens=a["seq_lens"])
        return {"output": o, "state": state}

    def bytes_moved(self, spec, a):
        """q, k, v read, o written; each used slot's state read and written once."""
        s = a["state"]
        slot = s[0].nbytes
        small = sum(a[n].nbytes for n in ("slot_ids", "cu_seqlens_q", "seq_lens"))
        return 4 * a["query"].nbytes + 2 * a["batch"] * slot + small


class LinearChunkedCase(LinearRecurrentCase):
    """The chunked (prefill) kernel: ragged prefills that are and are not
    multiples of the chunk, fresh and continuing sequences, then long prefills.
    The reference is the recurrent form: the two must agree.

    A kernel whose config has a `segment` chains its blocks' states through a
    workspace: its states start NaN (read only after they are written), its
    flags and ticket counter start at zero and must be zero again after every
    launch (checked as outputs). Its scenarios add sequences of one, several
    and a partial last segment, fresh and continuing, in one batch."""
    scalars = LinearRecurrentCase.scalars + ("max_q_len", "segment_rows")

    def unsupported(self, spec):
        if spec.attributes.get("form") != "chunked":
            return f"no harness support for {spec.op} (form {spec.attributes.get('form')})"
        return OpCase.unsupported(self, spec)

    @staticmethod
    def segment(spec):
        return int(spec.config.get("segment", 0))

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        out = [{"tokens": 295, "q_lens": (64, 100, 1, 130)}]
        seg = LinearChunkedCase.segment(spec)
        if seg:
            q_lens = (3 * seg + 37, 1, 2 * seg, seg + 64, 100, seg)
            out.append({"tokens": sum(q_lens), "q_lens": q_lens})
            out.append({"tokens": 17 * seg + 5, "q_lens": (17 * seg + 5,)})
        return out + [{"tokens": t} for t in tokens if t >= 4096]

    def make_inputs(self, spec, sc, device, gen):
        return chain_workspace(spec, super().make_inputs(spec, sc, device, gen), device)

    def compare_outputs(self, spec, args, ref):
        return compare_chain(super().compare_outputs(spec, args, ref), args, ref)

    def reference(self, spec, a):
        return chain_reference(super().reference(spec, a), a)


def chain_workspace(spec, a, device):
    """The chunked kernel's segment chain, for a kernel with a `segment`: the
    sizes, its states NaN-poisoned, its flags and ticket counter zero."""
    import torch
    seg = LinearChunkedCase.segment(spec)
    if not seg:
        return a
    cu = a["cu_seqlens_q"].tolist()
    a["max_q_len"] = max(cu[i + 1] - cu[i] for i in range(a["batch"]))
    a["segment_rows"] = -(-a["tokens"] // seg)
    p = spec.param("segment_states")
    a["segment_states"] = torch.empty(p.resolve_shape(a), dtype=torch_dtype(p.dtype),
                                      device=device)
    poison(a["segment_states"])
    for name in ("segment_flags", "tickets"):
        a[name] = torch.zeros(spec.param(name).resolve_shape(a), dtype=torch.int32,
                              device=device)
    return a


def compare_chain(out, args, ref):
    """The chain's flags and ticket counter, back at zero after the launch."""
    from . import compare
    for name in ("segment_flags", "tickets"):
        if name in ref:
            out[name] = compare(args[name], ref[name], "i32")
    return out


def chain_reference(ref, a):
    import torch
    if "segment_flags" in a:
        ref["segment_flags"] = torch.zeros_like(a["segment_flags"])
        ref["tickets"] = torch.zeros_like(a["tickets"])
    return ref


class FusedLinearCase(LinearRecurrentCase):
    """sala.fused_linear_attention (sala-fuse-linear): q/k RMSNorm, RoPE, the
    recurrent update, the full RMSNorm and the gate in one kernel, whichever
    of those stages the kernel has (its optional params). The reference is the
    chain of the primitive references in float64. Its workspace (scratch,
    partials) starts NaN; its counters start at zero and must be zero again
    after every launch (checked as an output)."""
    op = "sala.fused_linear_attention"
    outputs = ("output", "state", "counters")  # the kernels with the output norm
    inout = ("state", "counters")

    def unsupported(self, spec):
        if spec.attributes.get("form", "recurrent") != "recurrent":
            return f"no harness support for {spec.op} (form {spec.attributes['form']})"
        return OpCase.unsupported(self, spec)

    def before_stages(self, spec, a, device):
        """Inputs of the kernel's own that the stages' loop below must not
        draw (none here)."""
        return a

    def make_inputs(self, spec, sc, device, gen):
        import torch
        a = super().make_inputs(spec, sc, device, gen)
        T, B = a["tokens"], a["batch"]
        names = set(spec.param_names)
        a = self.before_stages(spec, a, device)
        for p in spec.pointer_params:
            if p.name in a:
                continue
            shape = p.resolve_shape(a)
            if p.name == "gate":
                a[p.name] = randn(shape, p.dtype, device, gen, 3.0)
            elif p.name.endswith("_norm_weight"):
                a[p.name] = (1.0 + 0.2 * torch.randn(shape, generator=gen, device=device)
                             ).to(torch_dtype(p.dtype))
            elif p.name == "positions":
                # Each token's position in its sequence (history + offset).
                cu = a["cu_seqlens_q"].tolist()
                lens = a["seq_lens"].tolist()
                pos = [lens[b] - (cu[b + 1] - cu[b]) + i
                       for b in range(B) for i in range(cu[b + 1] - cu[b])]
                a[p.name] = torch.tensor(pos, dtype=torch.int32, device=device)
            elif p.name == "counters":
                a[p.name] = torch.zeros(shape, dtype=torch.int32, device=device)
            else:  # scratch, partials: workspace the kernel writes before reading
                a[p.name] = torch.empty(shape, dtype=torch_dtype(p.dtype), device=device)
                poison(a[p.name])
        assert names <= set(a), f"inputs for {sorted(names - set(a))} missing"
        return a

    def reference(self, spec, a):
        import torch
        from .. import reference as R
        at = spec.attributes
        q, k = a["query"], a["key"]
        if "q_norm_weight" in a:
            eps = at.get("qk_eps", 1e-6)
            q = R.rms_norm(q, a["q_norm_weight"], eps=eps, scope="head")
            k = R.rms_norm(k, a["k_norm_weight"], eps=eps, scope="head")
        if "positions" in a:
            style, theta = at.get("rope_style", "neox"), at.get("theta", 10000.0)
            q = R.rope(q, a["positions"], theta=theta, style=style)
            k = R.rope(k, a["positions"], theta=theta, style=style)
        state = a["state"].clone()
        o = R.linear_attention(q, k, a["value"], state, a["slot_ids"], a["cu_seqlens_q"],
                               form="recurrent", slopes=at.get("slopes"),
                               scale=at.get("scale"), seq_lens=a["seq_lens"])
        if "out_norm_weight" in a:
            o = R.rms_norm(o, a["out_norm_weight"], eps=at.get("out_eps", 1e-6), scope="full")
            o = o.reshape(a["query"].shape)
        if "gate" in a:
            o = R.sigmoid_gate(o, a["gate"])
        ref = {"output": o, "state": state}
        if "counters" in a:
            ref["counters"] = torch.zeros_like(a["counters"])
        return ref

    def bytes_moved(self, spec, a):
        """The recurrent kernel's bytes, plus the gate and the weights read once;
        the workspace stays in L2 at decode sizes and is not counted."""
        extra = sum(a[n].nbytes for n in ("gate", "q_norm_weight", "k_norm_weight",
                                          "out_norm_weight", "positions") if n in a)
        return super().bytes_moved(spec, a) + extra


class FusedLinearUnnormedCase(FusedLinearCase):
    """The fused linear kernel without the output norm (a tensor-parallel
    shard: the norm spans every head, so the engine applies it after the
    all-gather). No cross-block sum, hence no counters."""
    outputs = ("output", "state")
    inout = ("state",)


class FusedLinearChunkedCase(FusedLinearUnnormedCase):
    """The chunked (prefill) kernel with the q/k norms and RoPE folded in
    (sala-fuse-linear{prefill=true}): the chunked kernel's scenarios and
    segment chain, the fused case's inputs and chain reference (the norms
    and rotation in float64, then the recurrence)."""
    scalars = LinearChunkedCase.scalars

    def unsupported(self, spec):
        if spec.attributes.get("form") != "chunked":
            return f"no harness support for {spec.op} (form {spec.attributes.get('form')})"
        return OpCase.unsupported(self, spec)

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        return LinearChunkedCase.scenarios(self, spec, tokens)

    def before_stages(self, spec, a, device):
        return chain_workspace(spec, a, device)

    def compare_outputs(self, spec, args, ref):
        return compare_chain(super().compare_outputs(spec, args, ref), args, ref)

    def reference(self, spec, a):
        return chain_reference(super().reference(spec, a), a)


def split_workspace(spec, a, splits, kv_heads, partials, device,
                    names=("splits", "split_slots"), zeroed=("counters",)):
    """Set the split count and its slot count (`names`) in `a` and allocate a
    split kernel's workspace: the `partials` buffers NaN-poisoned (the kernel
    writes them before reading), the `zeroed` ones zero (it must leave them
    zero)."""
    import torch
    a[names[0]] = splits
    a[names[1]] = a["tokens"] * kv_heads * splits if splits > 1 else 0
    for name in partials:
        p = spec.param(name)
        a[name] = torch.empty(p.resolve_shape(a), dtype=torch_dtype(p.dtype), device=device)
        poison(a[name])
    for name in zeroed:
        a[name] = torch.zeros(spec.param(name).resolve_shape(a), dtype=torch.int32,
                              device=device)
    return a


def split_count(spec, tokens, kv_heads, tiles):
    """Blocks per (token, KV group) by the kernel's own split rule (its
    manifest "config", chosen by the compiler): 1 for a kernel without one."""
    rule = spec.split_rule
    return rule.splits(tokens * kv_heads, tiles) if rule else 1


class DenseAttentionCase(OpCase):
    """Causal GQA attention over the paged cache: decode batches with contexts
    below dense_len (8192), and one 4096-token prefill. Decode batches run
    split-KV by the kernel's split rule (split_count), or the scenario's `splits`."""
    op = "sala.dense_attention"
    required = ("query", "k_cache", "v_cache", "page_table", "cu_seqlens_q", "seq_lens")
    scalars = ("tokens", "batch", "max_pages", "pages", "splits", "split_slots")

    def tiles(self, spec, a):
        return -(-max(a["seq_lens"].tolist() + [1]) // 64)

    def add_split_workspace(self, spec, sc, a, device):
        if "splits" not in spec.param_names:
            return a
        kvh = spec.param("k_cache").shape[2]
        n = int(sc.get("splits", split_count(spec, a["tokens"], kvh, self.tiles(spec, a))))
        return split_workspace(spec, a, n, kvh, ("partial_o", "partial_ml"), device)

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        return [{"tokens": t} for t in tokens if t <= 4096]  # keep the harness quick

    def batch(self, tokens, gen):
        return ragged_batch(tokens, gen, max_history=8191)

    def make_inputs(self, spec, sc, device, gen):
        import torch
        q_lens, seq_lens = scenario_batch(sc, lambda: self.batch(sc["tokens"], gen))
        kc, qp = spec.param("k_cache"), spec.param("query")
        table, pages = page_table(seq_lens, kc.shape[1], device, gen)
        T = sum(q_lens)
        a = {"tokens": T, "batch": len(q_lens), "max_pages": table.shape[1], "pages": pages,
             "page_table": table, "cu_seqlens_q": cu_seqlens(q_lens, device),
             "seq_lens": torch.tensor(seq_lens, dtype=torch.int32, device=device),
             "query": randn((T,) + qp.shape[1:], qp.dtype, device, gen),
             "k_cache": randn((pages,) + kc.shape[1:], kc.dtype, device, gen),
             "v_cache": randn((pages,) + kc.shape[1:], kc.dtype, device, gen),
             "output": torch.empty((T,) + qp.shape[1:], dtype=torch_dtype(qp.dtype),
                                   device=device)}
        poison(a["output"])
        return self.add_split_workspace(spec, sc, a, device)

    @property
    def outputs(self):  # the counters must come back to zero
        return ("output", "counters")

    def reference(self, spec, a):
        from .. import reference as R
        import torch
        out = {"counters": torch.zeros_like(a["counters"]),
               "output": by_rows(a, lambda s: R.dense_attention(
            s["query"], s["k_cache"], s["v_cache"], s["page_table"], s["cu_seqlens_q"],
            s["seq_lens"], scale=spec.attributes.get("scale")))}
        # The dense fallback of a sparse mixer skips (zeros) the sequences the
        # length_select after it takes from the sparse path.
        skip = spec.attributes.get("skip_from_seq_len")
        if skip:
            cu, lens = a["cu_seqlens_q"].tolist(), a["seq_lens"].tolist()
            for b_, n in enumerate(lens):
                if n >= skip:
                    out["output"][cu[b_]:cu[b_ + 1]] = 0
        return out

    def kv_rows(self, spec, a):
        """Cached rows per (sequence, KV group) the launch must read at least."""
        return [[n] * a["k_cache"].shape[2] for n in a["seq_lens"].tolist()]

    def bytes_moved(self, spec, a):
        """q read, o written, each needed K and V row read once (of its group)."""
        kc = a["k_cache"]
        row = kc.shape[3] * kc.element_size()
        rows = sum(sum(r) for r in self.kv_rows(spec, a))
        meta = sum(a[n].nbytes for n in ("page_table", "cu_seqlens_q", "seq_lens"))
        return 2 * a["query"].nbytes + 2 * rows * row + meta


class SparseAttentionCase(DenseAttentionCase):
    """Stage 2 over up to `selected` blocks per (token, KV group): decode
    batches with 8K-64K contexts, a 4096-token chunk continuing a 12K history;
    random valid selections (ascending, some -1). A scenario with
    local_blocks = n also selects each token's n most recent blocks, as
    topk_blocks does (the grid's scenarios)."""
    op = "sala.sparse_attention"
    required = DenseAttentionCase.required + ("blocks",)

    def batch(self, tokens, gen):
        return sparse_batch(tokens, gen)

    def tiles(self, spec, a):
        return spec.param("blocks").shape[2]

    def make_inputs(self, spec, sc, device, gen):
        import torch
        from .. import reference as R
        a = super().make_inputs(spec, sc, device, gen)
        bs = self.block_size(spec)
        T, kvh, K = spec.param("blocks").resolve_shape(a)
        nb = -(-max(a["seq_lens"].tolist()) // bs)
        cur = (R.token_positions(a["cu_seqlens_q"], a["seq_lens"], device) // bs)[:, None, None]
        r = torch.rand((T, kvh, nb), generator=gen, device=device)
        j = torch.arange(nb, device=device)
        r = r.masked_fill(j > cur, -1.0)
        r[..., 0] = 2.0  # the init block, as topk_blocks forces it
        local = int(sc.get("local_blocks", 0))
        if local:
            r = r.masked_fill((j >= cur - local + 1) & (j <= cur), 2.0)
        top = torch.topk(r, min(K, nb), dim=-1)
        drop = torch.rand(top.values.shape, generator=gen, device=device) < 0.05
        sel = torch.where((top.values < 0) | drop, nb, top.indices)
        sel = torch.sort(sel, dim=-1).values
        sel = torch.where(sel == nb, -1, sel)
        if sel.shape[-1] < K:
            sel = torch.cat([sel, sel.new_full((T, kvh, K - sel.shape[-1]), -1)], dim=-1)
        a["blocks"] = sel.to(torch.int32).contiguous()
        return a

    @staticmethod
    def block_size(spec):
        return spec.attributes.get("block_size", spec.param("k_cache").shape[1])

    def reference(self, spec, a):
        from .. import reference as R
        import torch
        return {"counters": torch.zeros_like(a["counters"]),
                "output": by_rows(a, lambda s: R.sparse_attention(
            s["query"], s["k_cache"], s["v_cache"], s["page_table"], s["blocks"],
            s["cu_seqlens_q"], s["seq_lens"], block_size=self.block_size(spec),
            scale=spec.attributes.get("scale")), rows=("query", "blocks"))}

    def kv_rows(self, spec, a):
        """Per sequence and group: rows of the union of its tokens' blocks."""
        bs, out = self.block_size(spec), []
        cu, lens = a["cu_seqlens_q"].tolist(), a["seq_lens"].tolist()
        for b, n in enumerate(lens):
            sel = a["blocks"][cu[b]:cu[b + 1]]
            per = []
            for g in range(sel.shape[1]):
                u = sel[:, g].unique()
                u = u[u >= 0]
                per.append(int((n - u * bs).clamp(max=bs).sum()) if u.numel() else 0)
            out.append(per)
        return out


def sequence_subset(a, seqs, rows=("query",), tables=("page_table",)):
    """The batch of `a` restricted to sequences `seqs` (their rows, page-table
    rows and lengths), and the row indices those rows had in `a`."""
    import torch
    cu, lens = a["cu_seqlens_q"].tolist(), a["seq_lens"].tolist()
    dev = a["cu_seqlens_q"].device
    idx = [r for b in seqs for r in range(cu[b], cu[b + 1])]
    sub, cu_sub = dict(a), [0]
    for b in seqs:
        cu_sub.append(cu_sub[-1] + cu[b + 1] - cu[b])
    for n in rows:
        sub[n] = a[n][torch.tensor(idx, dtype=torch.long, device=a[n].device)]
    for n in tables:
        sub[n] = a[n][torch.tensor(seqs, dtype=torch.long, device=a[n].device)]
    sub["cu_seqlens_q"] = torch.tensor(cu_sub, dtype=torch.int32, device=dev)
    sub["seq_lens"] = torch.tensor([lens[b] for b in seqs], dtype=torch.int32, device=dev)
    return sub, idx


class FusedSparseAttentionCase(SparseAttentionCase):
    """Stage 2 with the dense fallback and the output gate in one kernel
    (sala-fuse-sparse-attention): a sequence shorter than dense_len attends
    to every cached token, a longer one to its selected blocks; gated, the
    result is times sigmoid(gate). Batches mix both sides of dense_len, and
    the selections of the short sequences' rows are poisoned (the kernel must
    not read them)."""
    op = "sala.fused_sparse_attention"

    @staticmethod
    def dense_len(spec):
        return int(spec.attributes.get("dense_len", 0))

    def batch(self, tokens, gen):
        import torch
        dl = 8192  # the model's dense_len; scenario() lengths cover others
        if tokens <= 64:
            n = torch.randint(1, 8 * dl, (tokens,), generator=gen, device=gen.device).tolist()
            n[0] = dl - 1                       # one sequence each side, at the edge
            if tokens > 1:
                n[1] = dl
            return [1] * tokens, n
        half = tokens // 2                      # a fresh (dense) and a continuing chunk
        return [half, tokens - half], [half, tokens - half + 12288]

    def is_dense(self, spec, a):
        dl = self.dense_len(spec)
        return [dl > 0 and n < dl for n in a["seq_lens"].tolist()]

    def tiles(self, spec, a):
        K = spec.param("blocks").shape[2]
        return max([-(-n // 64) if d else K
                    for n, d in zip(a["seq_lens"].tolist(), self.is_dense(spec, a))] + [1])

    def make_inputs(self, spec, sc, device, gen):
        a = super().make_inputs(spec, sc, device, gen)
        cu = a["cu_seqlens_q"].tolist()
        for b, d in enumerate(self.is_dense(spec, a)):
            if d:  # read as a selection, these would attend to nothing
                a["blocks"][cu[b]:cu[b + 1]] = 0x3FFFFFFF
        if "gate" in spec.param_names:
            p = spec.param("gate")
            a["gate"] = randn(p.resolve_shape(a), p.dtype, device, gen, 3.0)
        return a

    def reference(self, spec, a):
        from .. import reference as R
        import torch
        dense = self.is_dense(spec, a)
        out = None
        for want in (True, False):
            seqs = [b for b, d in enumerate(dense) if d == want]
            if not seqs:
                continue
            sub, idx = sequence_subset(a, seqs, rows=("query", "blocks"))
            if want:
                part = by_rows(sub, lambda s: R.dense_attention(
                    s["query"], s["k_cache"], s["v_cache"], s["page_table"], s["cu_seqlens_q"],
                    s["seq_lens"], scale=spec.attributes.get("scale")))
            else:
                part = by_rows(sub, lambda s: R.sparse_attention(
                    s["query"], s["k_cache"], s["v_cache"], s["page_table"], s["blocks"],
                    s["cu_seqlens_q"], s["seq_lens"], block_size=self.block_size(spec),
                    scale=spec.attributes.get("scale")), rows=("query", "blocks"))
            if out is None:
                out = part.new_zeros((a["query"].shape[0],) + tuple(part.shape[1:]))
            out[torch.tensor(idx, dtype=torch.long, device=out.device)] = part
        if "gate" in a:
            out = R.sigmoid_gate(out, a["gate"])
        return {"counters": torch.zeros_like(a["counters"]), "output": out}

    def kv_rows(self, spec, a):
        """Per sequence and group: every cached row for a short sequence, the
        union of its tokens' blocks for a long one."""
        sparse = super().kv_rows(spec, a)
        kvh = a["k_cache"].shape[2]
        return [[n] * kvh if d else r for n, d, r in
                zip(a["seq_lens"].tolist(), self.is_dense(spec, a), sparse)]

    def bytes_moved(self, spec, a):
        return super().bytes_moved(spec, a) + (a["gate"].nbytes if "gate" in a else 0)


class BlockScoresCase(OpCase):
    """Stage 1 (exact softmax): scores of every block from the compressed keys.
    A scenario's query_scale scales the queries (near-uniform attention)."""
    op = "sala.block_scores"
    required = ("query", "keys", "key_page_table", "cu_seqlens_q", "seq_lens")
    scalars = ("tokens", "batch", "max_key_pages", "key_pages", "max_blocks", "splits",
               "split_slots")
    SPLIT_ENTRIES = 512  # compressed keys per split chosen here (the kernel takes up to 2048)

    @property
    def outputs(self):  # the counters must come back to zero
        return ("scores", "counters")

    def unsupported(self, spec):
        if window_of(spec) is None:
            return (f"no harness support for {spec.op}: kernel size/stride are neither in "
                    "the attributes nor in the kernel name")
        return super().unsupported(spec)

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        return [{"tokens": t} for t in tokens if t <= 4096]

    def stage1_inputs(self, spec, sc, device, gen):
        """Queries, compressed keys and their page table for a batch."""
        from .. import reference as R
        kern, stride = window_of(spec)
        bs = spec.attributes.get("block_size", 64)
        q_lens, seq_lens = scenario_batch(sc, lambda: sparse_batch(sc["tokens"], gen))
        ks, qp = spec.param("keys"), spec.param("query")
        ktable, kpages = page_table([R.num_compressed(n, kern, stride) for n in seq_lens],
                                    ks.shape[1], device, gen)
        a = batch_args(q_lens, seq_lens, device)
        T = a["tokens"]
        a.update(max_key_pages=ktable.shape[1], key_pages=kpages, key_page_table=ktable,
                 max_blocks=max(-(-n // bs) for n in seq_lens),
                 query=randn((T,) + qp.shape[1:], qp.dtype, device, gen,
                             sc.get("query_scale", 1.0)),
                 keys=randn((kpages,) + ks.shape[1:], ks.dtype, device, gen))
        return a

    def decode_splits(self, spec, sc, a, per_split):
        """Split count for a batch: enough that each split covers at most
        per_split visible entries for decode batches, 1 for prefill; or the
        scenario's `splits`."""
        from .. import reference as R
        kern, stride = window_of(spec)
        entries = max(R.num_compressed(n, kern, stride) for n in a["seq_lens"].tolist())
        return max(1, int(sc.get("splits", -(-entries // per_split) if a["tokens"] <= 64
                                 else 1)))

    def make_inputs(self, spec, sc, device, gen):
        import torch
        a = self.stage1_inputs(spec, sc, device, gen)
        a["scores"] = torch.empty(spec.param("scores").resolve_shape(a), device=device,
                                  dtype=torch_dtype(spec.param("scores").dtype))
        poison(a["scores"])
        # Split stage 1 for decode batches: enough splits that each covers at
        # most SPLIT_ENTRIES visible entries; prefill runs one block each.
        return split_workspace(spec, a, self.decode_splits(spec, sc, a, self.SPLIT_ENTRIES),
                               spec.param("keys").shape[2], ("partial_scores", "partial_stats"),
                               device)

    def reference_scores(self, spec, a):
        """The float64 block scores of the batch."""
        import torch
        from .. import reference as R
        at, (kern, stride) = spec.attributes, window_of(spec)
        return by_rows(a, lambda s: R.block_scores(
            s["query"], s["keys"], s["key_page_table"], s["cu_seqlens_q"], s["seq_lens"],
            kernel=kern, stride=stride, block_size=at.get("block_size", 64),
            pool_kernel=at.get("pool_kernel", 5), pool_stride=at.get("pool_stride"),
            pool_padding=at.get("pool_padding", 1), scale=at.get("scale"),
            num_blocks=a["max_blocks"], dtype=torch.float64), tables=("key_page_table",))

    def reference(self, spec, a):
        import torch
        return {"counters": torch.zeros_like(a["counters"]),
                "scores": self.reference_scores(spec, a)}

    def bytes_moved(self, spec, a):
        from .. import reference as R
        kern, stride = window_of(spec)
        ks = a["keys"]
        entry = ks[0, 0].nbytes
        ents = sum(R.num_compressed(n, kern, stride) for n in a["seq_lens"].tolist())
        meta = sum(a[n].nbytes for n in ("key_page_table", "cu_seqlens_q", "seq_lens"))
        return a["query"].nbytes + ents * entry + a["scores"].nbytes + meta


class TopkBlocksCase(OpCase):
    """Top-k over block scores quantised to 1/8 (many ties), -inf past each
    query's block and for a few blocks that saw nothing."""
    op = "sala.topk_blocks"
    required = ("scores", "cu_seqlens_q", "seq_lens")
    outputs = ("blocks",)
    scalars = ("tokens", "batch", "max_blocks")

    def scenarios(self, spec, tokens=DEFAULT_TOKENS):
        return [{"tokens": t} for t in tokens if t <= 4096]

    def make_inputs(self, spec, sc, device, gen):
        import torch
        from .. import reference as R
        bs = spec.attributes.get("block_size", 64)
        q_lens, seq_lens = scenario_batch(sc, lambda: sparse_batch(sc["tokens"], gen))
        a = batch_args(q_lens, seq_lens, device)
        T, kvh = a["tokens"], spec.param("scores").shape[1]
        nb = a["max_blocks"] = max(-(-n // bs) for n in seq_lens)
        s = torch.floor(torch.rand((T, kvh, nb), generator=gen, device=device) * 128) / 8
        s = s.masked_fill(torch.rand((T, kvh, nb), generator=gen, device=device) < 0.05,
                          float("-inf"))
        cur = (R.token_positions(a["cu_seqlens_q"], a["seq_lens"], device) // bs)
        j = torch.arange(nb, device=device)
        a["scores"] = s.masked_fill(j[None, None, :] > cur[:, None, None], float("-inf"))
        a["blocks"] = torch.empty(spec.param("blocks").resolve_shape(a), dtype=torch.int32,
                                  device=device)
        poison(a["blocks"])
        return a

    def reference(self, spec, a):
        from .. import reference as R
        at = spec.attributes
        K = spec.param("blocks").shape[2]
        local = at.get("local_blocks", 32)
        return {"blocks": R.topk_blocks(a["scores"], a["cu_seqlens_q"], a["seq_lens"],
                                        block_size=at.get("block_size", 64),
                                        topk=at.get("topk", K - local),
                                        init_blocks=at.get("init_blocks", 1),
                                        local_blocks=local)}


class FusedSparseSelectCase(BlockScoresCase):
    """Stage 1, max-pool, forcing and top-k in one kernel (sala-fuse-sparse-
    select): the selected blocks against the top-k of the float64 block
    scores. A row that differs only by swapping blocks whose reference scores
    are tied within 1e-5 (relative) at the selection boundary is counted as a
    tie (grid.classify_selection); any other difference fails. Decode batches
    split each (token, KV group) into parts of at most 512 compressed keys
    (select_splits), prefill runs one part; the counters and tickets must come
    back to zero."""
    op = "sala.fused_sparse_select"
    scalars = ("tokens", "batch", "max_key_pages", "key_pages", "max_blocks",
               "select_splits", "select_slots")
    outputs = ("blocks", "counters", "tickets")
    PART_ENTRIES = 512

    def make_inputs(self, spec, sc, device, gen):
        import torch
        a = self.stage1_inputs(spec, sc, device, gen)
        bp = spec.param("blocks")
        a["blocks"] = torch.empty(bp.resolve_shape(a), dtype=torch.int32, device=device)
        poison(a["blocks"])
        return split_workspace(spec, a, self.decode_splits(spec, sc, a, self.PART_ENTRIES),
                               spec.param("keys").shape[2],
                               ("partial_scores", "partial_stats", "candidates"), device,
                               names=("select_splits", "select_slots"),
                               zeroed=("counters", "tickets"))

    def selection_attributes(self, spec):
        at = spec.attributes
        K = spec.param("blocks").shape[2]
        local = at.get("local_blocks", 32)
        return dict(block_size=at.get("block_size", 64), topk=at.get("topk", K - local),
                    init_blocks=at.get("init_blocks", 1), local_blocks=local)

    def reference(self, spec, a):
        import torch
        from .. import reference as R
        scores = self.reference_scores(spec, a)
        blocks = R.topk_blocks(scores, a["cu_seqlens_q"], a["seq_lens"],
                               **self.selection_attributes(spec))
        # Specialised for a stage 2 with a dense fallback, the kernel skips
        # the sequences below it: their rows must stay as poisoned.
        skip = spec.attributes.get("skip_below_seq_len")
        if skip:
            cu = a["cu_seqlens_q"].tolist()
            for b_, n in enumerate(a["seq_lens"].tolist()):
                if n < skip:
                    poison(blocks[cu[b_]:cu[b_ + 1]])
        return {"counters": torch.zeros_like(a["counters"]),
                "tickets": torch.zeros_like(a["tickets"]),
                "scores": scores,  # not an output: what ties are judged by
                "blocks": blocks}

    def compare_outputs(self, spec, args, ref):
        from . import compare
        from .grid import classify_selection
        from .. import reference as R
        out = {o: compare(args[o], ref[o], "i32") for o in ("counters", "tickets")}
        kw = self.selection_attributes(spec)
        pos = R.token_positions(args["cu_seqlens_q"], args["seq_lens"], args["blocks"].device)
        st = classify_selection(args["blocks"], ref["blocks"], ref["scores"], None, pos,
                                block_size=kw["block_size"], init_blocks=kw["init_blocks"],
                                local_blocks=kw["local_blocks"])
        frac = st["mismatch"] / max(st["rows"], 1)
        out["blocks"] = {"norm": frac, "elem": frac, "pass": st["mismatch"] == 0, "tol": 0.0,
                         "nonfinite": 0, "selection": st}
        return out

    def bytes_moved(self, spec, a):
        from .. import reference as R
        kern, stride = window_of(spec)
        entry = a["keys"][0, 0].nbytes
        ents = sum(R.num_compressed(n, kern, stride) for n in a["seq_lens"].tolist())
        meta = sum(a[n].nbytes for n in ("key_page_table", "cu_seqlens_q", "seq_lens"))
        return a["query"].nbytes + ents * entry + a["blocks"].nbytes + meta


class LengthSelectCase(OpCase):
    """Rows per sequence from short_value or long_value by seq_len < threshold;
    lengths drawn on both sides of the threshold."""
    op = "sala.length_select"
    required = ("short_value", "long_value", "cu_seqlens_q", "seq_lens")
    scalars = ("tokens", "batch")

    def make_inputs(self, spec, sc, device, gen):
        import torch
        thr = int(spec.attributes.get("threshold", 8192))
        if "seq_lens" in sc:
            q_lens, seq_lens = scenario_batch(sc, None)
        else:
            q_lens, _ = ragged_batch(sc["tokens"], gen)
            hist = torch.randint(0, 2 * thr, (len(q_lens),), generator=gen, device=gen.device)
            seq_lens = [q + h for q, h in zip(q_lens, hist.tolist())]
        a = batch_args(q_lens, seq_lens, device)
        for n in ("short_value", "long_value"):
            p = spec.param(n)
            a[n] = randn(p.resolve_shape(a), p.dtype, device, gen)
        p = spec.param("output")
        a["output"] = torch.empty(p.resolve_shape(a), dtype=torch_dtype(p.dtype), device=device)
        poison(a["output"])
        return a

    def reference(self, spec, a):
        from .. import reference as R
        return {"output": R.length_select(a["short_value"], a["long_value"], a["cu_seqlens_q"],
                                          a["seq_lens"], int(spec.attributes.get("threshold",
                                                                                 8192)))}

    def bytes_moved(self, spec, a):
        """Each row read from one of the two inputs, written once."""
        meta = a["cu_seqlens_q"].nbytes + a["seq_lens"].nbytes
        return 2 * a["output"].nbytes + meta
