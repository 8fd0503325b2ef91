#!/usr/bin/python3
# tests/golden/make_golden.py: writes the PyTorch reference fixtures for tests/golden/test_golden.cpp.
#
#   /usr/bin/python3 tests/golden/make_golden.py      (Debian's python3, which has torch)
#
# Every case is one op applied to small fixed-seed inputs. For each case we store
#   inputs   name, dtype (f32 / i64 / u8 for bool masks), shape, flat values, requires_grad
#   outputs  name, dtype, shape, flat values, and for float outputs a fixed random weight W
#   grads    d/d(input) of  L = sum_k sum(out_k * W_k)  for every input with requires_grad
# Float inputs and W are drawn in float32 and stored exactly, so the C++ side (f32) reads
# the very same numbers; the reference itself is computed in float64 and stored with full
# precision (Python's repr round-trips doubles). nan / inf are stored as the strings
# "nan", "inf", "-inf" (JSON has no such numbers).
#
# The C++ table in test_golden.cpp must hold exactly the case names written here: a case
# on one side only is a failing test. Each case also stores `expr`, the torch expression,
# to read next to the C++ one.
import json
import math
import os
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="reduction: .mean. divides")

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SEED = 20240611

torch.manual_seed(SEED)


# ---------------------------------------------------------------------------
# Inputs: drawn in float32, then widened to float64 exactly.
def f32(t):  # rounds to float32 (what the C++ side reads), kept as float64
    return t.float().double()


def randn(*shape, scale=1.0):
    return (torch.randn(shape, dtype=torch.float32) * scale).double()


def uniform(lo, hi, *shape):
    return (torch.rand(shape, dtype=torch.float32) * (hi - lo) + lo).double()


def positive(*shape):  # in [0.5, 2)
    return uniform(0.5, 2.0, *shape)


def probs(*shape, dim=-1):  # rows that sum to 1 (in float32, then widened)
    return torch.softmax(torch.randn(shape, dtype=torch.float32), dim=dim).double()


def ints(lo, hi, *shape):
    return torch.randint(lo, hi, shape, dtype=torch.int64)


def mask(*shape):
    return torch.rand(shape) < 0.5


def exact(values):  # literal values; each must be exactly representable in float32
    return torch.tensor(values, dtype=torch.float64)


