#!/usr/bin/python3
"""bench/make_report.py: turns bench/run's raw results into bench/results/cpu.md.

Input: a directory with ember_t<T>_r<R>.json (Google Benchmark JSON from bench_ops) and
torch_t<T>_r<R>.json (bench/torch_ops.py), for every thread count T and round R, plus
env.json (machine facts collected by bench/run). Every repetition of every round is one
sample; the table shows medians over all samples and their spread.
"""
import argparse
import collections
import ctypes
import datetime
import glob
import json
import os
import re
import statistics

# Hardware limits. fp32 peak from ../shared/research/cpu-limits.md (~115 GFLOP/s per core,
# ~230 on the two cores); memory ops are judged against the measured copy_16M bandwidth.
PEAK_GFLOPS_PER_CORE = 115.0
B, IN, OUT = 64, 784, 100
MLP = 2.0 * B * IN * OUT

# name -> (what, flops per call, bytes per call)
OPS = collections.OrderedDict([
    ("gemm_1024", ("[1024,1024] @ [1024,1024]", 2.0 * 1024 ** 3, None)),
    ("mm_fwd_64x784x100", ("matmul X[64,784] @ W^T[784,100]", MLP, None)),
    ("mm_dx_64x100x784", ("matmul dY[64,100] @ W[100,784]", MLP, None)),
    ("mm_dw_100x64x784", ("matmul dY^T[100,64] @ X[64,784]", MLP, None)),
    ("linear_fwd_64x784x100", ("linear(X, W, b), no grad", MLP, None)),
    ("linear_fwd_bwd_64x784x100", ("linear + backward (dX, dW, db)", 3 * MLP, None)),
    ("add_16M", ("add, 16M floats", None, 12.0 * 2 ** 24)),
    ("sigmoid_16M", ("sigmoid, 16M floats", None, 8.0 * 2 ** 24)),
    ("sum_16M", ("sum, 16M floats", None, 4.0 * 2 ** 24)),
    ("softmax_64x10", ("softmax [64, 10], dim 1", None, 8.0 * 640)),
    ("softmax_4096x1000", ("softmax [4096, 1000], dim 1", None, 8.0 * 4096 * 1000)),
])
UNIT_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}

NOTES = """## Reading the tables

- GEMM rows (`gemm_1024`, `mm_*`, `linear_*`): both frameworks end in the same OpenBLAS
  call (same library, same core, same thread count), so the kernel time is the same and
  only the per-call overhead differs (Ember's is a few us lower: no Python, no dispatcher).
  Expect ratios of about 0.9-1.0; a median above 1 on these rows is load noise (compare
  the \"ratio of best\" column and the spread).
- `sum_16M` runs at the read bandwidth in both (~10 GB/s on one core; a stand-alone loop
  with 16 to 64 accumulators, 256- or 512-bit vectors or software prefetch does no better).
  Back-to-back runs of the two alternate which is faster by up to +-10%.
- The CPU: lscpu reports an Intel Xeon (family 6, model 106: Ice Lake-SP, AVX-512) at
  2.8 GHz, not the Zen 4 that ../shared/research/cpu-limits.md names; OpenBLAS reaches
  ~105 GFLOP/s on one core at 1024^3 here, so the 115 GFLOP/s per-core peak stands.
- `add_16M` and `sigmoid_16M` are dominated, in PyTorch, by the page faults of a fresh
  64 MiB result (16k faults of 4 KiB); Ember reuses freed large blocks (below).

## What changed in Ember's CPU kernels, and what did not help

Before this work (same machine, 1 thread, one run): `add_16M` 42 ms, `sigmoid_16M` 114 ms,
`sum_16M` 20.7 ms (and no faster on 2 threads), `softmax_4096x1000` 25-36 ms,
`softmax_64x10` 6.7 us; GEMM rows as now.

- **Vectorised exp** (`tensor/cpu/VecMath.h`, used by `math::exp(float)` on the host):
  glibc's `expf` is an opaque call that keeps `#pragma omp simd` loops scalar (GCC only
  uses libmvec under `-ffast-math`). `exp_f32` is branch-free: n = round(x / ln 2) by the
  1.5 * 2^23 trick, Cody-Waite reduction, degree-7 Taylor polynomial, 2^n from exponent
  bits in two halves (correct subnormals), NaN/inf/underflow handled by selects. Max error
  1 ulp over every float in [-105, 90] (tests/tensor/test_cpu_math.cpp). Sigmoid, exp,
  softmax, log_softmax and log_softmax backward now vectorise.
- **Softmax**: the row max is a `simd reduction(max)` (it was a scalar dependency chain).
- **Sum**: the old `omp simd reduction` loop stayed scalar inside the outlined OpenMP
  function, and a full reduction (one output) ran on one thread. Now: 32 independent
  partial sums per 4096-element block (vectorised, pipelined), block totals in double,
  and a long sum split into fixed 64K-element chunks over the threads, added in chunk
  order (same bits for any thread count; more accurate than before).
- **Large-block cache in the CPU allocator**: freed blocks of 1 MiB or more are kept (up
  to 256 MiB, `EMBER_CPU_CACHE_MB`) and reused for the next request of the same size, so
  a loop producing 64 MiB results stops page-faulting. This, not the add loop, is why
  `add_16M` is ~2x faster than PyTorch.
- Tried and dropped: (1) splitting each GEMM over Ember's OpenMP threads with
  single-threaded OpenBLAS calls (the idea in ../shared/research/cpu-limits.md): on a quiet
  machine no faster than OpenBLAS's own two threads (1024^3: 172-195 vs 203 GFLOP/s;
  batch-64 shapes within +-10%), and under other users' load a call waiting on a
  descheduled thread took 2-8 ms instead of ~0.15 ms. On this Xeon, OpenBLAS's own
  two-thread GEMM does speed up the batch-64 shapes (quiet: ~95 us vs ~130 us on one).
  (2) 2 MiB-aligned `MADV_HUGEPAGE` blocks: 26 ms instead of 40 ms for `add_16M` in a
  stand-alone test, but some runs stalled (180+ ms) in the kernel's huge-page compaction.
"""


