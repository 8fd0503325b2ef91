// autograd/ops/linalg.cpp: matmul and linear, on the backend's gemm.
//
//   C = A @ B        A [n, k], B [k, m] -> C [n, m]
//   dA = dC @ B^T    dB = A^T @ dC
//
// Transposed operands are passed to gemm as flags, never copied: a view whose last
// two dims are column-major (stride[-2] == 1) is "A^T" of a row-major matrix.
// Exercise 5 (matmul backward) touches the backward lambda of matmul.
#include "ember/autograd/ops/linalg.h"

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

// One gemm operand: its tensor, transposed?, leading dim, batch stride.
struct Operand {
  Tensor t;  // keeps the memory alive
  bool trans = false;
  int64_t ld = 0;
  int64_t batch_stride = 0;
};

// x is [B, r, c] (3-D). Uses x's own layout when gemm can read it, else a contiguous copy.
Operand as_operand(const Tensor& x) {
  const Shape& s = x.shape();
  const Shape& st = x.strides();
  const int64_t r = s[1], c = s[2];
  const bool batch_ok = s[0] == 1 || st[0] >= 0;
  if (batch_ok && (st[2] == 1 || c == 1) && st[1] >= std::max<int64_t>(c, 1))
    return {x, false, st[1], s[0] == 1 ? 0 : st[0]};
  if (batch_ok && (st[1] == 1 || r == 1) && st[2] >= std::max<int64_t>(r, 1))
    return {x, true, st[2], s[0] == 1 ? 0 : st[0]};
  Tensor cx = raw::contiguous(x);
  return {cx, false, std::max<int64_t>(c, 1), r * c};
}

// out [B, n, m] (contiguous) = a [B, n, k] @ b [B, k, m] + beta * out
void gemm_into(const Tensor& out, const Tensor& a, const Tensor& b, double beta) {
  Operand A = as_operand(a), B = as_operand(b);
  const int64_t batch = out.shape()[0], n = out.shape()[1], m = out.shape()[2], k = a.shape()[2];
  if (batch * n * m == 0) return;
  if (k == 0) {  // an empty sum: C = beta * C
    Tensor c = out;
    if (beta == 0) c.fill_(0.0);
    else c.mul_(beta);
    return;
  }
  GemmGeom g;
  g.ta = A.trans, g.tb = B.trans;
  g.m = n, g.n = m, g.k = k;
  g.lda = A.ld, g.ldb = B.ld, g.ldc = std::max<int64_t>(m, 1);
  g.stride_a = A.batch_stride, g.stride_b = B.batch_stride, g.stride_c = n * m;
  g.batch = batch;
  g.beta = beta;
  backend_for(out.device()).gemm(g, kview(A.t), kview(B.t), kview(out));
}

Tensor as3d(const Tensor& x) { return x.dim() == 2 ? raw::as_view(x, {1, x.shape()[0], x.shape()[1]}, {0, x.strides()[0], x.strides()[1]}, x.offset()) : x; }

// Plain matmul of 2-D or equal-batch 3-D tensors, no history.
Tensor mm(const Tensor& a, const Tensor& b) {
  Tensor a3 = as3d(a), b3 = as3d(b);
  const int64_t batch = std::max(a3.shape()[0], b3.shape()[0]);
  Tensor out = empty({batch, a3.shape()[1], b3.shape()[2]}, TensorOptions(a.dtype(), a.device()));
  gemm_into(out, a3, b3, 0.0);
  if (a.dim() == 2 && b.dim() == 2) return raw::as_view(out, {out.shape()[1], out.shape()[2]}, {out.shape()[2], 1}, 0);
  return out;
}

void check_matmul(const Tensor& a, const Tensor& b) {
  raw::check_same_device("matmul", a, b);
  raw::check_same_dtype("matmul", a, b);
  EMBER_CHECK(is_floating(a.dtype()), "matmul: needs float tensors, got dtype ", dtype_name(a.dtype()));
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got ",
              fmt(a.shape()), " @ ", fmt(b.shape()));
  const int64_t ka = a.shape().back(), kb = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  EMBER_CHECK(ka == kb, "matmul: ", fmt(a.shape()), " @ ", fmt(b.shape()), ": inner dims ", ka, " != ", kb);
}

}  // namespace

