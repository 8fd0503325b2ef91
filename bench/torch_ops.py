#!/usr/bin/python3
"""bench/torch_ops.py: the PyTorch side of bench/run, the same ops as bench/bench_ops.cpp.

Times each op with the same names and shapes as bench_ops and prints one JSON object:
{"threads": T, "torch": version, "blas": path, "cpu_capability": .., "results": {name:
{"median_us": .., "samples_us": [..]}}}.
A repetition runs the op in a loop for at least --min-time seconds and records the mean
time per call; the median over --reps repetitions is the reported figure, as Google
Benchmark's median aggregate is on the Ember side.

Run with the same OMP_NUM_THREADS and OPENBLAS_NUM_THREADS as bench_ops: Debian's torch
calls OpenBLAS (pthread build) through libblas.so.3, and torch.set_num_threads does not
reach OpenBLAS's own pool.
"""
import argparse
import json
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

N16M = 1 << 24
B, IN, OUT = 64, 784, 100


def ops():
    """name -> zero-argument callable. Inputs are made once, outside the timed loop."""
    g = torch.Generator().manual_seed(0)

    def rn(*shape, grad=False):
        return torch.randn(*shape, generator=g).requires_grad_(grad)

    out = {}
    a, b = rn(1024, 1024), rn(1024, 1024)
    out["gemm_1024"] = lambda: torch.mm(a, b)

    x, wt = rn(B, IN), rn(IN, OUT)
    out["mm_fwd_64x784x100"] = lambda: torch.mm(x, wt)
    gy, w = rn(B, OUT), rn(OUT, IN)
    out["mm_dx_64x100x784"] = lambda: torch.mm(gy, w)
    out["mm_dw_100x64x784"] = lambda: torch.mm(gy.t(), x)

    lw, lb = rn(OUT, IN), rn(OUT)

    def linear_fwd():
        with torch.no_grad():
            return F.linear(x, lw, lb)
    out["linear_fwd_64x784x100"] = linear_fwd

    gx_, gw_, gb_ = rn(B, IN, grad=True), rn(OUT, IN, grad=True), rn(OUT, grad=True)

    def linear_fwd_bwd():
        y = F.linear(gx_, gw_, gb_)
        y.backward(gy)
        r = gw_.grad
        gx_.grad = gw_.grad = gb_.grad = None
        return r
    out["linear_fwd_bwd_64x784x100"] = linear_fwd_bwd

    u, v = rn(N16M), rn(N16M)
    out["add_16M"] = lambda: torch.add(u, v)
    out["sigmoid_16M"] = lambda: torch.sigmoid(u)
    out["sum_16M"] = lambda: torch.sum(u)
    s1, s2 = rn(64, 10), rn(4096, 1000)
    out["softmax_64x10"] = lambda: torch.softmax(s1, 1)
    out["softmax_4096x1000"] = lambda: torch.softmax(s2, 1)
    return out


def time_op(fn, min_time, reps):
    fn()  # warm-up, and a first estimate of the per-call time
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    iters = max(1, int(min_time / one))
    per_call = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        per_call.append((time.perf_counter() - t0) / iters)
    return per_call


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--filter", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name, fn in ops().items():
        if args.filter and args.filter not in name:
            continue
        t = time_op(fn, args.min_time, args.reps)
        results[name] = {"median_us": statistics.median(t) * 1e6, "samples_us": [x * 1e6 for x in t]}
        print(f"{name:28s} {results[name]['median_us']:12.1f} us", file=sys.stderr)
    with open("/proc/self/maps") as f:  # the BLAS this process really loaded
        blas = sorted({ln.split()[-1] for ln in f if "openblas" in ln and ln.split()[-1].endswith(".so")})
    cap = re.search(r"CPU capability usage: (\w+)", torch.__config__.show())
    json.dump({"threads": torch.get_num_threads(), "torch": torch.__version__,
               "blas": blas[0] if blas else "?", "cpu_capability": cap.group(1) if cap else "?",
               "results": results}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
