"""The harness's "step" section: a whole decode step -- every mixer of the
package, from the manifest's "mixers" section -- through salac.DecodeStep,
eagerly and as one captured CUDA graph.

Per batch size (one new token per sequence, 4K..8K tokens already cached by
default):
  1. per-layer inputs: random q, k, v, gate and norm weights; for the sparse
     layers, KV caches of random keys/values in pages shuffled across the
     pool and the compressed keys of that history (salac.reference); for the
     linear layers, a state pool of random slots; the batch metadata (page
     tables, cu_seqlens_q, seq_lens, positions) shared as a model would;
  2. for several rounds of fresh inputs: the caches, compressed keys and
     states restored, intermediates NaN-poisoned, the step run eagerly; then
     restored again and the captured graph replayed; every layer's output and
     every cache/state the step writes must agree bit for bit (the capture
     itself must run nothing);
  3. every layer's output, and what it wrote, against the float64 reference
     chain (salac.reference: the sparse mixer; the linear chain q/k RMSNorm,
     RoPE, recurrent linear attention, full RMSNorm, gate);
  4. eager (step.run(), the launches from Python) and replay timed with CUDA
     events (median): one line per batch, microseconds per step.
"""

import math
import statistics

import salac
from salac import opcases
from salac.opcases.base import page_table as make_page_table
from salac.opcases.base import randn

# Norm-wise tolerances (max|out - ref| / max|ref|): bf16 outputs 1e-2 as the
# per-kernel checks; a linear layer whose chain runs unfused rounds every
# intermediate to bf16 (2^-6, as salac run); the state of a fused layer is
# f32 (1e-4), of an unfused one as good as its bf16 q/k (2^-6).
TOL_BF16, TOL_ROUNDED, TOL_STATE = 1e-2, 2.0 ** -6, 1e-4


def event_us(torch, fn, n, reps):
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e3 / n)
    return statistics.median(times)


