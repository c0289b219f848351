#!/usr/bin/env python3
"""Checks and times every kernel of a salac package on a GPU, through the
Python package (libsalart via ctypes), against the torch reference.

For each kernel with harness support (salac.opcases) and each shape:
  1. correctness: fresh random inputs, outputs poisoned with NaN, one launch,
     errors against the float64 reference (norm-wise and elementwise);
     where the manifest says an output may alias an input, once more in place;
  2. time: CUDA events; "graph" = replays of a captured CUDA graph of N
     launches rotating over input sets larger than L2 (the kernel's device
     time), "eager" = N back-to-back Python calls (adds dispatch overhead);
     after timing, the first set's output is checked again.
Bytes moved = each input read once + each output written once; bandwidth is
compared with a measured device-to-device copy.

Then the "graph" section (salac.capture, libsalart's own CUDA graph capture):
the linear layer's decode chain -- rms_norm q, rms_norm k, rope q, rope k,
linear attention (recurrent, state updated in place), rms_norm full, sigmoid
gate -- captured once per batch size, checked to record without running, then
for several rounds of fresh inputs (outputs NaN-poisoned and the state
restored before each run) replayed and compared bit for bit with an eager run
of the same seven calls; finally eager and replay are timed (CUDA events,
median). `--graph-only` runs just this section, `--no-graph` skips it.

`--step` runs only the "step" section (bench/decode_step.py): a whole decode
step -- every mixer of the package, from the manifest's "mixers" section --
through salac.DecodeStep at batch 1 and 8 (`--step-batches`) over 4K..8K
cached tokens (`--step-contexts`), eager and replayed from one captured CUDA
graph: bit-exact between the two, every layer against the float64 reference
(a sparse layer's selection row by row: where it differs from the reference's
only between blocks whose float64 scores tie within rounding, stage 2's
reference attends over the kernel's blocks), then microseconds per step for
both.
Exits 1 on any failed check.
"""

import argparse
import datetime
import itertools
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))

import salac  # noqa: E402
from salac import opcases  # noqa: E402

ROTATE_BYTES = 256 << 20   # rotate inputs over 5x the H100's 50 MB of L2
SET_MEMORY = 4 << 30       # but keep all input sets within 4 GiB (big caches)
TARGET_MS = 10.0           # aim each timed repetition at about this long


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default="pkg", help="kernel package directory")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--tokens", default=",".join(map(str, opcases.DEFAULT_TOKENS)),
                    help="comma-separated token counts")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (median)")
    ap.add_argument("--seed", type=int, default=None, help="default: time-based")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--markdown", help="write the table as markdown here")
    ap.add_argument("--no-time", action="store_true", help="correctness only")
    ap.add_argument("--graph-batches", default="1,8,64",
                    help="decode batch sizes of the graph section")
    ap.add_argument("--graph-rounds", type=int, default=3,
                    help="fresh-input rounds of the graph section's bit-exact check")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--graph-only", action="store_true",
                   help="run only the graph section (salac.capture)")
    g.add_argument("--no-graph", action="store_true", help="skip the graph section")
    g.add_argument("--step", action="store_true",
                   help="run only the step section: every decode mixer as one "
                        "salac.DecodeStep, eager vs a captured graph")
    ap.add_argument("--step-batches", default="1,8", help="batch sizes of the step section")
    ap.add_argument("--step-contexts", default="4096,8191",
                    help="lo,hi: tokens cached per sequence before the step, drawn in "
                         "[lo, hi) (the default stays below dense_len 8192: dense path; "
                         "e.g. 8192,16384 takes the sparse one)")
    ap.add_argument("--step-rounds", type=int, default=2,
                    help="fresh-input rounds of the step section's bit-exact check")
    return ap.parse_args()


def event_ms(torch, fn, n, reps):
    """Median over reps of (events around n calls of fn) / n, in ms."""
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / n)
    return statistics.median(times)