# ---------------------------------------------------------------------------
# Encoding
def encode_value(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def dtype_name(t):  # the Ember dtype the C++ side uses
    if t.dtype == torch.float64:
        return "f32"  # Ember computes in f32; the values stored are torch's float64 ones
    if t.dtype == torch.int64:
        return "i64"
    if t.dtype == torch.bool:
        return "u8"
    raise ValueError(f"unsupported dtype {t.dtype}")


def encode_tensor(name, t, **extra):
    d = {"name": name, "dtype": dtype_name(t), "shape": list(t.shape),
         "values": [encode_value(v) for v in t.detach().reshape(-1).tolist()]}
    d.update(extra)
    return d


# ---------------------------------------------------------------------------
# Case registry: one file per op family.
FILES = {}


def case(family, name, expr, fn, inputs, no_grad=(), out_names=None, float_out=False):
    """Runs `fn(**inputs)` in float64 and records output(s) and grads.

    family    the fixture file (elementwise, reduce, ...)
    expr      the torch expression, as text, for people reading the fixture
    fn        takes the inputs positionally (dict order); returns a tensor or a tuple
    inputs    dict name -> tensor (float64, int64 or bool)
    no_grad   names of float inputs that do not require grad
    float_out store integer outputs as floats (one_hot: Ember returns f32 by default)
    """
    cases = FILES.setdefault(family, {})
    assert name not in cases and all(name not in c for c in FILES.values()), f"duplicate case {name}"
    leaves = {}
    for k, v in inputs.items():
        if v.dtype == torch.float64:
            assert torch.equal(v.isnan(), f32(v).isnan()) and torch.equal(v.nan_to_num(), f32(v).nan_to_num()), \
                f"{name}: input {k} is not exactly representable in float32"
        v = v.clone()
        if v.dtype == torch.float64 and k not in no_grad:
            v.requires_grad_(True)
        leaves[k] = v
    out = fn(*leaves.values())  # positional, in the order the inputs are listed
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if out_names is None:
        out_names = ["out"] if len(outs) == 1 else [f"out{i}" for i in range(len(outs))]
    grad_inputs = [k for k, v in leaves.items() if v.requires_grad]

    entry = {"expr": expr, "inputs": [], "outputs": [], "grads": []}
    for k, v in leaves.items():
        entry["inputs"].append(encode_tensor(k, v, requires_grad=v.requires_grad))
    loss = None
    for oname, o in zip(out_names, outs):
        if float_out and not o.is_floating_point():
            o = o.double()
        if o.is_floating_point() and grad_inputs:
            w = randn(*o.shape)
            term = (o * w).sum()
            loss = term if loss is None else loss + term
            entry["outputs"].append(encode_tensor(oname, o, weight=encode_tensor("W", w)["values"]))
        else:
            entry["outputs"].append(encode_tensor(oname, o))
    if grad_inputs:
        assert loss is not None, f"{name}: inputs require grad but no float output"
        grads = torch.autograd.grad(loss, [leaves[k] for k in grad_inputs], allow_unused=True)
        for k, g in zip(grad_inputs, grads):
            if g is None:
                g = torch.zeros_like(leaves[k])
            entry["grads"].append(encode_tensor(k, g))
    cases[name] = entry


# ---------------------------------------------------------------------------
# Elementwise
def elementwise():
    fam = "elementwise"
    binary = [("add", torch.add, "a + b"), ("sub", torch.sub, "a - b"), ("mul", torch.mul, "a * b")]
    for op, f, text in binary:
        case(fam, f"{op}_same", text, lambda a, b, f=f: f(a, b), {"a": randn(3, 4), "b": randn(3, 4)})
        case(fam, f"{op}_bcast_row", text + "  ([3,4], [4])", lambda a, b, f=f: f(a, b),
             {"a": randn(3, 4), "b": randn(4)})
        case(fam, f"{op}_bcast_col", text + "  ([3,4], [3,1])", lambda a, b, f=f: f(a, b),
             {"a": randn(3, 4), "b": randn(3, 1)})
        case(fam, f"{op}_bcast_outer", text + "  ([3,1], [1,4])", lambda a, b, f=f: f(a, b),
             {"a": randn(3, 1), "b": randn(1, 4)})
        case(fam, f"{op}_bcast_3d", text + "  ([2,1,4], [3,1])", lambda a, b, f=f: f(a, b),
             {"a": randn(2, 1, 4), "b": randn(3, 1)})
        case(fam, f"{op}_bcast_left", text + "  ([4], [2,3,4])", lambda a, b, f=f: f(a, b),
             {"a": randn(4), "b": randn(2, 3, 4)})
        case(fam, f"{op}_0d_tensor", text + "  ([3,4], 0-d)", lambda a, b, f=f: f(a, b),
             {"a": randn(3, 4), "b": randn()})
        case(fam, f"{op}_0d_0d", text + "  (0-d, 0-d)", lambda a, b, f=f: f(a, b), {"a": randn(), "b": randn()})
    case(fam, "add_scalar_right", "x + 2.5", lambda x: x + 2.5, {"x": randn(3, 4)})
    case(fam, "add_scalar_left", "2.5 + x", lambda x: 2.5 + x, {"x": randn(3, 4)})
    case(fam, "sub_scalar_right", "x - 1.5", lambda x: x - 1.5, {"x": randn(3, 4)})
    case(fam, "sub_scalar_left", "1.5 - x", lambda x: 1.5 - x, {"x": randn(3, 4)})
    case(fam, "mul_scalar_right", "x * -1.5", lambda x: x * -1.5, {"x": randn(3, 4)})
    case(fam, "mul_scalar_left", "-1.5 * x", lambda x: -1.5 * x, {"x": randn(3, 4)})
    case(fam, "mul_self", "x * x (one leaf used twice)", lambda x: x * x, {"x": randn(3, 4)})

    # div: denominators kept away from 0
    den = lambda *s: positive(*s) * (1.0 - 2.0 * (torch.rand(s) < 0.5).double())
    case(fam, "div_same", "a / b", lambda a, b: a / b, {"a": randn(3, 4), "b": den(3, 4)})
    case(fam, "div_bcast_row", "a / b  ([3,4], [4])", lambda a, b: a / b, {"a": randn(3, 4), "b": den(4)})
    case(fam, "div_bcast_col", "a / b  ([3,4], [3,1])", lambda a, b: a / b, {"a": randn(3, 4), "b": den(3, 1)})
    case(fam, "div_bcast_3d", "a / b  ([2,1,4], [3,1])", lambda a, b: a / b, {"a": randn(2, 1, 4), "b": den(3, 1)})
    case(fam, "div_bcast_left", "a / b  ([4], [3,4])", lambda a, b: a / b, {"a": randn(4), "b": den(3, 4)})
    case(fam, "div_0d_tensor", "a / b  ([3,4], 0-d)", lambda a, b: a / b, {"a": randn(3, 4), "b": den()})
    case(fam, "div_0d_numerator", "a / b  (0-d, [3,4])", lambda a, b: a / b, {"a": randn(), "b": den(3, 4)})
    case(fam, "div_scalar_right", "x / 4.0", lambda x: x / 4.0, {"x": randn(3, 4)})
    case(fam, "div_scalar_right_odd", "x / 3.0", lambda x: x / 3.0, {"x": randn(3, 4)})
    case(fam, "div_scalar_left", "2.0 / x", lambda x: 2.0 / x, {"x": den(3, 4)})

    case(fam, "neg", "torch.neg(x)", lambda x: torch.neg(x), {"x": randn(3, 4)})
    case(fam, "neg_operator_3d", "-x", lambda x: -x, {"x": randn(2, 3, 4)})
    case(fam, "neg_0d", "-x (0-d)", lambda x: -x, {"x": randn()})

    # pow
    case(fam, "pow_tensor_tensor", "torch.pow(a, b), a > 0", lambda a, b: torch.pow(a, b),
         {"a": positive(3, 4), "b": randn(3, 4)})
    case(fam, "pow_tensor_bcast", "torch.pow(a, b), a > 0  ([3,4], [4])", lambda a, b: torch.pow(a, b),
         {"a": positive(3, 4), "b": randn(4)})
    case(fam, "pow_tensor_0d_exponent", "torch.pow(a, b), a > 0  ([3,4], 0-d)", lambda a, b: torch.pow(a, b),
         {"a": positive(3, 4), "b": randn()})
    case(fam, "pow_scalar_2", "x ** 2", lambda x: x ** 2, {"x": randn(3, 4)})
    case(fam, "pow_scalar_3", "x ** 3 (negative bases too)", lambda x: x ** 3, {"x": randn(3, 4)})
    case(fam, "pow_scalar_half", "x ** 0.5, x > 0", lambda x: x ** 0.5, {"x": positive(3, 4)})
    case(fam, "pow_scalar_neg", "x ** -1.5, x > 0", lambda x: x ** -1.5, {"x": positive(3, 4)})

    # unary
    case(fam, "exp", "torch.exp(x)", torch.exp, {"x": randn(3, 4)})
    case(fam, "exp_3d", "torch.exp(x)", torch.exp, {"x": randn(2, 3, 4)})
    case(fam, "log", "torch.log(x), x > 0", torch.log, {"x": positive(3, 4)})
    case(fam, "sqrt", "torch.sqrt(x), x > 0", torch.sqrt, {"x": positive(3, 4)})
    with_zero = randn(3, 4)
    with_zero[0, 1] = 0.0
    with_zero[2, 3] = 0.0
    case(fam, "abs", "torch.abs(x) (x has exact zeros: grad 0 there)", torch.abs, {"x": with_zero})
    at_bounds = randn(3, 4)
    at_bounds[0, 0] = 0.5
    at_bounds[1, 2] = -0.5
    case(fam, "clamp", "torch.clamp(x, -0.5, 0.5) (x hits both bounds exactly: grad 1 there)",
         lambda x: torch.clamp(x, -0.5, 0.5), {"x": at_bounds})
    case(fam, "clamp_3d", "torch.clamp(x, -1.0, 0.25)", lambda x: torch.clamp(x, -1.0, 0.25), {"x": randn(2, 3, 4)})
    case(fam, "sigmoid", "torch.sigmoid(x)", torch.sigmoid, {"x": randn(3, 4, scale=3.0)})
    case(fam, "tanh", "torch.tanh(x)", torch.tanh, {"x": randn(3, 4, scale=2.0)})
    case(fam, "relu", "torch.relu(x) (x has exact zeros: grad 0 there)", torch.relu, {"x": with_zero.clone()})
    case(fam, "log1p", "torch.log1p(x), x > -1", torch.log1p, {"x": uniform(-0.9, 3.0, 3, 4)})

    # maximum / minimum (ties split the grad evenly in both)
    a_t, b_t = randn(3, 4), randn(3, 4)
    b_t[0, :2] = a_t[0, :2]
    b_t[2, 3] = a_t[2, 3]
    for op, f in [("maximum", torch.maximum), ("minimum", torch.minimum)]:
        case(fam, f"{op}_same", f"torch.{op}(a, b)", f, {"a": randn(3, 4), "b": randn(3, 4)})
        case(fam, f"{op}_bcast", f"torch.{op}(a, b)  ([3,4], [4])", f, {"a": randn(3, 4), "b": randn(4)})
        case(fam, f"{op}_ties", f"torch.{op}(a, b), some a == b (grad split in half)", f,
             {"a": a_t.clone(), "b": b_t.clone()})

    # xlogy
    x0 = positive(3, 4)
    x0[0, 0] = 0.0
    x0[1, 3] = 0.0
    case(fam, "xlogy", "torch.xlogy(x, y), y > 0, x has zeros", torch.xlogy, {"x": x0, "y": positive(3, 4)})
    case(fam, "xlogy_bcast", "torch.xlogy(x, y)  ([3,4], [4])", torch.xlogy, {"x": randn(3, 4), "y": positive(4)})
    y0 = positive(3, 4)
    y0[0, 0] = 0.0
    case(fam, "xlogy_zero_zero", "torch.xlogy(x, y), x = y = 0 at [0,0]: out 0, dy nan", torch.xlogy,
         {"x": x0.clone(), "y": y0})

    # edge values
    z = positive(3, 4) * (1.0 - 2.0 * (torch.rand(3, 4) < 0.5).double())
    z[0, 0] = 0.0
    z[1, 1] = 0.0
    case(fam, "pow_scalar_0", "x ** 0 (x has zeros: grad 0 everywhere)", lambda x: x ** 0.0, {"x": z})
    case(fam, "pow_scalar_2_zero_base", "x ** 2 (x has zeros)", lambda x: x ** 2.0, {"x": z.clone()})
    zb, ze = positive(3, 4), randn(3, 4)
    zb[0, :3] = 0.0
    ze[0, :3] = exact([0.0, 2.0, 1.0])
    case(fam, "pow_tensor_zero_base", "torch.pow(a, b), a = 0 where b in {0, 2, 1}: grads 0 there (d/da 1 at b = 1)",
         torch.pow, {"a": zb, "b": ze})
    case(fam, "sigmoid_extreme", "torch.sigmoid(x), |x| up to ~100", torch.sigmoid,
         {"x": exact([[-100.0, -30.0, -10.0, 0.0], [10.0, 30.0, 100.0, -88.5]])})
    case(fam, "tanh_extreme", "torch.tanh(x), |x| up to ~100", torch.tanh,
         {"x": exact([[-100.0, -20.0, -5.0, 0.0], [5.0, 20.0, 100.0, 0.0009765625]])})
    case(fam, "exp_neg_inf", "torch.exp(x), x has -inf", torch.exp,
         {"x": exact([[-math.inf, 0.5, -1.0], [2.0, -math.inf, 0.0]])}, no_grad=("x",))

    # non-contiguous operands
    case(fam, "add_transposed", "a.t() + b  (a [4,3])", lambda a, b: a.t() + b, {"a": randn(4, 3), "b": randn(3, 4)})
    case(fam, "mul_permuted_bcast", "a.permute(2,0,1) * b  (a [3,1,4] -> [4,3,1], b [2])",
         lambda a, b: a.permute(2, 0, 1) * b, {"a": randn(3, 1, 4), "b": randn(2)})
    case(fam, "exp_transposed", "a.t().exp()", lambda a: a.t().exp(), {"a": randn(4, 3)})
    case(fam, "div_narrowed", "a.narrow(1, 1, 3) / b", lambda a, b: a.narrow(1, 1, 3) / b,
         {"a": randn(3, 5), "b": positive(3, 3)})
    case(fam, "sigmoid_expanded", "a.expand(3, 4).sigmoid()", lambda a: a.expand(3, 4).sigmoid(), {"a": randn(3, 1)})


# ---------------------------------------------------------------------------
# Reductions. max/min use torch.amax/amin: their grad splits evenly between ties, as Ember's
# max/min does (torch.max(x, dim) instead sends it to one index only).
def reduce():
    fam = "reduce"
    variants = [("all", (), False), ("all_keepdim", (0, 1, 2), True), ("dim1", (1,), False),
                ("dim1_keepdim", (1,), True), ("dimneg1", (-1,), False), ("dims02", (0, 2), False),
                ("dims02_keepdim", (0, 2), True), ("dims_neg", (-1, 0), False)]

    def torch_reduce(op, x, dims, keepdim):
        if op == "sum":
            return x.sum() if not dims else x.sum(dim=dims, keepdim=keepdim)
        if op == "mean":
            return x.mean() if not dims else x.mean(dim=dims, keepdim=keepdim)
        if op == "max":
            return torch.amax(x, dim=dims, keepdim=keepdim)
        if op == "min":
            return torch.amin(x, dim=dims, keepdim=keepdim)
        if op == "logsumexp":
            return torch.logsumexp(x, dim=dims if dims else (0, 1, 2), keepdim=keepdim)
        raise ValueError(op)

    for op in ["sum", "mean", "max", "min", "logsumexp"]:
        for vname, dims, keep in variants:
            expr = f"{op}(x, dims={list(dims) if dims else 'all'}, keepdim={keep})"
            case(fam, f"{op}_{vname}", expr, lambda x, op=op, dims=dims, keep=keep: torch_reduce(op, x, dims, keep),
                 {"x": randn(2, 3, 4)})
        case(fam, f"{op}_2d_dim0", f"{op}(x [3,4], dim 0)", lambda x, op=op: torch_reduce(op, x, (0,), False),
             {"x": randn(3, 4)})
        case(fam, f"{op}_transposed", f"{op}(x.transpose(0, 2), dim 1)",
             lambda x, op=op: torch_reduce(op, x.transpose(0, 2), (1,), False), {"x": randn(2, 3, 4)})
    case(fam, "sum_1d", "x.sum() (x [5])", lambda x: x.sum(), {"x": randn(5)})
    case(fam, "sum_0d", "x.sum() (x 0-d)", lambda x: x.sum(), {"x": randn()})

    ties = exact([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5], [-1.0, 2.0, -4.0, -4.0]])
    case(fam, "max_ties_dim1", "amax(x, dim 1), ties split evenly", lambda x: torch.amax(x, dim=1), {"x": ties.clone()})
    case(fam, "min_ties_dim1", "amin(x, dim 1), ties split evenly", lambda x: torch.amin(x, dim=1), {"x": ties.clone()})
    case(fam, "max_ties_all", "x.max(), ties split evenly", lambda x: x.max(),
         {"x": exact([[1.0, 3.0], [3.0, -2.0]])})
    case(fam, "logsumexp_neg_inf", "logsumexp(x, dim 1), x has -inf entries (not a whole row)",
         lambda x: torch.logsumexp(x, dim=1), {"x": exact([[-math.inf, 0.5, -1.0], [2.0, -math.inf, -math.inf]])})
    case(fam, "sum_size1_dim", "x [3,1,4] .sum(1)", lambda x: x.sum(1), {"x": randn(3, 1, 4)})
    case(fam, "logsumexp_large", "logsumexp(x, dim 1), |x| ~ 100 (needs the max shift)",
         lambda x: torch.logsumexp(x, dim=1), {"x": randn(3, 4, scale=100.0)})


