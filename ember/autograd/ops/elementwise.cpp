// autograd/ops/elementwise.cpp: elementwise ops with NumPy broadcasting.
//
// Each op: the forward is one raw kernel call (tensor/ElementwiseOps.def holds the
// math), the backward sits right below it. Broadcast inputs get their grads summed
// back to their own shape with sum_to.
// Exercises: 2 (broadcasting: sum_to), 3 (sigmoid forward and backward).
#include "ember/autograd/ops/elementwise.h"

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

// ---------------------------------------------------------------------------
// sum_to: the reverse of broadcasting, used by the backward of every broadcasting op.
// [4, 3] -> [3] sums dim 0; [4, 3] -> [4, 1] sums dim 1; [2, 4, 3] -> [4, 1] sums dims 0 and 2.
Tensor sum_to(const Tensor& g, const Shape& shape) {
  // BEGIN EXERCISE 2
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  EMBER_CHECK(lead >= 0, "sum_to: cannot sum ", fmt(g.shape()), " to ", fmt(shape));
  Dims dims;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  Tensor s = dims.empty() ? g : g.sum(dims, /*keepdim=*/true);
  return s.reshape(shape);
  // END EXERCISE
}

namespace {

Tensor scalar_like(const Tensor& a, double s) { return full({}, s, TensorOptions(a.dtype(), a.device())); }

// A unary op whose backward is one binary kernel of (saved value, grad_out):
// exp (y * g), sigmoid, tanh, relu, sqrt, abs, pow, clamp.
Tensor unary_op(const char* name, UnaryOp op, const Tensor& x, BinaryOp bwd, bool save_output,
                double p0 = 0, double p1 = 0) {
  Tensor y = raw::unary(op, x, p0, p1);
  if (needs_grad({x})) {
    record(name, {x}, y, [s = save(name, save_output ? y : x), bwd, p0, p1](const Tensor& g) {
      return TensorList{raw::binary(bwd, s.get(), g, p0, p1)};
    });
  }
  return y;
}

}  // namespace

// ---------------------------------------------------------------------------
// Unary
Tensor Tensor::exp() const { return unary_op("exp", UnaryOp::Exp, *this, BinaryOp::Mul, true); }
Tensor Tensor::sqrt() const { return unary_op("sqrt", UnaryOp::Sqrt, *this, BinaryOp::SqrtBackward, true); }
Tensor Tensor::abs() const { return unary_op("abs", UnaryOp::Abs, *this, BinaryOp::AbsBackward, false); }
// y = 1 / (1 + e^-x);  dy/dx = y (1 - y)
// Written out (the ops around it use unary_op) as the model of a forward and its backward.
Tensor Tensor::sigmoid() const {
  // BEGIN EXERCISE 3
  Tensor y = raw::unary(UnaryOp::Sigmoid, *this);  // the kernel line in tensor/ElementwiseOps.def
  if (needs_grad({*this}))
    record("sigmoid", {*this}, y, [saved_y = save("sigmoid", y)](const Tensor& grad_out) {
      // grad_x = grad_out * y * (1 - y), one kernel (SigmoidBackward)
      return TensorList{raw::binary(BinaryOp::SigmoidBackward, saved_y.get(), grad_out)};
    });
  return y;
  // END EXERCISE
}
// y = tanh(x);  dy/dx = 1 - y^2
Tensor Tensor::tanh() const { return unary_op("tanh", UnaryOp::Tanh, *this, BinaryOp::TanhBackward, true); }
// y = max(x, 0);  dy/dx = [y > 0]
Tensor Tensor::relu() const { return unary_op("relu", UnaryOp::Relu, *this, BinaryOp::ReluBackward, true); }
// y = x^p;  dy/dx = p x^(p-1)
Tensor Tensor::pow(double p) const {
  return unary_op("pow", UnaryOp::PowScalar, *this, BinaryOp::PowScalarBackward, false, p);
}
// y = min(max(x, lo), hi);  dy/dx = [lo <= x <= hi]
Tensor Tensor::clamp(double lo, double hi) const {
  EMBER_CHECK(lo <= hi, "clamp: min ", lo, " > max ", hi);
  return unary_op("clamp", UnaryOp::Clamp, *this, BinaryOp::ClampBackward, false, lo, hi);
}

// y = log(x);  dy/dx = 1/x
Tensor Tensor::log() const {
  Tensor y = raw::unary(UnaryOp::Log, *this);
  if (needs_grad({*this}))
    record("log", {*this}, y, [x = save("log", *this)](const Tensor& g) {
      return TensorList{raw::binary(BinaryOp::Div, g, x.get())};
    });
  return y;
}

