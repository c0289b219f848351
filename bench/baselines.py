#!/usr/bin/env python3
"""salac's fused decode kernels against what people run today, in one run on
one GPU (issue 6's targets):

  linear decode, one layer (q/k RMSNorm, RoPE, state update, output, full
    RMSNorm, gate), B = 1 and 64: salac's sala-fuse-linear kernel vs the
    same step in PyTorch (eager and torch.compile), and fla's
    fused_recurrent_simple_gla when it is installed;
  sparse decode, one layer's selection and attention (stage-1 scores over K1,
    group sum, max-pool, forced blocks, top-96, stage 2), B=8 n=128K and
    B=1 n=512K: salac's kernels (the fused selection, or block_scores and
    topk_blocks from a --no-fuse package; split-KV stage 2: the fused
    kernel with the dense fallback and the output gate, or sparse_attention)
    captured in one CUDA graph vs the InfLLM-V2 steps
    composed in PyTorch (eager and torch.compile) and vs PyTorch SDPA dense
    decode over the same cache.

Every salac result is first checked against the PyTorch version on the same
inputs (outputs NaN-poisoned before the run). Times: CUDA events around
replays of a CUDA graph (salac) or calls (PyTorch), after warm-up, median of
repetitions. The floor is the bytes the step must move (state read+written;
K1 plus the selected blocks' K and V) over the measured device copy rate and
over 3.0 TB/s (DESIGN.md's H100 number). Ends with a table.

  SALART_LIB=build-rt/lib/libsalart.so python3 bench/baselines.py --package pkg \
      [--unfused pkg-nofuse]
"""

import argparse
import json
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import salac  # noqa: E402

H, D, KVH, G = 32, 128, 2, 16
BLOCK, TOPK_TOTAL = 64, 96
DESIGN_BW = 3.0e12


def event_us(torch, fn, n=20, reps=7, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(n):
            fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) * 1e3 / n)
    return statistics.median(times)


def graph_of(torch, fn):
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()  # warm-up outside the capture
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    with torch.cuda.graph(g):
        fn()
    return g


def copy_bw(torch, dev):
    src = torch.empty(1 << 28, dtype=torch.float32, device=dev).normal_()
    dst = torch.empty_like(src)
    us = event_us(torch, lambda: dst.copy_(src), n=5)
    return 2 * src.nbytes / (us * 1e-6)


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def try_compile(torch, fn):
    try:
        return torch.compile(fn, dynamic=False), None
    except Exception as e:  # noqa: BLE001
        return None, f"{type(e).__name__}: {e}"


# --- linear decode ----------------------------------------------------------

