// tensor/Raw.cpp: the history-free computations of tensor/Raw.h: views, copies and casts,
// and the checks and broadcasting in front of every backend kernel.
#include "ember/tensor/Raw.h"

#include <algorithm>
#include <vector>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Dispatch.h"

namespace ember {

// ---------------------------------------------------------------------------
// Raw computations
namespace raw {

Tensor as_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  size_t n = shape.size(), k = t.shape().size();
  EMBER_INTERNAL_ASSERT(n >= k);
  Shape st(n, 0);
  for (size_t i = 0; i < k; ++i) {
    size_t j = n - k + i;
    st[j] = t.shape()[i] == 1 && shape[j] != 1 ? 0 : t.strides()[i];
  }
  return as_view(t, shape, st, t.offset());
}

void bump_version(const Tensor& t) { ++t.impl().storage->version; }

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.device() == b.device(), op, ": tensors on different devices (", a.device().str(),
              " vs ", b.device().str(), ")");
}
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch (", dtype_name(a.dtype()), " vs ",
              dtype_name(b.dtype()), "); convert one with .to(DType::...)");
}

void copy(const Tensor& dst, const Tensor& src) {
  EMBER_INTERNAL_ASSERT(dst.shape() == src.shape(), "copy ", fmt(dst.shape()), " <- ", fmt(src.shape()));
  if (dst.numel() == 0) return;
  if (dst.device() == src.device()) {
    backend_for(dst.device()).copy(kview(dst), kview(src));
    return;
  }
  // Across devices: make a contiguous staging copy in dst's dtype on the source side,
  // move the bytes, then copy into dst's layout.
  Tensor s = src;
  if (!s.is_contiguous() || s.dtype() != dst.dtype()) {
    Tensor tmp = empty(src.shape(), TensorOptions(dst.dtype(), src.device()));
    backend_for(src.device()).copy(kview(tmp), kview(src));
    s = tmp;
  }
  Tensor d = dst.is_contiguous() ? dst : empty(dst.shape(), TensorOptions(dst.dtype(), dst.device()));
  size_t nbytes = static_cast<size_t>(s.numel()) * dtype_size(s.dtype());
  if (src.device().is_cpu()) backend_for(dst.device()).copy_from_host(d.raw_data(), s.raw_data(), nbytes);
  else if (dst.device().is_cpu()) backend_for(src.device()).copy_to_host(d.raw_data(), s.raw_data(), nbytes);
  else {  // cuda:i -> cuda:j through the host
    std::vector<char> host(nbytes);
    backend_for(src.device()).copy_to_host(host.data(), s.raw_data(), nbytes);
    backend_for(dst.device()).copy_from_host(d.raw_data(), host.data(), nbytes);
  }
  if (!d.is_same(dst)) backend_for(dst.device()).copy(kview(dst), kview(d));
}

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.shape(), TensorOptions(t.dtype(), t.device()));
  copy(out, t);
  return out;
}

Tensor to(const Tensor& t, DType dtype, Device device) {
  if (t.dtype() == dtype && t.device() == device) return t;
  Tensor out = empty(t.shape(), TensorOptions(dtype, device));
  copy(out, t);
  return out;
}

namespace {
void check_step(const char* op, const Tensor& p, const Tensor& t, const char* what) {
  EMBER_CHECK(t.is_contiguous() && p.is_contiguous(), op, ": ", what, " and the parameter must be contiguous");
  EMBER_CHECK(t.shape() == p.shape(), op, ": ", what, " has shape ", fmt(t.shape()), ", the parameter ",
              fmt(p.shape()));
  check_same_device(op, p, t);
  check_same_dtype(op, p, t);
}

KView flat(const Tensor& t) { return kview(t, {t.numel()}); }
}  // namespace

