#!/usr/bin/env python3
"""A sparse layer at prefill against flex_attention and SDPA, on one GPU in one
run (issue 15, points 2-4 and 7): one fresh sequence of T tokens (default
32K, 64K, 128K), MiniCPM-SALA's layer 0 (32 query heads over 2 KV heads,
head_dim 128, 64-token blocks, top-64 plus the forced blocks).

  salac     the package's prefill mixer of layer 0 through salac.PrefillStep:
            the whole layer, and each of its launches alone (the KV update,
            the selection, stage 2 with the dense fallback and the gate);
  flex      torch's flex_attention over exactly salac's selection: a BlockMask
            whose 64-query blocks take the union of their tokens' blocks, and
            a mask_mod that keeps each token to its own blocks and the causal
            part, so its output must match salac's stage 2 (checked, gated the
            same way, before anything is timed);
  sdpa      dense causal GQA attention (F.scaled_dot_product_attention).

Useful work: 4 x head_dim flops per (query head, attended key): the selected
keys up to each token for salac's stage 2 and flex, every key up to it for
SDPA. Times: CUDA events after warm-up, median. Ends with a table.

  SALART_LIB=build-rt/lib/libsalart.so python3 bench/sparse_prefill.py --package pkg
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import salac  # noqa: E402
from linear_prefill import event_ms  # noqa: E402
from prefill_chunks import batch_metadata, layer_inputs  # noqa: E402

BLOCK = 64


def parse_length(s):
    s = s.strip().lower()
    return int(s[:-1]) * 1024 if s.endswith("k") else int(s)


def bound_tensor(step, layer, op, param):
    """The tensor bound to `param` of the first launch of `op` in a layer."""
    mixer = next(m for m in step._mixers if m.plan.layer == layer)
    for launch in mixer.plan.launches:
        if launch.op == op:
            name = next(b.name for b in launch.args if b.param == param)
            return mixer.tensors[name]
    raise KeyError(f"no {op} launch in layer {layer}")


def selected_keys(torch, blocks, T):
    """[T, G] keys each token attends over its selection (causal part)."""
    pos = torch.arange(T, device=blocks.device)[:, None, None]
    first = blocks.long() * BLOCK
    n = (pos + 1 - first).clamp(0, BLOCK)
    return torch.where(blocks >= 0, n, torch.zeros_like(n)).sum(-1)


def flex_peer(torch, q, k, v, blocks, T, heads, kv_heads):
    """flex_attention over exactly `blocks` ([T, G, K] ascending, -1 padded)."""
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    G, nb, nqb = kv_heads, -(-T // BLOCK), -(-T // BLOCK)
    dev = q.device
    valid = blocks >= 0
    tok = torch.arange(T, device=dev)[:, None, None].expand_as(blocks)
    grp = torch.arange(G, device=dev)[None, :, None].expand_as(blocks)
    per_token = torch.zeros(G, T, nb, dtype=torch.bool, device=dev)
    per_token[grp[valid], tok[valid], blocks[valid].long()] = True
    union = torch.zeros(G, nqb, nb, dtype=torch.bool, device=dev)
    union[grp[valid], tok[valid] // BLOCK, blocks[valid].long()] = True
    counts = union.sum(-1).to(torch.int32)                               # [G, nqb]
    order = torch.arange(nb, device=dev).expand(G, nqb, nb)
    indices = torch.sort(torch.where(union, order, nb + order), dim=-1).values
    indices = torch.where(indices >= nb, torch.zeros_like(indices), indices).to(torch.int32)
    rep = heads // G  # the group's query heads share its blocks
    counts_h = counts.repeat_interleave(rep, 0)[None].contiguous()
    indices_h = indices.repeat_interleave(rep, 0)[None].contiguous()

    def mask_mod(b, h, q_idx, kv_idx):
        return per_token[h // rep, q_idx, kv_idx // BLOCK] & (kv_idx <= q_idx)

    mask = BlockMask.from_kv_blocks(counts_h, indices_h, BLOCK_SIZE=BLOCK, mask_mod=mask_mod,
                                    seq_lengths=(T, T))
    flex = torch.compile(flex_attention)
    qt = q.transpose(0, 1)[None]          # [1, H, T, D]
    kt, vt = k.transpose(0, 1)[None], v.transpose(0, 1)[None]

    def call():
        return flex(qt, kt, vt, block_mask=mask, enable_gqa=True)
    return call


def run_length(torch, pkg, plan, T, dev, gen, rows, reps):
    import torch.nn.functional as F
    tables = {}
    d = layer_inputs(torch, plan, [0], T, dev, gen, tables)
    meta = batch_metadata(torch, [0], 0, T, dev)
    step = salac.PrefillStep(pkg, {plan.layer: {n: meta.get(n, d.get(n))
                                                for n in plan.input_names}})
    out = step.output(plan.layer)
    out.fill_(float("nan"))
    step.run()
    torch.cuda.synchronize()
    q, k, v, z = d["query"], d["key"], d["value"], d["gate"]
    H, D, G = q.shape[1], q.shape[2], k.shape[1]
    row = {"tokens": T}
    blocks = bound_tensor(step, plan.layer, "sala.fused_sparse_select", "blocks")
    keys = selected_keys(torch, blocks, T)
    useful = 4 * D * (H // G) * int(keys.sum())
    dense_useful = 4 * D * H * T * (T + 1) // 2
    # flex over the same selection, gated as salac's output is.
    flex = flex_peer(torch, q, k, v, blocks, T, H, G)
    f = flex()[0].transpose(0, 1)
    gated = (f.float() * torch.sigmoid(z.float())).to(out.dtype)
    ref = gated.double()
    row["err_vs_flex"] = float((out.double() - ref).abs().max() / ref.abs().max())
    row["nonfinite"] = int((~torch.isfinite(out)).sum())
    # Times.
    row["salac_layer_ms"] = event_ms(torch, step.run, reps)
    mixer = next(m for m in step._mixers if m.plan.layer == plan.layer)
    for (kernel, values), launch in zip(mixer.launches, mixer.plan.launches):
        row[f"salac_{launch.op.split('.')[-1]}_ms"] = event_ms(
            torch, lambda: kernel.launch_raw(values), reps)
    row["flex_ms"] = event_ms(torch, flex, reps)
    qt, kt, vt = q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None]
    row["sdpa_ms"] = event_ms(torch, lambda: F.scaled_dot_product_attention(
        qt, kt, vt, is_causal=True, enable_gqa=True), reps)
    stage2 = row.get("salac_fused_sparse_attention_ms")
    row["useful_tflop"] = useful / 1e12
    row["stage2_tflops"] = useful / (stage2 * 1e-3) / 1e12 if stage2 else None
    row["flex_tflops"] = useful / (row["flex_ms"] * 1e-3) / 1e12
    row["sdpa_tflops"] = dense_useful / (row["sdpa_ms"] * 1e-3) / 1e12
    rows.append(row)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default="pkg", help="a package with a prefill sparse mixer")
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--lengths", default="32K,64K,128K")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args()
    import torch
    dev = torch.device("cuda", 0)
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)
    pkg = salac.Package(a.package).load(0)
    plan = next((p for p in pkg.manifest.mixers_for("prefill") if p.layer == a.layer), None)
    if plan is None or plan.kind != "sparse":
        sys.exit(f"sparse_prefill: {a.package} has no sparse prefill mixer for layer {a.layer}")
    rows = []
    print(f"{torch.cuda.get_device_name()}; {plan.name}")
    for s in a.lengths.split(","):
        print(json.dumps(run_length(torch, pkg, plan, parse_length(s), dev, gen, rows,
                                    a.reps)), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    fmt = lambda x: "-" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")  # noqa
    print("\n| T | salac layer ms | select ms | stage 2 ms (TF/s) | flex ms (TF/s) | "
          "SDPA ms (TF/s) | err vs flex |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['tokens']} | {fmt(r['salac_layer_ms'])} | "
              f"{fmt(r.get('salac_fused_sparse_select_ms'))} | "
              f"{fmt(r.get('salac_fused_sparse_attention_ms'))} ({fmt(r['stage2_tflops'])}) | "
              f"{fmt(r['flex_ms'])} ({fmt(r['flex_tflops'])}) | "
              f"{fmt(r['sdpa_ms'])} ({fmt(r['sdpa_tflops'])}) | {r['err_vs_flex']:.1e} |")
    if math.isnan(max(r["err_vs_flex"] for r in rows)) or any(
            r["err_vs_flex"] > 2e-2 or r["nonfinite"] for r in rows):
        print("sparse_prefill: salac's output does not match flex over the same selection")
        sys.exit(1)


if __name__ == "__main__":
    main()
