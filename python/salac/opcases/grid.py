"""The correctness grid (bench/grid.py): per op, decode batches of 1, 8 and
32 sequences with ragged contexts up to 128K, prefill chunks of 1024 and
8192 queries onto existing caches of 16K-64K tokens, every shape drawn from
a seeded random.Random so that a grid is reproducible from its seed. Page
size is the kernel's (a compile-time attribute): the grid is run once per
package.

Scenario lengths are pure Python (testable without torch); the selection
check (classify_selection) needs torch.

Regimes, as the model uses the ops:
  kv       kv_append, compress_keys, fused_kv_update: contexts 1..128K, fresh and continuing
           prefills; for compress_keys half of each decode batch completes a
           compression window (and so writes an entry), half does not;
  sparse   block_scores, topk_blocks, fused_sparse_select, sparse_attention:
           contexts >= dense_len
           (8192) up to 128K, where the sparse path is the one used, and a
           "long" decode past 1M tokens (the selections' multi-round and
           unstaged paths); a selection that skips the sequences below
           dense_len (manifest skip_below_seq_len) also batches straddling it;
  stage2   fused_sparse_attention (stage 2 with the dense fallback): the
           sparse regime's batches, the dense regime's batches below
           dense_len, and batches that straddle it;
  dense    dense_attention: contexts < dense_len, as the model runs it, plus
           "long" cases (decode and prefill up to 32K) the kernel must also
           get right;
  linear   the recurrent form: decode batches (fresh and continuing slots)
           and a small ragged multi-token batch; the chunked form: prefills of
           1024- and 8192-token chunks, fresh and continuing;
  select   length_select: lengths on both sides of its threshold;
  tokens   the elementwise ops (rms_norm, rope, sigmoid_gate): token counts
           of the decode batches and of the prefills.
"""

import random
from collections import namedtuple

Config = namedtuple("Config", "dense_len max_context decode_batches prefill_chunks history "
                              "long_dense long_sparse")
# The grid of the issue: contexts up to 128K, chunks of 1K and 8K queries onto
# 16K-64K cached tokens, dense attention up to dense_len (and 32K, "long").
# Sparse decode also once past 1M tokens (the model's range): more blocks than
# the selections hold in registers or shared memory at once.
FULL = Config(dense_len=8192, max_context=1 << 17, decode_batches=(1, 8, 32),
              prefill_chunks=(1024, 8192), history=(16384, 65536), long_dense=32768,
              long_sparse=(1 << 20) + 40000)
# The same shapes scaled down, for a CPU dry run of the plumbing and the tests.
SMALL = Config(dense_len=512, max_context=2048, decode_batches=(1, 3, 5),
               prefill_chunks=(64, 256), history=(600, 1500), long_dense=1024,
               long_sparse=3000)
# Small shapes on the GPU, for compute-sanitizer (which runs kernels ~100x
# slower): the kernels' own dense_len (8192), a few sequences, contexts to
# 13K, so that every path (dense, sparse, straddling) still runs.
# Prefill histories start past dense_len, so that sparse prefills take the
# sparse path.
COMPACT = Config(dense_len=8192, max_context=12288, decode_batches=(1, 3, 5),
                 prefill_chunks=(64, 256), history=(8800, 11000), long_dense=9000,
                 long_sparse=13000)
# A selection difference is put down to rounding when every block that one
# side selects and the other does not has a reference score within this
# relative distance of every block it was swapped with (see classify_selection).
TIE_RTOL = 1e-5


def family(spec):
    """The grid regime of a kernel (see the module doc), or None."""
    op = spec.op
    if op in ("sala.kv_append", "sala.compress_keys", "sala.fused_kv_update"):
        return "kv"
    if op in ("sala.block_scores", "sala.topk_blocks", "sala.fused_sparse_select",
              "sala.sparse_attention"):
        return "sparse"
    if op == "sala.fused_sparse_attention":
        return "stage2"
    if op == "sala.dense_attention":
        return "dense"
    if op == "sala.linear_attention":
        return "linear-" + str(spec.attributes.get("form", "recurrent"))
    if op == "sala.fused_linear_attention":  # a linear attention with more stages
        return "linear-" + str(spec.attributes.get("form", "recurrent"))
    if op == "sala.length_select":
        return "select"
    if op in ("sala.rms_norm", "sala.rope", "sala.sigmoid_gate", "sala.fused_rms_norm_gate"):
        return "tokens"
    return None


