#!/usr/bin/python3
# bench/torch_resnet.py: PyTorch's side of bench/bench_resnet.cpp: the same ResNet-18 train step
# (forward, cross-entropy, backward, AdamW step, zero_grad) and eval forward, same shapes.
# Also counts the FLOPs of one forward (conv and linear multiply-adds x 2) with hooks.
#   OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_resnet.py [--bs 64] [--size 56] [--steps 10]
import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision

ap = argparse.ArgumentParser()
ap.add_argument("--bs", type=int, default=64)
ap.add_argument("--size", type=int, default=56)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
a = ap.parse_args()

torch.manual_seed(0)
net = torchvision.models.resnet18(num_classes=37)
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
x = torch.rand(a.bs, 3, a.size, a.size)
y = torch.randint(0, 37, (a.bs,))

flops = [0]
def hook(m, inp, out):
    if isinstance(m, torch.nn.Conv2d):
        k = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
        flops[0] += 2 * out.numel() * k
    elif isinstance(m, torch.nn.Linear):
        flops[0] += 2 * out.numel() * m.in_features
hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
with torch.no_grad():
    net(x)
for h in hs:
    h.remove()

train, ev = [], []
net.train()
for i in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if i >= a.warmup:
        train.append((time.perf_counter() - t0) * 1e3)
net.eval()
with torch.no_grad():
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        net(x)
        if i >= a.warmup:
            ev.append((time.perf_counter() - t0) * 1e3)
med = lambda v: sorted(v)[len(v) // 2]
print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "bs": a.bs,
                  "size": a.size, "forward_gflop": flops[0] / 1e9, "train_ms_median": round(med(train), 2),
                  "train_ms_best": round(min(train), 2), "eval_ms_median": round(med(ev), 2),
                  "eval_ms_best": round(min(ev), 2)}))
