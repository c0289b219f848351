#!/usr/bin/env python3
"""Correctness grid: every kernel of one or more salac packages against the
torch reference over the grid of salac.opcases.grid (decode batches of 1, 8,
32 with ragged contexts up to 128K, prefill chunks of 1024 and 8192 queries
onto 16K-64K cached tokens, dense attention below dense_len plus long cases),
once per page size: pass a package per page size (build/bin/salac
--emit=package --page-size=N). A kernel found in an earlier package under the
same name (one that does not depend on the page size) is not run again.

For every (kernel, scenario): fresh inputs, outputs NaN-poisoned (in-place
caches: the rows the step writes), one launch, errors against the float64
reference: norm-wise max|out-ref|/max|ref| and elementwise max|out-ref|/|ref|
over |ref| >= 1e-3 max|ref| (opcases.compare; bf16 outputs pass at 1e-2,
f32 at 1e-4, i32 exactly). No timing: bench/harness.py does that.

Top-k is checked twice. The topk_blocks kernel alone, on scores quantised to
1/8 (ties everywhere), must equal the reference exactly. And after every
block_scores scenario, the kernel's f32 block scores go through the top-k
kernel and through the reference top-k (the two must be identical: the
kernel is exact), and that selection is compared with the reference top-k of
the float64 reference scores row by row (token, KV group): exact matches,
differences explained by scores tied within rounding (opcases.grid.
classify_selection, relative 1e-5), and real mismatches, which fail. The
fused selection (fused_sparse_select: stage 1 and top-k in one kernel, no
scores to look at) is compared with that float64 reference top-k the same way.

  python3 bench/grid.py --package pkg --package pkg1 [--json F] [--markdown F]

Exits 1 on any failed check or selection mismatch. --dry-run needs no GPU: the
"kernels" write the reference (on the CPU, with the scaled-down grid), which
checks the plumbing, not the kernels.
"""

import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import salac  # noqa: E402
from salac import opcases  # noqa: E402
from salac.opcases import grid  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", action="append", help="package directory (repeat: one "
                    "per page size); default pkg, and pkg1 and pkg16 where they exist")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds: the grid is run "
                    "once per seed, each drawing its own ragged lengths and data")
    ap.add_argument("--only", default="", help="comma-separated substrings of kernel names")
    ap.add_argument("--budget-s", type=float, default=0.0,
                    help="start no scenario after this many seconds (0: no limit); the "
                    "rest are reported as not run, and the run fails")
    ap.add_argument("--json", help="write every result here (rewritten after each row)")
    ap.add_argument("--markdown", help="write the tables here")
    ap.add_argument("--compact", action="store_true",
                    help="small shapes (opcases.grid.COMPACT: contexts to 13K, batches of 1, 3 "
                         "and 5) for compute-sanitizer runs")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: CPU, scaled-down grid, outputs copied from the reference")
    a = ap.parse_args(argv)
    if not a.package:
        a.package = ["pkg"] + [p for p in ("pkg1", "pkg16")
                               if os.path.isfile(os.path.join(p, "manifest.json"))]
    a.seeds = [int(x) for x in a.seeds.split(",") if x]
    return a