def copy_bandwidth(torch, device, nbytes=1 << 30, reps=15):
    """Device-to-device copy, bytes read + written per second (median)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).normal_()
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    ms = event_ms(torch, lambda: dst.copy_(src), 1, reps)
    torch.cuda.empty_cache()
    return 2 * nbytes / (ms * 1e-3), ms


def check_once(torch, kernel, case, args, alias=None):
    """Launch once on args (optionally with an output aliasing an input) and
    compare with the reference computed from the inputs before the launch."""
    spec = kernel.spec
    if alias:
        out_name, in_name = alias
        args = dict(args)
        args[out_name] = args[in_name].clone()
        args[in_name] = args[out_name]
        ref = case.reference(spec, {**args, in_name: args[in_name].clone()})
    else:
        ref = case.reference(spec, args)
    kernel(**args)
    torch.cuda.synchronize()
    results = list(case.compare_outputs(spec, args, ref).values())
    fails = [r for r in results if not r["pass"]]
    return fails[0] if fails else max(results, key=lambda r: r["norm"])


def time_kernel(torch, kernel, case, sc, device, gen, reps):
    spec = kernel.spec
    sets = [case.make_inputs(spec, sc, device, gen)]
    per_call = case.bytes_moved(spec, sets[0])
    # Enough input sets that a rotation does not fit in L2.
    set_bytes = sum(v.nbytes for v in sets[0].values() if hasattr(v, "nbytes"))
    nsets = max(1, min(256, -(-ROTATE_BYTES // max(per_call, 1)),
                       SET_MEMORY // max(set_bytes, 1)))
    sets += [case.make_inputs(spec, sc, device, gen) for _ in range(nsets - 1)]
    bound = [kernel.bind(**s) for s in sets]
    for i in range(min(nsets, 3)):
        kernel(**sets[i])
    torch.cuda.synchronize()
    one = event_ms(torch, lambda: kernel(**sets[0]), 3, 3)
    n = int(min(2000, max(10, nsets, TARGET_MS / max(one, 1e-4))))
    it = itertools.count()
    eager = event_ms(torch, lambda: kernel(**sets[next(it) % nsets]), n, reps)

    graph_ms, graph_err = None, None
    try:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(n):
                kernel.launch_raw(bound[i % nsets])  # current (capture) stream
        g.replay()
        torch.cuda.synchronize()
        graph_ms = event_ms(torch, g.replay, 1, reps) / n
    except Exception as e:  # report, fall back to the eager number
        graph_err = f"{type(e).__name__}: {e}"
        torch.cuda.synchronize()
    return {"graph_us": graph_ms * 1e3 if graph_ms else None, "eager_us": eager * 1e3,
            "launches": n, "input_sets": nsets, "graph_error": graph_err,
            "bytes": per_call}


def run_scenario(torch, a, k, case, sc, scenarios, device, gen, bw):
    args = case.make_inputs(k.spec, sc, device, gen)
    shape = case.label(sc)
    if "batch" in args and "batch" not in sc:
        shape += f", batch={args['batch']}"
    row = {"kernel": k.name, "op": k.op, "shape": shape}
    row.update(check_once(torch, k, case, args))
    del args
    if sc is scenarios[0]:  # in place, where the manifest allows it
        for al in case.aliases(k.spec):
            r = check_once(torch, k, case, case.make_inputs(k.spec, sc, device, gen), al)
            row["alias_pass"] = row.get("alias_pass", True) and r["pass"]
    if not a.no_time and row["pass"]:
        row.update(time_kernel(torch, k, case, sc, device, gen, a.reps))
        t = row["graph_us"] or row["eager_us"]
        row["GBps"] = row["bytes"] / (t * 1e-6) / 1e9
        row["copy_frac"] = row["GBps"] * 1e9 / bw
        # Checked again after the timed launches, on fresh inputs.
        row["recheck_pass"] = check_once(
            torch, k, case, case.make_inputs(k.spec, sc, device, gen))["pass"]
    return row


# --- graph section: salac.capture on the linear decode chain -------------------

def _find(pkg, op, heads, head_dim, **attrs):
    for k in pkg.kernels_for_op(op):
        at = k.attributes
        if at.get("heads") == heads and at.get("head_dim") == head_dim and \
                all(at.get(a, v) == v for a, v in attrs.items()):
            return k
    return None


def linear_chain(pkg):
    """The seven kernels of a linear layer's decode step, or (None, reason)."""
    lin = [k for k in pkg.kernels_for_op("sala.linear_attention")
           if k.attributes.get("form", "recurrent") == "recurrent"]
    if not lin:
        return None, "no recurrent sala.linear_attention kernel"
    lin = lin[0]
    q = lin.spec.param("query")
    h, d = q.shape[1], q.shape[2]
    ks = {"rms_head": _find(pkg, "sala.rms_norm", h, d, scope="head"),
          "rope": _find(pkg, "sala.rope", h, d),
          "linear": lin,
          "rms_full": _find(pkg, "sala.rms_norm", h, d, scope="full"),
          "gate": _find(pkg, "sala.sigmoid_gate", h, d)}
    missing = [n for n, k in ks.items() if k is None]
    if missing:
        return None, f"no {', '.join(missing)} kernel for heads={h} head_dim={d}"
    return ks, None


