#!/usr/bin/python3
# tests/nn/make_resnet_fixture.py: torchvision ResNet-18 reference numbers for tests/nn/test_resnet.cpp.
#
#   /usr/bin/python3 tests/nn/make_resnet_fixture.py     (Debian's python3-torch 1.13 + python3-torchvision 0.14)
#
# No weight file is committed (46 MB): both sides fill every tensor of the state_dict from
# the same integer formula (formula_values below, mirrored in test_resnet.cpp), computed in
# float64 and rounded to float32 once, so both hold bit-identical weights. Tensor t is the
# t-th key in sorted order. We store:
#   - the sorted keys and shapes of torchvision's state_dict (structure and names parity);
#   - eval-mode logits for a fixed batch x [2, 3, 56, 56];
#   - one train-mode step: the logits, the cross-entropy loss for fixed targets, bn1's running
#     statistics after the forward, and for a set of parameters the grad's sum, sum of |g| and
#     first 8 values.
# With --pth DIR it also writes the formula weights as DIR/resnet18_formula_zip.pth (torch >= 1.6
# zip format) and DIR/resnet18_formula_legacy.pth (legacy format), for the optional
# test that loads them through nn::load_weights (tests/nn/resnet_pth.sh).
import argparse
import json
import math
import os

import torch
import torch.nn.functional as F
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "resnet18_parity.json")


def mix32(i, salt):
    """An integer hash of element index i (a 32-bit multiply-xorshift mix, as in test_resnet.cpp): it has no
    period, so no two conv windows see the same numbers and batch-norm gets no exact ties."""
    m = 0xFFFFFFFF
    z = (i + salt * 0x9E3779B9) & m
    z = ((z ^ (z >> 16)) * 0x45D9F3B) & m
    z = ((z ^ (z >> 16)) * 0x45D9F3B) & m
    return z ^ (z >> 16)


def formula_values(t, shape, key):
    """Tensor t (sorted-key index) of `key`: integer pattern k in [-1001, 1001], scaled by the kind of tensor."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.int64)
    k = (mix32(i, t + 1) % 2003 - 1001).double()
    u = k / 1001.0  # in [-1, 1]
    if key.endswith("running_var"):
        v = 1.0 + 0.5 * u.abs()
    elif key.endswith("running_mean"):
        v = 0.1 * u
    elif len(shape) == 1 and key.endswith("weight"):  # BN gamma
        v = 1.0 + 0.1 * u
    elif len(shape) == 1:  # BN beta, fc bias
        v = 0.1 * u
    else:  # conv / fc weight: ~ U(-1, 1) * sqrt(3 / fan_in), variance-preserving-ish
        fan_in = math.prod(shape[1:])
        v = u * math.sqrt(3.0 / fan_in)
    return v.float().reshape(shape)


def input_batch():
    n = 2 * 3 * 56 * 56
    i = torch.arange(n, dtype=torch.int64)
    return ((mix32(i, 1000) % 255).double() / 255.0).float().reshape(2, 3, 56, 56)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pth", help="also write the formula weights as .pth files into this folder")
    args = ap.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1000)
    sd = model.state_dict()
    keys = sorted(sd.keys())
    new = {}
    for t, key in enumerate(keys):
        if sd[key].dtype != torch.float32:  # num_batches_tracked
            new[key] = torch.zeros_like(sd[key])
            continue
        new[key] = formula_values(t, list(sd[key].shape), key)
    model.load_state_dict(new)

    if args.pth:
        os.makedirs(args.pth, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.pth, "resnet18_formula_zip.pth"))
        torch.save(model.state_dict(), os.path.join(args.pth, "resnet18_formula_legacy.pth"),
                   _use_new_zipfile_serialization=False)
        return

    x = input_batch()
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)

    model.train()
    target = torch.tensor([3, 997])
    logits = model(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    grads = {}
    for name in ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                 "layer2.0.downsample.1.weight", "layer3.1.bn2.bias", "layer4.1.conv2.weight", "fc.weight", "fc.bias"]:
        g = dict(model.named_parameters())[name].grad.double()
        grads[name] = {"sum": g.sum().item(), "abs_sum": g.abs().sum().item(), "first": g.flatten()[:8].tolist()}

    doc = {
        "generator": "tests/nn/make_resnet_fixture.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "keys": [[k, list(sd[k].shape)] for k in keys],
        "target": target.tolist(),
        "eval_logits": eval_logits.double().flatten().tolist(),
        "train_logits": logits.detach().double().flatten().tolist(),
        "train_loss": loss.item(),
        "bn1_running_mean": model.bn1.running_mean.double().tolist(),
        "bn1_running_var": model.bn1.running_var.double().tolist(),
        "grads": grads,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f)
        f.write("\n")
    print(f"{OUT}: {os.path.getsize(OUT) / 1024:.1f} KiB, eval logits range "
          f"[{eval_logits.min().item():.3f}, {eval_logits.max().item():.3f}], loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