// y = log(1 + x);  dy/dx = 1/(1 + x)
Tensor log1p(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::Log1p, x);
  if (needs_grad({x}))
    record("log1p", {x}, y, [sx = save("log1p", x)](const Tensor& g) {
      return TensorList{raw::binary(BinaryOp::Div, g, raw::unary(UnaryOp::AddScalar, sx.get(), 1.0))};
    });
  return y;
}

Tensor Tensor::neg() const {
  if (!is_floating(dtype())) return sub(scalar_like(*this, 0), *this);
  Tensor y = raw::unary(UnaryOp::Neg, *this);
  if (needs_grad({*this}))
    record("neg", {*this}, y, [](const Tensor& g) { return TensorList{raw::unary(UnaryOp::Neg, g)}; });
  return y;
}

// ---------------------------------------------------------------------------
// Binary with broadcasting
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::Add, a, b);
  if (needs_grad({a, b}))
    record("add", {a, b}, y, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return TensorList{sum_to(g, sa), sum_to(g, sb)};
    });
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::Sub, a, b);
  if (needs_grad({a, b}))
    record("sub", {a, b}, y, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return TensorList{sum_to(g, sa), sum_to(raw::unary(UnaryOp::Neg, g), sb)};
    });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::Mul, a, b);
  if (needs_grad({a, b})) {
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("mul", {a, b}, y,
           [sa = save("mul", gb ? a : Tensor()), sb = save("mul", ga ? b : Tensor()), ga, gb,
            shape_a = a.shape(), shape_b = b.shape()](const Tensor& g) {
             return TensorList{ga ? sum_to(raw::binary(BinaryOp::Mul, g, sb.get()), shape_a) : Tensor(),
                               gb ? sum_to(raw::binary(BinaryOp::Mul, g, sa.get()), shape_b) : Tensor()};
           });
  }
  return y;
}

// y = a / b;  dy/da = 1/b, dy/db = -a/b^2 = -y/b
// Integer division by zero is an error on every device, as in PyTorch.
Tensor div(const Tensor& a, const Tensor& b) {
  if (!is_floating(a.dtype()) && !is_floating(b.dtype())) {
    const double zeros = eq(b, scalar_like(b, 0)).sum().item();
    EMBER_CHECK(zeros == 0, "div: integer division by zero (the divisor, shape ", fmt(b.shape()), " ", dtype_name(b.dtype()),
                ", holds ", static_cast<int64_t>(zeros), " zero", zeros == 1 ? "" : "s", ")");
  }
  Tensor y = raw::binary(BinaryOp::Div, a, b);
  if (needs_grad({a, b}))
    record("div", {a, b}, y, [sb = save("div", b), sy = save("div", y), shape_a = a.shape(),
                             shape_b = b.shape()](const Tensor& g) {
      Tensor ga = raw::binary(BinaryOp::Div, g, sb.get());
      Tensor gb = raw::unary(UnaryOp::Neg, raw::binary(BinaryOp::Mul, ga, sy.get()));
      return TensorList{sum_to(ga, shape_a), sum_to(gb, shape_b)};
    });
  return y;
}

// y = a^b;  dy/da = b a^(b-1), dy/db = y log(a) (0 where a == 0)
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::Pow, a, b);
  if (needs_grad({a, b}))
    record("pow", {a, b}, y, [sa = save("pow", a), sb = save("pow", b), sy = save("pow", y)](const Tensor& g) {
      const Tensor &A = sa.get(), &B = sb.get(), &Y = sy.get();
      // d/da a^b = b a^(b-1), taken as 0 where b == 0 (avoids 0 * inf at a == 0)
      Tensor ga = mul(g, where(eq(B, zeros_like(B)), zeros_like(Y), mul(B, pow(A, B - 1.0))));
      Tensor gb = mul(g, where(eq(A, zeros_like(A)), zeros_like(Y), mul(Y, A.log())));
      return TensorList{sum_to(ga, A.shape()), sum_to(gb, B.shape())};
    });
  return y;
}