void sgd_step(const Tensor& p, const Tensor& grad, const Tensor& buf, const SgdStep& a) {
  check_step("sgd_step", p, grad, "grad");
  if (buf.defined()) check_step("sgd_step", p, buf, "momentum buffer");
  EMBER_CHECK(is_floating(p.dtype()), "sgd_step: needs a float parameter, got dtype ", dtype_name(p.dtype()));
  if (p.numel())
    backend_for(p.device()).sgd_step(flat(p), flat(grad), buf.defined() ? flat(buf) : KView{}, a);
  bump_version(p);
}

void adam_step(const Tensor& p, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamStep& a) {
  check_step("adam_step", p, grad, "grad");
  check_step("adam_step", p, m, "first moment");
  check_step("adam_step", p, v, "second moment");
  EMBER_CHECK(is_floating(p.dtype()), "adam_step: needs a float parameter, got dtype ", dtype_name(p.dtype()));
  if (p.numel())
    backend_for(p.device()).adam_step(flat(p), flat(grad), flat(m), flat(v), a);
  bump_version(p);
}

Tensor unary(UnaryOp op, const Tensor& x, double p0, double p1) {
  EMBER_CHECK(is_floating(x.dtype()), op_name(op), ": needs a float tensor, got dtype ",
              dtype_name(x.dtype()));
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (out.numel()) backend_for(x.device()).unary(op, kview(out), kview(x), p0, p1);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, double p0, double p1) {
  const char* name = op_name(op);
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  EMBER_CHECK(a.dtype() != DType::u8, name, ": dtype u8 is not supported; convert with .to()");
  EMBER_CHECK(!binary_is_float_only(op) || is_floating(a.dtype()), name,
              ": needs float tensors, got dtype ", dtype_name(a.dtype()));
  Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(s, TensorOptions(a.dtype(), a.device()));
  if (out.numel())
    backend_for(a.device()).binary(op, kview(out), kview(expand(a, s)), kview(expand(b, s)), p0, p1);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  check_same_dtype("where", a, b);
  Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(s, TensorOptions(a.dtype(), a.device()));
  if (out.numel())
    backend_for(a.device()).where(kview(out), kview(expand(cond, s)), kview(expand(a, s)),
                                  kview(expand(b, s)));
  return out;
}

Dims normalize_dims(const Dims& dims, int64_t ndim, const char* op) {
  Dims out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Tensor reduce(ReduceOp op, const Tensor& x, const Dims& dims, bool keepdim, double scale) {
  const char* name = op == ReduceOp::Sum ? "sum" : op == ReduceOp::Max ? "max" : "min";
  EMBER_CHECK(x.dtype() != DType::u8, name, ": dtype u8 is not supported; convert with .to()");
  Shape kept = x.shape();
  for (int64_t d : dims) {
    EMBER_CHECK(op == ReduceOp::Sum || x.shape()[d] > 0, name, ": cannot reduce an empty dim ", d,
                " of ", fmt(x.shape()));
    kept[d] = 1;
  }
  Tensor out = empty(kept, TensorOptions(x.dtype(), x.device()));
  if (x.numel() == 0) out.fill_(0.0);
  else if (out.numel()) backend_for(x.device()).reduce(op, kview(out), kview(x), scale);
  if (keepdim) return out;
  Shape s;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (!std::binary_search(dims.begin(), dims.end(), i)) s.push_back(x.shape()[i]);
  return as_view(out, s, contiguous_strides(s), 0);
}

Tensor arg_reduce(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  if (x.dim() == 0) return zeros({}, TensorOptions(DType::i64, x.device()));
  dim = wrap_dim(dim, x.dim(), name);
  EMBER_CHECK(x.shape()[dim] > 0, name, ": dim ", dim, " of ", fmt(x.shape()), " is empty");
  Shape kept = x.shape();
  kept[dim] = 1;
  Tensor out = empty(kept, TensorOptions(DType::i64, x.device()));
  if (out.numel()) backend_for(x.device()).arg_reduce(is_max, kview(out), kview(x), static_cast<int>(dim));
  if (keepdim) return out;
  Shape s = x.shape();
  s.erase(s.begin() + dim);
  return as_view(out, s, contiguous_strides(s), 0);
}

}  // namespace raw

}  // namespace ember
