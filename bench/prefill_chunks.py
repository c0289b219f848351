#!/usr/bin/env python3
"""Chunked prefill against one long prefill (issue 15, point 5), on one GPU.

A serving engine prefills a long prompt in chunks (8K at a time, say), each
appended to the cache and state that the previous chunks left. The result
must be what one prefill of the whole prompt gives. For the package's
prefill mixers of the layers asked (default: 0, a sparse layer, and 1, a
linear one), over a batch of sequences that continue histories of their own
(the first is fresh):

  1. every layer's inputs: random q, k, v, gate and norm weights for all the
     new tokens; KV caches in pages shuffled across the pool holding random
     histories, their compressed keys (salac.reference), a state pool of
     random slots;
  2. one salac.PrefillStep over all the new tokens, from copies of the
     caches, compressed keys and states;
  3. the same tokens as `--chunks` PrefillSteps of equal chunks per sequence,
     each continuing the cache, keys and states that the last one wrote;
  4. per layer: the outputs (rows reassembled in one order) and everything
     the steps wrote (K/V pages, compressed keys, states) against each other.

Linear layers must agree bit for bit (chunk boundaries stay on 64-token
chunks; the state between steps is the f32 slot). Sparse layers agree to
rounding: a chunk's selection kernel may split its work differently, and a
near-tie between two blocks' scores can then change a row's selection (the
rows that differ by more than rounding are counted and shown). A sparse
layer takes its dense path while a sequence is shorter than dense_len
(8192) after the step, so a sequence that crosses it between chunks is
computed differently by design: the default histories keep every sequence
on one side (a fresh one below, the others above).

  SALART_LIB=build-rt/lib/libsalart.so python3 bench/prefill_chunks.py \\
      --package pkg [--layers 0,1] [--chunk 2048 --chunks 3] [--histories 0,9000,20000]
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import salac  # noqa: E402
from salac import opcases  # noqa: E402
from salac.opcases.base import page_table as make_page_table  # noqa: E402
from salac.opcases.base import randn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_step import cache_and_state_inputs  # noqa: E402


def layer_inputs(torch, plan, histories, new, device, gen, tables):
    """Every input of one prefill mixer for all `new` tokens of each sequence
    after its history; caches and pools as the whole prefill finds them."""
    T = new * len(histories)
    final = [h + new for h in histories]
    d = {}
    by_type = {a.type: a for a in plan.arguments}
    kv, ck, st = (by_type.get(t) for t in ("kv_cache", "compressed_keys", "state_pool"))

    def table(page_size, entries):
        key = (page_size, tuple(entries))
        if key not in tables:
            tables[key] = make_page_table(entries, page_size, device, gen)
        return tables[key]

    for a in plan.arguments:
        for b in a.buffers:
            n = b.name
            if a.type == "tensor" and b.shape and b.shape[0] == "tokens":
                d[n] = randn((T,) + tuple(b.shape[1:]), b.dtype, device, gen,
                             3.0 if n == "gate" else 1.0)
            elif n.endswith("norm_weight"):
                d[n] = (1.0 + 0.2 * torch.randn(tuple(b.shape), generator=gen, device=device)
                        ).to(opcases.torch_dtype(b.dtype))
    d.update(cache_and_state_inputs(torch, kv, ck, st, histories, final, table, device, gen))
    missing = [n for n in plan.input_names
               if n not in d and n not in ("cu_seqlens_q", "seq_lens", "positions")]
    if missing:
        raise RuntimeError(f"{plan.name}: prefill_chunks does not know how to make "
                           f"{', '.join(missing)}")
    return d


def batch_metadata(torch, histories, done, count, device):
    """cu_seqlens_q, seq_lens and positions of a step that appends `count`
    tokens to each sequence after `done` of its new ones."""
    i32 = torch.int32
    B = len(histories)
    cu = torch.arange(B + 1, dtype=i32, device=device) * count
    lens = torch.tensor([h + done + count for h in histories], dtype=i32, device=device)
    pos = torch.cat([torch.arange(h + done, h + done + count, dtype=i32, device=device)
                     for h in histories])
    return {"cu_seqlens_q": cu, "seq_lens": lens, "positions": pos}


def rows_of(torch, B, new, done, count, device):
    """Rows of the whole step's token tensors that a chunk step takes, in its order."""
    return torch.cat([torch.arange(b * new + done, b * new + done + count, device=device)
                      for b in range(B)])