// maximum/minimum: the grad goes to the larger (smaller) input, split evenly on ties; where a
// NaN is involved neither input wins, and both get the grad (PyTorch's formula).
namespace {
Tensor extremum(const char* name, BinaryOp op, BinaryOp wins, const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(op, a, b);
  if (needs_grad({a, b}))
    record(name, {a, b}, y, [sa = save(name, a), sb = save(name, b), wins](const Tensor& g) {
      const Tensor &A = sa.get(), &B = sb.get();
      Tensor half = raw::unary(UnaryOp::MulScalar, g, 0.5);
      Tensor zero = zeros_like(g);
      Tensor tie = raw::binary(BinaryOp::Eq, A, B);
      Tensor a_wins = raw::binary(wins, A, B), b_wins = raw::binary(wins, B, A);
      Tensor ga = raw::where(tie, half, raw::where(b_wins, zero, g));
      Tensor gb = raw::where(tie, half, raw::where(a_wins, zero, g));
      return TensorList{sum_to(ga, A.shape()), sum_to(gb, B.shape())};
    });
  return y;
}
}  // namespace
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", BinaryOp::Maximum, BinaryOp::Gt, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", BinaryOp::Minimum, BinaryOp::Lt, a, b); }

// out = x log(y);  dout/dx = log(y) (0 where x == 0 and y <= 0, as PyTorch), dout/dy = x / y
Tensor xlogy(const Tensor& x, const Tensor& y) {
  Tensor out = raw::binary(BinaryOp::Xlogy, x, y);
  if (needs_grad({x, y}))
    record("xlogy", {x, y}, out, [sx = save("xlogy", x), sy = save("xlogy", y)](const Tensor& g) {
      const Tensor &X = sx.get(), &Y = sy.get();
      Tensor zero = zeros({}, TensorOptions(X.dtype(), X.device()));
      Tensor undefined = raw::binary(BinaryOp::Mul, raw::binary(BinaryOp::Eq, X, zero), raw::binary(BinaryOp::Le, Y, zero));
      Tensor gx = raw::binary(BinaryOp::Mul, g, raw::where(undefined, zero, raw::unary(UnaryOp::Log, Y)));
      Tensor gy = raw::binary(BinaryOp::Mul, g, raw::binary(BinaryOp::Div, X, Y));
      return TensorList{sum_to(gx, X.shape()), sum_to(gy, Y.shape())};
    });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor y = raw::where(cond, a, b);
  if (needs_grad({a, b}))
    record("where", {Tensor(), a, b}, y, [c = save("where", cond), sa = a.shape(), sb = b.shape()](const Tensor& g) {
      Tensor zero = zeros({}, TensorOptions(g.dtype(), g.device()));
      return TensorList{Tensor(), sum_to(raw::where(c.get(), g, zero), sa),
                        sum_to(raw::where(c.get(), zero, g), sb)};
    });
  return y;
}

// Comparisons: 0/1 results, never differentiable.
Tensor eq(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Ge, a, b); }

// ---------------------------------------------------------------------------
// Scalars: float tensors use the one-pass scalar kernels; others a 0-d tensor.
namespace {
Tensor add_scalar(const Tensor& a, double s) {
  if (!is_floating(a.dtype())) return add(a, scalar_like(a, s));
  Tensor y = raw::unary(UnaryOp::AddScalar, a, s);
  if (needs_grad({a})) record("add", {a}, y, [](const Tensor& g) { return TensorList{g}; });
  return y;
}
Tensor mul_scalar(const Tensor& a, double s) {
  if (!is_floating(a.dtype())) return mul(a, scalar_like(a, s));
  Tensor y = raw::unary(UnaryOp::MulScalar, a, s);
  if (needs_grad({a}))
    record("mul", {a}, y, [s](const Tensor& g) { return TensorList{raw::unary(UnaryOp::MulScalar, g, s)}; });
  return y;
}
// y = s / a;  dy/da = -s / a^2 = -y / a
Tensor rdiv_scalar(double s, const Tensor& a) {
  if (!is_floating(a.dtype())) return div(scalar_like(a, s), a);
  Tensor y = raw::unary(UnaryOp::RDivScalar, a, s);
  if (needs_grad({a}))
    record("div", {a}, y, [sa = save("div", a), sy = save("div", y)](const Tensor& g) {
      Tensor t = raw::binary(BinaryOp::Div, raw::binary(BinaryOp::Mul, g, sy.get()), sa.get());
      return TensorList{raw::unary(UnaryOp::Neg, t)};
    });
  return y;
}
}  // namespace

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return a.neg(); }
Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
Tensor operator/(const Tensor& a, double s) {
  return is_floating(a.dtype()) ? mul_scalar(a, 1.0 / s) : div(a, scalar_like(a, s));
}
Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
Tensor operator-(double s, const Tensor& a) { return add_scalar(a.neg(), s); }
Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
Tensor operator/(double s, const Tensor& a) { return rdiv_scalar(s, a); }

}  // namespace ember