class Runner:
    def __init__(self, a, torch):
        self.a, self.torch = a, torch
        self.device = torch.device("cpu") if a.dry_run else torch.device("cuda", a.device)
        self.gen = torch.Generator(device=self.device)
        self.seed = a.seeds[0]
        self.config = grid.SMALL if a.dry_run else grid.COMPACT if a.compact else grid.FULL
        self.rows, self.selection, self.t0 = [], {}, time.time()

    def sync(self):
        if not self.a.dry_run:
            self.torch.cuda.synchronize()

    def launch(self, kernel, case, args, ref):
        if self.a.dry_run:  # a pretend kernel that writes the reference
            for o in case.outputs:
                args[o].copy_(ref[o].to(args[o].dtype))
        else:
            kernel(**args)
            self.sync()

    def check(self, pkg, k, case, sc):
        spec = k.spec
        args = case.make_inputs(spec, sc, self.device, self.gen)
        ref = case.reference(spec, args)
        self.launch(k, case, args, ref)
        results = case.compare_outputs(spec, args, ref)
        worst = max(results.values(), key=lambda r: (not r["pass"], r["norm"]))
        row = {"norm": worst["norm"], "elem": worst["elem"], "pass": all(
            r["pass"] for r in results.values()), "nonfinite": sum(
            r["nonfinite"] for r in results.values()), "tol": worst["tol"],
            "outputs": {o: {x: r[x] for x in ("norm", "elem", "pass", "nonfinite")}
                        for o, r in results.items()}}
        if spec.op == "sala.block_scores":
            row["selection"] = self.selection_check(pkg, args, ref["scores"])
        if "selection" in results.get("blocks", {}):  # a fused selection, ties classified
            sel = dict(results["blocks"]["selection"])
            sel["kernel_vs_reference_on_same_scores_wrong_rows"] = 0  # no scores to redo
            sel["pass"] = sel["mismatch"] == 0
            row["selection"] = sel
        return row

    def selection_check(self, pkg, args, ref_scores):
        """The kernel's scores through the top-k kernel, against the reference
        top-k of the same scores (exact) and of the float64 scores (ties)."""
        torch = self.torch
        from salac import reference as R
        tks = [k for k in pkg if k.op == "sala.topk_blocks"]
        if not tks:
            return {"skipped": "no topk_blocks kernel in the package"}
        tk = tks[0]
        at, bp = tk.spec.attributes, tk.spec.param("blocks")
        K = bp.shape[2]
        local = at.get("local_blocks", 32)
        kw = dict(block_size=at.get("block_size", 64), topk=at.get("topk", K - local),
                  init_blocks=at.get("init_blocks", 1), local_blocks=local)
        scores = args["scores"]
        targs = {"scores": scores, "cu_seqlens_q": args["cu_seqlens_q"],
                 "seq_lens": args["seq_lens"], "tokens": args["tokens"],
                 "batch": args["batch"], "max_blocks": args["max_blocks"]}
        targs["blocks"] = torch.empty(bp.resolve_shape(targs), dtype=torch.int32,
                                      device=self.device)
        opcases.poison(targs["blocks"])
        on_gpu = R.topk_blocks(scores, args["cu_seqlens_q"], args["seq_lens"], **kw)
        if self.a.dry_run:
            targs["blocks"].copy_(on_gpu)
        else:
            tk(**targs)
            self.sync()
        sel = targs["blocks"]
        kernel_wrong = int((sel != on_gpu).any(-1).sum())
        ref_sel = R.topk_blocks(ref_scores, args["cu_seqlens_q"], args["seq_lens"], **kw)
        pos = R.token_positions(args["cu_seqlens_q"], args["seq_lens"], self.device)
        stats = grid.classify_selection(
            sel, ref_sel, ref_scores, scores, pos, block_size=kw["block_size"],
            init_blocks=kw["init_blocks"], local_blocks=local)
        stats["topk_kernel"] = tk.name
        stats["kernel_vs_reference_on_same_scores_wrong_rows"] = kernel_wrong
        stats["pass"] = kernel_wrong == 0 and stats["mismatch"] == 0
        return stats

    def run(self, packages):
        """Kernels in the first package's order, each followed by its other
        page sizes (same op, another name), so that a run cut short by the
        budget still has both page sizes of what it reached."""
        seen = {}
        only = [s for s in self.a.only.split(",") if s]
        order = []
        for i, (path, pkg) in enumerate(packages):
            for k in pkg:
                if any(k is x[2] for x in order):
                    continue
                order.append((path, pkg, k))
                for path2, pkg2 in packages[i + 1:]:
                    order += [(path2, pkg2, k2) for k2 in pkg2
                              if k2.op == k.op and k2.name != k.name and
                              k2.name not in pkg and
                              k2.attributes.get("form") == k.attributes.get("form")]
        for seed in self.a.seeds:
            self.seed, seen = seed, {}
            self.gen.manual_seed(seed)
            for path, pkg, k in order:
                if only and not any(s in k.name for s in only):
                    continue
                # One kernel: the same name and launch config (a config's
                # segment, say, changes the kernel under the same name).
                key = (k.name, json.dumps(k.spec.config, sort_keys=True, default=str))
                if key in seen:
                    if seed == self.a.seeds[0]:
                        print(f"{k.name} ({path}): same kernel as in {seen[key]}, "
                              "not run again", flush=True)
                    continue
                seen[key] = path
                self.run_kernel(path, pkg, k)

    def run_kernel(self, path, pkg, k):
        at = k.spec.attributes
        base = {"package": path, "kernel": k.name, "op": k.op,
                "page_size": at.get("page_size", "-"), "family": grid.family(k.spec)}
        case, why = opcases.case_for(k.spec)
        scs = grid.scenarios(k.spec, self.seed, self.config) if case else []
        if case is None or not scs:
            self.add({**base, "scenario": "-", "shape": "-",
                      "status": f"skipped ({why or 'no grid for this op'})"})
            return
        for sc in scs:
            row = {**base, "scenario": case.label(sc), "shape": grid.describe(sc),
                   "kind": sc.get("kind"), "seed": self.seed}
            if self.a.budget_s and time.time() - self.t0 > self.a.budget_s:
                row.update({"status": "NOT RUN (time budget)", "pass": False})
                self.add(row)
                continue
            t = time.time()
            if not self.a.dry_run:
                self.torch.cuda.reset_peak_memory_stats()
            try:
                row.update(self.check(pkg, k, case, sc))
            except Exception as e:  # one broken kernel must not hide the others
                row.update(norm=float("nan"), elem=float("nan"), **{"pass": False},
                           error=f"{type(e).__name__}: {e}")
            self.sync()
            row["seconds"] = round(time.time() - t, 2)
            if not self.a.dry_run:  # inputs, outputs and reference together
                row["peak_gib"] = round(self.torch.cuda.max_memory_allocated() / 2**30, 2)
            sel = row.get("selection")
            ok = row["pass"] and (sel is None or sel.get("pass", True))
            row["status"] = "pass" if ok else "FAIL"
            if sel and "rows" in sel:
                grid.merge_selection_stats(self.selection, sel)
                self.selection["kernel_wrong_rows"] = self.selection.get(
                    "kernel_wrong_rows", 0) + sel["kernel_vs_reference_on_same_scores_wrong_rows"]
            self.add(row)
            if not self.a.dry_run:
                self.torch.cuda.empty_cache()

    def add(self, row):
        self.rows.append(row)
        msg = (f"{row['kernel']} [page {row['page_size']}] {row['scenario']}"
               + (f" (seed {row['seed']})" if "seed" in row else "") + f": {row['status']}")
        if "norm" in row:
            msg += f" err {row['norm']:.2e} (elem {row['elem']:.2e})"
        if row.get("error"):
            msg += f" ERROR {row['error']}"
        if row.get("nonfinite"):
            msg += f" nonfinite {row['nonfinite']}"
        sel = row.get("selection")
        if sel and "rows" in sel:
            msg += (f" | selection: {sel['rows']} rows, {sel['exact']} exact, "
                    f"{sel['tie_explained']} ties, {sel['mismatch']} mismatches "
                    f"(boundary ties in the reference: {sel['exact_tie_rows']} exact, "
                    f"{sel['near_tie_rows']} near), "
                    f"kernel vs ref on its scores: "
                    f"{sel['kernel_vs_reference_on_same_scores_wrong_rows']} wrong")
        if "seconds" in row:
            msg += f" [{row['seconds']:.1f} s" + (f", peak {row['peak_gib']:.1f} GiB]"
                                                 if "peak_gib" in row else "]")
        print(msg, flush=True)


