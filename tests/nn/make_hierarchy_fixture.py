#!/usr/bin/python3
# tests/nn/make_hierarchy_fixture.py: PyTorch reference values for the hierarchy losses of
# nn/Hierarchy.h, written to tests/nn/fixtures/hierarchy_golden.json for tests/nn/test_hierarchy.cpp.
#
#   /usr/bin/python3 tests/nn/make_hierarchy_fixture.py      (Debian's python3, which has torch)
#
# Everything is computed in float64 with plain torch ops, straight from the definitions
# (docs/hierarchy.md), never by porting the C++ code:
#   marginal w * CE(logits, y) + (1 - w) * NLL(log[sum p_cat, sum p_dog], species(y))   (hier::marginal_hierarchy_loss)
#   hxe      -sum over the path edges P -> C of lambda(C) * log(p(C) / p(P)),
#            lambda(C) = exp(-alpha * depth(C)) / Z, Z = sum over all nodes of exp(-alpha * depth)
#            (Bertinetto et al. 2020; weighting as in better_mistakes/trees.py)
#   soft     CE against softmax(-beta * D[y] / max D), D = LCA heights (better_mistakes/model/labels.py)
#   cascade  -log prod over the path of softmax-within-siblings (YOLO9000 WordTree)
# For each case we store the logits (exact float64 values), the targets, the loss (mean over the
# batch) and its gradient with respect to the logits.
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "hierarchy_golden.json")
torch.manual_seed(20240607)

# ---------------------------------------------------------------------------
# Trees, as child -> parent edges. A node with no parent is the root.
TREES = {
    # 2 levels, like Pets: capitalised = cat.
    "pets5": {
        "vocab": ["Abyssinian", "Bengal", "Birman", "beagle", "boxer"],
        "edges": [["Abyssinian", "cat"], ["Bengal", "cat"], ["Birman", "cat"], ["beagle", "dog"], ["boxer", "dog"],
                  ["cat", "pet"], ["dog", "pet"]],
    },
    # 3 levels, unbalanced: leaves at depths 3, 2 and 1.
    "zoo6": {
        "vocab": ["cat1", "cat2", "dog1", "sparrow", "eagle", "trout"],
        "edges": [["cat1", "cat"], ["cat2", "cat"], ["dog1", "dog"], ["cat", "mammal"], ["dog", "mammal"],
                  ["sparrow", "bird"], ["eagle", "bird"], ["mammal", "animal"], ["bird", "animal"],
                  ["trout", "animal"]],
        # the cascade layout documented in nn/Hierarchy.h: depth 1, 2, 3, each in level order
        "cascade": ["mammal", "bird", "trout", "cat", "dog", "sparrow", "eagle", "cat1", "cat2", "dog1"],
    },
}


class Tree:
    def __init__(self, spec):
        self.vocab = spec["vocab"]
        self.parent = {c: p for c, p in spec["edges"]}
        nodes = set(self.parent) | set(self.parent.values())
        self.root = [n for n in nodes if n not in self.parent][0]
        self.nodes = sorted(nodes)

    def path(self, n):  # root .. n
        p = [n]
        while p[-1] != self.root:
            p.append(self.parent[p[-1]])
        return p[::-1]

    def depth(self, n):
        return len(self.path(n)) - 1

    def leaves_below(self, n):
        return [i for i, leaf in enumerate(self.vocab) if n in self.path(leaf)]

    def height(self, n):
        return max(self.depth(self.vocab[i]) - self.depth(n) for i in self.leaves_below(n))

    def lca(self, a, b):
        pa, pb = self.path(a), self.path(b)
        common = [x for x, y in zip(pa, pb) if x == y]
        return common[-1]

    def dist(self):
        n = len(self.vocab)
        return torch.tensor([[float(self.height(self.lca(self.vocab[i], self.vocab[j]))) if i != j else 0.0
                              for j in range(n)] for i in range(n)], dtype=torch.float64)

    def p_node(self, probs, n):  # [B]
        return probs[:, self.leaves_below(n)].sum(1)


