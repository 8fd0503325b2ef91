"""bench/gpu_report.py: the table of bench_gpu (Ember) against torch_gpu.py (PyTorch).

    python3 bench/gpu_report.py ember.jsonl torch.jsonl
Prints a markdown table: each measurement, both values, and Ember's time as a fraction of
PyTorch's (below 1: Ember is faster), computed from ms or from the rates (GB/s, TFLOP/s),
and each Ember bandwidth as a fraction of Ember's measured device copy (copy_64M).
"""
import json
import sys


def load(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    out[r["name"]] = r
    except OSError:
        pass
    return out


ember, torch = load(sys.argv[1]), load(sys.argv[2])
if "torch_version" in torch:
    print(f"PyTorch {torch['torch_version']['value']} on {torch['torch_version']['unit']}\n")
print("| measurement | unit | Ember | PyTorch | Ember time / PyTorch time | Ember, fraction of its copy |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
copy = ember.get("copy_64M", {}).get("value")
for name in list(ember) + [n for n in torch if n not in ember and n != "torch_version"]:
    t = torch.get(name)
    # A PyTorch-only variant (mnist_epoch_graphs, ..._tf32) is set against Ember's plain one.
    base = max((n for n in ember if name.startswith(n)), key=len, default=None)
    e = ember.get(base) if base else None
    unit = (e or t)["unit"]
    ratio = ""
    if e and t and e["value"] and t["value"]:
        r = e["value"] / t["value"] if unit in ("ms", "us") else t["value"] / e["value"]
        ratio = f"{r:.2f}" + ("" if base == name else f" (vs Ember's {base})")
    frac = f"{e['value'] / copy:.2f}" if e and base == name and unit == "GB/s" and copy else ""
    fmt = lambda r: f"{r['value']:g}" if r else "-"
    print(f"| {name} | {unit} | {fmt(e) if base == name else '-'} | {fmt(t)} | {ratio} | {frac} |")