def summarize(rows):
    """Per kernel: scenarios, passed, max norm-wise and elementwise error."""
    out = {}
    for r in rows:
        s = out.setdefault(r["kernel"], {"kernel": r["kernel"], "op": r["op"],
                                         "page_size": r["page_size"], "scenarios": 0,
                                         "passed": 0, "max_norm": 0.0, "max_elem": 0.0,
                                         "worst": "-", "failed": [], "outputs": {}})
        if r["status"].startswith("skipped"):
            s["status"] = r["status"]
            continue
        s["scenarios"] += 1
        s["passed"] += r["status"] == "pass"
        where = f"{r['scenario']} (seed {r.get('seed')})"
        if r["status"] != "pass":
            s["failed"].append(where)
        if "norm" in r and r["norm"] == r["norm"]:
            if r["norm"] >= s["max_norm"]:
                s["max_norm"], s["worst"] = r["norm"], where
            s["max_elem"] = max(s["max_elem"], r["elem"])
        for o, e in r.get("outputs", {}).items():
            m = s["outputs"].setdefault(o, {"max_norm": 0.0, "max_elem": 0.0})
            if e["norm"] == e["norm"]:
                m["max_norm"] = max(m["max_norm"], e["norm"])
                m["max_elem"] = max(m["max_elem"], e["elem"])
    return list(out.values())


def per_output(s):
    if len(s["outputs"]) < 2:
        return ""
    return "; ".join(f"{o} {m['max_norm']:.1e}/{m['max_elem']:.1e}"
                     for o, m in s["outputs"].items())


