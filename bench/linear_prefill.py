#!/usr/bin/env python3
"""Chunked linear attention (prefill) against fla's chunk_simple_gla, on one
GPU in one run (issue 15, point 1).

For each shape: fresh random q, k, v (bf16, [tokens, 32, 128]) and initial
states (continuing sequences), salac's chunked kernel of each package given
(its config's `segment`: one block a whole sequence, or segments chained
across blocks), and fla.ops.simple_gla.chunk_simple_gla when it imports
(g_gamma = the op's log decays, varlen through cu_seqlens). Every result is
checked first against a float64 chunked evaluation of the same recurrence
(S_t = gamma S_{t-1} + k_t^T v_t, o_t = scale q_t S_t): outputs NaN-poisoned
before the launch; error = max|x - ref| / max|ref| for the output and the
final state; a chained kernel's flags and ticket counter must be back at zero.
Times: CUDA events around launches after warm-up, median of repetitions.
Ends with a table (ms; speedup = fla / salac).

  SALART_LIB=build-rt/lib/libsalart.so python3 bench/linear_prefill.py \\
      --package pkg-linear --package pkg-linear-seg [--shapes 1x8K,4x8K,...]

Shapes: BxT (B fresh sequences of T tokens), or "ragged" (fresh and
continuing sequences of mixed lengths in one batch).

With --layer: the whole linear layer instead (q/k RMSNorm, RoPE, the
attention, the output RMSNorm, the gate), salac.PrefillStep of layer 1 of each
package -- 7 launches unfused, 2 with --fuse-linear-prefill -- against the
float64 chain (salac.reference.linear_mixer).
"""

import argparse
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import salac  # noqa: E402

CHUNK = 64
RAGGED = ((16384, 0), (8192, 5000), (2048, 0), (30000, 70000), (100, 0))


def parse_shape(s):
    """[(q_len, history)] of a shape name."""
    if s == "ragged":
        return list(RAGGED)
    b, t = s.lower().split("x")
    t = int(t[:-1]) * 1024 if t.endswith("k") else int(t)
    return [(t, 0)] * int(b)


def event_ms(torch, fn, reps=7, warm=2):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return statistics.median(times)


def reference(torch, q, k, v, S0, seqs, gamma, scale):
    """Outputs and final states in float64, chunk by chunk (exact algebra)."""
    H = q.shape[1]
    out = torch.empty(q.shape, dtype=torch.float64, device=q.device)
    finals = []
    lg = torch.log(gamma.double())  # [H]
    start = 0
    for b, (n, hist) in enumerate(seqs):
        S = S0[b].double().clone() if hist else torch.zeros_like(S0[b], dtype=torch.float64)
        for c in range(0, n, CHUNK):
            L = min(CHUNK, n - c)
            Q, K, V = (x[start + c:start + c + L].double() for x in (q, k, v))
            i = torch.arange(L, device=q.device, dtype=torch.float64)
            diff = i[:, None] - i[None, :]
            decay = torch.where(diff >= 0, torch.exp(lg[:, None, None] * diff.clamp(min=0)),
                                torch.zeros((), dtype=torch.float64, device=q.device))
            A = torch.einsum("ihd,jhd->hij", Q, K) * decay
            inter = torch.einsum("ihd,hde->ihe", Q, S) * torch.exp(
                lg[None, :, None] * (i[:, None, None] + 1))
            out[start + c:start + c + L] = scale * (torch.einsum("hij,jhd->ihd", A, V) + inter)
            w = torch.exp(lg[None, :] * (L - 1 - i)[:, None])  # [L, H]
            S = torch.exp(lg * L)[:, None, None] * S + torch.einsum("jhd,jhe->hde",
                                                                     K * w[..., None], V)
        finals.append(S)
        start += n
    return out, torch.stack(finals) if finals else None


def rel_err(x, ref):
    ref = ref.double()
    return float((x.double() - ref).abs().max() / ref.abs().max().clamp(min=1e-30))


