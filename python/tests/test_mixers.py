"""The manifest's "mixers" section: parsing, its errors, the text form
(python -m salac.mixers), and the real compiler's section when a package can
be made."""

import copy
import json
import warnings

import pytest

import salac
from salac.mixers import _main, describe
from conftest import write_manifest
from mixer_manifest import SPARSE, _linear, mixer_manifest


def load(tmp_path, data):
    return salac.Package(write_manifest(tmp_path, data)).manifest


def test_parses_every_part(tmp_path):
    m = load(tmp_path, mixer_manifest())
    assert [p.name for p in m.mixers] == ["layer_00_sparse_decode", "layer_01_linear_decode",
                                         "layer_01_linear_prefill"]
    assert [p.name for p in m.mixers_for("decode")] == ["layer_00_sparse_decode",
                                                       "layer_01_linear_decode"]
    assert [p.name for p in m.mixers_for("prefill")] == ["layer_01_linear_prefill"]
    p = m.mixer("layer_00_sparse_decode")
    assert (p.layer, p.kind, p.mode) == (0, "sparse", "decode")
    assert p.input_names == ["query", "key", "value", "k_cache", "v_cache", "page_table",
                             "cu_seqlens_q", "seq_lens"]
    cache = p.argument_of("v_cache")
    assert cache.name == "cache" and cache.type == "kv_cache" and cache.written
    assert cache.parameters["page_size"] == 4
    assert not p.argument_of("query").written
    assert p.buffers["k_cache"].shape == ("pages", 4, 2, 8)
    assert p.buffers["cu_seqlens_q"].resolve_shape({"batch": 3}) == (4,)
    sizes = {s.name: s for s in p.sizes}
    assert (sizes["tokens"].buffer, sizes["tokens"].dim) == ("query", 0)
    assert not sizes["tokens"].chosen
    mb = sizes["max_blocks"]
    assert mb.chosen and mb.bound({"max_pages": 3}) == 2 and mb.default is None
    assert sizes["splits"].chosen and sizes["splits"].default == 1
    ss = sizes["split_slots"]
    assert not ss.chosen and ss.product == ("tokens", "splits")
    assert ss.value_of_product({"tokens": 5, "splits": 3}) == 30
    assert [t.name for t in p.intermediates] == ["block_scores_0", "output"]
    assert {t.name: t.init for t in p.workspaces} == {"partial": "none", "counters": "zero"}
    assert p.outputs == ["output"]
    assert [launch.kernel for launch in p.launches] == ["k_append", "k_scores", "k_attn"]
    attn = p.launches[2]
    kinds = {b.param: (b.kind, b.name) for b in attn.args}
    assert kinds["scores"] == ("intermediate", "block_scores_0")
    assert kinds["counters"] == ("workspace", "counters")
    assert kinds["k_cache"] == ("buffer", "k_cache")
    assert kinds["splits"] == ("size", "splits")
    assert "layer 0" in repr(p)


def test_no_section_is_no_mixers(tmp_path):
    from conftest import manifest_data
    m = load(tmp_path, manifest_data())
    assert m.mixers == [] and m.mixers_for("decode") == []
    with pytest.raises(salac.KernelNotFoundError, match=r"no mixer 'x'.*mixers: none"):
        m.mixer("x")


