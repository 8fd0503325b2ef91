#!/usr/bin/python3
"""bench/mnist_bench.py: epoch time of the MNIST L1 example, Ember vs PyTorch, same run.

Runs <build>/bin/mnist_l1 and bench/torch_mnist_l1.py alternately, `--reps` times each,
with the same threads, batch size, data (in memory before timing) and epochs, and reports
the median epoch time (training + validation) of each, their ratio (Ember / PyTorch; below
1 means Ember is faster) and the fraction of this CPU's fp32 peak reached over an epoch
(~17.3 GFLOP: 750 training steps of bs 64 plus 12,000 validation rows; peak ~230 GFLOP/s on
2 cores, see ../shared/research/cpu-limits.md).

    /usr/bin/python3 bench/mnist_bench.py --build build --threads 2 [--markdown out.md]
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH_GFLOP = 17.3
PEAK_GFLOPS = {1: 115.0, 2: 230.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--data", default=os.path.join(os.environ.get("EMBER_DATA_DIR", "../shared/data"), "mnist"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--markdown", help="write the result table here (temp file + rename)")
    args = ap.parse_args()
    ember_t, torch_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            h = os.path.join(tmp, "e.csv")
            subprocess.run([os.path.join(args.build, "bin", "mnist_l1"), "--data", args.data, "--epochs",
                            str(args.epochs), "--threads", str(args.threads), "--seed", "1", "--csv", h,
                            "--out", tmp], check=True, stdout=subprocess.DEVNULL)
            with open(h) as f:
                ember_t += [float(r["time"]) for r in csv.DictReader(f)]
            j = os.path.join(tmp, "t.json")
            subprocess.run([sys.executable, os.path.join(HERE, "torch_mnist_l1.py"), "--data", args.data,
                            "--epochs", str(args.epochs), "--threads", str(args.threads), "--seeds", "1",
                            "--json", j], check=True, stdout=subprocess.DEVNULL)
            with open(j) as f:
                torch_t += [r["time"] for r in json.load(f)["runs"]["1"]]
            print(f"rep {rep}: ember {ember_t[-args.epochs:]}, torch {[round(t, 3) for t in torch_t[-args.epochs:]]}",
                  flush=True)
    me, mt = statistics.median(ember_t), statistics.median(torch_t)
    peak = PEAK_GFLOPS.get(args.threads, 115.0 * args.threads)
    rows = [
        f"MNIST L1 epoch (train 750 x bs 64 + validate 12,000), {args.threads} thread(s), "
        f"median of {len(ember_t)} epochs each, alternating runs:",
        "",
        "| | epoch time | GFLOP/s | % of fp32 peak |",
        "|---|---|---|---|",
        f"| Ember | {me:.3f} s | {EPOCH_GFLOP / me:.1f} | {100 * EPOCH_GFLOP / me / peak:.0f}% |",
        f"| PyTorch 1.13 | {mt:.3f} s | {EPOCH_GFLOP / mt:.1f} | {100 * EPOCH_GFLOP / mt / peak:.0f}% |",
        f"| ratio Ember / PyTorch | **{me / mt:.2f}x** | | |",
        "",
    ]
    print("\n".join(rows))
    if args.markdown:
        tmpf = args.markdown + ".tmp"
        with open(tmpf, "w") as f:
            f.write("\n".join(rows))
        os.replace(tmpf, args.markdown)


if __name__ == "__main__":
    main()