# ---------------------------------------------------------------------------
def linalg():
    fam = "linalg"
    mm = lambda a, b: torch.matmul(a, b)
    shapes = [("2d", (3, 4), (4, 5)), ("1d_1d", (4,), (4,)), ("1d_2d", (4,), (4, 5)), ("2d_1d", (3, 4), (4,)),
              ("1d_3d", (4,), (2, 4, 5)), ("3d_1d", (2, 3, 4), (4,)), ("3d_3d", (2, 3, 4), (2, 4, 5)),
              ("3d_2d", (2, 3, 4), (4, 5)), ("2d_3d", (3, 4), (2, 4, 5)), ("bcast_4d", (2, 1, 3, 4), (3, 4, 2)),
              ("bcast_batch1", (1, 3, 4), (2, 4, 5)), ("inner1", (3, 1), (1, 4))]
    for n, sa, sb in shapes:
        case(fam, f"matmul_{n}", f"torch.matmul(a {list(sa)}, b {list(sb)})", mm, {"a": randn(*sa), "b": randn(*sb)})
    case(fam, "matmul_transposed", "a.t() @ b.t()  (a [4,3], b [5,4])", lambda a, b: a.t() @ b.t(),
         {"a": randn(4, 3), "b": randn(5, 4)})
    case(fam, "matmul_3d_transposed", "a.transpose(1,2) @ b  (a [2,4,3], b [2,4,5])",
         lambda a, b: a.transpose(1, 2) @ b, {"a": randn(2, 4, 3), "b": randn(2, 4, 5)})
    case(fam, "matmul_sliced", "a[:, 1:4] @ b  (a [3,6], b [3,2])", lambda a, b: a[:, 1:4] @ b,
         {"a": randn(3, 6), "b": randn(3, 2)})
    case(fam, "matmul_self", "a @ a  (a [3,3], one leaf twice)", lambda a: a @ a, {"a": randn(3, 3)})

    case(fam, "matmul_partial_grad", "a @ b, only b requires grad", mm, {"a": randn(3, 4), "b": randn(4, 5)},
         no_grad=("a",))
    case(fam, "linear_bias", "F.linear(x [3,4], w [5,4], b [5])", F.linear,
         {"x": randn(3, 4), "weight": randn(5, 4), "bias": randn(5)})
    case(fam, "linear_nobias", "F.linear(x [3,4], w [5,4])", F.linear, {"x": randn(3, 4), "weight": randn(5, 4)})
    case(fam, "linear_3d", "F.linear(x [2,3,4], w [5,4], b [5])", F.linear,
         {"x": randn(2, 3, 4), "weight": randn(5, 4), "bias": randn(5)})
    case(fam, "linear_3d_nobias", "F.linear(x [2,3,4], w [5,4])", F.linear, {"x": randn(2, 3, 4), "weight": randn(5, 4)})
    case(fam, "linear_1d", "F.linear(x [4], w [5,4], b [5])", F.linear,
         {"x": randn(4), "weight": randn(5, 4), "bias": randn(5)})
    case(fam, "linear_weight_t", "F.linear(x [3,4], w.t() (w [4,5]), b [5])",
         lambda x, w, bias: F.linear(x, w.t(), bias), {"x": randn(3, 4), "w": randn(4, 5), "bias": randn(5)})
    case(fam, "linear_x_t", "F.linear(x.t() (x [4,3]), w [5,4], b [5])",
         lambda x, weight, bias: F.linear(x.t(), weight, bias),
         {"x": randn(4, 3), "weight": randn(5, 4), "bias": randn(5)})
    case(fam, "linear_x_only", "F.linear(x [3,4], w, b), only x requires grad", F.linear,
         {"x": randn(3, 4), "weight": randn(5, 4), "bias": randn(5)}, no_grad=("weight", "bias"))
    case(fam, "linear_weight_only", "F.linear(x [3,4], w, b), only w requires grad", F.linear,
         {"x": randn(3, 4), "weight": randn(5, 4), "bias": randn(5)}, no_grad=("x", "bias"))


