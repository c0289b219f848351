"""Internal consistency of the torch reference (needs torch; runs on CPU)."""

import math

import pytest

torch = pytest.importorskip("torch")
R = pytest.importorskip("salac.reference")

F64 = torch.float64


def gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def bf16_randn(*shape, g, scale=1.0):
    return (torch.randn(*shape, generator=g) * scale).to(torch.bfloat16)


def cu_of(q_lens):
    return torch.tensor([0] + list(torch.tensor(q_lens).cumsum(0).tolist()), dtype=torch.int32)


# --- linear attention -------------------------------------------------------

def test_default_slopes():
    s = R.default_slopes(32)
    assert s[0] == 2 ** -0.25 and s[31] == 2 ** -8 and len(s) == 32


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunked_equals_recurrent(chunk):
    g = gen(1)
    H, D, q_lens = 4, 16, [5, 70, 1, 130]
    seq_lens = [5 + 20, 70, 1 + 3, 130 + 64]            # sequence 1 is fresh
    T = sum(q_lens)
    q, k, v = (torch.randn(T, H, D, generator=g, dtype=F64) for _ in range(3))
    state0 = torch.randn(6, H, D, D, generator=g)
    slots = torch.tensor([3, 0, 5, 1], dtype=torch.int32)
    outs, states = [], []
    for form in ("recurrent", "chunked"):
        st = state0.clone().double()
        outs.append(R.linear_attention(q, k, v, st, slots, cu_of(q_lens), form=form,
                                       chunk_size=chunk, seq_lens=seq_lens))
        states.append(st)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(states[0], states[1], rtol=1e-10, atol=1e-10)
    assert torch.equal(states[0][[2, 4]], state0[[2, 4]].double())  # unused slots


def test_fresh_sequences_ignore_the_slot():
    g = gen(2)
    H, D = 2, 8
    q, k, v = (torch.randn(3, H, D, generator=g) for _ in range(3))
    st = torch.randn(1, H, D, D, generator=g)
    cu = [0, 3]
    fresh = R.linear_attention(q, k, v, st.clone(), [0], cu, seq_lens=[3])
    zero = R.linear_attention(q, k, v, torch.zeros_like(st), [0], cu)
    with_state = R.linear_attention(q, k, v, st.clone(), [0], cu, seq_lens=[10])
    torch.testing.assert_close(fresh, zero, rtol=0, atol=0)
    assert not torch.allclose(with_state, zero)


def test_recurrence_by_hand():
    """One head, two tokens: o_1 = scale q_1 (gamma (gamma S0 + k0^T v0) + k1^T v1)."""
    g = gen(3)
    D = 4
    q, k, v = (torch.randn(2, 1, D, generator=g, dtype=F64) for _ in range(3))
    S0 = torch.randn(1, 1, D, D, generator=g, dtype=F64)
    gamma = math.exp(-R.default_slopes(1)[0])
    o = R.linear_attention(q, k, v, S0.clone(), [0], [0, 2], scale=0.5)
    S1 = gamma * S0[0, 0] + torch.outer(k[0, 0], v[0, 0])
    S2 = gamma * S1 + torch.outer(k[1, 0], v[1, 0])
    torch.testing.assert_close(o[1, 0], 0.5 * q[1, 0] @ S2)
    torch.testing.assert_close(o[0, 0], 0.5 * q[0, 0] @ S1)


