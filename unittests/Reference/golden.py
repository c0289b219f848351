#!/usr/bin/env python3
"""Independent numpy derivation of the hard-coded numbers in the reference tests.

Written separately from lib/Reference (vectorised numpy, no paging) straight
from docs/DESIGN.md sections 2-3. Run it to print the values the tests pin:

    python3 unittests/Reference/golden.py
"""
import numpy as np

np.set_printoptions(precision=17)


def compress(K, kernel, stride):
    n = K.shape[0]
    m = 0 if n < kernel else (n - kernel) // stride + 1
    return np.stack([K[stride * i:stride * i + kernel].mean(0) for i in range(m)]) if m else np.zeros((0,) + K.shape[1:])


def block_scores(q_t, t, K1, kernel, stride, block, pk, ps, pad, scale, nblocks, K2=None, k2kernel=0, k2stride=0):
    """q_t [H, D] one token; K1 [m, D] (one KV group, all heads in it)."""
    vis = np.array([stride * i + kernel - 1 <= t for i in range(K1.shape[0])], dtype=bool)
    s = scale * q_t @ K1[vis].T                       # [H, mvis]
    if s.shape[1] == 0:
        return np.full(nblocks, -np.inf)
    lse = np.log(np.exp(s).sum(1, keepdims=True))
    if K2 is not None:
        vis2 = np.array([k2stride * i + k2kernel - 1 <= t for i in range(K2.shape[0])], dtype=bool)
        if vis2.any():
            s2 = scale * q_t @ K2[vis2].T
            lse = np.log(np.exp(s2).sum(1, keepdims=True))
    P = np.exp(s - lse).sum(0)                        # [mvis]
    out = np.full(nblocks, -np.inf)
    for j in range(nblocks):
        if j > t // block:
            continue
        idx = [i for i in range(ps * j - pad, ps * j - pad + pk) if 0 <= i < len(P)]
        if idx:
            out[j] = P[idx].max()
    return out


def three_block_case():
    # H=2, KVH=1, D=2; kernel 4 / stride 2, block 8, pool 5/4/1; n = 24.
    n = 24
    K = np.array([[(p % 5) - 2.0, ((3 * p) % 7) / 2.0 - 1.5] for p in range(n)])
    Q = {21: [[1.0, 0.0], [0.0, 1.0]],
         22: [[0.5, -1.0], [-1.0, 0.5]],
         23: [[2.0, 1.0], [-0.5, -0.5]]}
    K1 = compress(K, 4, 2)
    K2 = compress(K, 8, 4)
    scale = 1 / np.sqrt(2)
    print("three-block case, exact lse (t = 21, 22, 23; blocks 0..2):")
    for t in (21, 22, 23):
        print(t, repr(block_scores(np.array(Q[t]), t, K1, 4, 2, 8, 5, 4, 1, scale, 3)))
    print("three-block case, lse = k2 (K2 kernel 8 stride 4):")
    for t in (21, 22, 23):
        print(t, repr(block_scores(np.array(Q[t]), t, K1, 4, 2, 8, 5, 4, 1, scale, 3, K2, 8, 4)))
    # Query at t = 5 (inside the first block, K2 not yet visible -> exact).
    print("t = 5, k2 mode falls back to exact:",
          repr(block_scores(np.array(Q[21]), 5, K1, 4, 2, 8, 5, 4, 1, scale, 3, K2, 8, 4)))
    # Stage 2 for t = 23 with blocks {0, 2} selected, head 0.
    V = np.array([[((5 * p) % 9) / 4.0 - 1.0, (p % 3) - 1.0] for p in range(n)])
    pos = [p for p in list(range(0, 8)) + list(range(16, 24)) if p <= 23]
    for h in range(2):
        s = scale * K[pos] @ np.array(Q[23][h])
        w = np.exp(s - s.max()); w /= w.sum()
        print("stage 2, t=23, blocks {0,2}, head", h, repr(w @ V[pos]))


def compress_case():
    # One KV head, D = 2, kernel 4 stride 2, 7 tokens -> entries 0,1.
    K = np.array([[1, 2], [3, 4], [5, 6], [7, 9], [0.5, -1], [2, 2], [4, 4]], float)
    print("compress means:", repr(compress(K, 4, 2)))


def linear_case():
    # H = 1, D = 2, slope 0.5, scale 1, 3 tokens from a zero state.
    g = np.exp(-0.5)
    q = np.array([[1, 0], [0, 1], [1, 1]], float)
    k = np.array([[1, 1], [2, 0], [0, -1]], float)
    v = np.array([[1, 2], [0.5, -1], [3, 0]], float)
    S = np.zeros((2, 2))
    for t in range(3):
        S = g * S + np.outer(k[t], v[t])
        print("linear o[%d] =" % t, repr(q[t] @ S))
    print("linear final S =", repr(S))


def elementwise_case():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    theta, pos, D = 100.0, 3, 4
    f = theta ** (-2 * np.arange(D // 2) / D)
    a = pos * f
    neox = np.array([x[0] * np.cos(a[0]) - x[2] * np.sin(a[0]), x[1] * np.cos(a[1]) - x[3] * np.sin(a[1]),
                     x[2] * np.cos(a[0]) + x[0] * np.sin(a[0]), x[3] * np.cos(a[1]) + x[1] * np.sin(a[1])])
    inter = np.array([x[0] * np.cos(a[0]) - x[1] * np.sin(a[0]), x[1] * np.cos(a[0]) + x[0] * np.sin(a[0]),
                      x[2] * np.cos(a[1]) - x[3] * np.sin(a[1]), x[3] * np.cos(a[1]) + x[2] * np.sin(a[1])])
    print("rope neox:", repr(neox))
    print("rope interleaved:", repr(inter))
    print("slopes H=4:", repr(2.0 ** (-8 * np.arange(1, 5) / 4)))


three_block_case()
compress_case()
linear_case()
elementwise_case()
