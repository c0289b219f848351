#!/usr/bin/env python3
"""Checks libsalart through ctypes next to PyTorch, on a machine with a GPU.

PyTorch creates the device's primary context first; salart_init must retain
that same context, launch on PyTorch's stream, and agree with torch's results.
Not part of ctest (CI has no GPU); run by hand:

    python3 unittests/Runtime/gpu_interop_check.py /path/to/libsalart.so

The test package (PTX + manifest) is taken from TestUtil.h, so that the C++
and Python checks use the same kernels.
"""
import ctypes
import os
import re
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def test_package(directory):
    text = open(os.path.join(HERE, "TestUtil.h")).read()
    ptx = re.search(r'R"PTX\((.*?)\)PTX"', text, re.S).group(1)
    manifest = re.search(r'R"JSON\((.*?)\)JSON"', text, re.S).group(1)
    with open(os.path.join(directory, "kernels.ptx"), "w") as f:
        f.write(ptx)
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        f.write(manifest)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.salart_last_error.restype = ctypes.c_char_p
    P = ctypes.c_void_p

    def check(rc, what):
        if rc != 0:
            raise RuntimeError(f"{what}: {lib.salart_last_error().decode()}")

    # PyTorch first: it creates the primary context and a side stream.
    x = torch.arange(5000, device="cuda", dtype=torch.float32) * 0.25
    y = torch.full_like(x, -1.0)
    torch.cuda.synchronize()
    torch_ctx = P()
    libcuda = ctypes.CDLL("libcuda.so.1")
    assert libcuda.cuCtxGetCurrent(ctypes.byref(torch_ctx)) == 0

    ctx = P()
    check(lib.salart_init(0, ctypes.byref(ctx)), "salart_init")
    ours = P()
    check(lib.salart_context_handle(ctx, ctypes.byref(ours)), "handle")
    assert ours.value == torch_ctx.value, (ours.value, torch_ctx.value)
    print("salart_init retained PyTorch's primary context", hex(ours.value))

    with tempfile.TemporaryDirectory() as d:
        test_package(d)
        pkg = P()
        check(lib.salart_package_open(ctx, d.encode(), ctypes.byref(pkg)),
              "package_open")

    stream = torch.cuda.Stream()
    n = ctypes.c_int64(x.numel())
    alpha = ctypes.c_float(-2.0)
    xp = ctypes.c_uint64(x.data_ptr())
    yp = ctypes.c_uint64(y.data_ptr())
    args = (P * 4)(*[ctypes.cast(ctypes.byref(v), P)
                     for v in (xp, yp, n, alpha)])
    with torch.cuda.stream(stream):
        check(lib.salart_launch_by_name(pkg, b"salart_test_scale", args,
                                        P(stream.cuda_stream)),
              "launch")
    stream.synchronize()
    torch.testing.assert_close(y, -2.0 * x, rtol=0, atol=0)
    print("launch on a PyTorch stream: matches torch,", x.numel(), "elements")

    # Launches can be captured into a CUDA graph (decode steps are replayed).
    graph = torch.cuda.CUDAGraph()
    alpha.value = 4.0
    with torch.cuda.graph(graph):
        check(lib.salart_launch_by_name(
            pkg, b"salart_test_scale", args,
            P(torch.cuda.current_stream().cuda_stream)), "captured launch")
    y.fill_(0)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(y, 4.0 * x, rtol=0, atol=0)
    print("launch captured in a CUDA graph and replayed: matches torch")

    # The pool's device buffers are plain device memory torch can wrap.
    pool = P()
    check(lib.salart_kv_pool_create(16, 2, 128, 2, 8, ctypes.byref(pool)),
          "kv_pool_create")
    check(lib.salart_pool_allocate_device(pool, ctx, ctypes.c_int64(1)),
          "allocate_device")
    check(lib.salart_pool_reserve(pool, ctypes.c_int64(1),
                                  ctypes.c_int64(40)), "reserve")
    seqs = (ctypes.c_int64 * 1)(1)
    table = (ctypes.c_int32 * 4)()
    check(lib.salart_pool_page_table(pool, seqs, ctypes.c_int64(1),
                                     ctypes.c_int64(4), ctypes.c_int32(-1),
                                     table), "page_table")
    assert list(table) == [0, 1, 2, -1], list(table)
    print("page table", list(table))

    check(lib.salart_pool_destroy(pool), "pool_destroy")
    check(lib.salart_package_close(pkg), "package_close")
    check(lib.salart_context_destroy(ctx), "context_destroy")
    # PyTorch's context survives our release.
    z = (x * 2).sum().item()
    print("torch still works after salart released the context:", z)
    print("OK")


if __name__ == "__main__":
    main()