def markdown(env, rows, summary, sel):
    L = [f"card {env['gpu']}, {env['date_utc']}, torch {env['torch']}, seeds {env['seeds']}",
         ""]
    L += ["| kernel | op | page | scenarios | passed | max err | max err elem | worst at "
          "| per output (err/elem) |", "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        if "status" in s and not s["scenarios"]:
            L.append(f"| {s['kernel']} | {s['op']} | {s['page_size']} | - | - | - | - | "
                     f"{s['status']} | |")
            continue
        L.append(f"| {s['kernel']} | {s['op']} | {s['page_size']} | {s['scenarios']} | "
                 f"{s['passed']} | {s['max_norm']:.1e} | {s['max_elem']:.1e} | {s['worst']} | "
                 f"{per_output(s)} |")
    if sel:
        L += ["", "| selection rows | exact | tie-explained | real mismatches | boundary "
              "exact ties (ref) | boundary near ties (ref) | max tie gap | max GPU score err "
              "at swaps | top-k kernel wrong rows |", "|---|---|---|---|---|---|---|---|---|",
              f"| {sel['rows']} | {sel['exact']} | {sel['tie_explained']} | {sel['mismatch']} "
              f"| {sel['exact_tie_rows']} | {sel['near_tie_rows']} | {sel['max_tie_gap']:.1e} | "
              f"{sel['max_swap_gpu_err']:.1e} | {sel.get('kernel_wrong_rows', 0)} |"]
    L += ["", "| kernel | page | scenario | seed | shape | err | err elem | status | s "
          "| peak GiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"].startswith("skipped"):
            continue
        e = (f"{r['norm']:.1e} | {r['elem']:.1e}" if "norm" in r else "- | -")
        L.append(f"| {r['kernel']} | {r['page_size']} | {r['scenario']} | {r.get('seed')} | "
                 f"{r['shape']} | {e} | "
                 f"{r['status']} | {r.get('seconds', '-')} | {r.get('peak_gib', '-')} |")
    return "\n".join(L) + "\n"


def main(argv=None):
    a = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("grid: torch is not installed", file=sys.stderr)
        return 2
    if not a.dry_run and not torch.cuda.is_available():
        print("grid: no CUDA device visible to torch (--dry-run runs on the CPU)",
              file=sys.stderr)
        return 2
    env = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"), "torch": torch.__version__, "seeds": a.seeds,
        "packages": [os.path.abspath(p) for p in a.package], "dry_run": a.dry_run}
    packages = []
    for p in a.package:
        pkg = salac.Package(p)
        if not a.dry_run:
            pkg.load(a.device)
        packages.append((p, pkg))
    if a.dry_run:
        env["gpu"] = "none (dry run on the CPU)"
    else:
        torch.cuda.set_device(a.device)
        env["gpu"] = torch.cuda.get_device_name(a.device)
        env["driver_version"] = packages[0][1].runtime.driver_version()
    print(f"# grid on {env['gpu']}, {env['date_utc']}, torch {env['torch']}, seeds {a.seeds}, "
          f"packages {', '.join(a.package)}", flush=True)
    runner = Runner(a, torch)

    def dump():
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"env": env, "rows": runner.rows, "selection": runner.selection,
                           "summary": summarize(runner.rows)}, f, indent=1, default=str)
    orig_add = runner.add

    def add(row):
        orig_add(row)
        dump()
    runner.add = add
    runner.run(packages)
    env["seconds"] = round(time.time() - runner.t0, 1)
    peaks = [r["peak_gib"] for r in runner.rows if "peak_gib" in r]
    env["peak_gib"] = max(peaks) if peaks else None
    summary = summarize(runner.rows)
    dump()
    print()
    for s in summary:
        if "status" in s and not s["scenarios"]:
            print(f"{s['kernel']}: {s['status']}")
            continue
        print(f"{s['kernel']} [page {s['page_size']}]: {s['passed']}/{s['scenarios']} pass, "
              f"max err {s['max_norm']:.2e} (elem {s['max_elem']:.2e}) at {s['worst']}"
              + (f" [{per_output(s)}]" if per_output(s) else "")
              + (f"; FAILED: {', '.join(s['failed'])}" if s["failed"] else ""))
    sel = runner.selection
    if sel:
        print(f"selection (block_scores -> topk_blocks, and fused_sparse_select, vs float64 reference): {sel['rows']} rows, "
              f"{sel['exact']} exact, {sel['tie_explained']} tie-explained, {sel['mismatch']} "
              f"mismatches; boundary ties in the reference (K-th = K+1-th best): "
              f"{sel['exact_tie_rows']} exact, {sel['near_tie_rows']} within "
              f"{grid.TIE_RTOL:g}; max tie gap {sel['max_tie_gap']:.1e}, max GPU score err at "
              f"swapped blocks {sel['max_swap_gpu_err']:.1e}; top-k kernel vs reference top-k of "
              f"the same scores: {sel.get('kernel_wrong_rows', 0)} wrong rows")
        for ex in sel.get("examples", []):
            print(f"  mismatch: {ex}")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(env, runner.rows, summary, sel))
    checked = [r for r in runner.rows if not r["status"].startswith("skipped")]
    failed = [r for r in checked if r["status"] != "pass"]
    skipped = len(runner.rows) - len(checked)
    if env.get("peak_gib") is not None:
        print(f"peak GPU memory of a scenario (torch allocator): {env['peak_gib']:.1f} GiB")
    print(f"\ngrid: {len(checked) - len(failed)} passed, {len(failed)} failed, {skipped} skipped "
          f"({env['seconds']} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