class ChainBuffers:
    """Every tensor of one decode step of `batch` sequences (one token each),
    allocated once: the graph records their addresses."""

    def __init__(self, torch, ks, batch, device, gen):
        self.torch, self.ks = torch, ks
        lin = ks["linear"]
        case, why = opcases.case_for(lin.spec)
        if case is None:
            raise RuntimeError(f"{lin.name}: {why}")
        a = case.make_inputs(lin.spec, {"tokens": batch}, device, gen)
        self.lin_args = a                      # q, k, v, state, slots, cu, seq_lens
        T, h, d = a["query"].shape
        self.T = T
        bf16 = torch.bfloat16
        e = lambda *shape: torch.empty(shape, dtype=bf16, device=device)  # noqa: E731
        self.wq, self.wk = e(d), e(d)
        self.wfull = e(*ks["rms_full"].spec.param("weight").resolve_shape({"tokens": T}))
        self.z = e(T, h, d)
        self.positions = (a["seq_lens"] - 1).to(torch.int32)
        self.state0 = torch.empty_like(a["state"])
        # Outputs, each its own buffer so that every run starts from poison.
        self.qn, self.kn, self.qr, self.kr = e(T, h, d), e(T, h, d), e(T, h, d), e(T, h, d)
        self.o = a["output"]
        self.on, self.y = e(T, h, d), e(T, h, d)
        self.outputs = {"q_norm": self.qn, "k_norm": self.kn, "q_rope": self.qr,
                        "k_rope": self.kr, "attn": self.o, "attn_norm": self.on,
                        "gated": self.y, "state": a["state"]}

    def fresh(self, gen):
        """New random inputs, written in place (same addresses)."""
        torch, a = self.torch, self.lin_args
        r = lambda t, scale=1.0: t.copy_(  # noqa: E731
            (torch.randn(t.shape, generator=gen, device=t.device) * scale).to(t.dtype))
        for t in (a["query"], a["key"], a["value"], self.z):
            r(t)
        for w in (self.wq, self.wk, self.wfull):
            r(w, 0.5).add_(1.0)
        r(self.state0, 0.1)

    def reset(self):
        """Outputs poisoned, state restored: what every run starts from."""
        for name, t in self.outputs.items():
            if name != "state":
                opcases.poison(t)
        self.outputs["state"].copy_(self.state0)

    def step(self):
        """The seven launches (stream: torch's current; recorded in a capture)."""
        ks, a, T = self.ks, self.lin_args, self.T
        ks["rms_head"](input=a["query"], weight=self.wq, output=self.qn, tokens=T)
        ks["rms_head"](input=a["key"], weight=self.wk, output=self.kn, tokens=T)
        ks["rope"](input=self.qn, positions=self.positions, output=self.qr, tokens=T)
        ks["rope"](input=self.kn, positions=self.positions, output=self.kr, tokens=T)
        lin = {n: a[n] for n in ks["linear"].spec.param_names}
        lin.update(query=self.qr, key=self.kr, output=self.o)
        ks["linear"](**lin)
        ks["rms_full"](input=self.o, weight=self.wfull, output=self.on, tokens=T)
        ks["gate"](input=self.on, gate=self.z, output=self.y, tokens=T)

    def snapshot(self):
        return {n: t.clone() for n, t in self.outputs.items()}


