#!/usr/bin/python3
"""bench/torch_mnist_l1.py: the MNIST L1-loss example (examples/mnist_l1.cpp) in PyTorch, as a reference.

The same pipeline as examples/mnist_l1: a 20% validation split of the 60,000 training
images, one-hot targets, Linear(784,100)-Sigmoid-Linear(100,10)-Sigmoid-Softmax, loss
abs(pred - onehot).sum(1).mean(), plain SGD at lr 1, bs 64 (train batches shuffled, the
last partial one dropped, as fastai does), 10 epochs; per epoch the smoothed train loss
(fastai's Recorder, beta 0.98), valid loss and batch_accuracy.

The split (datasets RandomSplitter) and the batch order (datasets epoch_order) use Ember's
Philox permutations, ported below, so both programs see the same data in the same order;
only the initial weights differ (torch.manual_seed(seed) here, Ember's generator there).

Run with Debian's torch:  /usr/bin/python3 bench/torch_mnist_l1.py --data ../shared/data/mnist --seeds 1 2 3 42 125
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch

M32 = 0xFFFFFFFF


def philox4x32(counter, seed):
    """Philox 4x32-10, exactly as tensor/Random.h."""
    c0, c1, c2, c3 = counter & M32, (counter >> 32) & M32, 0, 0
    k0, k1 = seed & M32, (seed >> 32) & M32
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        hi0, lo0 = p0 >> 32, p0 & M32
        hi1, lo1 = p1 >> 32, p1 & M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


def permutation(n, seed, offset=0):
    """Fisher-Yates driven by philox bits64(offset + i, seed), as datasets/ImageFolder.cpp."""
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        r = philox4x32(offset + i, seed)
        bits = (r[2] << 32) | r[3]
        j = bits % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    sys.exit(f"torch_mnist_l1: {stem}[.gz] not found in {data_dir}")


def load(data_dir):
    x = read_idx(find(data_dir, "train-images-idx3-ubyte")).reshape(-1, 784).float() / 255.0
    y = read_idx(find(data_dir, "train-labels-idx1-ubyte")).long()
    return x, y


def model():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 100), torch.nn.Sigmoid(),
        torch.nn.Linear(100, 10), torch.nn.Sigmoid(),
        torch.nn.Softmax(dim=1))


def mnist_loss(pred, onehot):
    return torch.abs(pred - onehot).sum(dim=1).mean()


def run(x, y, seed, epochs, bs, lr, valid_pct, split_seed, quiet=False):
    n = x.shape[0]
    perm = permutation(n, split_seed)
    cut = int(valid_pct * n)
    valid_idx = torch.tensor(perm[:cut])
    train_idx = torch.tensor(perm[cut:])
    xt, yt = x[train_idx], torch.nn.functional.one_hot(y[train_idx], 10).float()
    xv, yv = x[valid_idx], torch.nn.functional.one_hot(y[valid_idx], 10).float()
    torch.manual_seed(seed)
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    nt = xt.shape[0]
    smooth, count, rows = 0.0, 0, []
    for epoch in range(epochs):
        order = torch.tensor(permutation(nt, seed, epoch << 32))  # ember::epoch_order(nt, seed, epoch, true)
        t0 = time.perf_counter()  # the epoch time excludes the (pure Python) permutation
        m.train()
        for b in range(nt // bs):  # drop_last
            idx = order[b * bs:(b + 1) * bs]
            loss = mnist_loss(m(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            count += 1
            smooth = 0.98 * smooth + 0.02 * loss.item()
        train_loss = smooth / (1 - 0.98 ** count)
        m.eval()
        vloss, vacc = 0.0, 0.0
        with torch.no_grad():
            for b in range(0, xv.shape[0], bs):
                p = m(xv[b:b + bs])
                t = yv[b:b + bs]
                vloss += mnist_loss(p, t).item() * p.shape[0]
                vacc += (p.argmax(1) == t.argmax(1)).float().sum().item()
        dt = time.perf_counter() - t0
        rows.append({"epoch": epoch, "train_loss": train_loss, "valid_loss": vloss / xv.shape[0],
                     "batch_accuracy": vacc / xv.shape[0], "time": dt})
        if not quiet:
            r = rows[-1]
            print(f"{epoch:<6d}{r['train_loss']:<12.6f}{r['valid_loss']:<12.6f}{r['batch_accuracy']:<16.6f}{dt:.2f}s")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.environ.get("EMBER_DATA_DIR", "../shared/data"), "mnist"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--valid-pct", type=float, default=0.2)
    ap.add_argument("--split-seed", type=int, default=None, help="default: the run's seed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write every run's per-epoch rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y = load(args.data)
    out = {}
    for s in args.seeds:
        print(f"# seed {s}  (torch {torch.__version__}, {args.threads} threads)")
        print("epoch train_loss  valid_loss  batch_accuracy  time")
        out[s] = run(x, y, s, args.epochs, args.bs, args.lr, args.valid_pct,
                     s if args.split_seed is None else args.split_seed)
    finals = [out[s][-1]["batch_accuracy"] for s in args.seeds]
    print("final accuracies:", " ".join(f"{a:.3f}" for a in finals), f"mean {sum(finals) / len(finals):.3f}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"torch": torch.__version__, "threads": args.threads, "runs": out}, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
