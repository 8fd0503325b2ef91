// autograd/ops/reduce.cpp: sum, mean, max, min, logsumexp, argmax/argmin over any dims.
//
// Backward of a reduction broadcasts grad_out back over the reduced dims: for sum
// every input element gets grad_out; for mean grad_out / n; for max/min only the
// elements equal to the result get it (split evenly between ties).
// Exercises: 4 (a reduction's backward: sum), 6 (a numerically stable logsumexp).
#include <algorithm>
#include <cmath>

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {
// grad_out of a reduction without keepdim -> the keepdim shape, then a broadcast view of x's shape.
Tensor expand_back(const Tensor& g, const Shape& x_shape, const Dims& dims) {
  Shape kept = x_shape;
  for (int64_t d : dims) kept[d] = 1;
  return raw::expand(g.reshape(kept), x_shape);
}

int64_t count_of(const Shape& s, const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= s[d];
  return n;
}
}  // namespace

// y = sum over dims of x;  dx = grad_out broadcast back to x's shape
Tensor Tensor::sum(Dims dims_in, bool keepdim) const {
  Dims dims = raw::normalize_dims(dims_in, dim(), "sum");
  Tensor y = raw::reduce(ReduceOp::Sum, *this, dims, keepdim);
  if (needs_grad({*this}))
    record("sum", {*this}, y, [x_shape = shape(), dims](const Tensor& grad_out) -> TensorList {
      // BEGIN EXERCISE 4
      // grad_out has y's shape. Give the summed dims back as size 1 ([2, 3, 4] summed over
      // {1} -> [2, 4] -> [2, 1, 4]), then broadcast to x's shape as a stride-0 view.
      Shape kept = x_shape;
      for (int64_t d : dims) kept[d] = 1;
      return TensorList{raw::expand(grad_out.reshape(kept), x_shape)};
      // END EXERCISE
    });
  return y;
}

// y = sum / n;  dx = grad_out / n
Tensor Tensor::mean(Dims dims_in, bool keepdim) const {
  EMBER_CHECK(is_floating(dtype()), "mean: needs a float tensor, got dtype ", dtype_name(dtype()),
              "; use .to(DType::f32) first");
  Dims dims = raw::normalize_dims(dims_in, dim(), "mean");
  const int64_t n = count_of(shape(), dims);
  Tensor y = raw::reduce(ReduceOp::Sum, *this, dims, keepdim, n ? 1.0 / static_cast<double>(n) : NAN);
  if (needs_grad({*this}))
    record("mean", {*this}, y, [shape = shape(), dims, n](const Tensor& g) {
      return TensorList{expand_back(raw::unary(UnaryOp::MulScalar, g, 1.0 / static_cast<double>(n)), shape, dims)};
    });
  return y;
}

namespace {
// y = max (min) over dims;  dx = grad_out at the elements equal to y, split between ties
Tensor extremum(const char* name, ReduceOp op, const Tensor& x, const Dims& dims_in, bool keepdim) {
  Dims dims = raw::normalize_dims(dims_in, x.dim(), name);
  Tensor yk = raw::reduce(op, x, dims, /*keepdim=*/true);
  Tensor y = yk;
  if (!keepdim) {
    Shape s;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!std::binary_search(dims.begin(), dims.end(), i)) s.push_back(x.shape()[i]);
    y = raw::as_view(yk, s, contiguous_strides(s), yk.offset());
  }
  if (needs_grad({x}))
    record(name, {x}, y, [sx = save(name, x), sy = save(name, yk), dims](const Tensor& g) {
      const Tensor &X = sx.get(), &Y = sy.get();
      Tensor mask = raw::binary(BinaryOp::Eq, X, Y);
      Tensor count = raw::reduce(ReduceOp::Sum, mask, dims, /*keepdim=*/true);
      Tensor share = raw::binary(BinaryOp::Div, g.reshape(Y.shape()), count);
      return TensorList{raw::binary(BinaryOp::Mul, mask, share)};
    });
  return y;
}
}  // namespace

Tensor Tensor::max(Dims dims, bool keepdim) const { return extremum("max", ReduceOp::Max, *this, dims, keepdim); }
Tensor Tensor::min(Dims dims, bool keepdim) const { return extremum("min", ReduceOp::Min, *this, dims, keepdim); }

// logsumexp(x) = m + log(sum(exp(x - m))), m = max(x) held constant (it cancels in the grad).
Tensor Tensor::logsumexp(Dims dims_in, bool keepdim) const {
  Dims dims = raw::normalize_dims(dims_in, dim(), "logsumexp");
  // BEGIN EXERCISE 6
  Tensor m = raw::reduce(ReduceOp::Max, *this, dims, /*keepdim=*/true);
  // A row of infinities would give inf - inf = nan; shift such rows by 0 instead.
  Tensor finite = raw::binary(BinaryOp::Eq, raw::binary(BinaryOp::Sub, m, m), zeros_like(m));
  m = raw::where(finite, m, zeros_like(m));
  Tensor out = (*this - m).exp().sum(dims, /*keepdim=*/true).log() + m;
  if (keepdim) return out;
  Shape s;
  for (int64_t i = 0; i < dim(); ++i)
    if (!std::binary_search(dims.begin(), dims.end(), i)) s.push_back(shape()[i]);
  return out.reshape(s);
  // END EXERCISE
}

Tensor Tensor::argmax(int64_t d, bool keepdim) const { return raw::arg_reduce(true, *this, d, keepdim); }
Tensor Tensor::argmin(int64_t d, bool keepdim) const { return raw::arg_reduce(false, *this, d, keepdim); }

}  // namespace ember