def bits_equal(torch, a, b):
    """Bit-for-bit equality (NaN payloads included)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(a.contiguous().reshape(-1).view(torch.uint8),
                       b.contiguous().reshape(-1).view(torch.uint8))


def graph_case(torch, pkg, ks, batch, rounds, reps, device, gen, timed=True):
    row = {"section": "graph", "chain": "linear decode", "batch": batch, "pass": False}
    buf = ChainBuffers(torch, ks, batch, device, gen)
    buf.fresh(gen)
    buf.reset()
    torch.cuda.synchronize()
    before = buf.snapshot()
    with salac.capture(pkg) as g:
        buf.step()
    torch.cuda.synchronize()
    row["nodes"] = g.num_nodes
    row["launches"] = g.launches
    after = buf.snapshot()
    untouched = all(bits_equal(torch, before[n], after[n]) for n in before)
    row["recorded_not_run"] = untouched
    problems = []
    if not untouched:
        problems.append("the capture ran kernels (outputs changed during it)")
    if g.num_nodes != 7:
        problems.append(f"graph has {g.num_nodes} nodes, expected 7")

    exact = 0
    for r in range(rounds):
        buf.fresh(gen)
        buf.reset()
        buf.step()
        torch.cuda.synchronize()
        eager = buf.snapshot()
        buf.reset()
        g.replay()
        torch.cuda.synchronize()
        replay = buf.snapshot()
        diff = [n for n in eager if not bits_equal(torch, eager[n], replay[n])]
        unwritten = [n for n in eager if n != "state" and not torch.isfinite(eager[n]).all()]
        if diff:
            problems.append(f"round {r}: replay differs from eager in {', '.join(diff)}")
        if unwritten:
            problems.append(f"round {r}: non-finite (unwritten?) {', '.join(unwritten)}")
        exact += not diff and not unwritten
    row["bit_exact_rounds"] = f"{exact}/{rounds}"

    # Timing (per step of 7 launches; eager = 7 Python kernel calls): the
    # state drifts over the repetitions (updated in place); the check above
    # is done, so that is harmless.
    if timed:
        n = 200
        for _ in range(10):
            buf.step()
            g.replay()
        torch.cuda.synchronize()
        row["eager_us"] = event_ms(torch, buf.step, n, reps) * 1e3
        row["replay_us"] = event_ms(torch, g.replay, n, reps) * 1e3
        row["speedup"] = row["eager_us"] / row["replay_us"] if row["replay_us"] else None
    g.close()
    row["problems"] = problems
    row["pass"] = not problems
    return row


def graph_section(torch, pkg, a, device, gen):
    """Returns (rows, failures)."""
    print("\n== graph: salac.capture of the linear decode chain (7 launches), "
          "replay vs eager", flush=True)
    ks, why = linear_chain(pkg)
    if ks is None:
        print(f"graph: skipped ({why})")
        return [{"section": "graph", "status": f"skipped ({why})"}], 0
    rows, failed = [], 0
    for batch in [int(b) for b in a.graph_batches.split(",") if b]:
        try:
            row = graph_case(torch, pkg, ks, batch, a.graph_rounds, a.reps, device, gen,
                             timed=not a.no_time)
        except Exception as e:  # report, keep going
            row = {"section": "graph", "batch": batch, "pass": False,
                   "problems": [f"{type(e).__name__}: {e}"]}
            try:
                torch.cuda.synchronize()
            except Exception as e2:  # a sticky CUDA error: the rest cannot run
                row["problems"].append(f"then {type(e2).__name__}: {e2}")
                rows.append(dict(row, status="FAIL"))
                print(f"graph linear-decode batch={batch}: FAIL", flush=True)
                for p in row["problems"]:
                    print(f"  {p}", flush=True)
                return rows, failed + 1
        row["status"] = "pass" if row["pass"] else "FAIL"
        failed += not row["pass"]
        rows.append(row)
        if "eager_us" in row and row["speedup"] is not None:
            print(f"graph linear-decode batch={batch}: {row['status']} "
                  f"{row['nodes']} nodes, bit-exact {row['bit_exact_rounds']} rounds, "
                  f"eager {row['eager_us']:.1f} us/step, replay {row['replay_us']:.1f} "
                  f"us/step ({row['speedup']:.1f}x)", flush=True)
        elif "nodes" in row:
            print(f"graph linear-decode batch={batch}: {row['status']} {row['nodes']} "
                  f"nodes, bit-exact {row['bit_exact_rounds']} rounds", flush=True)
        else:
            print(f"graph linear-decode batch={batch}: {row['status']}", flush=True)
        for p in row.get("problems", []):
            print(f"  {p}", flush=True)
    return rows, failed


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def pct(frac):
    return "-" if frac is None else f"{100 * frac:.1f}%"


def main():
    a = parse_args()
    try:
        import torch
    except ImportError:
        print("harness: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("harness: no CUDA device visible to torch", file=sys.stderr)
        return 2
    tokens = [int(t) for t in a.tokens.split(",") if t]
    seed = a.seed if a.seed is not None else int(time.time())
    device = torch.device("cuda", a.device)
    torch.cuda.set_device(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    env = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
        "seed": seed, "package": os.path.abspath(a.package),
    }
    pkg = salac.Package(a.package).load(a.device)
    env["driver_version"] = pkg.runtime.driver_version()
    env["producer"], env["chip"] = pkg.producer, pkg.chip
    bw, bw_ms = copy_bandwidth(torch, device)
    env["copy_GBps"] = bw / 1e9
    print(f"# {env['gpu']}, {env['date_utc']}, torch {env['torch']}, driver "
          f"{env['driver_version']}, seed {seed}")
    print(f"# device-to-device copy: {bw / 1e9:.0f} GB/s (1 GiB in {bw_ms:.3f} ms, "
          "read + write)")
    infos = {}
    for k in pkg:
        info = k.info()
        infos[k.name] = info
        print(f"# {k.name}: {info['num_regs']} regs, {info['local_bytes']} B local "
              f"(spills), sm_{info['binary_version']} from PTX {info['ptx_version']}")

    rows, failed = [], 0
    for k in ([] if a.graph_only or a.step else pkg):
        case, why = opcases.case_for(k.spec)
        if case is None:
            rows.append({"kernel": k.name, "op": k.op, "shape": "-", "status": f"skipped ({why})"})
            print(f"{k.name}: skipped ({why})")
            continue
        scenarios = case.scenarios(k.spec, tokens)
        for sc in scenarios:
            try:
                row = run_scenario(torch, a, k, case, sc, scenarios, device, gen, bw)
            except Exception as e:  # one broken kernel must not hide the others
                row = {"kernel": k.name, "op": k.op, "shape": case.label(sc), "norm": float("nan"),
                       "elem": float("nan"), "pass": False, "error": f"{type(e).__name__}: {e}"}
                print(f"{k.name} {row['shape']}: ERROR {row['error']}", flush=True)
            ok = row["pass"] and row.get("alias_pass", True) and row.get("recheck_pass", True)
            row["status"] = "pass" if ok else "FAIL"
            failed += not ok
            rows.append(row)
            print(f"{k.name} {row['shape']}: {row['status']} err {row['norm']:.2e} "
                  f"(elem {row['elem']:.2e}) graph {fmt(row.get('graph_us'), '.2f')} us "
                  f"eager {fmt(row.get('eager_us'), '.2f')} us"
                  + (f" [graph failed: {row['graph_error']}]" if row.get("graph_error") else ""),
                  flush=True)
            if a.json:  # rewritten after each row: a killed run still leaves results
                with open(a.json, "w") as f:
                    json.dump({"env": env, "kernels": infos, "rows": rows}, f, indent=1)
            torch.cuda.empty_cache()

    head = ["kernel", "shape", "err", "err elem", "ok", "us", "us eager", "bytes",
            "GB/s", "of copy"]
    table = []
    for r in rows:
        if r["status"].startswith("skipped"):
            table.append([r["kernel"], "-", "-", "-", r["status"], "-", "-", "-", "-", "-"])
            continue
        table.append([r["kernel"], r["shape"], f"{r['norm']:.1e}", f"{r['elem']:.1e}",
                      r["status"], fmt(r.get("graph_us"), ".2f"), fmt(r.get("eager_us"), ".2f"),
                      fmt(r.get("bytes"), ","), fmt(r.get("GBps"), ".0f"),
                      pct(r.get("copy_frac"))])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    print()
    print(f"copy bandwidth {bw / 1e9:.0f} GB/s on {env['gpu']} ({env['date_utc']}); "
          "us = CUDA-graph replay per launch; tolerance (norm-wise) bf16 1e-2")
    for line in [head] + table:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
    graph_rows, step_rows = [], []
    if not a.no_graph and not a.step:
        graph_rows, graph_failed = graph_section(torch, pkg, a, device, gen)
        failed += graph_failed
    if a.step:
        from decode_step import step_section  # bench/, next to this file
        step_rows, step_failed = step_section(torch, pkg, a, device, gen)
        failed += step_failed
    everything = rows + graph_rows + step_rows
    npass = sum(r["status"] == "pass" for r in everything)
    nskip = sum(r["status"].startswith("skipped") for r in everything)
    print(f"\nharness: {npass} passed, {failed} failed, {nskip} skipped")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
            for line in table:
                f.write("| " + " | ".join(str(x) for x in line) + " |\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "kernels": infos, "rows": rows, "graph": graph_rows,
                       "step": step_rows}, f, indent=1, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