def ember_samples(path):
    """name -> per-repetition wall times in us, from one Google Benchmark JSON file."""
    out = collections.defaultdict(list)
    with open(path) as f:
        data = json.load(f)
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].split("/")[0]
        out[name].append(b["real_time"] * UNIT_US[b["time_unit"]])
    return out, data.get("context", {})


def torch_samples(path):
    with open(path) as f:
        data = json.load(f)
    return {k: v["samples_us"] for k, v in data["results"].items()}, data


def fmt_time(us):
    if us >= 1e4:
        return f"{us / 1e3:.1f} ms"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.1f} us"


def spread(xs):
    """(max - min) / median over the samples, in percent: how noisy this row was."""
    m = statistics.median(xs)
    return 100.0 * (max(xs) - min(xs)) / m if m else 0.0


def openblas_info(lib):
    try:
        ob = ctypes.CDLL(lib)
        ob.openblas_get_config.restype = ctypes.c_char_p
        ob.openblas_get_corename.restype = ctypes.c_char_p
        return f"{ob.openblas_get_config().decode()}, core {ob.openblas_get_corename().decode()}"
    except (OSError, AttributeError):
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw", help="directory with the raw JSON files")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.raw, "env.json")) as f:
        env = json.load(f)

    ember = collections.defaultdict(lambda: collections.defaultdict(list))  # threads -> name -> us
    torch = collections.defaultdict(lambda: collections.defaultdict(list))
    torch_meta = {}
    for p in sorted(glob.glob(os.path.join(args.raw, "ember_t*_r*.json"))):
        t = int(re.search(r"_t(\d+)_", p).group(1))
        s, _ = ember_samples(p)
        for k, v in s.items():
            ember[t][k] += v
    for p in sorted(glob.glob(os.path.join(args.raw, "torch_t*_r*.json"))):
        t = int(re.search(r"_t(\d+)_", p).group(1))
        s, torch_meta = torch_samples(p)
        for k, v in s.items():
            torch[t][k] += v
    threads = sorted(ember)

    L = []
    L.append("# CPU op benchmarks: Ember vs PyTorch")
    L.append("")
    L.append(f"Generated by `bench/run` on {env['date']}. Raw JSON: `bench/results/raw/` (not committed).")
    L.append("")
    L.append("## Machine and libraries")
    L.append("")
    L.append(f"- CPU: {env['cpu_model']} ({env['cpus']} vCPUs, lscpu); {env['kernel']}")
    L.append(f"- Ember: {env['compiler']}, Release, `-O3 -march=native` for tensor/cpu; BLAS = "
             f"`{env['ember_blas']}` ({openblas_info(env['ember_blas'])})")
    L.append(f"- PyTorch {torch_meta.get('torch', '?')} (Debian `python3-torch`), CPU capability "
             f"{torch_meta.get('cpu_capability', '?')}; BLAS = `{torch_meta.get('blas', '?')}` "
             f"(libblas.so.3 alternative -> {env['libblas_alternative']}; {openblas_info(torch_meta.get('blas', ''))})")
    L.append("- Both use the same OpenBLAS 0.3.21 build (pthread variant; `libopenblas0-openmp` is installed "
             "but the alternatives pick `openblas-pthread`, priority 100 vs 95).")
    L.append("- Threads: each table is run with `OMP_NUM_THREADS=T OPENBLAS_NUM_THREADS=T` for both, plus "
             "`torch.set_num_threads(T)` (which does not reach OpenBLAS's own pool, hence the variable). "
             "GEMMs are threaded by OpenBLAS in both; elementwise ops, reductions and softmax by each "
             "framework's OpenMP loops.")
    copy = {t: statistics.median(ember[t]["copy_16M"]) for t in threads if ember[t].get("copy_16M")}
    bw = {t: 8.0 * 2 ** 24 / (copy[t] * 1e-6) / 1e9 for t in copy}
    L.append("- Hardware limits used for \"% of limit\": fp32 peak "
             + ", ".join(f"{PEAK_GFLOPS_PER_CORE * t:.0f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t in threads)
             + " (../shared/research/cpu-limits.md); memory bandwidth measured here with a parallel memcpy of "
             "64 MiB (`copy_16M`, read + write counted): "
             + ", ".join(f"**{bw[t]:.1f} GB/s** on {t} thread{'s' if t > 1 else ''}" for t in sorted(bw))
             + ". Memory-bound ops count the bytes they must read and write (add 12 B/element, sigmoid and "
             "softmax 8, sum 4) and are compared with that copy figure.")
    L.append(f"- Method: {env['rounds']} rounds, each running Ember and PyTorch for every thread count (odd "
             "rounds Ember first, even rounds PyTorch first); "
             f"{env['reps']} repetitions per round of >= {env['min_time']} s each. Times are wall-clock medians "
             "over all repetitions of all rounds (Ember per call, including the allocation of the result, as "
             "in PyTorch). Load average before/after: "
             f"{env['load_before']} / {env.get('load_after', '?')}.")
    L.append("- Noise: the 2 vCPUs are shared with other users' jobs, so the spread column ((max - min) / median "
             "over the repetitions) is part of the result; two-thread rows suffer most, since one busy core "
             "stalls every fork/join.")
    L.append("")
    L.append("Ratio = Ember median time / PyTorch median time: **below 1 means Ember is faster**. "
             "\"Ratio of best\" divides the fastest repetitions instead: other users' load only ever adds "
             "time, so it is the less noisy estimate of the two.")
    above = [f"`{n}` on {t} thread{'s' if t > 1 else ''} ({statistics.median(ember[t][n]) / statistics.median(torch[t][n]):.2f})"
             for t in threads for n in OPS if ember[t].get(n) and torch[t].get(n)
             and statistics.median(ember[t][n]) >= statistics.median(torch[t][n])]
    L.append("")
    L.append("Rows where Ember's median is not below PyTorch's in this run: "
             + (", ".join(above) if above else "none") + ". See \"Reading the tables\" below.")
    for t in threads:
        L.append("")
        L.append(f"## {t} thread{'s' if t > 1 else ''}")
        L.append("")
        L.append("| op | shape | Ember | PyTorch | ratio | ratio of best | Ember % of limit | PyTorch % of limit | spread E / P |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, (what, flops, nbytes) in OPS.items():
            e, p = ember[t].get(name), torch[t].get(name)
            if not e or not p:
                continue
            me, mp = statistics.median(e), statistics.median(p)

            def limit(us):
                if flops:
                    g = flops / (us * 1e-6) / 1e9
                    return f"{100 * g / (PEAK_GFLOPS_PER_CORE * t):.0f}% ({g:.0f} GFLOP/s)"
                g = nbytes / (us * 1e-6) / 1e9
                return f"{100 * g / bw[t]:.0f}% ({g:.1f} GB/s)" if t in bw else f"{g:.1f} GB/s"
            ratio = me / mp
            L.append(f"| `{name}` | {what} | {fmt_time(me)} | {fmt_time(mp)} | **{ratio:.2f}** | "
                     f"{min(e) / min(p):.2f} | {limit(me)} | {limit(mp)} | {spread(e):.0f}% / {spread(p):.0f}% |")
    L.append("")
    L.append("`softmax_64x10` moves 5 KB: both sides measure per-call overhead there, not bandwidth.")
    L.append("")
    L.append(NOTES)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(L))
    os.replace(tmp, args.out)
    print("\n".join(L))


if __name__ == "__main__":
    main()