def _draw(rng, n, lo, hi, edges=()):
    """n ragged lengths in [lo, hi]: the edge values that lie there first,
    then uniform draws, shuffled."""
    out = [e for e in edges if lo <= e <= hi][:n]
    out += [rng.randint(lo, hi) for _ in range(n - len(out))]
    rng.shuffle(out)
    return out


def _decode(label, contexts, **extra):
    return dict(label=label, kind="decode", q_lens=[1] * len(contexts),
                seq_lens=list(contexts), tokens=len(contexts), **extra)


def _prefill(label, q_lens, histories, **extra):
    return dict(label=label, kind="prefill", q_lens=list(q_lens),
                seq_lens=[q + h for q, h in zip(q_lens, histories)], tokens=sum(q_lens),
                **extra)


def _window_end(n, kernel=32, stride=16):
    """The largest length <= n at which a compression window completes."""
    return n if n < kernel else kernel + stride * ((n - kernel) // stride)


def _decode_contexts(c, rng, lo, hi, edges):
    """{batch: contexts}: the largest context alone, then ragged batches, the
    smaller batch taking the first edges."""
    b1, b2, b3 = c.decode_batches
    return {b1: [hi] * b1, b2: _draw(rng, b2, lo, hi, edges[:3] + (hi,)),
            b3: _draw(rng, b3, lo, hi, edges[3:] + (hi - 1,))}


def _chunks(c, rng, fresh):
    """The two prefills: 4 chunks of the small size, and 2 of the large one
    plus a short tail, onto ragged histories (the first fresh if asked)."""
    small, large = c.prefill_chunks
    h0, h1 = c.history
    first = [0] if fresh else []
    return [_prefill(f"prefill 4x{small}", [small] * 4,
                     first + _draw(rng, 4 - len(first), h0, h1, (h0,))),
            _prefill(f"prefill {large}+{large}+{small - 24}", [large, large, small - 24],
                     first + _draw(rng, 3 - len(first), h0, h1, (h1 - large,)))]


def kv_scenarios(rng, align_windows=False, c=FULL):
    d = c.dense_len
    dec = _decode_contexts(c, rng, 1, c.max_context, (1, 64, 65, 2, 63, 128, d - 1, d, d + 1))
    out = []
    for b in c.decode_batches:
        ctx = dec[b]
        if align_windows:  # every other sequence completes a window this step
            ctx = [_window_end(n) if i % 2 == 0 else n for i, n in enumerate(ctx)]
        out.append(_decode(f"decode B={b}", ctx))
    return out + _chunks(c, rng, fresh=True)


def sparse_scenarios(rng, c=FULL):
    lo, hi = c.dense_len, c.max_context
    dec = _decode_contexts(c, rng, lo, hi, (lo, lo + 1, lo + 64, lo + 63, hi // 2))
    out = [_decode(f"decode B={b}", dec[b]) for b in c.decode_batches]
    out += _chunks(c, rng, fresh=False)
    out.append(_decode("long decode B=2", [c.long_sparse, c.long_sparse * 2 // 3]))
    for sc in out:
        sc["local_blocks"] = 32  # stage-2 selections include the local window
    return out


def fallback_scenarios(rng, c=FULL):
    """The short side of a fused stage 2 (dense fallback): the dense regime's
    batches below dense_len, then a decode batch and a prefill on both sides
    of it."""
    d, (small, _) = c.dense_len, c.prefill_chunks
    out = [{**sc, "label": "short " + sc["label"]} for sc in dense_scenarios(rng, c)
           if not sc["label"].startswith("long")]
    b2 = c.decode_batches[1]
    out.append(_decode(f"straddling decode B={b2}",
                       _draw(rng, b2, 1, c.max_context, (1, d - 1, d, d + 1, c.max_context))))
    out.append(_prefill(f"straddling prefill {small}x2", [small, small], [0, d]))
    for sc in out:
        sc["local_blocks"] = 32
    return out


def near_uniform(scs, scales=(1e-3, 1e-4)):
    """Stage-1 stress of the selection: queries scaled down so that attention
    is close to uniform and block scores crowd within 1e-4..1e-6 of each
    other at the top-k boundary, where f32 rounding can reorder them. The
    largest decode batch, the first prefill and the long decode (past 1M
    tokens), at each scale."""
    decs = [sc for sc in scs if sc["kind"] == "decode"]
    dec = [sc for sc in decs if not sc["label"].startswith("long")][-1]
    pre = [sc for sc in scs if sc["kind"] == "prefill"][0]
    picked = [dec, pre] + [sc for sc in decs if sc["label"].startswith("long")]
    out = []
    for q in scales:
        for sc in picked:
            out.append({**sc, "label": f"{sc['label']}, near-uniform q x{q:g}",
                        "query_scale": q})
    return out


def dense_scenarios(rng, c=FULL):
    top, (small, large), long = c.dense_len - 1, c.prefill_chunks, c.long_dense
    dec = _decode_contexts(c, rng, 1, top, (1, 64, 65, 2, 63, 128, 129))
    b2, tail = c.decode_batches[1], small * 2 // 3
    return [_decode(f"decode B={b}", dec[b]) for b in c.decode_batches] + [
        _prefill(f"prefill {small}x3+{tail}", [small] * 3 + [tail],
                 [0] + _draw(rng, 2, 1, top - small) + [top - tail]),
        _prefill(f"prefill {top} (fresh)", [top], [0]),
        _decode(f"long decode B={b2}", _draw(rng, b2, c.dense_len, long, (long,))),
        _decode("long decode B=1", [c.max_context]),
        _prefill(f"long prefill {small}+{large}", [small, large], [long - small, long - large]),
    ]


def linear_scenarios(rng, form, c=FULL, segment=0):
    if form == "chunked":  # lengths that are and are not multiples of the chunk (64)
        small = c.prefill_chunks[0]
        out = [_prefill(f"prefill {small}x3+100", [small] * 3 + [100],
                        [0] + _draw(rng, 3, *c.history))] + _chunks(c, rng, fresh=True)[1:]
        if segment:  # chained segments: one, several, a partial last one; fresh, continuing
            q = [3 * segment + 37, 1, 2 * segment, segment + 64, 100, segment]
            out.append(_prefill(f"segments of {segment}: {'+'.join(map(str, q))}", q,
                                [0, 0] + _draw(rng, 4, *c.history)))
            out.append(_prefill(f"segments of {segment}: 1x{9 * segment + 5} fresh",
                                [9 * segment + 5], [0]))
        return out
    out = []
    for b in c.decode_batches:   # one sequence in eight fresh (seq_len 1)
        ctx = _draw(rng, b, 2, c.max_context)
        for i in range(0, b, 8):
            ctx[i] = 1 if b > 1 else ctx[i]
        out.append(_decode(f"decode B={b}", ctx))
    out.append(_prefill("ragged 3+1+7+2", [3, 1, 7, 2], [100, 0, 5000, 70000]))
    return out


def select_scenarios(rng, threshold, c=FULL):
    t, (small, large) = threshold, c.prefill_chunks
    b1, b2, b3 = c.decode_batches
    return [_decode(f"decode B={b1}", [t] * b1),
            _decode(f"decode B={b2}", _draw(rng, b2, 1, 2 * t, (1, t - 1, t, t + 1))),
            _decode(f"decode B={b3}", _draw(rng, b3, 1, c.max_context, (t - 1, t, t + 1))),
            _prefill(f"prefill {small}+{large}+{small}", [small, large, small],
                     [0, c.history[1], t - 1 - small])]


def token_scenarios(c=FULL):
    small, large = c.prefill_chunks
    counts = list(c.decode_batches) + [small, large, 2 * large + small - 24]
    return [dict(label=f"tokens={n}", kind="decode" if n <= max(c.decode_batches)
                 else "prefill", tokens=n) for n in counts]


def scenarios(spec, seed=0, c=FULL):
    """The grid's scenarios for a kernel: dicts with label, kind, tokens and,
    for batched ops, q_lens and seq_lens (read by the cases' make_inputs).
    The same seed gives the same lengths for every kernel of a family, so
    that stage 1, top-k and stage 2 see the same batches."""
    fam = family(spec)
    rng = random.Random(f"{seed}:{fam}")
    if fam == "kv":
        return kv_scenarios(rng, spec.op in ("sala.compress_keys", "sala.fused_kv_update"), c)
    if fam == "sparse":
        out = sparse_scenarios(rng, c)
        if spec.op in ("sala.block_scores", "sala.fused_sparse_select"):
            out += near_uniform(out)
        if spec.attributes.get("skip_below_seq_len"):  # the skipped short side too
            out += [sc for sc in fallback_scenarios(random.Random(f"{seed}:fallback"), c)
                    if sc["label"].startswith("straddling")]
        return out
    if fam == "stage2":  # the sparse family's batches, then the short side
        return (sparse_scenarios(random.Random(f"{seed}:sparse"), c)
                + fallback_scenarios(rng, c))
    if fam == "dense":
        return dense_scenarios(rng, c)
    if fam and fam.startswith("linear-"):
        return linear_scenarios(rng, fam[len("linear-"):], c,
                                int(spec.config.get("segment", 0)))
    if fam == "select":
        return select_scenarios(rng, int(spec.attributes.get("threshold", c.dense_len)), c)
    if fam == "tokens":
        return token_scenarios(c)
    return []


def describe(sc):
    """Shape of a scenario in words: tokens, batch, context range."""
    if "seq_lens" not in sc:
        return f"tokens={sc['tokens']}"
    q, n = sc["q_lens"], sc["seq_lens"]
    return (f"tokens={sum(q)}, batch={len(q)}, context {min(n)}..{max(n)}"
            + (f", q_lens={q}" if sc.get("kind") == "prefill" else ""))


# --- top-k selections against the reference ----------------------------------

def forced_mask(positions, num_blocks, block_size=64, init_blocks=1, local_blocks=32):
    """[T, 1, nb] bool: the blocks topk_blocks forces (+inf) for each token."""
    import torch
    cur = (positions // block_size)[:, None, None]
    j = torch.arange(num_blocks, device=positions.device)[None, None, :]
    return (j < init_blocks) | ((j >= cur - local_blocks + 1) & (j <= cur))


def classify_selection(sel, ref_sel, ref_scores, gpu_scores, positions, *, block_size=64,
                       init_blocks=1, local_blocks=32, rtol=TIE_RTOL, max_detail=20000):
    """Compares selections sel and ref_sel ([T, G, K] int32, ascending, -1
    padded) row by row (a row = one token and KV group). ref_sel is the
    reference top-k of the reference (float64) scores, sel the kernel's.

    A differing row is tie-explained when both select the same number of
    blocks and every block a in sel \\ ref_sel and b in ref_sel \\ sel have
    reference scores within rtol of each other, relative to the larger
    (both +inf or both -inf count as equal): the two selections then differ
    only in the order of near-equal scores at the selection boundary. Any
    other difference is a mismatch.

    Also counts the rows where the selection boundary is tied in the
    reference: candidates beyond K exist and the K-th and (K+1)-th best
    reference scores (forced blocks +inf) are equal (exact_tie_rows: with
    random data mostly two neighbouring blocks whose max-pool windows share
    their best entry) or within rtol (near_tie_rows).
    Returns a dict of counts, the largest relative gap among tie-explained
    rows, the largest relative error of gpu_scores at their swapped blocks,
    and up to 10 examples of mismatches."""
    import torch
    T, G, K = sel.shape
    nb = ref_scores.shape[-1]
    key = ref_scores.to(torch.float64)
    forced = forced_mask(positions, nb, block_size, init_blocks, local_blocks)
    key = key.masked_fill(forced, float("inf"))
    cand = (torch.arange(nb, device=key.device)[None, None, :]
            <= (positions // block_size)[:, None, None])
    ranked = key.masked_fill(~cand, float("-inf"))
    n_cand = cand.sum(-1).expand(T, G)
    near = exact_tie = torch.zeros((T, G), dtype=torch.bool, device=key.device)
    if nb > K:
        top = torch.topk(ranked, K + 1, dim=-1).values
        a, b = top[..., K - 1], top[..., K]
        fin = (n_cand > K) & torch.isfinite(a) & torch.isfinite(b)
        exact_tie = fin & (a == b)
        near = fin & (a != b) & ((a - b).abs() <= rtol * torch.maximum(a.abs(), b.abs()))
    differ = (sel != ref_sel).any(-1)
    rows = differ.nonzero().tolist()
    out = {"rows": T * G, "exact": T * G - len(rows), "tie_explained": 0, "mismatch": 0,
           "exact_tie_rows": int(exact_tie.sum()), "near_tie_rows": int(near.sum()),
           "max_tie_gap": 0.0, "max_swap_gpu_err": 0.0,
           "unexamined": max(0, len(rows) - max_detail), "examples": []}
    out["mismatch"] += out["unexamined"]
    g_scores = gpu_scores.to(torch.float64) if gpu_scores is not None else None
    for t, g in rows[:max_detail]:
        s_sel = {int(x) for x in sel[t, g].tolist() if x >= 0}
        s_ref = {int(x) for x in ref_sel[t, g].tolist() if x >= 0}
        extra, missing = sorted(s_sel - s_ref), sorted(s_ref - s_sel)
        gap = float("inf")
        if len(extra) == len(missing) and extra and all(0 <= x < nb for x in extra + missing):
            k = key[t, g]
            ka, kb = k[extra][:, None], k[missing][None, :]
            same_inf = torch.isinf(ka) & (ka == kb)
            d = torch.where(same_inf, torch.zeros_like(ka - kb), (ka - kb).abs())
            scale = torch.maximum(ka.abs(), kb.abs())
            rel = torch.where(d == 0, torch.zeros_like(d), d / scale)
            gap = float(rel.max())
        if gap <= rtol:
            out["tie_explained"] += 1
            out["max_tie_gap"] = max(out["max_tie_gap"], gap)
            if g_scores is not None:
                idx = extra + missing
                r, o = ref_scores[t, g, idx].to(torch.float64), g_scores[t, g, idx]
                fin = torch.isfinite(r) & (r != 0)
                if fin.any():
                    err = float(((o - r).abs()[fin] / r.abs()[fin]).max())
                    out["max_swap_gpu_err"] = max(out["max_swap_gpu_err"], err)
        else:
            out["mismatch"] += 1
            if len(out["examples"]) < 10:
                out["examples"].append({"row": t, "group": g, "position": int(positions[t]),
                                        "kernel_only": extra[:8], "reference_only": missing[:8],
                                        "rel_gap": gap})
    return out


def merge_selection_stats(total, part):
    """Adds the counts of one classify_selection result to a running total."""
    for k in ("rows", "exact", "tie_explained", "mismatch", "exact_tie_rows", "near_tie_rows",
              "unexamined"):
        total[k] = total.get(k, 0) + part[k]
    for k in ("max_tie_gap", "max_swap_gpu_err"):
        total[k] = max(total.get(k, 0.0), part[k])
    total.setdefault("examples", []).extend(part["examples"][:10 - len(total["examples"])])
    return total