def bits_equal(torch, a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(a.contiguous().reshape(-1).view(torch.uint8),
                       b.contiguous().reshape(-1).view(torch.uint8))


def attributes_by_op(pkg, plan):
    """{op: attributes} of the kernels a mixer launches (the first of each op)."""
    out = {}
    for launch in plan.launches:
        out.setdefault(launch.op, dict(pkg.kernel(launch.kernel).attributes))
    return out


class StepInputs:
    """Every layer's tensors for one decode step of `batch` sequences."""

    def __init__(self, torch, pkg, plans, batch, contexts, device, gen):
        self.torch, self.pkg, self.plans, self.device, self.gen = torch, pkg, plans, device, gen
        lo, hi = contexts
        r = torch.randint(lo, hi, (batch,), generator=gen, device=gen.device)
        self.history = r.tolist()
        self.seq_lens_list = [n + 1 for n in self.history]
        i32 = torch.int32
        self.B = batch
        self.cu = torch.arange(batch + 1, dtype=i32, device=device)
        self.seq_lens = torch.tensor(self.seq_lens_list, dtype=i32, device=device)
        self.positions = (self.seq_lens - 1).to(i32)
        self.layers = {}
        self.fresh_names = {}       # per layer: inputs redrawn every round
        self.tables = {}            # shared page tables by page size
        for p in plans:
            self.layers[p.layer] = self._layer(p)

    def _table(self, page_size, entries):
        key = (page_size, tuple(entries))
        if key not in self.tables:
            self.tables[key] = make_page_table(entries, page_size, self.device, self.gen)
        return self.tables[key]

    def _layer(self, plan):
        torch, dev, gen, B = self.torch, self.device, self.gen, self.B
        d, fresh = {}, []
        by_type = {a.type: a for a in plan.arguments}
        kv, ck, st = (by_type.get(t) for t in ("kv_cache", "compressed_keys", "state_pool"))
        for a in plan.arguments:
            for b in a.buffers:
                n = b.name
                if n == "cu_seqlens_q":
                    d[n] = self.cu
                elif n == "seq_lens":
                    d[n] = self.seq_lens
                elif n == "positions":
                    d[n] = self.positions
                elif a.type == "tensor" and b.shape and b.shape[0] == "tokens":
                    shape = (B,) + tuple(b.shape[1:])
                    d[n] = randn(shape, b.dtype, dev, gen, 3.0 if n == "gate" else 1.0)
                    fresh.append(n)
                elif n.endswith("norm_weight"):
                    d[n] = (1.0 + 0.2 * torch.randn(tuple(b.shape), generator=gen, device=dev)
                            ).to(opcases.torch_dtype(b.dtype))
        d.update(cache_and_state_inputs(torch, kv, ck, st, self.history, self.seq_lens_list,
                                        self._table, dev, gen))
        missing = [n for n in plan.input_names if n not in d]
        if missing:
            raise RuntimeError(f"{plan.name}: the step section does not know how to make "
                               f"{', '.join(missing)}")
        self.fresh_names[plan.layer] = fresh
        return {n: d[n] for n in plan.input_names}

    def redraw(self):
        """New q, k, v, gate in place (the step holds their addresses)."""
        for layer, names in self.fresh_names.items():
            for n in names:
                t = self.layers[layer][n]
                t.copy_(randn(tuple(t.shape), "f32", self.device, self.gen,
                              3.0 if n == "gate" else 1.0).to(t.dtype))


def cache_and_state_inputs(torch, kv, ck, st, histories, lengths, table, device, gen):
    """A mixer's caches and pools for sequences of `lengths` tokens after the
    step, of which `histories` are cached: KV pages of random keys and values
    (table(page_size, entries) -> (page table, pages in pool)), the
    compressed keys of each history (salac.reference), a state pool of random
    slots; for the mixer's arguments kv, ck, st (None: absent)."""
    from salac import reference as R
    d, B = {}, len(histories)
    if kv is not None:
        ps, kvh, hd = (kv.parameters[k] for k in ("page_size", "kv_heads", "head_dim"))
        tab, pages = table(ps, lengths)
        d["page_table"] = tab
        for b in kv.buffers:
            d[b.name] = randn((pages, ps, kvh, hd), b.dtype, device, gen)
        if ck is not None:
            kern, stride, kps = (ck.parameters[k] for k in
                                 ("kernel_size", "kernel_stride", "page_size"))
            ktab, kpages = table(kps, [R.num_compressed(n, kern, stride) for n in lengths])
            d["key_page_table"] = ktab
            keys = randn((kpages, kps, kvh, hd), ck.buffers[0].dtype, device, gen)
            k_cache = d[kv.buffers[0].name]
            for s, n in enumerate(histories):   # the histories' entries
                m = R.num_compressed(n, kern, stride)
                if m:
                    rows = R.gather(k_cache, tab, s, n)
                    means = R.compress_keys_from_scratch(rows, kern, stride)[:m]
                    R.scatter(keys, ktab, s, torch.arange(m, device=device), means)
            d[ck.buffers[0].name] = keys
    if st is not None:
        h, hd = st.parameters["heads"], st.parameters["head_dim"]
        slots = B + 3
        d[st.buffers[0].name] = randn((slots, h, hd, hd), st.buffers[0].dtype, device, gen, 0.1)
        d["slot_ids"] = torch.randperm(slots, generator=gen, device=gen.device)[:B] \
            .to(device=device, dtype=torch.int32)
    return d


def tie_aware_selection(torch, kernel_sel, inputs, stats, *, block_size, init_blocks,
                        local_blocks, dense_len):
    """R.sparse_mixer's choose_selection for a check of the kernel's
    selection kernel_sel ([T, G, K] int32, as the step left it): its rows
    are classified against the reference's (opcases.grid.classify_selection,
    counts merged into `stats`); when every differing row differs only
    between blocks whose float64 scores tie within rounding, stage 2's
    reference attends over the kernel's blocks, else over its own (and the
    output check reports the difference). Rows of sequences shorter than
    dense_len take the dense path and may be left unwritten by a selection
    specialised on it: they are the reference's."""
    from salac import reference as R
    from salac.opcases import grid

    def choose(scores, ref_sel):
        ksel = kernel_sel.to(device=ref_sel.device, dtype=ref_sel.dtype).clone()
        cu = inputs["cu_seqlens_q"].to(ref_sel.device).long()
        lens = inputs["seq_lens"].to(ref_sel.device).long()
        short = torch.repeat_interleave(lens, cu[1:] - cu[:-1]) < dense_len
        ksel[short] = ref_sel[short]
        pos = R.token_positions(inputs["cu_seqlens_q"], inputs["seq_lens"], ref_sel.device)
        st = grid.classify_selection(ksel, ref_sel, scores, None, pos, block_size=block_size,
                                     init_blocks=init_blocks, local_blocks=local_blocks)
        grid.merge_selection_stats(stats, st)
        return ksel if st["mismatch"] == 0 else ref_sel
    return choose


def reference_layer(torch, pkg, plan, inputs, written_before, kernel_selection=None,
                    selection_stats=None):
    """{name: (expected, tolerance)} for a layer's output and what it writes,
    from its inputs and its caches/state before the step. For a sparse layer
    with kernel_selection (the selection the step's kernel made), stage 2's
    reference attends over it where it differs from the reference's only at
    ties (tie_aware_selection; counts in selection_stats)."""
    from salac import reference as R
    at = attributes_by_op(pkg, plan)
    a = dict(inputs)
    a.update({n: t.clone() for n, t in written_before.items()})
    if plan.kind == "linear":
        fused = "sala.fused_linear_attention" in at
        f = at.get("sala.fused_linear_attention", {})
        lin = at.get("sala.linear_attention", {})
        norm = at.get("sala.rms_norm", {})
        rope = at.get("sala.rope", {})
        qk_eps = f.get("qk_eps", norm.get("eps", 1e-6))
        out_eps = f.get("out_eps", norm.get("eps", 1e-6))
        theta = f.get("theta", rope.get("theta", 10000.0))
        style = f.get("rope_style", rope.get("style", "neox"))
        slopes = f.get("slopes", lin.get("slopes"))
        scale = f.get("scale", lin.get("scale"))
        q, k = a["query"], a["key"]
        if "q_norm_weight" in a:
            q = R.rms_norm(q, a["q_norm_weight"], eps=qk_eps, scope="head")
            k = R.rms_norm(k, a["k_norm_weight"], eps=qk_eps, scope="head")
        if "positions" in a:
            q = R.rope(q, a["positions"], theta=theta, style=style)
            k = R.rope(k, a["positions"], theta=theta, style=style)
        state = a["state"]
        o = R.linear_attention(q, k, a["value"], state, a["slot_ids"], a["cu_seqlens_q"],
                               form="recurrent", slopes=slopes, scale=scale,
                               seq_lens=a["seq_lens"])
        if "out_norm_weight" in a:
            o = R.rms_norm(o, a["out_norm_weight"], eps=out_eps, scope="full")
            o = o.reshape(a["query"].shape)
        if "gate" in a:
            o = R.sigmoid_gate(o, a["gate"])
        tol = TOL_BF16 if fused else TOL_ROUNDED
        return {"output": (o, tol), "state": (state, TOL_STATE if fused else TOL_ROUNDED)}
    if plan.kind == "sparse":
        ck = next(x for x in plan.arguments if x.type == "compressed_keys").parameters
        # Stage 1's and top-k's attributes: of their kernels, or of the fused
        # selection, which carries both.
        fs = at.get("sala.fused_sparse_select", {})
        bs = at.get("sala.block_scores", fs)
        tk = at.get("sala.topk_blocks", fs)
        ls = at.get("sala.length_select", {})
        fa = at.get("sala.fused_sparse_attention", {})
        block = tk.get("block_size", bs.get("block_size", 64))
        dense_len = fa.get("dense_len", ls.get("threshold", 8192))
        choose = None
        if kernel_selection is not None:
            choose = tie_aware_selection(
                torch, kernel_selection, a, selection_stats if selection_stats is not None else {},
                block_size=block, init_blocks=tk.get("init_blocks", 1),
                local_blocks=tk.get("local_blocks", 32), dense_len=dense_len)
        o = R.sparse_mixer(
            a["query"], a["key"], a["value"], a.get("gate"), a["k_cache"], a["v_cache"],
            a["page_table"], a["keys"], a["key_page_table"], a["cu_seqlens_q"],
            a["seq_lens"], kernel1=ck["kernel_size"], stride1=ck["kernel_stride"],
            block_size=block, topk=tk.get("topk", 64),
            window_size=tk.get("local_blocks", 32) * block,
            init_blocks=tk.get("init_blocks", 1), dense_len=dense_len,
            pool_kernel=bs.get("pool_kernel", 5), pool_padding=bs.get("pool_padding", 1),
            scale=bs.get("scale"), choose_selection=choose)
        # kv_append copies rows (exact); compressed keys are means (bf16 rounding).
        return {"output": (o, TOL_BF16), "k_cache": (a["k_cache"], 0.0),
                "v_cache": (a["v_cache"], 0.0), "keys": (a["keys"], TOL_BF16)}
    return {}


def compare(torch, got, ref, tol):
    if tol == 0.0:
        ok = bits_equal(torch, got, ref.to(got.dtype))
        return {"pass": ok, "norm": 0.0 if ok else float("nan")}
    r = opcases.compare(got, ref, "bf16")
    ok = r["nonfinite"] == 0 and math.isfinite(r["norm"]) and r["norm"] <= tol
    return {"pass": ok, "norm": r["norm"]}


def step_case(torch, pkg, plans, batch, a, device, gen, timed=True):
    row = {"section": "step", "batch": batch, "pass": False, "problems": []}
    problems = row["problems"]
    lo, hi = (int(x) for x in a.step_contexts.split(","))
    inp = StepInputs(torch, pkg, plans, batch, (lo, hi), device, gen)
    # Every size the manifest leaves to the step (splits: its split-KV rule)
    # is chosen by DecodeStep; the row records what it chose.
    step = salac.DecodeStep(pkg, inp.layers, batch=batch)
    chosen = {n: v for lay in step.layers for n, v in step.sizes(lay).items()
              if n in ("splits", "select_splits")}
    row.update(mixers=len(plans), launches=step.num_launches, sizes=chosen,
               contexts=[min(inp.history), max(inp.history)])
    written = step.written()
    outputs = step.outputs
    temps = {(lay, n): t for lay in step.layers for n, t in step.intermediates(lay).items()}
    # Each sparse layer's selection (the fused or the top-k kernel's result):
    # the reference check compares over it where it differs only at ties.
    selections = {p.layer: t.name for p in plans for t in p.intermediates
                  if t.op in ("sala.fused_sparse_select", "sala.topk_blocks")}

    def save():
        return {(lay, n): t.clone() for lay, n, t in written}

    def restore(saved):
        for lay, n, t in written:
            t.copy_(saved[(lay, n)])
        for t in temps.values():
            opcases.poison(t)

    def snapshot():
        out = {(lay, "output"): t.clone() for lay, t in outputs.items()}
        out.update({(lay, n): t.clone() for lay, n, t in written})
        return out

    saved = save()
    restore(saved)
    torch.cuda.synchronize()
    before = snapshot()
    g = step.capture()
    torch.cuda.synchronize()
    row["nodes"] = g.num_nodes
    if not all(bits_equal(torch, before[k], v) for k, v in snapshot().items()):
        problems.append("the capture ran kernels (outputs or caches changed during it)")

    exact = 0
    for r in range(a.step_rounds):
        if r:
            inp.redraw()
            saved = save()
        restore(saved)
        step.run()
        torch.cuda.synchronize()
        eager = snapshot()
        kernel_sel = {lay: temps[(lay, n)].clone() for lay, n in selections.items()}
        restore(saved)
        g.replay()
        torch.cuda.synchronize()
        replay = snapshot()
        diff = [f"layer {lay} {n}" for (lay, n) in eager
                if not bits_equal(torch, eager[(lay, n)], replay[(lay, n)])]
        unwritten = [f"layer {lay}" for (lay, n), t in eager.items()
                     if n == "output" and not torch.isfinite(t).all()]
        if diff:
            problems.append(f"round {r}: replay differs from eager in "
                            f"{', '.join(diff[:6])}" + (" ..." if len(diff) > 6 else ""))
        if unwritten:
            problems.append(f"round {r}: non-finite output in {', '.join(unwritten[:6])}")
        exact += not diff and not unwritten

        if r == 0:  # every layer against the reference, from this round's start
            worst, checked, sel_stats = {}, {}, {}
            for p in plans:
                before_l = {n: saved[(p.layer, n)] for (lay, n) in saved if lay == p.layer}
                refs = reference_layer(torch, pkg, p, inp.layers[p.layer], before_l,
                                       kernel_sel.get(p.layer), sel_stats)
                for name, (ref, tol) in refs.items():
                    got = eager[(p.layer, name)]
                    res = compare(torch, got, ref, tol)
                    if not res["pass"]:
                        problems.append(f"layer {p.layer} ({p.kind}) {name}: error "
                                        f"{res['norm']:.2e} > {tol:.1e} against the "
                                        "reference")
                    if name == "output" and math.isfinite(res["norm"]):
                        worst[p.kind] = max(worst.get(p.kind, 0.0), res["norm"])
                if refs:
                    checked[p.kind] = checked.get(p.kind, 0) + 1
                torch.cuda.empty_cache()
            row["reference_layers"] = checked
            row["reference_worst"] = worst
            if sel_stats:
                row["selection"] = {k: sel_stats[k] for k in
                                    ("rows", "exact", "tie_explained", "mismatch",
                                     "max_tie_gap")}
                if sel_stats["mismatch"]:
                    problems.append(f"{sel_stats['mismatch']} selection rows differ from the "
                                    "reference beyond tied scores, e.g. "
                                    f"{sel_stats['examples'][:2]}")
    row["bit_exact_rounds"] = f"{exact}/{a.step_rounds}"

    if timed:
        n = 20
        for _ in range(3):
            step.run()
            g.replay()
        torch.cuda.synchronize()
        row["eager_us"] = event_us(torch, step.run, n, a.reps)
        row["replay_us"] = event_us(torch, g.replay, n, a.reps)
        row["speedup"] = row["eager_us"] / row["replay_us"] if row["replay_us"] else None
    g.close()
    row["pass"] = not problems
    return row


def step_section(torch, pkg, a, device, gen):
    """Returns (rows, failures)."""
    print("\n== step: salac.DecodeStep, every decode mixer of the package, eager vs "
          "one captured graph", flush=True)
    plans = pkg.manifest.mixers_for("decode")
    if not plans:
        why = ("the manifest has no decode mixers (a package from before the \"mixers\" "
               "section, or compiled without --mode=decode): recompile it")
        print(f"step: skipped ({why})")
        return [{"section": "step", "status": f"skipped ({why})"}], 0
    kinds = [p.kind for p in plans]
    print(f"step: {len(plans)} mixers ({kinds.count('sparse')} sparse, "
          f"{kinds.count('linear')} linear), contexts {a.step_contexts} cached tokens, "
          f"{a.step_rounds} rounds", flush=True)
    rows, failed = [], 0
    for batch in [int(b) for b in a.step_batches.split(",") if b]:
        try:
            row = step_case(torch, pkg, plans, batch, a, device, gen, timed=not a.no_time)
        except Exception as e:  # report, keep going
            row = {"section": "step", "batch": batch, "pass": False,
                   "problems": [f"{type(e).__name__}: {e}"]}
            try:
                torch.cuda.synchronize()
            except Exception as e2:  # a sticky CUDA error: the rest cannot run
                row["problems"].append(f"then {type(e2).__name__}: {e2}")
                rows.append(dict(row, status="FAIL"))
                print(f"step batch={batch}: FAIL", flush=True)
                for p in row["problems"]:
                    print(f"  {p}", flush=True)
                return rows, failed + 1
        row["status"] = "pass" if row["pass"] else "FAIL"
        failed += not row["pass"]
        rows.append(row)
        line = f"step batch={batch}: {row['status']}"
        if "nodes" in row:
            ref = row.get("reference_layers", {})
            worst = row.get("reference_worst", {})
            line += (f" {row['mixers']} mixers, {row['launches']} launches "
                     f"({row['nodes']} graph nodes), bit-exact {row['bit_exact_rounds']} "
                     f"rounds, reference {ref.get('linear', 0)} linear (worst "
                     f"{worst.get('linear', 0):.1e}) + {ref.get('sparse', 0)} sparse "
                     f"(worst {worst.get('sparse', 0):.1e})")
            sel = row.get("selection")
            if sel:
                line += (f"; selection rows {sel['rows']}: {sel['exact']} exact, "
                         f"{sel['tie_explained']} tie-explained (gap <= "
                         f"{sel['max_tie_gap']:.1e}), {sel['mismatch']} mismatches")
        if row.get("speedup"):
            line += (f"; eager {row['eager_us']:.1f} us/step, replay "
                     f"{row['replay_us']:.1f} us/step ({row['speedup']:.2f}x)")
        print(line, flush=True)
        for p in row.get("problems", []):
            print(f"  {p}", flush=True)
        torch.cuda.empty_cache()
    return rows, failed