def test_describe_and_the_command_line(tmp_path, capsys):
    d = write_manifest(tmp_path, mixer_manifest())
    text = describe(salac.Manifest.load(d).mixer("layer_00_sparse_decode"))
    lines = text.splitlines()
    assert lines[0] == "layer_00_sparse_decode: layer 0, sparse, decode -> output"
    assert ("  argument cache: !sala.kv_cache<...> (written) = k_cache bf16[pages, 4, 2, 8], "
            "v_cache bf16[pages, 4, 2, 8]") in lines
    assert "  size tokens = query.shape[0]" in lines
    assert "  size max_blocks <= ceil(max_pages * 4 / 8), chosen per step" in lines
    assert "  size splits chosen per step, default 1" in lines
    assert "  size split_slots = tokens * splits * 2" in lines
    assert "  workspace counters i32[tokens] init zero (k_attn.counters)" in lines
    assert any(line.startswith("  launch k_attn query=query k_cache=k_cache") and
               "scores=%block_scores_0" in line and "partial=$partial" in line and
               "splits=#splits" in line for line in lines)
    assert _main([str(d), "--mixer", "layer_01_linear_decode"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("layer_01_linear_decode: layer 1, linear, decode -> output")
    assert "sparse" not in out


def mutate(fn):
    data = mixer_manifest()
    fn(data["mixers"][0])
    return data


@pytest.mark.parametrize("change, message", [
    (lambda m: m["launches"][0].update(kernel="nope"),
     r"launch #0 names kernel 'nope', which is not in the manifest's kernels"),
    (lambda m: m["launches"][0]["args"].pop(),
     r"launch #0 binds parameters \[.*\], but kernel 'k_append' has \[.*'pages'\]"),
    (lambda m: m["launches"][0]["args"][0].update(buffer="nope"),
     r"parameter 'key' names buffer 'nope', which the mixer does not have"),
    (lambda m: m["launches"][1]["args"][4].update(intermediate="output2"),
     r"parameter 'scores' names intermediate 'output2'"),
    (lambda m: m["launches"][2]["args"][9].pop("workspace"),
     r"each of 'args' needs a 'param' and one of buffer, intermediate, workspace, size"),
    (lambda m: m["launches"][0]["args"][7].update(size="nope"),
     r"parameter 'tokens' is bound to size 'nope', which is not a size of the mixer"),
    (lambda m: m["launches"][0]["args"][0].update({"size": "tokens"}) or
     m["launches"][0]["args"][0].pop("buffer"),
     r"parameter 'key' is bound to size 'tokens', which is a pointer parameter"),
    (lambda m: m["sizes"].pop(3),
     r"the shape of 'k_cache' names 'pages', which is not a size of the mixer"),
    (lambda m: m["sizes"][0].update({"from": {"buffer": "query", "dim": 1}}),
     r"size 'tokens': 'from' must name an argument buffer and a dim whose extent is "
     r"'tokens'"),
    (lambda m: m["sizes"][4]["bound"].update(div=0), r"size 'max_blocks': 'bound' must be"),
    (lambda m: m["sizes"][4]["bound"].update(size="nope"),
     r"size 'max_blocks' is bounded by 'nope', which is not a size of the mixer"),
    (lambda m: m["sizes"][6]["product"].update(sizes=["tokens", "nope"]),
     r"size 'split_slots' is a product of 'nope'"),
    (lambda m: m["sizes"][5].update(default=-1), r"size 'splits': 'default' must be"),
    (lambda m: m["workspaces"][1].update(init="ones"),
     r"workspace 'counters' has init 'ones' \(known: zero, none\)"),
    (lambda m: m["intermediates"][0].update(name="query"),
     r"intermediate 'query' has the name of another buffer"),
    (lambda m: m["arguments"][1]["buffers"][0].update(name="query"),
     r"buffer name 'query' appears twice"),
    (lambda m: m["arguments"][0].update(type="matrix"),
     r"argument 'query' has type 'matrix' \(known: tensor, kv_cache"),
    (lambda m: m["arguments"][0]["buffers"][0].update(dtype="f8"),
     r"buffer 'query' has dtype 'f8'"),
    (lambda m: m.update(outputs=["nope"]), r"output 'nope' is neither"),
    (lambda m: m.update(layer=-1), r"'layer' must be a non-negative integer or null"),
    (lambda m: m.update(launches={}), r"'launches' must be a list"),
])
def test_malformed_sections_name_the_mixer(tmp_path, change, message):
    where = r"mixer 'layer_00_sparse_decode': (launch #[0-9]+ \([a-z_]+\): )?"
    with pytest.raises(salac.ManifestError, match=where + message):
        load(tmp_path, mutate(change))


def test_malformed_top_level(tmp_path):
    data = mixer_manifest()
    data["mixers"] = {"a": 1}
    with pytest.raises(salac.ManifestError, match="'mixers' must be a list"):
        load(tmp_path, data)
    data["mixers"] = [copy.deepcopy(SPARSE), copy.deepcopy(SPARSE)]
    with pytest.raises(salac.ManifestError, match="mixer 'layer_00_sparse_decode' appears "
                                                  "twice"):
        load(tmp_path / "b", data)
    data["mixers"] = [{"layer": 3}]
    with pytest.raises(salac.ManifestError, match=r"mixers\[0\]: needs a 'name'"):
        load(tmp_path / "c", data)


def test_the_linear_mixer_round_trips_through_json(tmp_path):
    data = mixer_manifest(_linear("decode"))
    m = load(tmp_path, json.loads(json.dumps(data)))
    (p,) = m.mixers
    assert p.launches[0].args[0].kind == "buffer" and p.launches[0].args[2].name == "output"


# --- the compiler's own section ------------------------------------------------

SPARSE_LAYERS = [0, 9, 16, 17, 22, 29, 30, 31]


def test_real_package_has_a_decode_mixer_per_layer(package_dir):
    m = salac.Manifest.load(package_dir)
    if not m.mixers:
        pytest.skip(f"{package_dir} was made without a mixers section")
    plans = m.mixers_for("decode")
    assert [p.layer for p in plans] == list(range(32))
    assert [p.layer for p in plans if p.kind == "sparse"] == SPARSE_LAYERS
    for p in plans:
        assert p.outputs == ["output"]
        names = set(p.input_names)
        assert {"query", "key", "value", "gate", "cu_seqlens_q", "seq_lens"} <= names
        if p.kind == "sparse":
            assert {"k_cache", "v_cache", "page_table", "keys", "key_page_table"} <= names
            assert p.argument_of("k_cache").written and p.argument_of("keys").written
        else:
            assert {"q_norm_weight", "k_norm_weight", "out_norm_weight", "positions",
                    "state", "slot_ids"} <= names
            assert p.argument_of("state").written
        # Every size is known, chosen with a bound or a default, or made of others.
        for s in p.sizes:
            assert not s.chosen or s.bound_size or s.default is not None, (p.name, s.name)


def test_real_package_splits_by_the_compilers_rule(package_dir):
    """Stage 2's `splits` comes with the compiler's split-KV rule (SplitRule.h),
    so that every caller of the manifest splits by default; its values are the
    ones measured in bench/RESULTS.md (96 selected blocks, 132 SMs)."""
    m = salac.Manifest.load(package_dir)
    if not m.mixers:
        pytest.skip(f"{package_dir} was made without a mixers section")
    sparse = [p for p in m.mixers_for("decode") if p.kind == "sparse"]
    assert sparse
    for p in sparse:
        rule = p.size("splits").split_kv
        assert rule is not None, p.name
        assert (rule.pairs_size, rule.pairs_mul, rule.tiles) == ("tokens", 2, 96)
        at = lambda tokens, max_pages=2048: rule.evaluate(
            {"tokens": tokens, "max_pages": max_pages})
        assert [at(t) for t in (1, 2, 4, 8, 16, 32, 66, 67, 132)] == \
            [24, 24, 16, 16, 9, 5, 2, 2, 1]
        # The kernel's own config carries the same rule (kernels called alone
        # split by it).
        stage2 = [k for k in m.kernels if k.split_rule is not None]
        assert stage2 and all(k.split_rule == rule.rule for k in stage2)
        assert at(1, max_pages=16) == 4           # 16 tiles of 64 tokens: 4 a split
        assert rule.evaluate({"tokens": 1, "max_pages": 2048}, sms=170) == 24
        assert rule.rule.sms == 132
        assert rule.evaluate({"tokens": 8, "max_pages": 2048}, sms=66) == 9


def test_compiled_layer_subset(salac_bin, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", salac.CompileWarning)
        pkg = salac.compile(out_dir=tmp_path / "pkg", layers=[0, 1], mode="decode")
    plans = pkg.manifest.mixers_for("decode")
    assert [(p.layer, p.kind) for p in plans] == [(0, "sparse"), (1, "linear")]
