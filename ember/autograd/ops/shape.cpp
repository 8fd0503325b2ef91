// autograd/ops/shape.cpp: views, copies, casts, device moves, cat and stack.
//
// A view makes a new TensorImpl over the same Storage with other shape/strides/
// offset, so writing through it changes the base. Its backward moves the grad
// back into the base's shape: reshape back, permute back, or (for a slice) place
// the grad into zeros.
// Exercise 1 (strides and views) touches permute and slice.
#include "ember/autograd/ops/shape.h"

#include <algorithm>

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {
// Attaches "grad.reshape(x.shape)" as backward: for every view that only regroups elements.
Tensor reshaped_view(const char* name, const Tensor& x, Tensor y) {
  if (needs_grad({x}))
    record(name, {x}, y, [shape = x.shape()](const Tensor& g) { return TensorList{g.reshape(shape)}; });
  return y;
}

Shape infer_shape(const char* op, Shape shape, int64_t numel, const Shape& from) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      EMBER_CHECK(infer < 0, op, ": only one dim can be -1 in ", fmt(shape));
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK(shape[i] >= 0, op, ": invalid size ", shape[i], " in ", fmt(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, op, ": shape ", fmt(shape), " is invalid for input ",
                fmt(from), " of ", numel, " elements");
    shape[static_cast<size_t>(infer)] = numel / known;
  }
  EMBER_CHECK(numel_of(shape) == numel, op, ": shape ", fmt(shape), " is invalid for input ", fmt(from),
              " of ", numel, " elements");
  return shape;
}
}  // namespace

// ---------------------------------------------------------------------------
Tensor Tensor::view(Shape s) const {
  s = infer_shape("view", std::move(s), numel(), shape());
  EMBER_CHECK(is_contiguous(), "view: tensor ", fmt(shape()), " with strides ", fmt(strides()),
              " is not contiguous; use reshape() or contiguous() first");
  return reshaped_view("view", *this, raw::as_view(*this, s, contiguous_strides(s), offset()));
}

Tensor Tensor::reshape(Shape s) const {
  s = infer_shape("reshape", std::move(s), numel(), shape());
  if (s == shape()) return *this;
  return contiguous().view(s);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  EMBER_CHECK(start <= end, "flatten: start dim ", start, " > end dim ", end);
  Shape s(shape().begin(), shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= shape()[i];
  s.push_back(n);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

// out.shape[i] = x.shape[order[i]], out.strides[i] = x.strides[order[i]]: no data moves.
// Backward: permute grad_out by the inverse order.
Tensor Tensor::permute(Dims order) const {
  EMBER_CHECK(static_cast<int64_t>(order.size()) == dim(), "permute: order ", fmt(order), " has ",
              order.size(), " dims, tensor ", fmt(shape()), " has ", dim());
  // BEGIN EXERCISE 1
  Shape s(order.size()), st(order.size());
  Dims inverse(order.size(), -1);
  for (size_t i = 0; i < order.size(); ++i) {
    int64_t d = wrap_dim(order[i], dim(), "permute");
    EMBER_CHECK(inverse[d] < 0, "permute: dim ", d, " repeats in ", fmt(order));
    inverse[d] = static_cast<int64_t>(i);
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor y = raw::as_view(*this, s, st, offset());
  if (needs_grad({*this}))
    record("permute", {*this}, y, [inverse](const Tensor& g) { return TensorList{g.permute(inverse)}; });
  return y;
  // END EXERCISE
}

// Elements start, start+step, ... < end of one dim: offset moves, stride multiplies.
// start/end may be negative (counted from the end) and are clamped to [0, n].
// Backward: grad_out goes into the sliced places of a zero tensor of x's shape.
Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  EMBER_CHECK(step > 0, "slice: step must be positive, got ", step);
  // BEGIN EXERCISE 1
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  Tensor y = raw::as_view(*this, s, st, offset() + start * strides()[d]);
  if (needs_grad({*this}))
    record("slice", {*this}, y, [shape = shape(), d, start, end, step](const Tensor& g) {
      Tensor gx = zeros(shape, TensorOptions(g.dtype(), g.device()));
      raw::copy(gx.slice(d, start, end, step), g);
      return TensorList{gx};
    });
  return y;
  // END EXERCISE
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Dims order(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < dim(); ++i) order[i] = i;
  std::swap(order[d0], order[d1]);
  return permute(order);
}

Tensor Tensor::t() const {
  EMBER_CHECK(dim() <= 2, "t: expects a tensor with <= 2 dims, got ", fmt(shape()), "; use transpose()");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  EMBER_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d], "narrow: start ", start,
              " + length ", length, " exceeds size ", shape()[d], " of dim ", d, " in ", fmt(shape()));
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[d];
  EMBER_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d,
              " of size ", n);
  if (index < 0) index += n;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(Shape s) const {
  EMBER_CHECK(s.size() >= shape().size(), "expand: cannot expand ", fmt(shape()), " to fewer dims ", fmt(s));
  const size_t lead = s.size() - shape().size();
  for (size_t i = 0; i < s.size(); ++i) {
    int64_t have = i < lead ? 1 : shape()[i - lead];
    if (s[i] == -1) {
      EMBER_CHECK(i >= lead, "expand: -1 is not allowed for new leading dim ", i, " in ", fmt(s));
      s[i] = have;
    }
    EMBER_CHECK(have == s[i] || have == 1, "expand: cannot expand ", fmt(shape()), " to ", fmt(s),
                " (dim ", i, ": ", have, " vs ", s[i], ")");
  }
  Tensor y = raw::expand(*this, s);
  if (y.is_same(*this)) return y;
  if (needs_grad({*this}))
    record("expand", {*this}, y, [shape = shape()](const Tensor& g) { return TensorList{sum_to(g, shape)}; });
  return y;
}