# ---------------------------------------------------------------------------
def softmax():
    fam = "softmax"
    masked = randn(3, 4)
    masked[0, 1] = -math.inf
    masked[2, 0] = -math.inf
    masked[2, 3] = -math.inf
    case(fam, "softmax_neg_inf", "torch.softmax(x, 1), x has -inf (masked) entries", lambda x: torch.softmax(x, 1),
         {"x": masked.clone()}, no_grad=("x",))
    case(fam, "softmax_masked_fill", "torch.softmax(x.masked_fill(m, -inf), -1)",
         lambda x, m: torch.softmax(x.masked_fill(m, -math.inf), -1),
         {"x": randn(3, 4), "m": torch.tensor([[False, True, False, False], [True, True, True, False],
                                                [False, False, False, False]])})
    case(fam, "log_softmax_masked_fill", "torch.log_softmax(x.masked_fill(m, -inf), 1)",
         lambda x, m: torch.log_softmax(x.masked_fill(m, -math.inf), 1),
         {"x": randn(2, 4), "m": torch.tensor([[False, True, False, True], [False, False, True, False]])})
    case(fam, "softmax_0d", "torch.softmax(x 0-d, 0)", lambda x: torch.softmax(x, 0), {"x": randn()})
    for op, f in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
        for d in [0, 1, -1]:
            dn = "neg1" if d < 0 else str(d)
            case(fam, f"{op}_2d_dim{dn}", f"torch.{op}(x [3,4], dim={d})", lambda x, d=d, f=f: f(x, d),
                 {"x": randn(3, 4)})
            case(fam, f"{op}_3d_dim{dn}", f"torch.{op}(x [2,3,4], dim={d})", lambda x, d=d, f=f: f(x, d),
                 {"x": randn(2, 3, 4)})
        case(fam, f"{op}_1d", f"torch.{op}(x [5], dim=0)", lambda x, f=f: f(x, 0), {"x": randn(5)})
        case(fam, f"{op}_large", f"torch.{op}(x [3,4] * ~50, dim=1) (needs the max shift)",
             lambda x, f=f: f(x, 1), {"x": randn(3, 4, scale=50.0)})
        case(fam, f"{op}_transposed", f"torch.{op}(x.t(), dim=1)  (x [4,3])", lambda x, f=f: f(x.t(), 1),
             {"x": randn(4, 3)})


# ---------------------------------------------------------------------------
# Losses. Float targets require grad too (PyTorch differentiates them in every loss here).
def loss():
    fam = "loss"
    N, C = 4, 5
    red = ["none", "mean", "sum"]
    for r in red:
        case(fam, f"ce_index_{r}", f"F.cross_entropy(x [4,5], t [4], reduction='{r}')",
             lambda x, t, r=r: F.cross_entropy(x, t, reduction=r), {"x": randn(N, C), "t": ints(0, C, N)})
        case(fam, f"ce_prob_{r}", f"F.cross_entropy(x [4,5], p [4,5] probabilities, reduction='{r}')",
             lambda x, p, r=r: F.cross_entropy(x, p, reduction=r), {"x": randn(N, C), "p": probs(N, C)})
        case(fam, f"ce_smooth_index_{r}", f"F.cross_entropy(x, t [4], label_smoothing=0.1, reduction='{r}')",
             lambda x, t, r=r: F.cross_entropy(x, t, reduction=r, label_smoothing=0.1),
             {"x": randn(N, C), "t": ints(0, C, N)})
        case(fam, f"ce_ignore_{r}", f"F.cross_entropy(x, t [4] with -100s, reduction='{r}')",
             lambda x, t, r=r: F.cross_entropy(x, t, reduction=r),
             {"x": randn(N, C), "t": torch.tensor([2, -100, 0, -100])})
        case(fam, f"ce_ignore_smooth_{r}",
             f"F.cross_entropy(x, t with -100s, label_smoothing=0.2, reduction='{r}')",
             lambda x, t, r=r: F.cross_entropy(x, t, reduction=r, label_smoothing=0.2),
             {"x": randn(N, C), "t": torch.tensor([-100, 4, 1, 3])})
        case(fam, f"ce_nd_index_{r}", f"F.cross_entropy(x [2,4,3], t [2,3], reduction='{r}')",
             lambda x, t, r=r: F.cross_entropy(x, t, reduction=r), {"x": randn(2, 4, 3), "t": ints(0, 4, 2, 3)})
        case(fam, f"nll_{r}", f"F.nll_loss(x [4,5], t [4], reduction='{r}')",
             lambda x, t, r=r: F.nll_loss(x, t, reduction=r), {"x": randn(N, C), "t": ints(0, C, N)})
        case(fam, f"l1_{r}", f"F.l1_loss(x [3,4], y [3,4], reduction='{r}')",
             lambda x, y, r=r: F.l1_loss(x, y, reduction=r), {"x": randn(3, 4), "y": randn(3, 4)})
        case(fam, f"mse_{r}", f"F.mse_loss(x [3,4], y [3,4], reduction='{r}')",
             lambda x, y, r=r: F.mse_loss(x, y, reduction=r), {"x": randn(3, 4), "y": randn(3, 4)})
        case(fam, f"bce_logits_{r}", f"F.binary_cross_entropy_with_logits(x [3,4], y in [0,1], reduction='{r}')",
             lambda x, y, r=r: F.binary_cross_entropy_with_logits(x, y, reduction=r),
             {"x": randn(3, 4, scale=3.0), "y": uniform(0.0, 1.0, 3, 4)})
    for r in red + ["batchmean"]:
        case(fam, f"kl_div_{r}", f"F.kl_div(log q [3,4], p [3,4], reduction='{r}')",
             lambda x, p, r=r: F.kl_div(x, p, reduction=r),
             {"x": f32(torch.log_softmax(randn(3, 4), 1)), "p": probs(3, 4)})
    # more cross_entropy / nll shapes and options
    case(fam, "ce_smooth_prob_mean", "F.cross_entropy(x, p probabilities, label_smoothing=0.1)",
         lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), {"x": randn(N, C), "p": probs(N, C)})
    case(fam, "ce_ignore_custom_mean", "F.cross_entropy(x, t, ignore_index=1)",
         lambda x, t: F.cross_entropy(x, t, ignore_index=1), {"x": randn(N, C), "t": torch.tensor([1, 3, 1, 0])})
    case(fam, "ce_ignore_custom_none", "F.cross_entropy(x, t, ignore_index=1, reduction='none')",
         lambda x, t: F.cross_entropy(x, t, ignore_index=1, reduction="none"),
         {"x": randn(N, C), "t": torch.tensor([1, 3, 1, 0])})
    case(fam, "ce_nd_prob_mean", "F.cross_entropy(x [2,4,3], p [2,4,3] probabilities over dim 1)",
         lambda x, p: F.cross_entropy(x, p), {"x": randn(2, 4, 3), "p": probs(2, 4, 3, dim=1)})
    case(fam, "ce_nd_prob_none", "F.cross_entropy(x [2,4,3], p [2,4,3], reduction='none')",
         lambda x, p: F.cross_entropy(x, p, reduction="none"), {"x": randn(2, 4, 3), "p": probs(2, 4, 3, dim=1)})
    case(fam, "ce_nd_smooth_ignore_mean", "F.cross_entropy(x [2,4,3], t [2,3] with -100, label_smoothing=0.1)",
         lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
         {"x": randn(2, 4, 3), "t": torch.tensor([[0, -100, 3], [2, 2, -100]])})
    case(fam, "ce_nd4_index_mean", "F.cross_entropy(x [2,3,2,2], t [2,2,2])", lambda x, t: F.cross_entropy(x, t),
         {"x": randn(2, 3, 2, 2), "t": ints(0, 3, 2, 2, 2)})
    case(fam, "ce_unbatched", "F.cross_entropy(x [5], t 0-d)", lambda x, t: F.cross_entropy(x, t),
         {"x": randn(C), "t": torch.tensor(3)})
    case(fam, "ce_unbatched_prob", "F.cross_entropy(x [5], p [5])", lambda x, p: F.cross_entropy(x, p),
         {"x": randn(C), "p": probs(C)})
    case(fam, "ce_large_logits", "F.cross_entropy(x * ~50, t)", lambda x, t: F.cross_entropy(x, t),
         {"x": randn(N, C, scale=50.0), "t": ints(0, C, N)})
    case(fam, "nll_ignore_mean", "F.nll_loss(x, t with -100s)", lambda x, t: F.nll_loss(x, t),
         {"x": randn(N, C), "t": torch.tensor([4, -100, 0, 2])})
    case(fam, "nll_ignore_none", "F.nll_loss(x, t with -100s, reduction='none')",
         lambda x, t: F.nll_loss(x, t, reduction="none"), {"x": randn(N, C), "t": torch.tensor([4, -100, 0, 2])})
    case(fam, "nll_ignore_custom_sum", "F.nll_loss(x, t, ignore_index=0, reduction='sum')",
         lambda x, t: F.nll_loss(x, t, ignore_index=0, reduction="sum"),
         {"x": randn(N, C), "t": torch.tensor([0, 1, 0, 4])})
    case(fam, "nll_nd_mean", "F.nll_loss(x [2,4,3], t [2,3])", lambda x, t: F.nll_loss(x, t),
         {"x": randn(2, 4, 3), "t": ints(0, 4, 2, 3)})
    case(fam, "nll_nd_none", "F.nll_loss(x [2,4,3], t [2,3], reduction='none')",
         lambda x, t: F.nll_loss(x, t, reduction="none"), {"x": randn(2, 4, 3), "t": ints(0, 4, 2, 3)})
    case(fam, "ce_all_ignored_mean", "F.cross_entropy(x, t all -100): loss nan (0/0), grads 0",
         lambda x, t: F.cross_entropy(x, t), {"x": randn(3, C), "t": torch.tensor([-100, -100, -100])})
    case(fam, "ce_all_ignored_sum", "F.cross_entropy(x, t all -100, reduction='sum'): loss 0, grads 0",
         lambda x, t: F.cross_entropy(x, t, reduction="sum"), {"x": randn(3, C), "t": torch.tensor([-100, -100, -100])})
    case(fam, "ce_unbatched_smooth", "F.cross_entropy(x [5], t 0-d, label_smoothing=0.3)",
         lambda x, t: F.cross_entropy(x, t, label_smoothing=0.3), {"x": randn(C), "t": torch.tensor(1)})
    case(fam, "nll_unbatched", "F.nll_loss(x [5], t 0-d)", lambda x, t: F.nll_loss(x, t),
         {"x": randn(C), "t": torch.tensor(2)})
    x_eq, y_eq = randn(3, 4), randn(3, 4)
    y_eq[0, 0], y_eq[2, 1] = x_eq[0, 0], x_eq[2, 1]
    case(fam, "l1_ties", "F.l1_loss(x, y), some x == y (grad 0 there)", F.l1_loss, {"x": x_eq, "y": y_eq})
    case(fam, "mse_3d", "F.mse_loss(x [2,3,4], y [2,3,4])", F.mse_loss, {"x": randn(2, 3, 4), "y": randn(2, 3, 4)})
    case(fam, "bce_logits_large", "F.binary_cross_entropy_with_logits(x * ~40, y)  (stable form)",
         F.binary_cross_entropy_with_logits, {"x": randn(3, 4, scale=40.0), "y": uniform(0.0, 1.0, 3, 4)})
    case(fam, "bce_logits_hard", "F.binary_cross_entropy_with_logits(x, y in {0, 1})",
         F.binary_cross_entropy_with_logits, {"x": randn(3, 4, scale=2.0), "y": mask(3, 4).double()})
    p0 = probs(3, 4)
    p0[0, 1] = 0.0
    p0[2, 0] = 0.0
    case(fam, "kl_div_zero_target", "F.kl_div(log q, p with zeros, reduction='sum'): 0 * log 0 = 0; dp nan there",
         lambda x, p: F.kl_div(x, p, reduction="sum"), {"x": f32(torch.log_softmax(randn(3, 4), 1)), "p": p0})
    case(fam, "kl_div_3d_batchmean", "F.kl_div(log q [2,3,4], p, reduction='batchmean')",
         lambda x, p: F.kl_div(x, p, reduction="batchmean"),
         {"x": f32(torch.log_softmax(randn(2, 3, 4), -1)), "p": probs(2, 3, 4)})


