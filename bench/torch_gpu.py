"""bench/torch_gpu.py: PyTorch's side of bench/bench_gpu.cpp, the same work under the same names.

    python3 bench/torch_gpu.py [--quick]
Prints one JSON line per measurement, {"name", "value", "unit"}. Besides the names of
bench_gpu.cpp it times mnist_epoch_graphs (the MNIST step captured once as a CUDA graph and
replayed) and the ResNet-18 steps with TF32 convolutions (PyTorch's default; Ember and the plain
names here run f32 convolutions without TF32).
"""
import json
import sys
import time

import torch
import torch.nn as nn

dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = False  # PyTorch's default; the _bench names turn it on


def report(name, value, unit):
    print(json.dumps({"name": name, "value": float(f"{value:.4g}"), "unit": unit}), flush=True)


def time_ms(f, reps, warmup=2):
    for _ in range(warmup):
        f()
    torch.cuda.synchronize()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        torch.cuda.synchronize()
        t.append((time.perf_counter() - t0) * 1e3)
    return sorted(t)[len(t) // 2]


def bandwidth(name, nbytes, f, reps):
    report(name, nbytes / (time_ms(f, reps) * 1e-3) * 1e-9, "GB/s")


def memory_ops(reps):
    n = 1 << 26
    a, b, c = (torch.randn(n, device=dev) for _ in range(3))
    bandwidth("copy_64M", 8.0 * n, lambda: c.copy_(a), reps)
    bandwidth("add_64M", 12.0 * n, lambda: a + b, reps)
    bandwidth("sigmoid_64M", 8.0 * n, lambda: a.sigmoid(), reps)
    m, row = torch.randn(4096, 4096, device=dev), torch.randn(4096, device=dev)
    bandwidth("add_bcast_4096x4096", 8.0 * 4096 * 4096, lambda: m + row, reps)
    bandwidth("sum_64M", 4.0 * n, lambda: a.sum(), reps)
    del a, b, c
    tall = torch.randn(1 << 20, 512, device=dev)
    bandwidth("sum0_1Mx512", 4.0 * tall.numel(), lambda: tall.sum(0), reps)
    del tall
    rows = torch.randn(65536, 1000, device=dev)
    bandwidth("softmax_65536x1000", 8.0 * rows.numel(), lambda: torch.softmax(rows, 1), reps)


def small_op(reps):
    a, b = torch.randn(64, device=dev), torch.randn(64, device=dev)

    def run():
        for _ in range(1000):
            a + b

    report("small_add_us", time_ms(run, reps), "us")
    x, w = torch.randn(2, 8, 8, 8, device=dev), torch.randn(8, 8, 3, 3, device=dev)

    def conv():
        for _ in range(1000):
            torch.nn.functional.conv2d(x, w)

    report("small_conv_us", time_ms(conv, reps), "us")


def matmul(reps):
    a, b = torch.randn(4096, 4096, device=dev), torch.randn(4096, 4096, device=dev)
    ms = time_ms(lambda: a @ b, reps)
    report("matmul_4096", 2.0 * 4096**3 / (ms * 1e-3) * 1e-12, "TFLOP/s")


def mnist(epochs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10), nn.Sigmoid(), nn.Softmax(1)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, foreach=True)
    n, bs = 60000, 64
    x = torch.rand(n, 784, device=dev)
    y = torch.nn.functional.one_hot(torch.randint(0, 10, (n,), device=dev), 10).float()

    def step(xb, yb):
        loss = (model(xb) - yb).abs().sum(1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)

    def epoch():
        for i in range(0, n, bs):
            step(x[i:i + bs], y[i:i + bs])

    report("mnist_epoch", time_ms(epoch, epochs, 1), "ms")

    # The whole step captured as one CUDA graph (full batches; the last partial batch runs eagerly).
    sx, sy = torch.empty(bs, 784, device=dev), torch.empty(bs, 10, device=dev)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            step(sx, sy)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        step(sx, sy)

    def epoch_graphs():
        full = n // bs * bs
        for i in range(0, full, bs):
            sx.copy_(x[i:i + bs])
            sy.copy_(y[i:i + bs])
            g.replay()
        if full < n:
            step(x[full:], y[full:])

    report("mnist_epoch_graphs", time_ms(epoch_graphs, epochs, 1), "ms")


def resnet(name, size, steps, tf32, benchmark, split=False):
    import torchvision
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = benchmark
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=37).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, foreach=True)
    x = torch.rand(64, 3, size, size, device=dev)
    y = torch.randint(0, 37, (64,), device=dev)
    net.train()

    def step():
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)

    report(name, time_ms(step, steps, 3), "ms")
    if split:
        fwd, bwd, st = [], [], []
        for _ in range(steps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss = nn.functional.cross_entropy(net(x), y)
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            loss.backward()
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            opt.step()
            opt.zero_grad(set_to_none=False)
            torch.cuda.synchronize()
            fwd.append((t1 - t0) * 1e3), bwd.append((t2 - t1) * 1e3), st.append((time.perf_counter() - t2) * 1e3)
        for suffix, v in (("_fwd", fwd), ("_bwd", bwd), ("_opt", st)):
            report(name + suffix, sorted(v)[len(v) // 2], "ms")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False


def resnets(steps):
    resnet("resnet18_train_bs64_56", 56, 2 * steps, False, False)
    resnet("resnet18_train_bs64_224", 224, steps, False, False)
    resnet("resnet18_train_bs64_224_tf32", 224, 2 * steps, True, False, split=True)
    resnet("resnet18_train_bs64_224_tf32_bench", 224, steps, True, True)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(json.dumps({"name": "torch_version", "value": torch.__version__, "unit": torch.cuda.get_device_name()}),
          flush=True)
    memory_ops(3 if quick else 20)
    small_op(3 if quick else 10)
    matmul(3 if quick else 10)
    mnist(1 if quick else 3)
    resnets(2 if quick else 10)
