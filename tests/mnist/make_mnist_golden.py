#!/usr/bin/python3
"""tests/mnist/make_mnist_golden.py: the golden training fixture of the MNIST L1 example.

Writes tests/mnist/fixtures/mnist_l1_golden.bin: 256 MNIST training images (the first 256
of train-images-idx3-ubyte), their labels, PyTorch's initial weights of the seed-003 MLP,
the batch order of 40 SGD steps (10 epochs of 4 batches of 64), PyTorch's loss at every
step and the final weights. tests/mnist/test_mnist_golden.cpp replays the same steps
through ember::learner::Learner and compares.

Format (little-endian): b"EMBRGLD1", u32 count, then per tensor: u32 name length, name,
u8 dtype (0 f32, 1 i64, 2 u8, 3 f64), u32 ndim, i64 dims[ndim], raw data.

Run with Debian's torch:  /usr/bin/python3 tests/mnist/make_mnist_golden.py [--data DIR]
"""
import argparse
import gzip
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def write(path, tensors):
    codes = {torch.float32: 0, torch.int64: 1, torch.uint8: 2, torch.float64: 3}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"EMBRGLD1")
        f.write(struct.pack("<I", len(tensors)))
        for name, t in tensors:
            t = t.contiguous()
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<BI", codes[t.dtype], t.dim()))
            f.write(struct.pack("<" + "q" * t.dim(), *t.shape))
            f.write(t.numpy().tobytes() if t.dtype != torch.uint8 else bytes(t.flatten().tolist()))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "../../../shared/data/mnist"))
    args = ap.parse_args()
    torch.manual_seed(0)
    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))[:256].clone()
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))[:256].long()
    x = images.reshape(256, 784).float() / 255.0
    y = torch.nn.functional.one_hot(labels, 10).float()
    m = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.Sigmoid(), torch.nn.Linear(100, 10),
                            torch.nn.Sigmoid(), torch.nn.Softmax(dim=1))
    init = [(f"init.{k}", v.detach().clone()) for k, v in m.state_dict().items()]
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    order = torch.stack([torch.randperm(256) for _ in range(10)])  # [epoch, item]
    losses = []
    for e in range(10):
        for b in range(4):
            idx = order[e, b * 64:(b + 1) * 64]
            loss = torch.abs(m(x[idx]) - y[idx]).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    final = [(f"final.{k}", v.detach().clone()) for k, v in m.state_dict().items()]
    write(os.path.join(HERE, "fixtures", "mnist_l1_golden.bin"),
          [("images", images), ("labels", labels), ("order", order),
           ("losses", torch.tensor(losses, dtype=torch.float64))] + init + final)
    print(f"wrote 40 steps; loss {losses[0]:.6f} -> {losses[-1]:.6f}")


if __name__ == "__main__":
    main()