# ---------------------------------------------------------------------------
def index():
    fam = "index"
    case(fam, "index_select_dim0", "torch.index_select(x [4,3], 0, [2,0,2])  (repeats accumulate)",
         lambda x, i: torch.index_select(x, 0, i), {"x": randn(4, 3), "i": torch.tensor([2, 0, 2])})
    case(fam, "index_select_dim1", "torch.index_select(x [3,4], 1, [3,1])",
         lambda x, i: torch.index_select(x, 1, i), {"x": randn(3, 4), "i": torch.tensor([3, 1])})
    case(fam, "index_select_3d_dimneg1", "torch.index_select(x [2,3,4], -1, [1,1,0,3,2])",
         lambda x, i: torch.index_select(x, -1, i), {"x": randn(2, 3, 4), "i": torch.tensor([1, 1, 0, 3, 2])})
    case(fam, "index_select_3d_dim1", "torch.index_select(x [2,3,4], 1, [2,0])",
         lambda x, i: torch.index_select(x, 1, i), {"x": randn(2, 3, 4), "i": torch.tensor([2, 0])})
    case(fam, "index_select_0d_index", "torch.index_select(x [3,4], 1, 0-d index 2)",
         lambda x, i: torch.index_select(x, 1, i), {"x": randn(3, 4), "i": torch.tensor(2)})
    case(fam, "gather_dim0", "torch.gather(x [3,4], 0, i [2,4])", lambda x, i: torch.gather(x, 0, i),
         {"x": randn(3, 4), "i": ints(0, 3, 2, 4)})
    case(fam, "gather_dim1", "torch.gather(x [3,4], 1, i [3,6])  (repeats)", lambda x, i: torch.gather(x, 1, i),
         {"x": randn(3, 4), "i": ints(0, 4, 3, 6)})
    case(fam, "gather_smaller_index", "torch.gather(x [3,4], 1, i [2,2])  (index smaller than x)",
         lambda x, i: torch.gather(x, 1, i), {"x": randn(3, 4), "i": ints(0, 4, 2, 2)})
    case(fam, "gather_3d_dimneg1", "torch.gather(x [2,3,4], -1, i [2,3,2])", lambda x, i: torch.gather(x, -1, i),
         {"x": randn(2, 3, 4), "i": ints(0, 4, 2, 3, 2)})
    case(fam, "scatter_add_dim1", "torch.scatter_add(x [3,5], 1, i [3,2], src [3,2])",
         lambda x, i, src: torch.scatter_add(x, 1, i, src),
         {"x": randn(3, 5), "i": torch.tensor([[0, 4], [2, 2], [1, 3]]), "src": randn(3, 2)})
    case(fam, "scatter_add_dim0", "torch.scatter_add(x [3,4], 0, i [2,4], src [2,4])",
         lambda x, i, src: torch.scatter_add(x, 0, i, src),
         {"x": randn(3, 4), "i": ints(0, 3, 2, 4), "src": randn(2, 4)})
    # torch 1.13's backward rejects a src larger than index ("invalid gradient"): only x's grad here.
    case(fam, "scatter_add_src_larger", "torch.scatter_add(x [3,5], 1, i [2,2], src [3,3])  (src bigger than index)",
         lambda x, i, src: torch.scatter_add(x, 1, i, src),
         {"x": randn(3, 5), "i": torch.tensor([[4, 4], [0, 3]]), "src": randn(3, 3)}, no_grad=("src",))
    case(fam, "one_hot", "F.one_hot(t [5], 4)  (forward only; stored as float)", lambda t: F.one_hot(t, 4),
         {"t": torch.tensor([0, 3, 1, 3, 2])}, float_out=True)
    case(fam, "one_hot_2d", "F.one_hot(t [2,3], 5)  (forward only; stored as float)", lambda t: F.one_hot(t, 5),
         {"t": ints(0, 5, 2, 3)}, float_out=True)
    case(fam, "argmax_dim0", "torch.argmax(x [3,4], 0)", lambda x: torch.argmax(x, 0), {"x": randn(3, 4)},
         no_grad=("x",))
    case(fam, "argmax_dim1", "torch.argmax(x [3,4], 1)", lambda x: torch.argmax(x, 1), {"x": randn(3, 4)},
         no_grad=("x",))
    case(fam, "argmax_dim1_keepdim", "torch.argmax(x [3,4], 1, keepdim=True)",
         lambda x: torch.argmax(x, 1, keepdim=True), {"x": randn(3, 4)}, no_grad=("x",))
    case(fam, "argmax_3d_dimneg1", "torch.argmax(x [2,3,4], -1)", lambda x: torch.argmax(x, -1),
         {"x": randn(2, 3, 4)}, no_grad=("x",))
    case(fam, "argmax_ties", "torch.argmax(x, 1), ties: the first index wins",
         lambda x: torch.argmax(x, 1), {"x": exact([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 0.0, -1.0]])},
         no_grad=("x",))
    case(fam, "argmin_ties", "torch.argmin(x, 0), ties: the first index wins",
         lambda x: torch.argmin(x, 0), {"x": exact([[1.0, 3.0, -3.0], [1.0, 2.0, -3.0], [0.0, 2.0, 5.0]])},
         no_grad=("x",))
    case(fam, "argmin_dim1", "torch.argmin(x [3,4], 1)", lambda x: torch.argmin(x, 1), {"x": randn(3, 4)},
         no_grad=("x",))
    topk = lambda x, k, dim, largest: torch.topk(x, k, dim=dim, largest=largest)
    case(fam, "topk_k2_last", "torch.topk(x [3,5], 2, dim=-1)", lambda x: topk(x, 2, -1, True), {"x": randn(3, 5)},
         out_names=["values", "indices"])
    case(fam, "topk_k2_smallest", "torch.topk(x [3,5], 2, dim=-1, largest=False)",
         lambda x: topk(x, 2, -1, False), {"x": randn(3, 5)}, out_names=["values", "indices"])
    case(fam, "topk_dim0", "torch.topk(x [4,3], 3, dim=0)", lambda x: topk(x, 3, 0, True), {"x": randn(4, 3)},
         out_names=["values", "indices"])
    case(fam, "topk_3d_dim1", "torch.topk(x [2,4,3], 2, dim=1)", lambda x: topk(x, 2, 1, True),
         {"x": randn(2, 4, 3)}, out_names=["values", "indices"])
    case(fam, "masked_fill", "x.masked_fill(m [3,4], -1.5)", lambda x, m: x.masked_fill(m, -1.5),
         {"x": randn(3, 4), "m": mask(3, 4)})
    case(fam, "masked_fill_bcast", "x [2,3,4] .masked_fill(m [4], 2.0)", lambda x, m: x.masked_fill(m, 2.0),
         {"x": randn(2, 3, 4), "m": torch.tensor([True, False, False, True])})
    case(fam, "where_same", "torch.where(c [3,4], a, b)", torch.where,
         {"c": mask(3, 4), "a": randn(3, 4), "b": randn(3, 4)})
    case(fam, "where_bcast", "torch.where(c [3,1], a [3,4], b [4])", torch.where,
         {"c": torch.tensor([[True], [False], [True]]), "a": randn(3, 4), "b": randn(4)})
    case(fam, "where_0d", "torch.where(c [3,4], a [3,4], b 0-d)", torch.where,
         {"c": mask(3, 4), "a": randn(3, 4), "b": randn()})


