"""The correctness grid's shapes (pure Python), its row splitting of the
references, and its classification of top-k differences (the last two need
torch; on the CPU)."""

import pytest

import salac
from salac.opcases import grid
from salac.opcases.base import row_chunks, scenario_batch

KV_ROW = 2 * 128 * 2          # bytes of one cached K (or V) row: 2 KV heads x 128 x bf16


@pytest.fixture(scope="module")
def pkg(package_dir):
    return salac.Package(package_dir)


def batched(spec, sc):
    return "seq_lens" in sc


def test_every_kernel_has_a_grid(pkg):
    for k in pkg:
        assert grid.family(k.spec) is not None, k.name
        assert grid.scenarios(k.spec, 0), k.name


def test_grid_shapes(pkg):
    c = grid.FULL
    for k in pkg:
        fam = grid.family(k.spec)
        scs = grid.scenarios(k.spec, 0)
        assert scs == grid.scenarios(k.spec, 0)           # reproducible from the seed
        labels = [sc["label"] for sc in scs]
        assert len(set(labels)) == len(labels), labels
        for sc in scs:
            if not batched(k.spec, sc):
                continue
            q, n = sc["q_lens"], sc["seq_lens"]
            assert sc["tokens"] == sum(q) and len(q) == len(n)
            top = (c.long_sparse if fam in ("sparse", "stage2") and sc["label"].startswith("long")
                   else c.max_context + max(c.prefill_chunks))
            assert all(1 <= a <= b <= top for a, b in zip(q, n))
            # Caches sized to the sequences: K and V of all of them within 8 GiB.
            assert 2 * sum(n) * KV_ROW < 8 << 30, (k.name, sc["label"])
            if fam == "sparse" and not sc["label"].startswith("straddling"):
                assert min(n) >= c.dense_len, (k.name, sc["label"])
            if fam == "dense" and not sc["label"].startswith("long"):
                assert max(n) < c.dense_len, (k.name, sc["label"])
        if k.spec.attributes.get("skip_below_seq_len"):  # the skipped side is run too
            assert any(min(sc["seq_lens"]) < c.dense_len <= max(sc["seq_lens"]) for sc in scs)
        if fam == "stage2":  # both paths of the fused fallback, and batches mixing them
            ns = [sc["seq_lens"] for sc in scs]
            assert any(max(n) < c.dense_len for n in ns)
            assert any(min(n) >= c.dense_len for n in ns)
            mixed = [sc for sc in scs if min(sc["seq_lens"]) < c.dense_len <= max(sc["seq_lens"])]
            assert {"decode", "prefill"} <= {sc["kind"] for sc in mixed}
        if fam in ("kv", "sparse", "dense"):
            decode = [sc for sc in scs if sc["kind"] == "decode" and "query_scale" not in sc
                      and not sc["label"].startswith(("long", "straddling"))]
            assert sorted(len(sc["q_lens"]) for sc in decode) == [1, 8, 32]
            assert any(len(set(sc["seq_lens"])) > 4 for sc in decode)      # ragged
            prefill_q = {q for sc in scs if sc["kind"] == "prefill" for q in sc["q_lens"]}
            assert {1024, 8192} <= prefill_q
        if fam in ("kv", "sparse"):
            assert max(n for sc in scs if not sc["label"].startswith("long")
                       for n in sc["seq_lens"]) == c.max_context
            for sc in scs:
                if sc["kind"] == "prefill" and not sc["label"].startswith("straddling"):
                    hist = [b - a for a, b in zip(sc["q_lens"], sc["seq_lens"])]
                    assert all(h == 0 or c.history[0] <= h <= c.history[1] for h in hist)
                    assert len(set(hist)) == len(hist)                      # ragged
        if fam == "dense":
            assert any(max(sc["seq_lens"]) == c.long_dense for sc in scs)
        if fam == "sparse":  # past 1M tokens: more than 32 chunks of 512 blocks
            assert any(max(sc["seq_lens"]) == c.long_sparse > (1 << 20) for sc in scs)


