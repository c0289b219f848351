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
compared with a measured device-to-device copy. Exits 1 on any failed check.
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
    results = [opcases.compare(args[o], ref[o], spec.param(o).dtype)
               for o in case.outputs]
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
    for k in pkg:
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
    npass = sum(r["status"] == "pass" for r in rows)
    nskip = sum(r["status"].startswith("skipped") for r in rows)
    print(f"\nharness: {npass} passed, {failed} failed, {nskip} skipped")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
            for line in table:
                f.write("| " + " | ".join(str(x) for x in line) + " |\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "kernels": infos, "rows": rows}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