// ---------------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b) {
  check_matmul(a, b);
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});  // dot
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);

  Tensor y;
  if (a.dim() == 2 && b.dim() == 2) {
    y = mm(a, b);
  } else {
    // Broadcast the batch dims, then run one batched gemm over [B, n, k] @ [B, k, m].
    Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    Shape batch = broadcast_shapes(ba, bb, "matmul");
    const int64_t n = a.shape()[a.dim() - 2], k = a.shape().back(), m = b.shape().back();
    Shape sa = batch, sb = batch;
    sa.insert(sa.end(), {n, k});
    sb.insert(sb.end(), {k, m});
    const int64_t B = numel_of(batch);
    Tensor a3 = raw::contiguous(raw::expand(a, sa)), b3 = raw::contiguous(raw::expand(b, sb));
    a3 = raw::as_view(a3, {B, n, k}, {n * k, k, 1}, a3.offset());
    b3 = raw::as_view(b3, {B, k, m}, {k * m, m, 1}, b3.offset());
    Tensor out = mm(a3, b3);
    Shape so = batch;
    so.insert(so.end(), {n, m});
    y = raw::as_view(out, so, contiguous_strides(so), 0);
  }
  if (needs_grad({a, b}))
    record("matmul", {a, b}, y, [sa = save("matmul", a), sb = save("matmul", b)](const Tensor& grad_out) -> TensorList {
      // BEGIN EXERCISE 5
      const Tensor &A = sa.get(), &B = sb.get();
      // dA = dC @ B^T, dB = A^T @ dC, summed over broadcast batch dims.
      Tensor ga = sum_to(matmul(grad_out, B.transpose(-1, -2)), A.shape());
      Tensor gb = sum_to(matmul(A.transpose(-1, -2), grad_out), B.shape());
      return TensorList{ga, gb};
      // END EXERCISE
    });
  return y;
}

Tensor Tensor::matmul(const Tensor& o) const { return ember::matmul(*this, o); }

// ---------------------------------------------------------------------------
// y = x @ W^T + b, with x [..., in], W [out, in], b [out].
// Forward: y is filled with b, then one gemm accumulates into it (beta = 1).
// Backward: dx = dy @ W, dW = dy^T @ x, db = sum of dy over rows.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  raw::check_same_device("linear", x, w);
  raw::check_same_dtype("linear", x, w);
  EMBER_CHECK(w.dim() == 2, "linear: weight must be 2-D [out, in], got ", fmt(w.shape()));
  EMBER_CHECK(x.dim() >= 1 && x.shape().back() == w.shape()[1], "linear: input ", fmt(x.shape()),
              " has ", (x.dim() ? x.shape().back() : 0), " features, weight ", fmt(w.shape()), " expects ",
              w.shape()[1]);
  const int64_t in = w.shape()[1], outf = w.shape()[0];
  if (bias.defined()) {
    raw::check_same_device("linear", x, bias);
    EMBER_CHECK(bias.dim() == 1 && bias.shape()[0] == outf, "linear: bias ", fmt(bias.shape()),
                " does not match weight ", fmt(w.shape()), " (expected [", outf, "])");
  }
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(outf);
  const int64_t rows = numel_of(out_shape) / std::max<int64_t>(outf, 1);
  Tensor x2 = raw::contiguous(x);
  x2 = raw::as_view(x2, {1, rows, in}, {0, in, 1}, x2.offset());
  Tensor wt = raw::as_view(w, {1, in, outf}, {0, w.strides()[1], w.strides()[0]}, w.offset());
  Tensor y = empty(out_shape, TensorOptions(x.dtype(), x.device()));
  Tensor y3 = raw::as_view(y, {1, rows, outf}, {0, outf, 1}, 0);
  if (bias.defined()) raw::copy(y3, raw::expand(bias, y3.shape()));
  gemm_into(y3, x2, wt, bias.defined() ? 1.0 : 0.0);

  if (needs_grad({x, w, bias}))
    record("linear", {x, w, bias}, y,
           [sx = save("linear", x2), sw = save("linear", w), x_shape = x.shape(), rows, in, outf,
            has_bias = bias.defined(), need_x = x.requires_grad()](const Tensor& g) {
             Tensor g3 = raw::contiguous(g);
             g3 = raw::as_view(g3, {1, rows, outf}, {0, outf, 1}, g3.offset());
             const Tensor& W = sw.get();
             Tensor gx;
             if (need_x) {
               gx = empty(x_shape, TensorOptions(g.dtype(), g.device()));
               Tensor gx3 = raw::as_view(gx, {1, rows, in}, {0, in, 1}, 0);
               gemm_into(gx3, g3, raw::as_view(W, {1, outf, in}, {0, W.strides()[0], W.strides()[1]}, W.offset()), 0.0);
             }
             Tensor gw = empty({outf, in}, TensorOptions(g.dtype(), g.device()));
             Tensor gt = raw::as_view(g3, {1, outf, rows}, {0, 1, outf}, g3.offset());
             gemm_into(raw::as_view(gw, {1, outf, in}, {0, in, 1}, 0), gt, sx.get(), 0.0);
             Tensor gb = has_bias ? raw::reduce(ReduceOp::Sum, g3.view({rows, outf}), {0}, false) : Tensor();
             return TensorList{gx, gw, gb};
           });
  return y;
}

}  // namespace ember