def salac_run(torch, k, q, kk, v, S0, seqs, dev):
    """Launch arguments of the chunked kernel for this batch; slot b holds
    sequence b's state."""
    B, T = len(seqs), q.shape[0]
    cu = [0]
    for n, _ in seqs:
        cu.append(cu[-1] + n)
    out = torch.empty_like(q)
    a = dict(query=q, key=kk, value=v, state=S0.clone(),
             slot_ids=torch.arange(B, dtype=torch.int32, device=dev),
             cu_seqlens_q=torch.tensor(cu, dtype=torch.int32, device=dev),
             seq_lens=torch.tensor([n + h for n, h in seqs], dtype=torch.int32, device=dev),
             output=out, tokens=T, batch=B, slots=B)
    seg = int(k.spec.config.get("segment", 0))
    if seg:
        a["max_q_len"] = max(n for n, _ in seqs)
        a["segment_rows"] = -(-T // seg)
        a["segment_states"] = torch.full(k.spec.param("segment_states").resolve_shape(a),
                                         float("nan"), device=dev)
        for name in ("segment_flags", "tickets"):
            a[name] = torch.zeros(k.spec.param(name).resolve_shape(a), dtype=torch.int32,
                                  device=dev)
    return a


def run_shape(torch, pkgs, shape, dev, gen, fla, rows):
    seqs = parse_shape(shape)
    T = sum(n for n, _ in seqs)
    H, D = 32, 128
    bf = torch.bfloat16
    q, kk, v = ((torch.randn(T, H, D, generator=gen, device=dev) / math.sqrt(D) * 4).to(bf)
                for _ in range(3))
    S0 = torch.randn(len(seqs), H, D, D, generator=gen, device=dev) * 0.05
    row = {"shape": shape, "tokens": T, "sequences": len(seqs)}
    ref_o = ref_S = None
    for label, k in pkgs:
        at = k.attributes
        slopes = torch.tensor(at["slopes"], dtype=torch.float64, device=dev)
        gamma = torch.exp(-slopes)
        scale = at.get("scale", 1 / math.sqrt(D))
        if ref_o is None:
            ref_o, ref_S = reference(torch, q, kk, v, S0, seqs, gamma, scale)
        a = salac_run(torch, k, q, kk, v, S0, seqs, dev)
        a["output"].fill_(float("nan"))
        k(**a)
        torch.cuda.synchronize()
        row[f"{label}_err"] = rel_err(a["output"], ref_o)
        row[f"{label}_state_err"] = rel_err(a["state"], ref_S)
        if "tickets" in a:
            row[f"{label}_workspace_zero"] = bool(
                int(a["tickets"].abs().sum()) == 0 and int(a["segment_flags"].abs().sum()) == 0)
        bound = k.bind(**a)
        row[f"{label}_ms"] = event_ms(torch, lambda: k.launch_raw(bound))
    if fla is not None:
        g_gamma = -torch.tensor(pkgs[0][1].attributes["slopes"], dtype=torch.float32,
                                device=dev)
        cu = torch.tensor([0] + [sum(n for n, _ in seqs[:i + 1]) for i in range(len(seqs))],
                          dtype=torch.long, device=dev)
        h0 = torch.stack([S0[b] if h else torch.zeros_like(S0[b])
                          for b, (_, h) in enumerate(seqs)]).float()
        scale = pkgs[0][1].attributes.get("scale", 1 / math.sqrt(D))

        def call():
            return fla(q[None], kk[None], v[None], g_gamma=g_gamma, scale=scale,
                       initial_state=h0, output_final_state=True, cu_seqlens=cu)
        o, st = call()
        torch.cuda.synchronize()
        row["fla_err"] = rel_err(o[0], ref_o)
        row["fla_state_err"] = rel_err(st, ref_S)
        row["fla_ms"] = event_ms(torch, call)
    rows.append(row)
    return row


def layer_constants(pkg):
    """(qk eps, rope theta, output-norm eps) of a package's linear layer, from
    its kernels' attributes (fused or not)."""
    qk_eps = theta = out_eps = None
    for k in pkg:
        at = k.attributes
        if k.op == "sala.fused_linear_attention":
            qk_eps, theta = at.get("qk_eps", 1e-6), at.get("theta", 10000.0)
        elif k.op == "sala.rms_norm" and at.get("scope") == "head":
            qk_eps = at.get("eps", 1e-6)
        elif k.op == "sala.rope":
            theta = at.get("theta", 10000.0)
        elif k.op == "sala.fused_rms_norm_gate" or (k.op == "sala.rms_norm" and
                                                     at.get("scope") == "full"):
            out_eps = at.get("eps", 1e-6)
    return qk_eps, theta, out_eps


def run_layer_shape(torch, paths, shape, dev, gen, rows):
    """The whole linear layer at prefill (q/k norms, RoPE, the attention, the
    output norm, the gate) through salac.PrefillStep, per package, against
    the float64 chain (salac.reference.linear_mixer, chunked)."""
    from salac import reference as R
    seqs = parse_shape(shape)
    T, B, H, D = sum(n for n, _ in seqs), len(seqs), 32, 128
    bf, i32 = torch.bfloat16, torch.int32
    r = lambda *s, sc=1.0: (torch.randn(*s, generator=gen, device=dev) * sc).to(bf)  # noqa
    q, k, v, z = r(T, H, D), r(T, H, D), r(T, H, D), r(T, H, D, sc=3.0)
    qw = (1 + 0.2 * torch.randn(D, generator=gen, device=dev)).to(bf)
    kw = (1 + 0.2 * torch.randn(D, generator=gen, device=dev)).to(bf)
    ow = (1 + 0.2 * torch.randn(H * D, generator=gen, device=dev)).to(bf)
    S0 = torch.randn(B, H, D, D, generator=gen, device=dev) * 0.05
    cu = [0]
    for n, _ in seqs:
        cu.append(cu[-1] + n)
    cu_t = torch.tensor(cu, dtype=i32, device=dev)
    lens = torch.tensor([n + h for n, h in seqs], dtype=i32, device=dev)
    pos = torch.cat([torch.arange(h, h + n, dtype=i32, device=dev) for n, h in seqs])
    row = {"shape": shape + " (layer)", "tokens": T, "sequences": B}
    ref = None
    for path in paths:
        pkg = salac.Package(path).load(0)
        label = os.path.basename(os.path.normpath(path))
        qk_eps, theta, out_eps = layer_constants(pkg)
        if ref is None:
            S_ref = S0.clone()
            slopes = next(kk.attributes["slopes"] for kk in pkg if "slopes" in kk.attributes)
            ref = R.linear_mixer(q, k, v, z, qw, kw, None, S_ref,
                                 torch.arange(B, device=dev), cu_t, lens, positions=pos,
                                 eps=qk_eps, theta=theta, slopes=slopes, form="chunked")
            ref = R.sigmoid_gate(R.rms_norm(ref, ow, out_eps, "full"), z)
        inputs = dict(query=q, key=k, value=v, gate=z, q_norm_weight=qw, k_norm_weight=kw,
                      out_norm_weight=ow, positions=pos, state=S0.clone(),
                      slot_ids=torch.arange(B, dtype=i32, device=dev), cu_seqlens_q=cu_t,
                      seq_lens=lens)
        step = salac.PrefillStep(pkg, {1: inputs})
        step.output(1).fill_(float("nan"))
        step.run()
        torch.cuda.synchronize()
        row[f"{label}_err"] = rel_err(step.output(1), ref)
        row[f"{label}_state_err"] = rel_err(inputs["state"], S_ref)
        row[f"{label}_launches"] = step.num_launches
        row[f"{label}_ms"] = event_ms(torch, step.run)
    rows.append(row)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", action="append", required=True,
                    help="a package with a chunked linear kernel (repeat to compare)")
    ap.add_argument("--shapes", default="1x8K,1x32K,1x64K,1x128K,4x8K,ragged")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--layer", action="store_true",
                    help="time the whole linear layer (salac.PrefillStep of layer 1) of "
                         "each package instead: packages of salac --layers=1 "
                         "--mode=prefill, fused (--fuse-linear-prefill) or not; no fla")
    a = ap.parse_args()
    import torch
    dev = torch.device("cuda", 0)
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)
    if a.layer:
        return main_layer(torch, a, dev, gen)
    pkgs = []
    for path in a.package:
        pkg = salac.Package(path).load(0)
        ks = [k for k in pkg.kernels_for_op("sala.linear_attention")
              if k.attributes.get("form") == "chunked"]
        if not ks:
            sys.exit(f"linear_prefill: {path} has no chunked linear_attention kernel")
        seg = int(ks[0].spec.config.get("segment", 0))
        stages = int(ks[0].spec.config.get("stages", 1))
        label = (f"seg{seg}" + (f"-{stages}st" if stages > 1 else "")) if seg else "whole"
        if any(label == l for l, _ in pkgs):
            sys.exit(f"linear_prefill: two packages with the same kernel config ({label})")
        pkgs.append((label, ks[0]))
    try:
        from fla.ops.simple_gla import chunk_simple_gla as fla
    except Exception as e:  # noqa: BLE001
        print(f"fla not available: {type(e).__name__}: {e}")
        fla = None
    rows = []
    print(f"{torch.cuda.get_device_name()}; packages: {', '.join(l for l, _ in pkgs)}")
    for shape in a.shapes.split(","):
        print(json.dumps(run_shape(torch, pkgs, shape, dev, gen, fla, rows)), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    labels = [l for l, _ in pkgs] + (["fla"] if fla else [])
    print("\n| shape | tokens | " + " | ".join(f"{l} ms (err)" for l in labels) +
          (" | best salac vs fla |" if fla else " |"))
    print("|---|---:|" + "---:|" * len(labels) + ("---:|" if fla else ""))
    for r in rows:
        cells = [f"{r[l + '_ms']:.3f} ({r[l + '_err']:.1e})" for l in labels]
        tail = ""
        if fla:
            best = min(r[l + "_ms"] for l, _ in pkgs)
            tail = f" {r['fla_ms'] / best:.2f}x |"
        print(f"| {r['shape']} | {r['tokens']} | " + " | ".join(cells) + " |" + tail)


def main_layer(torch, a, dev, gen):
    rows = []
    print(f"{torch.cuda.get_device_name()}; layer of: {', '.join(a.package)}")
    for shape in a.shapes.split(","):
        print(json.dumps(run_layer_shape(torch, a.package, shape, dev, gen, rows)), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    labels = [os.path.basename(os.path.normpath(p)) for p in a.package]
    print("\n| shape | tokens | " + " | ".join(f"{l} ms (launches, err)" for l in labels) + " |")
    print("|---|---:|" + "---:|" * len(labels))
    for r in rows:
        cells = [f"{r[l + '_ms']:.3f} ({r[l + '_launches']}, {r[l + '_err']:.1e})"
                 for l in labels]
        print(f"| {r['shape']} | {r['tokens']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