# ---------------------------------------------------------------------------
# Views and copies: grads flow back through each view into the base's layout.
def shape():
    fam = "shape"
    case(fam, "cat_dim0", "torch.cat([a [2,4], b [3,4], c [1,4]], 0)", lambda a, b, c: torch.cat([a, b, c], 0),
         {"a": randn(2, 4), "b": randn(3, 4), "c": randn(1, 4)})
    case(fam, "cat_dim1", "torch.cat([a [3,1], b [3,4]], 1)", lambda a, b: torch.cat([a, b], 1),
         {"a": randn(3, 1), "b": randn(3, 4)})
    case(fam, "cat_3d_dimneg1", "torch.cat([a [2,3,2], b [2,3,3]], -1)", lambda a, b: torch.cat([a, b], -1),
         {"a": randn(2, 3, 2), "b": randn(2, 3, 3)})
    case(fam, "cat_3d_dim1", "torch.cat([a [2,1,4], b [2,2,4]], 1)", lambda a, b: torch.cat([a, b], 1),
         {"a": randn(2, 1, 4), "b": randn(2, 2, 4)})
    case(fam, "cat_self", "torch.cat([a, a.t()], 0)  (a [3,3], one leaf twice)", lambda a: torch.cat([a, a.t()], 0),
         {"a": randn(3, 3)})
    case(fam, "cat_partial_grad", "torch.cat([a, b], 0), only b requires grad", lambda a, b: torch.cat([a, b], 0),
         {"a": randn(2, 4), "b": randn(3, 4)}, no_grad=("a",))
    for d in [0, 1, -1]:
        dn = "neg1" if d < 0 else str(d)
        case(fam, f"stack_dim{dn}", f"torch.stack([a, b, c] (each [3,4]), {d})",
             lambda a, b, c, d=d: torch.stack([a, b, c], d), {"a": randn(3, 4), "b": randn(3, 4), "c": randn(3, 4)})
    case(fam, "stack_1d", "torch.stack([a [4], b [4]], 0)", lambda a, b: torch.stack([a, b], 0),
         {"a": randn(4), "b": randn(4)})

    case(fam, "transpose_2d", "x.transpose(0, 1)", lambda x: x.transpose(0, 1), {"x": randn(3, 4)})
    case(fam, "transpose_3d", "x.transpose(0, 2)", lambda x: x.transpose(0, 2), {"x": randn(2, 3, 4)})
    case(fam, "transpose_neg", "x.transpose(-1, -2)", lambda x: x.transpose(-1, -2), {"x": randn(2, 3, 4)})
    case(fam, "t_2d", "x.t()", lambda x: x.t(), {"x": randn(3, 4)})
    case(fam, "permute_3d", "x.permute(2, 0, 1)", lambda x: x.permute(2, 0, 1), {"x": randn(2, 3, 4)})
    case(fam, "permute_3d_b", "x.permute(1, 2, 0)", lambda x: x.permute(1, 2, 0), {"x": randn(2, 3, 4)})
    case(fam, "narrow_dim0", "x.narrow(0, 1, 2)", lambda x: x.narrow(0, 1, 2), {"x": randn(3, 4)})
    case(fam, "narrow_dim1", "x.narrow(1, 1, 2)", lambda x: x.narrow(1, 1, 2), {"x": randn(3, 4)})
    case(fam, "narrow_3d_dimneg1", "x.narrow(-1, 2, 2)", lambda x: x.narrow(-1, 2, 2), {"x": randn(2, 3, 4)})
    case(fam, "slice_step", "x[:, 0:4:2]  (x [3,5])", lambda x: x[:, 0:4:2], {"x": randn(3, 5)})
    case(fam, "slice_step3", "x[1:, 1::3]  (x [3,7])", lambda x: x[1:, 1::3], {"x": randn(3, 7)})
    case(fam, "slice_negative", "x[:, -3:-1]  (x [3,5])", lambda x: x[:, -3:-1], {"x": randn(3, 5)})
    case(fam, "unsqueeze_transposed", "x.t().unsqueeze(1)  (x [3,4])", lambda x: x.t().unsqueeze(1), {"x": randn(3, 4)})
    case(fam, "squeeze_transposed", "x.transpose(0, 2).squeeze(1)  (x [4,1,3])", lambda x: x.transpose(0, 2).squeeze(1),
         {"x": randn(4, 1, 3)})
    case(fam, "select_dim1", "x.select(1, 2)", lambda x: x.select(1, 2), {"x": randn(3, 4)})
    case(fam, "select_neg", "x.select(0, -1)", lambda x: x.select(0, -1), {"x": randn(2, 3, 4)})
    case(fam, "expand_row", "x [4] .expand(3, 4)", lambda x: x.expand(3, 4), {"x": randn(4)})
    case(fam, "expand_col", "x [3,1] .expand(3, 4)", lambda x: x.expand(3, 4), {"x": randn(3, 1)})
    case(fam, "expand_3d", "x [1,4] .expand(2, 3, 4)", lambda x: x.expand(2, 3, 4), {"x": randn(1, 4)})
    case(fam, "expand_keep", "x [3,1] .expand(-1, 4)", lambda x: x.expand(-1, 4), {"x": randn(3, 1)})
    case(fam, "expand_0d", "x 0-d .expand(2, 3)", lambda x: x.expand(2, 3), {"x": randn()})
    case(fam, "reshape_contig", "x [2,3,4] .reshape(6, 4)", lambda x: x.reshape(6, 4), {"x": randn(2, 3, 4)})
    case(fam, "reshape_infer", "x [2,3,4] .reshape(-1, 2, 3)", lambda x: x.reshape(-1, 2, 3), {"x": randn(2, 3, 4)})
    case(fam, "reshape_noncontig", "x.t().reshape(12)  (x [3,4])", lambda x: x.t().reshape(12), {"x": randn(3, 4)})
    case(fam, "reshape_to_0d", "x [1,1] .reshape([])", lambda x: x.reshape(()), {"x": randn(1, 1)})
    case(fam, "view_2d", "x [2,3,4] .view(2, 12)", lambda x: x.view(2, 12), {"x": randn(2, 3, 4)})
    case(fam, "flatten_all", "x [2,3,4] .flatten()", lambda x: x.flatten(), {"x": randn(2, 3, 4)})
    case(fam, "flatten_1_2", "x [2,3,4] .flatten(1, 2)", lambda x: x.flatten(1, 2), {"x": randn(2, 3, 4)})
    case(fam, "squeeze_all", "x [3,1,4,1] .squeeze()", lambda x: x.squeeze(), {"x": randn(3, 1, 4, 1)})
    case(fam, "squeeze_dim", "x [3,1,4] .squeeze(1)", lambda x: x.squeeze(1), {"x": randn(3, 1, 4)})
    case(fam, "unsqueeze_dim", "x [3,4] .unsqueeze(1)", lambda x: x.unsqueeze(1), {"x": randn(3, 4)})
    case(fam, "unsqueeze_neg", "x [3,4] .unsqueeze(-1)", lambda x: x.unsqueeze(-1), {"x": randn(3, 4)})
    case(fam, "clone", "x.clone()", lambda x: x.clone(), {"x": randn(3, 4)})
    case(fam, "contiguous_t", "x.t().contiguous()", lambda x: x.t().contiguous(), {"x": randn(3, 4)})
    case(fam, "view_chain", "x.transpose(0, 2).narrow(1, 1, 2).reshape(-1)  (x [2,3,4])",
         lambda x: x.transpose(0, 2).narrow(1, 1, 2).reshape(-1), {"x": randn(2, 3, 4)})
    case(fam, "views_two_uses", "x.t() * x.t().exp() + x.sum(1)  (views of one leaf used twice)",
         lambda x: x.t() * x.t().exp() + x.sum(1), {"x": randn(3, 4)})
    case(fam, "expand_mul", "x [3,1] .expand(3, 4) * y", lambda x, y: x.expand(3, 4) * y,
         {"x": randn(3, 1), "y": randn(3, 4)})