def test_compact_grid_is_small_and_keeps_every_path(pkg):
    """grid.py --compact (for compute-sanitizer): the kernels' own dense_len,
    so the sparse and dense paths and the straddling batches still run, with
    every sequence short and every scenario small."""
    c = grid.COMPACT
    assert c.dense_len == grid.FULL.dense_len
    for k in pkg:
        fam = grid.family(k.spec)
        scs = grid.scenarios(k.spec, 0, c)
        assert scs, k.name
        for sc in scs:
            if not batched(k.spec, sc):
                assert sc["tokens"] <= 1 << 16, (k.name, sc)
                continue
            n = sc["seq_lens"]
            assert sc["tokens"] <= c.dense_len, (k.name, sc["label"])
            if fam in ("kv", "sparse", "stage2", "dense"):  # caches sized to the contexts
                assert max(n) <= max(c.long_sparse, c.max_context + max(c.prefill_chunks))
            if fam == "sparse" and not sc["label"].startswith("straddling"):
                assert min(n) >= c.dense_len, (k.name, sc["label"])
        if fam == "stage2":
            ns = [sc["seq_lens"] for sc in scs]
            assert any(max(n) < c.dense_len for n in ns)
            assert any(min(n) >= c.dense_len for n in ns)


def test_block_scores_has_near_uniform_queries(pkg):
    # Stage 1 alone, or fused with top-k (the default package).
    ks = [k for k in pkg if k.op in ("sala.block_scores", "sala.fused_sparse_select")]
    if not ks:
        pytest.skip("no stage-1 kernel")
    scales = {sc.get("query_scale") for sc in grid.scenarios(ks[0].spec, 0)}
    assert {None, 1e-3, 1e-4} <= scales


def test_compress_keys_decode_mixes_windows(pkg):
    # The compression alone, or fused with the append (the default package).
    ks = [k for k in pkg if k.op in ("sala.compress_keys", "sala.fused_kv_update")]
    if not ks:
        pytest.skip("no compression kernel")
    for sc in grid.scenarios(ks[0].spec, 0):
        if sc["kind"] == "decode" and len(sc["q_lens"]) > 1:
            done = [n >= 32 and (n - 32) % 16 == 0 for n in sc["seq_lens"]]
            assert any(done) and not all(done)


def test_scenario_batch():
    sc = {"q_lens": [2, 1], "seq_lens": [5, 1]}
    assert scenario_batch(sc, None) == ([2, 1], [5, 1])
    assert scenario_batch({"tokens": 3}, lambda: "drawn") == "drawn"
    with pytest.raises(ValueError):
        scenario_batch({"q_lens": [6], "seq_lens": [5]}, None)


@pytest.mark.parametrize("max_rows", [1, 3, 7, 100])
def test_row_chunks(max_rows):
    q = [5, 1, 9, 0, 4]
    hist = [10, 0, 3, 7, 100]
    cu = [0]
    for x in q:
        cu.append(cu[-1] + x)
    lens = [a + b for a, b in zip(q, hist)]
    covered = []
    for r0, r1, seqs, cu_sub, lens_sub in row_chunks(cu, lens, max_rows):
        assert 0 < r1 - r0 <= max_rows and cu_sub[0] == 0 and cu_sub[-1] == r1 - r0
        assert len(seqs) == len(lens_sub) == len(cu_sub) - 1 and len(set(seqs)) == len(seqs)
        row = r0
        for i, b in enumerate(seqs):
            n = cu_sub[i + 1] - cu_sub[i]
            # The piece's rows of sequence b keep their positions.
            first_pos = hist[b] + (row - cu[b])
            assert lens_sub[i] - n == first_pos
            covered += list(range(row, row + n))
            row += n
        assert row == r1
    assert covered == list(range(cu[-1]))


def test_window_end():
    assert [grid._window_end(n) for n in (1, 31, 32, 47, 48, 49)] == [1, 31, 32, 32, 48, 48]


# --- with torch ---------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("op", ["sala.dense_attention", "sala.sparse_attention",
                                "sala.block_scores"])