def test_linear_mixer_split_steps_equal_one_prefill():
    g = gen(4)
    H, D, n = 4, 16, 40
    q, k, v, z = (torch.randn(n, H, D, generator=g) for _ in range(4))
    qw, kw = torch.rand(D, generator=g) + 0.5, torch.rand(D, generator=g) + 0.5
    ow = torch.rand(H * D, generator=g) + 0.5
    st = torch.zeros(1, H, D, D, dtype=F64)
    whole = R.linear_mixer(q, k, v, z, qw, kw, ow, st, [0], [0, n], [n], chunk_size=16)
    st2 = torch.zeros(1, H, D, D, dtype=F64)
    parts = [R.linear_mixer(q[:30], k[:30], v[:30], z[:30], qw, kw, ow, st2, [0], [0, 30], [30])]
    for t in range(30, n):  # decode steps: recurrent, positions from seq_lens
        parts.append(R.linear_mixer(q[t:t + 1], k[t:t + 1], v[t:t + 1], z[t:t + 1], qw, kw,
                                    ow, st2, [0], [0, 1], [t + 1]))
    torch.testing.assert_close(torch.cat(parts), whole, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(st2, st, rtol=1e-10, atol=1e-10)


# --- elementwise ----------------------------------------------------------

def test_rope_properties():
    g = gen(5)
    x = torch.randn(6, 3, 16, generator=g, dtype=F64)
    pos = torch.tensor([0, 1, 5, 1000, 65535, 1 << 20])
    for style in ("neox", "interleaved"):
        y = R.rope(x, pos, 10000.0, style)
        torch.testing.assert_close(y[0], x[0])                       # position 0
        torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))   # a rotation
    # interleaved == neox after moving pairs (2i, 2i+1) to (i, i + D/2)
    perm = torch.cat([torch.arange(0, 16, 2), torch.arange(1, 16, 2)])
    inter = R.rope(x, pos, 10000.0, "interleaved")
    neox = R.rope(x[..., perm], pos, 10000.0, "neox")
    torch.testing.assert_close(inter[..., perm], neox)
    # pair i of position p turns by p * theta^(-2i/D)
    e = torch.zeros(1, 1, 16, dtype=F64)
    e[0, 0, 1] = 1.0
    y = R.rope(e, torch.tensor([3]), 100.0, "neox")
    ang = 3 * 100.0 ** (-2 / 16)
    torch.testing.assert_close(y[0, 0, [1, 9]], torch.tensor([math.cos(ang), math.sin(ang)],
                                                             dtype=F64))


def test_rms_norm_scopes():
    g = gen(6)
    x = torch.randn(4, 1, 32, generator=g)
    w = torch.rand(32, generator=g)
    torch.testing.assert_close(R.rms_norm(x, w, 1e-6, "head"), R.rms_norm(x, w, 1e-6, "full"))
    y = R.rms_norm(torch.randn(4, 8, 16, generator=g), torch.ones(16), 0.0, "head")
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(4, 8, dtype=F64))
    with pytest.raises(ValueError, match="weight"):
        R.rms_norm(x, torch.ones(31))


def test_sigmoid_gate():
    x, z = torch.tensor([[[2.0, -1.0]]]), torch.tensor([[[0.0, 100.0]]])
    torch.testing.assert_close(R.sigmoid_gate(x, z), torch.tensor([[[1.0, -1.0]]], dtype=F64))


def test_f64_to_bf16_rounds_once():
    a = torch.tensor([1.0, 3.0, -1.5], dtype=F64)
    ulp = 2.0 ** -7 * torch.tensor([1.0, 2.0, 1.0], dtype=F64)
    # Just above the midpoint: one rounding goes up; rounding through f32 ties
    # to the even (lower) neighbour.
    x = a + a.sign() * (ulp / 2 + ulp * 2.0 ** -30)
    assert torch.equal(R.f64_to_bf16(x).double(), a + a.sign() * ulp)
    assert not torch.equal(x.to(torch.bfloat16).double(), a + a.sign() * ulp)
    # Random values: no bf16 neighbour is nearer than the result.
    y = torch.randn(10000, generator=gen(7), dtype=F64) * 10.0 ** torch.randint(
        -30, 30, (10000,), generator=gen(8))
    b = R.f64_to_bf16(y)
    bits = b.view(torch.int16)
    err = (b.double() - y).abs()
    for step in (1, -1):
        nb = (bits + step).view(torch.bfloat16).double()
        assert (err <= (nb - y).abs()).all()


# --- sparse: cache, stage 1, top-k, stage 2 ---------------------------------