Tensor Tensor::squeeze() const {
  Shape s, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape()[i] != 1) {
      s.push_back(shape()[i]);
      st.push_back(strides()[i]);
    }
  if (s.size() == shape().size()) return *this;
  return reshaped_view("squeeze", *this, raw::as_view(*this, s, st, offset()));
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || shape()[d] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return reshaped_view("squeeze", *this, raw::as_view(*this, s, st, offset()));
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return reshaped_view("unsqueeze", *this, raw::as_view(*this, s, st, offset()));
}

// ---------------------------------------------------------------------------
// Copies
Tensor Tensor::clone() const {
  Tensor y = empty(shape(), TensorOptions(dtype(), device()));
  raw::copy(y, *this);
  if (needs_grad({*this})) record("clone", {*this}, y, [](const Tensor& g) { return TensorList{g}; });
  return y;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor y = raw::to(*this, t, device());
  if (is_floating(t) && needs_grad({*this}))
    record("to", {*this}, y, [from = dtype()](const Tensor& g) { return TensorList{g.to(from)}; });
  return y;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor y = raw::to(*this, dtype(), d);
  if (needs_grad({*this}))
    record("to", {*this}, y, [from = device()](const Tensor& g) { return TensorList{g.to(from)}; });
  return y;
}

// ---------------------------------------------------------------------------
// cat / stack: copy each input into its slice of the output; backward slices the grad.
Tensor cat(const TensorList& xs, int64_t dim) {
  EMBER_CHECK(!xs.empty(), "cat: needs at least one tensor");
  const Tensor& x0 = xs[0];
  dim = wrap_dim(dim, x0.dim(), "cat");
  Shape s = x0.shape();
  s[dim] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    raw::check_same_device("cat", x0, x);
    raw::check_same_dtype("cat", x0, x);
    bool ok = x.dim() == x0.dim();
    for (int64_t d = 0; ok && d < x.dim(); ++d) ok = d == dim || x.shape()[d] == x0.shape()[d];
    EMBER_CHECK(ok, "cat: tensor ", i, " has shape ", fmt(x.shape()), ", expected ", fmt(x0.shape()),
                " except in dim ", dim);
    s[dim] += x.shape()[dim];
  }
  Tensor y = empty(s, TensorOptions(x0.dtype(), x0.device()));
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    raw::copy(y.slice(dim, at, at + x.shape()[dim]), x);
    at += x.shape()[dim];
    sizes.push_back(x.shape()[dim]);
  }
  if (needs_grad(xs))
    record("cat", xs, y, [sizes, dim](const Tensor& g) {
      TensorList grads;
      int64_t off = 0;
      for (int64_t n : sizes) {
        grads.push_back(g.slice(dim, off, off + n));
        off += n;
      }
      return grads;
    });
  return y;
}

Tensor stack(const TensorList& xs, int64_t dim) {
  EMBER_CHECK(!xs.empty(), "stack: needs at least one tensor");
  dim = wrap_dim(dim, xs[0].dim() + 1, "stack");
  TensorList u;
  for (size_t i = 0; i < xs.size(); ++i) {
    EMBER_CHECK(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ", fmt(xs[i].shape()),
                ", tensor 0 has ", fmt(xs[0].shape()));
    u.push_back(xs[i].unsqueeze(dim));
  }
  return cat(u, dim);
}

}  // namespace ember