def test_reference_by_rows_matches_whole(pkg, op, monkeypatch):
    torch = _torch()
    from salac import opcases
    from salac.opcases import paged
    ks = [k for k in pkg if k.op == op]
    if not ks:
        pytest.skip(f"no {op} kernel")
    spec = ks[0].spec
    case, _ = opcases.case_for(spec)
    g = torch.Generator()
    g.manual_seed(3)
    sc = {"label": "t", "q_lens": [40, 1, 70], "seq_lens": [300, 200, 170], "tokens": 111,
          "local_blocks": 2}
    a = case.make_inputs(spec, sc, "cpu", g)
    whole = case.reference(spec, a)
    calls = []
    orig = paged.row_chunks
    monkeypatch.setattr(paged, "row_chunks", lambda *x: calls.append(1) or orig(*x))
    monkeypatch.setattr(paged, "REF_ROWS_X_CONTEXT", 300 * 16)   # 16 rows a piece
    pieces = case.reference(spec, a)
    assert calls
    for o in whole:
        w, p = whole[o], pieces[o]
        assert torch.equal(torch.isinf(w), torch.isinf(p))
        fin = torch.isfinite(w)
        assert torch.allclose(w[fin], p[fin], rtol=1e-12, atol=1e-14), o


def _selection_case(torch):
    """One sequence, 3 tokens at positions 300..302 (cur block 4), 8 blocks,
    K = 3 + 1 local, 1 init: blocks 0 and 4 forced, the best two of 1..3."""
    pos = torch.tensor([300, 301, 302])
    s = torch.tensor([[[0.0, 0.5, 0.3, 0.2, 0.0, float("-inf"), float("-inf"),
                        float("-inf")]]], dtype=torch.float64).repeat(3, 1, 1)
    return pos, s


def _topk(torch, scores, pos):
    from salac import reference as R
    return R.topk_blocks(scores, torch.tensor([0, 3]), torch.tensor([303]), block_size=64,
                         topk=3, init_blocks=1, local_blocks=1)


def test_classify_selection():
    torch = _torch()
    pos, ref = _selection_case(torch)
    ref[1, 0, 2] = 0.2 * (1 + 1e-7)         # row 1: blocks 2 and 3 tie within 1e-7
    ref_sel = _topk(torch, ref, pos)
    gpu = ref.to(torch.float32)
    gpu[1, 0, 3] = 0.2 * (1 + 3e-7)         # f32 rounding flips the near tie
    gpu[2, 0, 1], gpu[2, 0, 3] = 0.1, 0.6   # row 2: a real mismatch
    sel = _topk(torch, gpu.to(torch.float64), pos)
    st = grid.classify_selection(sel, ref_sel, ref, gpu, pos, block_size=64, init_blocks=1,
                                 local_blocks=1)
    assert (st["rows"], st["exact"], st["tie_explained"], st["mismatch"]) == (3, 1, 1, 1)
    assert st["near_tie_rows"] == 1 and 0 < st["max_tie_gap"] <= grid.TIE_RTOL
    assert st["max_swap_gpu_err"] > 0
    ex = st["examples"][0]
    assert (ex["row"], ex["kernel_only"], ex["reference_only"]) == (2, [3], [1])
    total = grid.merge_selection_stats({}, st)
    total = grid.merge_selection_stats(total, st)
    assert total["rows"] == 6 and total["mismatch"] == 2 and len(total["examples"]) == 2


def test_split_rule():
    """Split-KV: two blocks per SM where the batch leaves room, at most 16
    splits (24 where 16 leave over half the SMs idle) of at least 4 tiles, no
    split once the tokens fill the GPU (the rule the compiler puts in a
    kernel's config, with the H100's values)."""
    from salac.manifest import SplitRule
    rule = SplitRule(sms=132, blocks_per_sm=2, max_splits=16, few_pairs_max_splits=24,
                     min_tiles_per_split=4)
    assert rule.splits(1 * 2, 96) == 24       # B=1: 16 x 2 = 32 blocks < 66
    assert rule.splits(2 * 2, 96) == 24       # B=2: 64 blocks < 66
    assert rule.splits(4 * 2, 96) == 16       # B=4: 128 blocks
    assert rule.splits(8 * 2, 96) == 16       # ceil(264 / 16) = 17 -> 16
    assert rule.splits(64 * 2, 96) == 3       # ceil(264 / 128)
    assert rule.splits(256 * 2, 96) == 1      # the tokens fill the GPU
    assert rule.splits(1 * 2, 7) == 1         # 7 tiles: one split of >= 4
    assert rule.splits(1 * 2, 48) == 12       # 48 tiles: 12 splits of 4
    assert rule.splits(0, 96) == 24           # no tokens: treated as one pair
    assert rule.splits(8 * 2, 96, sms=66) == 9  # the device's SM count wins