class Cache:
    """KV cache + K1 store for one or more sequences, paged at page_size."""

    def __init__(self, max_tokens, B, page_size, g, kvh=2, d=16, kernel=32, stride=16):
        pages = B * -(-max_tokens // page_size)
        perm = torch.randperm(pages + 2, generator=g)[:pages].to(torch.int32)
        self.pt = perm.reshape(B, -1)
        self.k = torch.zeros(pages + 2, page_size, kvh, d, dtype=torch.bfloat16)
        self.v = torch.zeros_like(self.k)
        m = R.num_compressed(max_tokens, kernel, stride)
        kp = B * -(-m // 4)
        self.k1pt = torch.randperm(kp, generator=g).to(torch.int32).reshape(B, -1)
        self.k1 = torch.zeros(kp, 4, kvh, d, dtype=torch.bfloat16)


SMALL = dict(kernel1=32, stride1=16, block_size=64, topk=2, window_size=128,
             init_blocks=1)


def run_mixer(cache, q, k, v, z, q_lens, seq_lens, **kw):
    return R.sparse_mixer(q, k, v, z, cache.k, cache.v, cache.pt, cache.k1, cache.k1pt,
                          cu_of(q_lens), seq_lens, **{**SMALL, **kw})


def random_steps(g, n=600, H=4, kvh=2, d=16):
    q = bf16_randn(n, H, d, g=g)
    k, v = bf16_randn(n, kvh, d, g=g), bf16_randn(n, kvh, d, g=g)
    z = bf16_randn(n, H, d, g=g)
    return q, k, v, z


@pytest.mark.parametrize("page_size", [1, 16])
def test_page_size_does_not_change_results(page_size):
    g = gen(8)
    q, k, v, z = random_steps(g)
    outs = []
    for ps in (64, page_size):
        c = Cache(600, 1, ps, gen(9))
        o1 = run_mixer(c, q[:500], k[:500], v[:500], z[:500], [500], [500], dense_len=0)
        o2 = run_mixer(c, q[500:], k[500:], v[500:], z[500:], [100], [600], dense_len=0)
        outs.append((torch.cat([o1, o2]), R.gather(c.k, c.pt, 0, 600),
                     R.gather(c.k1, c.k1pt, 0, R.num_compressed(600, 32, 16))))
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_incremental_compression_equals_from_scratch():
    g = gen(10)
    q, k, v, z = random_steps(g, n=300)
    c = Cache(300, 1, 64, gen(11))
    at = 0
    for step in (100, 1, 1, 37, 15, 1, 145):
        run_mixer(c, q[at:at + step], k[at:at + step], v[at:at + step], z[at:at + step],
                  [step], [at + step], dense_len=0)
        at += step
    m = R.num_compressed(300, 32, 16)
    expect = R.f64_to_bf16(R.compress_keys_from_scratch(k.double(), 32, 16))
    assert torch.equal(R.gather(c.k1, c.k1pt, 0, m).to(torch.bfloat16), expect)


def test_decode_steps_equal_prefill():
    g = gen(12)
    q, k, v, z = random_steps(g, n=400)
    a, b = Cache(400, 1, 64, gen(13)), Cache(400, 1, 64, gen(13))
    whole = run_mixer(a, q, k, v, z, [400], [400], dense_len=0)
    parts = [run_mixer(b, q[:380], k[:380], v[:380], z[:380], [380], [380], dense_len=0)]
    for t in range(380, 400):
        parts.append(run_mixer(b, q[t:t + 1], k[t:t + 1], v[t:t + 1], z[t:t + 1], [1],
                               [t + 1], dense_len=0))
    torch.testing.assert_close(torch.cat(parts), whole, rtol=1e-12, atol=1e-12)


def test_sparse_equals_dense_when_every_block_is_selected():
    g = gen(14)
    q, k, v, z = random_steps(g, n=600)
    a, b = Cache(600, 2, 64, gen(15)), Cache(600, 2, 64, gen(15))
    # Two sequences in one ragged batch: a prefill and a continuing chunk.
    ql, sl = [300, 300], [300, 600]
    kk = torch.cat([k[:300], k[:300]])
    dense = run_mixer(a, q, kk, kk.clone(), z, ql, sl, dense_len=10 ** 9)
    b.k[:] = a.k  # same history for the second sequence's first 300 tokens
    sparse = run_mixer(b, q, kk, kk.clone(), z, ql, sl, dense_len=0, topk=10)
    torch.testing.assert_close(sparse, dense, rtol=1e-12, atol=1e-12)
    # And the stage-2 op alone, with every block listed explicitly.
    T = 600
    every = torch.arange(10, dtype=torch.int32).expand(T, 2, 10)
    s2 = R.sparse_attention(q, a.k, a.v, a.pt, every, cu_of(ql), sl, block_size=64)
    d2 = R.dense_attention(q, a.k, a.v, a.pt, cu_of(ql), sl)
    torch.testing.assert_close(s2, d2, rtol=1e-12, atol=1e-12)


def test_topk_forced_blocks_and_ties():
    s = torch.tensor([0.5, 0.9, 0.9, 0.1, float("-inf"), 0.3, 0.2, 0.7],
                     dtype=F64).reshape(1, 1, 8)
    sel = R.topk_blocks(s, [0, 1], [8], block_size=1, topk=2, init_blocks=1, local_blocks=2)
    assert sel.tolist() == [[[0, 1, 6, 7]]]         # tie 1 vs 2 -> the lower
    sel = R.topk_blocks(s, [0, 1], [3], block_size=1, topk=2, init_blocks=1, local_blocks=2)
    assert sel.tolist() == [[[0, 1, 2, -1]]]        # fewer candidates than K
    s2 = torch.tensor([[[float("nan"), 0.0, float("-inf"), 0.0, 0.0, 0.0]]], dtype=F64)
    sel = R.topk_blocks(s2, [0, 1], [6], block_size=1, topk=2, init_blocks=0, local_blocks=1)
    assert sel.tolist() == [[[1, 3, 5]]]            # NaN and -inf rank last
    assert sel.dtype == torch.int32


def brute_block_scores(q, e, t_pos, kernel, stride, bs, group, nb):
    """Loops, straight from DESIGN.md 2.2-2.3, for one token."""
    H, D = q.shape
    out = [[-math.inf] * nb for _ in range(e.shape[1])]
    vis = [i for i in range(e.shape[0]) if stride * i + kernel - 1 <= t_pos]
    for g_ in range(e.shape[1]):
        P = {i: 0.0 for i in vis}
        for h in range(g_ * group, (g_ + 1) * group):
            s = {i: float(q[h] @ e[i, g_]) / math.sqrt(D) for i in vis}
            mx = max(s.values()) if s else 0.0
            den = sum(math.exp(x - mx) for x in s.values())
            for i in vis:
                P[i] += math.exp(s[i] - mx) / den
        for j in range(min(nb, t_pos // bs + 1)):
            window = [P[i] for i in range(4 * j - 1, 4 * j + 4) if i in P]
            out[g_][j] = max(window) if window else -math.inf
    return out


def test_block_scores_by_loops():
    g = gen(16)
    q, k, v, z = random_steps(g, n=300)
    c = Cache(300, 1, 64, gen(17))
    cu, sl = cu_of([300]), [300]
    R.kv_append(k, v, c.k, c.v, c.pt, cu, sl)
    R.compress_keys(c.k, c.pt, c.k1, c.k1pt, cu, sl, kernel=32, stride=16)
    s = R.block_scores(q, c.k1, c.k1pt, cu, sl, dtype=F64)
    assert s.shape == (300, 2, 5)
    e = R.gather(c.k1, c.k1pt, 0, R.num_compressed(300, 32, 16))
    for t in (0, 30, 31, 47, 64, 130, 299):
        want = torch.tensor(brute_block_scores(q[t].double(), e, t, 32, 16, 64, 2, 5),
                            dtype=F64)
        torch.testing.assert_close(s[t], want, rtol=1e-12, atol=1e-12)
    assert torch.isinf(s[:31]).all()                  # no window complete yet