# ---------------------------------------------------------------------------
# A few ops chained, as a model uses them: interplay of views, broadcasting and grads.
def composite():
    fam = "composite"
    case(fam, "mlp_ce", "F.cross_entropy(F.linear(F.linear(x, w1, b1).relu(), w2, b2), t)",
         lambda x, w1, b1, w2, b2, t: F.cross_entropy(F.linear(F.linear(x, w1, b1).relu(), w2, b2), t),
         {"x": randn(4, 6), "w1": randn(5, 6, scale=0.5), "b1": randn(5), "w2": randn(3, 5, scale=0.5),
          "b2": randn(3), "t": ints(0, 3, 4)})
    case(fam, "mlp_tanh_mse", "F.mse_loss(F.linear(torch.tanh(x @ w1 + b1), w2), y)  (x [2,3,4])",
         lambda x, w1, b1, w2, y: F.mse_loss(F.linear(torch.tanh(x @ w1 + b1), w2), y),
         {"x": randn(2, 3, 4), "w1": randn(4, 5), "b1": randn(5), "w2": randn(2, 5), "y": randn(2, 3, 2)})

    def attention(q, k, v, m):
        s = (q @ k.transpose(-1, -2)) / 2.0
        return torch.softmax(s.masked_fill(m, -math.inf), -1) @ v
    causal = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)
    case(fam, "attention_causal", "softmax((q @ k^T / 2).masked_fill(causal, -inf), -1) @ v  (q,k,v [2,3,4])",
         attention, {"q": randn(2, 3, 4), "k": randn(2, 3, 4), "v": randn(2, 3, 4), "m": causal})

    def layer_norm(x, g, b):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * g + b
    case(fam, "layer_norm_manual", "(x - mean) / sqrt(var + 1e-5) * g + b over the last dim  (x [2,3,4])",
         layer_norm, {"x": randn(2, 3, 4), "g": randn(4), "b": randn(4)})
    case(fam, "logits_stats", "cat([x.max(1, keepdim).values, x.logsumexp(1, keepdim), x.mean(1, keepdim)], 1)",
         lambda x: torch.cat([torch.amax(x, 1, keepdim=True), torch.logsumexp(x, 1, keepdim=True),
                              x.mean(1, keepdim=True)], 1), {"x": randn(3, 5)})