def run(torch, pkg, plans, histories, chunk, chunks, device, gen):
    new = chunk * chunks
    B = len(histories)
    tables = {}
    base = {p.layer: layer_inputs(torch, p, histories, new, device, gen, tables) for p in plans}
    state_names = {p.layer: [b.name for a in p.arguments if a.written for b in a.buffers]
                   for p in plans}

    def fresh_copy():
        return {layer: {n: (t.clone() if n in state_names[layer] else t)
                        for n, t in d.items()} for layer, d in base.items()}

    # One prefill of every new token.
    whole = fresh_copy()
    meta = batch_metadata(torch, histories, 0, new, device)
    step = salac.PrefillStep(pkg, {p.layer: {n: (meta[n] if n in meta else whole[p.layer][n])
                                             for n in p.input_names} for p in plans})
    step.run()
    torch.cuda.synchronize()
    whole_out = {p.layer: step.output(p.layer).clone() for p in plans}

    # The same tokens in chunks.
    parts = fresh_copy()
    chunk_out = {p.layer: torch.empty_like(whole_out[p.layer]) for p in plans}
    for c in range(chunks):
        rows = rows_of(torch, B, new, c * chunk, chunk, device)
        meta = batch_metadata(torch, histories, c * chunk, chunk, device)
        layers = {}
        for p in plans:
            d = {}
            for n in p.input_names:
                t = parts[p.layer][n]
                if n in meta:
                    d[n] = meta[n]
                elif n in state_names[p.layer] or t.dim() == 0 or t.shape[0] != B * new:
                    d[n] = t
                else:
                    d[n] = t[rows].contiguous()
            layers[p.layer] = d
        step = salac.PrefillStep(pkg, layers)
        step.run()
        torch.cuda.synchronize()
        for p in plans:
            chunk_out[p.layer][rows] = step.output(p.layer)

    results = []
    for p in plans:
        r = {"layer": p.layer, "kind": p.kind}
        o1, o2 = whole_out[p.layer].double(), chunk_out[p.layer].double()
        r["output_max_rel"] = float((o1 - o2).abs().max() / o1.abs().max().clamp(min=1e-30))
        r["output_bits_equal"] = bool(torch.equal(whole_out[p.layer], chunk_out[p.layer]))
        rowdiff = (o1 - o2).abs().amax(dim=tuple(range(1, o1.dim())))
        r["rows_off_by_more_than_1e-2"] = int((rowdiff > 1e-2 * o1.abs().max()).sum())
        for n in state_names[p.layer]:
            a, b = whole[p.layer][n], parts[p.layer][n]
            r[f"{n}_bits_equal"] = bool(torch.equal(a, b))
            r[f"{n}_max_abs"] = float((a.double() - b.double()).abs().max())
        results.append(r)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default="pkg", help="a package with prefill mixers")
    ap.add_argument("--layers", default="0,1")
    ap.add_argument("--histories", default="0,9000,20000",
                    help="tokens each sequence has cached before the prompt (0: fresh)")
    ap.add_argument("--chunk", type=int, default=2048, help="new tokens a chunk, a sequence")
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    import torch
    device = torch.device("cuda", 0)
    gen = torch.Generator(device=device)
    gen.manual_seed(a.seed)
    pkg = salac.Package(a.package).load(0)
    want = [int(x) for x in a.layers.split(",")]
    plans = [p for p in pkg.manifest.mixers_for("prefill") if p.layer in want]
    if not plans:
        sys.exit(f"prefill_chunks: {a.package} has no prefill mixer for layers {want}")
    histories = [int(x) for x in a.histories.split(",")]
    print(f"{torch.cuda.get_device_name()}: {len(histories)} sequences, histories "
          f"{histories}, {a.chunks} x {a.chunk} new tokens each")
    results = run(torch, pkg, plans, histories, a.chunk, a.chunks, device, gen)
    for r in results:
        print(json.dumps(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    ok = all(r["output_bits_equal"] if r["kind"] == "linear" else
             r["output_max_rel"] < 1e-2 or r["rows_off_by_more_than_1e-2"] <= 2
             for r in results)
    print("prefill_chunks:", "chunked prefill agrees with one prefill" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