def linear_case(torch, pkg, B, dev, gen, bw, rows):
    k = pkg.kernels_for_op("sala.fused_linear_attention")
    if not k:
        rows.append({"work": f"linear decode B={B}", "note": "no fused linear kernel in package"})
        return
    k = k[0]
    at = k.attributes
    slopes = torch.tensor(at["slopes"], dtype=torch.float64, device=dev)
    gamma = torch.exp(-slopes).float()
    scale = at.get("scale", 1 / math.sqrt(D))
    bf = torch.bfloat16
    r = lambda *s, sc=1.0: (torch.randn(*s, generator=gen, device=dev) * sc).to(bf)  # noqa: E731
    q, kk, v, z = r(B, H, D), r(B, H, D), r(B, H, D), r(B, H, D, sc=3.0)
    qw, kw, ow = (1 + 0.2 * torch.randn(D, generator=gen, device=dev)).to(bf), \
        (1 + 0.2 * torch.randn(D, generator=gen, device=dev)).to(bf), \
        (1 + 0.2 * torch.randn(H * D, generator=gen, device=dev)).to(bf)
    hist = 1000
    pos = torch.full((B,), hist, dtype=torch.int32, device=dev)
    S0 = torch.randn(B, H, D, D, generator=gen, device=dev) * 0.05
    S = S0.clone()
    half = D // 2
    inv = 10000.0 ** (-torch.arange(half, device=dev, dtype=torch.float64) * 2 / D)

    def torch_step(q, kk, v, z, S, pos):
        qf, kf = q.float(), kk.float()
        qf = qf * torch.rsqrt(qf.pow(2).mean(-1, keepdim=True) + 1e-6) * qw.float()
        kf = kf * torch.rsqrt(kf.pow(2).mean(-1, keepdim=True) + 1e-6) * kw.float()
        ang = (pos.double()[:, None] * inv[None]).float()
        c, s = torch.cos(ang)[:, None], torch.sin(ang)[:, None]

        def rot(x):
            a, b = x[..., :half], x[..., half:]
            return torch.cat([a * c - b * s, b * c + a * s], -1)
        qf, kf = rot(qf), rot(kf)
        Sn = gamma[None, :, None, None] * S + kf[..., :, None] * v.float()[..., None, :]
        S.copy_(Sn)
        o = scale * torch.einsum("bhd,bhde->bhe", qf, Sn)
        o = o.reshape(B, H * D)
        o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6) * ow.float()
        return (o.reshape(B, H, D) * torch.sigmoid(z.float())).to(bf)

    # salac: slots 0..B-1, every sequence continuing a history.
    out = torch.empty(B, H, D, dtype=bf, device=dev)
    args = dict(query=q, key=kk, value=v, gate=z, q_norm_weight=qw, k_norm_weight=kw,
                out_norm_weight=ow, positions=pos, state=S,
                slot_ids=torch.arange(B, dtype=torch.int32, device=dev),
                cu_seqlens_q=torch.arange(B + 1, dtype=torch.int32, device=dev),
                seq_lens=torch.full((B,), hist + 1, dtype=torch.int32, device=dev),
                output=out, scratch=torch.empty(B, H, D, device=dev),
                partials=torch.empty(B, H * D // 32, device=dev),
                counters=torch.zeros(B, dtype=torch.int32, device=dev),
                tokens=B, batch=B, slots=B)
    out.fill_(float("nan"))
    k(**args)
    S_salac = S.clone()
    S.copy_(S0)
    ref = torch_step(q, kk, v, z, S, pos)
    err, serr = rel_err(out, ref), rel_err(S_salac, S)
    bound = k.bind(**args)
    g = graph_of(torch, lambda: k.launch_raw(bound))
    t_salac = event_us(torch, g.replay, n=50)
    t_eager = event_us(torch, lambda: torch_step(q, kk, v, z, S, pos))
    comp, why = try_compile(torch, torch_step)
    t_comp = None
    if comp:
        try:
            t_comp = event_us(torch, lambda: comp(q, kk, v, z, S, pos))
        except Exception as e:  # noqa: BLE001
            why = f"{type(e).__name__}: {str(e)[:200]}"
    fla = "not installed"
    try:
        from fla.ops.simple_gla import fused_recurrent_simple_gla  # noqa: F401
        fla = "installed (not timed: different layout)"
    except Exception:  # noqa: BLE001
        pass
    nbytes = 2 * S[:B].nbytes + 5 * q.nbytes  # state read + written; q,k,v,z read, o written
    rows.append({"work": f"linear decode B={B}", "bytes": nbytes, "err": err, "state_err": serr,
                 "salac_us": t_salac, "torch_eager_us": t_eager, "torch_compile_us": t_comp,
                 "compile_note": why, "fla": fla,
                 "floor_us": nbytes / bw * 1e6, "floor_design_us": nbytes / DESIGN_BW * 1e6})


# --- sparse decode ----------------------------------------------------------

def selection_launches(torch, pkg, B, dev, q, K1pool, ktab, cu, lens, kp, nb, m1, blocks):
    """The package's selection for one batch: [(stage name, kernel, args)].
    The fused kernel (sala-fuse-sparse-select) when the package has it, else
    block_scores then topk_blocks (a --no-fuse package)."""
    s1 = -(-m1 // 512)  # stage-1 parts: 512 compressed keys each
    s1_slots = B * KVH * s1 if s1 > 1 else 0
    i32 = torch.int32
    common = dict(query=q, keys=K1pool, key_page_table=ktab, cu_seqlens_q=cu, seq_lens=lens,
                  tokens=B, batch=B, max_key_pages=kp, key_pages=B * kp, max_blocks=nb)
    fused = pkg.kernels_for_op("sala.fused_sparse_select")
    if fused:
        a = dict(common, blocks=blocks,
                 partial_scores=torch.empty(s1_slots, G, 512, device=dev),
                 partial_stats=torch.empty(B, KVH, s1, G, 2, device=dev),
                 candidates=torch.empty(fused[0].spec.param("candidates").resolve_shape(
                     dict(tokens=B, max_blocks=nb)), dtype=i32, device=dev),
                 counters=torch.zeros(B, KVH, 2, dtype=i32, device=dev),
                 tickets=torch.zeros(3, dtype=i32, device=dev),
                 select_splits=s1, select_slots=s1_slots)
        return [("select", fused[0], a)], s1
    ks = pkg.kernels_for_op("sala.block_scores")[0]
    kt = pkg.kernels_for_op("sala.topk_blocks")[0]
    scores = torch.empty(B, KVH, nb, device=dev)
    a_s = dict(common, scores=scores,
               partial_scores=torch.empty(s1_slots, G, 2048, device=dev),
               partial_stats=torch.empty(s1_slots, G, 2, device=dev),
               counters=torch.zeros(B, KVH, dtype=i32, device=dev),
               splits=s1, split_slots=s1_slots)
    a_t = dict(scores=scores, cu_seqlens_q=cu, seq_lens=lens, blocks=blocks, tokens=B,
               batch=B, max_blocks=nb)
    return [("block_scores", ks, a_s), ("topk", kt, a_t)], s1


def parse_cases(text):
    """"8x128K,1x512K" -> [(8, 131072), (1, 524288)]."""
    cases = []
    for item in text.split(","):
        m = re.fullmatch(r"\s*(\d+)x(\d+)([kK]?)\s*", item)
        if not m:
            raise SystemExit(f"--sparse-cases: '{item}' is not BxN or BxNK (e.g. 8x128K)")
        cases.append((int(m.group(1)), int(m.group(2)) * (1024 if m.group(3) else 1)))
    return cases


def torch_baselines(torch, F, torch_sparse, q, K, V, K1, B, n):
    """PyTorch eager and torch.compile of the composed steps, and SDPA dense
    decode over the same cache: (eager us, compile us, sdpa us, sdpa bytes, note)."""
    t_eager = event_us(torch, lambda: torch_sparse(q, K, V, K1), n=5, reps=5)
    comp, why = try_compile(torch, torch_sparse)
    t_comp = None
    if comp:
        try:
            t_comp = event_us(torch, lambda: comp(q, K, V, K1), n=5, reps=5)
        except Exception as e:  # noqa: BLE001
            why = f"{type(e).__name__}: {str(e)[:200]}"
    # SDPA dense decode over the same cache (heads-major copy, as a dense engine stores it).
    Kd = K[:, :n].permute(0, 2, 1, 3).contiguous()
    Vd = V[:, :n].permute(0, 2, 1, 3).contiguous()
    qd = q.view(B, H, 1, D)
    try:
        sd = lambda: F.scaled_dot_product_attention(qd, Kd, Vd, enable_gqa=True)  # noqa: E731
        t_sdpa = event_us(torch, sd, n=10)
        sdpa_bytes = Kd.nbytes + Vd.nbytes
    except Exception as e:  # noqa: BLE001
        t_sdpa, sdpa_bytes, why = None, 0, f"sdpa: {e}"
    del Kd, Vd
    return t_eager, t_comp, t_sdpa, sdpa_bytes, why


def sparse_case(torch, pkg, B, n, dev, gen, bw, rows, label="", blocks_per_sm=2,
                splits=None, baselines=True):
    import torch.nn.functional as F
    # Stage 2: the fused kernel (with the dense fallback and the gate) where
    # the package has it, else plain sparse attention (a --no-fuse package).
    ka = (pkg.kernels_for_op("sala.fused_sparse_attention")
          or pkg.kernels_for_op("sala.sparse_attention"))[0]
    bf = torch.bfloat16
    scale = 1 / math.sqrt(D)
    nb = -(-n // BLOCK)
    K = (torch.randn(B, nb * BLOCK, KVH, D, generator=gen, device=dev)).to(bf)
    V = (torch.randn(B, nb * BLOCK, KVH, D, generator=gen, device=dev)).to(bf)
    q = torch.randn(B, H, D, generator=gen, device=dev).to(bf)
    m1 = (n - 32) // 16 + 1
    # K1[i] = mean(K[16 i .. 16 i + 31]), rounded once to bf16.
    Kf = K[:, :n].float()
    csum = torch.cat([torch.zeros(B, 1, KVH, D, device=dev), Kf.cumsum(1)], 1)
    idx = torch.arange(m1, device=dev) * 16
    K1 = ((csum[:, idx + 32] - csum[:, idx]) / 32).to(bf)
    del Kf, csum
    kp = -(-m1 // 64)
    K1pool = torch.zeros(B * kp * 64, KVH, D, dtype=bf, device=dev)
    K1pool.view(B, kp * 64, KVH, D)[:, :m1] = K1
    K1pool = K1pool.view(B * kp, 64, KVH, D)
    ktab = torch.arange(B * kp, dtype=torch.int32, device=dev).view(B, kp)
    pool_k = K.view(B * nb, BLOCK, KVH, D)
    pool_v = V.view(B * nb, BLOCK, KVH, D)
    ptab = torch.arange(B * nb, dtype=torch.int32, device=dev).view(B, nb)
    cu = torch.arange(B + 1, dtype=torch.int32, device=dev)
    lens = torch.full((B,), n, dtype=torch.int32, device=dev)
    blocks = torch.empty(B, KVH, TOPK_TOTAL, dtype=torch.int32, device=dev)
    out = torch.empty(B, H, D, dtype=bf, device=dev)
    if splits is None:
        # The package's split rule (the kernel's config), with this run's
        # blocks per SM where an experiment asks for another.
        import dataclasses
        rule = dataclasses.replace(ka.spec.split_rule, blocks_per_sm=blocks_per_sm)
        splits = rule.splits(B * KVH, TOPK_TOTAL)
    slots = B * KVH * splits if splits > 1 else 0
    launches, s1 = selection_launches(torch, pkg, B, dev, q, K1pool, ktab, cu, lens, kp, nb,
                                      m1, blocks)
    a_a = dict(query=q, k_cache=pool_k, v_cache=pool_v, page_table=ptab, blocks=blocks,
               cu_seqlens_q=cu, seq_lens=lens, output=out,
               partial_o=torch.empty(slots, 16, D, device=dev),
               partial_ml=torch.empty(slots, 16, 2, device=dev),
               counters=torch.zeros(B, KVH, dtype=torch.int32, device=dev),
               tokens=B, batch=B, max_pages=nb, pages=B * nb, splits=splits,
               split_slots=slots)
    gate = None
    if "gate" in ka.spec.param_names:
        gate = (3 * torch.randn(B, H, D, generator=gen, device=dev)).to(bf)
        a_a["gate"] = gate
    launches.append(("stage2", ka, a_a))
    out.fill_(float("nan"))
    blocks.fill_(-0x5A5A5A5A)
    for _, kern, a in launches:
        kern(**a)
    torch.cuda.synchronize()

    t = n - 1
    forced_lo = t // BLOCK - 31

    def torch_sparse(q, K, V, K1, dt=bf):
        qg = q.view(B, KVH, G, D)
        s = torch.einsum("bghd,bmgd->bghm", qg, K1).float() * scale
        P = torch.softmax(s, -1).sum(2)                               # [B, 2, m1]
        Bs = F.max_pool1d(P, 5, 4, 1)[..., :nb]
        if Bs.shape[-1] < nb:
            Bs = F.pad(Bs, (0, nb - Bs.shape[-1]), value=float("-inf"))
        j = torch.arange(nb, device=q.device)
        Bs = Bs.masked_fill((j == 0) | (j >= forced_lo), float("inf"))
        sel = Bs.topk(min(TOPK_TOTAL, nb), -1).indices                # [B, 2, 96]
        Kb = K.view(B, nb, BLOCK, KVH, D).permute(0, 3, 1, 2, 4)       # [B, 2, nb, 64, D]
        gi = sel[..., None, None].expand(-1, -1, -1, BLOCK, D)
        Ks = torch.gather(Kb, 2, gi).reshape(B, KVH, -1, D)
        Vs = torch.gather(V.view(B, nb, BLOCK, KVH, D).permute(0, 3, 1, 2, 4), 2, gi) \
            .reshape(B, KVH, -1, D)
        keypos = (sel[..., None] * BLOCK + torch.arange(BLOCK, device=q.device)).reshape(B, KVH, -1)
        att = torch.einsum("bghd,bgkd->bghk", qg, Ks).float() * scale
        att = att.masked_fill((keypos > t)[:, :, None, :], float("-inf"))
        p = torch.softmax(att, -1).to(dt)
        return torch.einsum("bghk,bgkd->bghd", p, Vs).reshape(B, H, D)

    # The reference in float32: scored in bf16 (as the timed composition is),
    # near-tied blocks are selected differently and err reads 0.1-0.2.
    ref = torch_sparse(q.float(), K.float(), V.float(), K1.float(), torch.float32)
    if gate is not None:  # the fused stage 2 gates its output
        ref = ref * torch.sigmoid(gate.float())
    err = rel_err(out, ref)
    bound = [(kern, kern.bind(**a)) for _, kern, a in launches]
    g = graph_of(torch, lambda: [kern.launch_raw(b) for kern, b in bound])
    t_salac = event_us(torch, g.replay, n=20)
    # stage by stage, for the profile
    stage = {}
    for name, kern, a in launches:
        b = kern.bind(**a)
        gs = graph_of(torch, lambda kern=kern, b=b: kern.launch_raw(b))
        stage[name] = event_us(torch, gs.replay, n=20)
    t_eager = t_comp = t_sdpa = None
    why, sdpa_bytes = "baselines skipped (--salac-only)", 0
    if baselines:
        t_eager, t_comp, t_sdpa, sdpa_bytes, why = torch_baselines(
            torch, F, torch_sparse, q, K, V, K1, B, n)
    nbytes = B * KVH * m1 * D * 2 + B * KVH * TOPK_TOTAL * BLOCK * D * 2 * 2
    rows.append({"work": f"sparse decode B={B} n={n // 1024}K{label}", "bytes": nbytes,
                 "err": err,
                 "splits": splits, "stage1_splits": s1, "salac_us": t_salac, "stages_us": stage,
                 "torch_eager_us": t_eager, "torch_compile_us": t_comp, "compile_note": why,
                 "sdpa_us": t_sdpa, "sdpa_bytes": sdpa_bytes,
                 "floor_us": nbytes / bw * 1e6, "floor_design_us": nbytes / DESIGN_BW * 1e6})


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default="pkg")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--only", default="", help="linear or sparse")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--stage2-blocks-per-sm", type=int, default=2,
                    help="stage-2 split-KV policy: the package's split rule (its kernel "
                         "config) with this many blocks per SM (2 is the package's own)")
    ap.add_argument("--stage2-splits", type=int, default=None,
                    help="stage-2 split-KV blocks per (token, KV group), overriding "
                         "--stage2-blocks-per-sm")
    ap.add_argument("--sparse-cases", default="8x128K,1x512K",
                    help="sparse decode shapes, BxnK comma-separated")
    ap.add_argument("--salac-only", action="store_true",
                    help="skip the PyTorch baselines (for profiling salac's kernels)")
    ap.add_argument("--unfused", help="a package built with salac --no-fuse: its sparse "
                    "decode (block_scores, topk_blocks, stage 2) is timed too")
    a = ap.parse_args()
    import time

    import torch
    dev = torch.device("cuda", 0)
    seed = a.seed if a.seed is not None else int(time.time())
    gen = torch.Generator(device=dev).manual_seed(seed)
    pkg = salac.Package(a.package)
    pkg.load(0)
    bw = copy_bw(torch, dev)
    name = torch.cuda.get_device_name(0)
    print(f"# baselines on {name}, torch {torch.__version__}, seed {seed}, "
          f"copy {bw / 1e9:.0f} GB/s, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    rows = []
    if a.only in ("", "linear"):
        for B in (1, 64):
            linear_case(torch, pkg, B, dev, gen, bw, rows)
            print(json.dumps(rows[-1]))
    if a.only in ("", "sparse"):
        for B, n in parse_cases(a.sparse_cases):
            sparse_case(torch, pkg, B, n, dev, gen, bw, rows,
                        blocks_per_sm=a.stage2_blocks_per_sm, splits=a.stage2_splits,
                        baselines=not a.salac_only)
            print(json.dumps(rows[-1]))
            torch.cuda.empty_cache()
            if a.unfused:
                unfused = salac.Package(a.unfused)
                unfused.load(0)
                sparse_case(torch, unfused, B, n, dev, gen, bw, rows, label=" (unfused)",
                            baselines=not a.salac_only)
                print(json.dumps(rows[-1]))
                torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": name, "copy_Bps": bw, "seed": seed, "rows": rows}, f, indent=1)
    print("\n| work | salac us | floor us (copy / 3.0 TB/s) | x floor | torch eager us | "
          "torch.compile us | SDPA dense us | err |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if "salac_us" not in r:
            print(f"| {r['work']} | {r.get('note')} |")
            continue
        print(f"| {r['work']} | {fmt(r['salac_us'])} | {fmt(r['floor_us'])} / "
              f"{fmt(r['floor_design_us'])} | {r['salac_us'] / r['floor_us']:.2f} | "
              f"{fmt(r['torch_eager_us'])} | {fmt(r['torch_compile_us'])} | "
              f"{fmt(r.get('sdpa_us'))} | {r['err']:.1e} |")
    for r in rows:
        if r.get("stages_us"):
            print(f"{r['work']}: stages " + ", ".join(f"{k} {v:.1f} us"
                                                     for k, v in r["stages_us"].items())
                  + f" (splits: stage 1 {r['stage1_splits']}, stage 2 {r['splits']})")


if __name__ == "__main__":
    main()