# ---------------------------------------------------------------------------
def marginal(logits, y, tree, w):
    probs = torch.softmax(logits, 1)
    species = [n for n in tree.nodes if tree.parent.get(n) == tree.root]  # level 1, in level order
    species.sort(key=lambda s: min(tree.leaves_below(s)))
    summed = torch.stack([tree.p_node(probs, s) for s in species], 1)
    ys = torch.tensor([species.index(tree.path(tree.vocab[t])[1]) for t in y.tolist()])
    return w * F.cross_entropy(logits, y) + (1 - w) * F.nll_loss(torch.log(summed), ys)


def hxe(logits, y, tree, alpha, normalize):
    probs = torch.softmax(logits, 1)
    z = sum(math.exp(-alpha * tree.depth(n)) for n in tree.nodes) if normalize else 1.0
    losses = []
    for b, t in enumerate(y.tolist()):
        path = tree.path(tree.vocab[t])
        total = 0.0
        for parent, child in zip(path[:-1], path[1:]):
            lam = math.exp(-alpha * tree.depth(child)) / z
            total = total - lam * torch.log(tree.p_node(probs[b:b + 1], child) / tree.p_node(probs[b:b + 1], parent))
        losses.append(total)
    return torch.cat(losses).mean()


def soft(logits, y, tree, beta):
    d = tree.dist()
    d = d / d.max()
    targets = torch.softmax(-beta * d, 1)[y]
    return -(targets * torch.log_softmax(logits, 1)).sum(1).mean()


def cascade_probs(logits, tree, order):
    pos = {n: k for k, n in enumerate(order)}
    cols = []
    for leaf in tree.vocab:
        path = tree.path(leaf)
        p = torch.ones(logits.shape[0], dtype=torch.float64)
        for parent, child in zip(path[:-1], path[1:]):
            sibs = [n for n in order if tree.parent[n] == parent]
            group = torch.softmax(logits[:, [pos[s] for s in sibs]], 1)
            p = p * group[:, sibs.index(child)]
        cols.append(p)
    return torch.stack(cols, 1)


def cascade(logits, y, tree, order):
    return F.nll_loss(torch.log(cascade_probs(logits, tree, order)), y)


# ---------------------------------------------------------------------------
def case(name, tree_name, loss, params, k, fn, batch=4):
    tree = Tree(TREES[tree_name])
    logits = (torch.randn(batch, k, dtype=torch.float32) * 2).double().requires_grad_()
    y = torch.randint(0, len(tree.vocab), (batch,))
    value = fn(logits, y, tree)
    (grad,) = torch.autograd.grad(value, logits)
    return {"name": name, "tree": tree_name, "loss": loss, "params": params, "shape": list(logits.shape),
            "logits": logits.detach().flatten().tolist(), "target": y.tolist(), "value": value.item(),
            "grad": grad.flatten().tolist()}


cases = []
for w in (0.0, 0.3, 1.0):
    cases.append(case(f"marginal_w{w}", "pets5", "marginal", {"w": w}, 5, lambda x, y, t, w=w: marginal(x, y, t, w)))
for tname in ("pets5", "zoo6"):
    n = len(TREES[tname]["vocab"])
    for alpha, norm in ((0.0, True), (0.5, True), (1.2, False)):
        cases.append(case(f"hxe_{tname}_a{alpha}_{'norm' if norm else 'raw'}", tname, "hxe",
                          {"alpha": alpha, "normalize": norm}, n,
                          lambda x, y, t, a=alpha, nm=norm: hxe(x, y, t, a, nm)))
    for beta in (4.0, 15.0):
        cases.append(case(f"soft_{tname}_b{beta}", tname, "soft", {"beta": beta}, n,
                          lambda x, y, t, b=beta: soft(x, y, t, b)))
order = TREES["zoo6"]["cascade"]
cases.append(case("cascade_zoo6", "zoo6", "cascade", {}, len(order), lambda x, y, t: cascade(x, y, t, order)))

# The cascade probabilities themselves, and the LCA-height matrices.
z = Tree(TREES["zoo6"])
x = (torch.randn(3, len(order), dtype=torch.float32)).double()
extra = {
    "cascade_probs": {"shape": list(x.shape), "logits": x.flatten().tolist(),
                      "probs": cascade_probs(x, z, order).flatten().tolist()},
    "lca_heights": {t: Tree(TREES[t]).dist().flatten().tolist() for t in TREES},
}

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "trees": TREES, "cases": cases, **extra}, f, indent=None)
    f.write("\n")
print(f"wrote {OUT}: {len(cases)} cases")