# ---------------------------------------------------------------------------
# Conv nets: conv2d, pooling, batch norm (NCHW)
def convnet():
    fam = "convnet"
    case(fam, "conv2d_pad1", "F.conv2d(x [2,3,6,6], w [4,3,3,3], b [4], padding=1)",
         lambda x, w, b: F.conv2d(x, w, b, padding=1), {"x": randn(2, 3, 6, 6), "w": randn(4, 3, 3, 3), "b": randn(4)})
    case(fam, "conv2d_stem", "F.conv2d(x [2,3,12,12], w [5,3,7,7], stride=2, padding=3)",
         lambda x, w: F.conv2d(x, w, stride=2, padding=3), {"x": randn(2, 3, 12, 12), "w": randn(5, 3, 7, 7, scale=0.2)})
    case(fam, "conv2d_groups_dilation", "F.conv2d(x [2,4,7,7], w [6,2,3,3], b, stride=(1,2), padding=(2,1), dilation=2, groups=2)",
         lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=(2, 1), dilation=2, groups=2),
         {"x": randn(2, 4, 7, 7), "w": randn(6, 2, 3, 3), "b": randn(6)})
    case(fam, "conv2d_1x1_stride2", "F.conv2d(x [2,4,6,6], w [8,4,1,1], stride=2)",
         lambda x, w: F.conv2d(x, w, stride=2), {"x": randn(2, 4, 6, 6), "w": randn(8, 4, 1, 1)})
    case(fam, "conv2d_1x1", "F.conv2d(x [2,4,3,5], w [6,4,1,1], b)",
         lambda x, w, b: F.conv2d(x, w, b), {"x": randn(2, 4, 3, 5), "w": randn(6, 4, 1, 1), "b": randn(6)})
    case(fam, "conv2d_frozen_weight", "F.conv2d(x [2,3,5,5], w [4,3,3,3], padding=1), w without grad",
         lambda x, w: F.conv2d(x, w, padding=1), {"x": randn(2, 3, 5, 5), "w": randn(4, 3, 3, 3)}, no_grad=("w",))
    case(fam, "max_pool2d_3_2_1", "F.max_pool2d(x [2,3,8,8], 3, 2, 1)",
         lambda x: F.max_pool2d(x, 3, 2, 1), {"x": randn(2, 3, 8, 8)})
    case(fam, "max_pool2d_ceil", "F.max_pool2d(x [1,2,7,6], (2,3), 2, (1,1), ceil_mode=True)",
         lambda x: F.max_pool2d(x, (2, 3), 2, (1, 1), ceil_mode=True), {"x": randn(1, 2, 7, 6)})
    case(fam, "avg_pool2d_2", "F.avg_pool2d(x [2,3,6,7], 2)", lambda x: F.avg_pool2d(x, 2), {"x": randn(2, 3, 6, 7)})
    case(fam, "avg_pool2d_pad_ceil", "F.avg_pool2d(x [1,2,5,6], 3, 2, 1, ceil_mode=True)",
         lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), {"x": randn(1, 2, 5, 6)})
    case(fam, "avg_pool2d_no_count_pad", "F.avg_pool2d(x [1,2,5,6], 3, 2, 1, count_include_pad=False)",
         lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), {"x": randn(1, 2, 5, 6)})
    case(fam, "adaptive_avg_pool2d_3x2", "F.adaptive_avg_pool2d(x [2,3,5,7], (3,2))",
         lambda x: F.adaptive_avg_pool2d(x, (3, 2)), {"x": randn(2, 3, 5, 7)})
    case(fam, "adaptive_avg_pool2d_1", "F.adaptive_avg_pool2d(x [2,3,2,2], 1)",
         lambda x: F.adaptive_avg_pool2d(x, 1), {"x": randn(2, 3, 2, 2)})
    case(fam, "adaptive_max_pool2d_1", "F.adaptive_max_pool2d(x [2,3,2,2], 1)",
         lambda x: F.adaptive_max_pool2d(x, 1), {"x": randn(2, 3, 2, 2)})
    case(fam, "adaptive_max_pool2d_3", "F.adaptive_max_pool2d(x [1,2,7,5], 3)",
         lambda x: F.adaptive_max_pool2d(x, 3), {"x": randn(1, 2, 7, 5)})

    def bn_train(x, w, b, rm, rv):  # updates copies: the stored inputs stay as given
        rm, rv = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
        return y, rm.clone(), rv.clone()
    case(fam, "batch_norm2d_train", "F.batch_norm(x [4,3,3,2], rm, rv, w, b, training=True) and the updated rm, rv",
         bn_train, {"x": randn(4, 3, 3, 2, scale=2.0), "w": positive(3), "b": randn(3), "rm": randn(3), "rv": positive(3)},
         no_grad=("rm", "rv"), out_names=["out", "running_mean", "running_var"])
    case(fam, "batch_norm1d_train", "F.batch_norm(x [6,4], rm, rv, w, b, training=True) and the updated rm, rv",
         bn_train, {"x": randn(6, 4), "w": positive(4), "b": randn(4), "rm": randn(4), "rv": positive(4)},
         no_grad=("rm", "rv"), out_names=["out", "running_mean", "running_var"])
    case(fam, "batch_norm2d_eval", "F.batch_norm(x [2,3,2,2], rm, rv, w, b, training=False)",
         lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training=False),
         {"x": randn(2, 3, 2, 2), "w": positive(3), "b": randn(3), "rm": randn(3), "rv": positive(3)}, no_grad=("rm", "rv"))

    def stem(x, w1, g1, b1, rm, rv, wl, bl, t):
        rm, rv = rm.clone(), rv.clone()
        h = F.conv2d(x, w1, stride=2, padding=3)
        h = F.batch_norm(h, rm, rv, g1, b1, training=True).relu()
        h = F.max_pool2d(h, 3, 2, 1)
        h = torch.cat([F.adaptive_max_pool2d(h, 1), F.adaptive_avg_pool2d(h, 1)], 1).flatten(1)
        return F.cross_entropy(F.linear(h, wl, bl), t)
    case(fam, "resnet_stem_ce", "conv 7x7/2 -> BN(train) -> relu -> maxpool 3/2 -> concat pool -> linear -> CE", stem,
         {"x": randn(4, 3, 16, 16), "w1": randn(6, 3, 7, 7, scale=0.1), "g1": positive(6), "b1": randn(6),
          "rm": randn(6), "rv": positive(6), "wl": randn(5, 12), "bl": randn(5), "t": ints(0, 5, 4)},
         no_grad=("rm", "rv"))


# ---------------------------------------------------------------------------
def elementwise_nan():
    """NaN on either side. Written after every other family, because each case draws its
    weight W from the generator: cases added earlier would change every later case's numbers.
    maximum/minimum: NaN wins and both inputs get the grad; xlogy(0, NaN) is NaN; relu keeps a
    NaN and passes its grad."""
    fam = "elementwise"
    nan = float("nan")
    for op, f in [("maximum", torch.maximum), ("minimum", torch.minimum)]:
        case(fam, f"{op}_nan", f"torch.{op}(a, b), NaN in a, in b and in both", f,
             {"a": exact([nan, 1.5, nan, -2.0]), "b": exact([0.5, nan, nan, 3.0])})
    case(fam, "xlogy_nan", "torch.xlogy(x, y), NaN in x or y; x = 0 with y = NaN gives NaN", torch.xlogy,
         {"x": exact([0.0, nan, 2.0, 0.0]), "y": exact([nan, 1.5, nan, 0.5])})
    case(fam, "relu_nan", "torch.relu(x), x holds a NaN", torch.relu, {"x": exact([nan, -1.0, 2.0])})


def norm():
    """F.layer_norm. Written after every other family (each case draws from the generator)."""
    fam = "norm"
    case(fam, "layer_norm_affine", "F.layer_norm(x [4,3,5], (3,5), w, b)",
         lambda x, w, b: F.layer_norm(x, (3, 5), w, b), {"x": randn(4, 3, 5, scale=2.0), "w": positive(3, 5), "b": randn(3, 5)})
    case(fam, "layer_norm_plain", "F.layer_norm(x [6,7], (7,))", lambda x: F.layer_norm(x, (7,)), {"x": randn(6, 7)})
    case(fam, "layer_norm_eps", "F.layer_norm(x [2,3,4], (4,), w, None, eps=1e-3)",
         lambda x, w: F.layer_norm(x, (4,), w, None, eps=1e-3), {"x": randn(2, 3, 4), "w": positive(4)})


def main():
    elementwise()
    reduce()
    linalg()
    softmax()
    loss()
    index()
    shape()
    composite()
    convnet()
    elementwise_nan()
    norm()
    os.makedirs(OUT_DIR, exist_ok=True)
    total, count = 0, 0
    for fam, cases in FILES.items():
        doc = {"generator": "tests/golden/make_golden.py", "torch": torch.__version__, "seed": SEED,
               "family": fam, "cases": cases}
        path = os.path.join(OUT_DIR, f"{fam}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"), allow_nan=False)
            f.write("\n")
        size = os.path.getsize(path)
        total += size
        count += len(cases)
        print(f"{path}: {len(cases)} cases, {size / 1024:.1f} KiB")
    print(f"total: {count} cases, {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
