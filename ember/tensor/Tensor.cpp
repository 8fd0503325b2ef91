// tensor/Tensor.cpp: storage, shapes, tensor metadata, the autograd fields that need no
// engine, and the history-free conversions and in-place ops of tensor/Tensor.h.
#include "ember/tensor/Tensor.h"

#include <cstring>
#include <vector>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Raw.h"

namespace ember {

// ---------------------------------------------------------------------------
// Storage
Storage::Storage(size_t n, Device d) : nbytes(n), device(d) {
  allocator_ = &backend_for(d).allocator();
  data = allocator_->allocate(n);
}

Storage::Storage(void* p, size_t n, Device d, std::function<void(void*)> deleter)
    : data(p), nbytes(n), device(d), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (allocator_) allocator_->deallocate(data, nbytes);
  else if (deleter_) deleter_(data);
}

// ---------------------------------------------------------------------------
// Shapes
int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    EMBER_CHECK(da == db || da == 1 || db == 1, op, ": cannot broadcast ", fmt(a), " with ",
                fmt(b), " (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Tensor metadata
TensorImpl& Tensor::impl() const {
  EMBER_CHECK(impl_ != nullptr, "tensor: use of an undefined (empty) Tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return numel_of(shape()); }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

template <class T>
T* Tensor::data() const {
  EMBER_CHECK(dtype_of<T>::value == dtype(), "data: tensor has dtype ", dtype_name(dtype()),
              ", asked for ", dtype_name(dtype_of<T>::value));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;

KView kview_or_absent(const Tensor& t) { return t.defined() ? kview(t) : KView{}; }

KView kview(const Tensor& t) {
  EMBER_CHECK(t.dim() <= kMaxDims, "tensor: at most ", kMaxDims, " dims are supported, got ",
              fmt(t.shape()));
  KView v;
  v.data = static_cast<char*>(t.raw_data());
  v.dtype = t.dtype();
  v.ndim = static_cast<int>(t.dim());
  for (int i = 0; i < v.ndim; ++i) {
    v.shape[i] = t.shape()[i];
    v.strides[i] = t.strides()[i];
  }
  return v;
}

KView kview(const Tensor& t, const Shape& as) {
  EMBER_CHECK(t.is_contiguous(), "kview: a reshaped view needs a contiguous tensor, got strides ", fmt(t.strides()));
  EMBER_CHECK(static_cast<int64_t>(as.size()) <= kMaxDims, "kview: at most ", kMaxDims, " dims, got ", fmt(as));
  KView v;
  v.data = static_cast<char*>(t.raw_data());
  v.dtype = t.dtype();
  v.ndim = static_cast<int>(as.size());
  int64_t n = 1;
  for (int i = v.ndim - 1; i >= 0; --i) {
    v.shape[i] = as[static_cast<size_t>(i)];
    v.strides[i] = n;
    n *= v.shape[i];
  }
  EMBER_CHECK(n == t.numel(), "kview: shape ", fmt(as), " does not hold the ", t.numel(), " elements of ",
              fmt(t.shape()));
  return v;
}

// ---------------------------------------------------------------------------
// Autograd fields that need no engine
namespace {
thread_local bool g_grad_enabled = true;
}
bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

Tensor& Tensor::requires_grad_(bool on) {
  EMBER_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad; use "
                         "detach() on a result first");
  EMBER_CHECK(!on || is_floating(dtype()), "requires_grad_: only float tensors can require "
                                           "grad, got dtype ", dtype_name(dtype()));
  impl().requires_grad = on;
  if (!on) impl().grad_accumulator.reset();
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    impl().grad.reset();
    return;
  }
  EMBER_CHECK(g.shape() == shape(), "set_grad: grad shape ", fmt(g.shape()),
              " does not match tensor shape ", fmt(shape()));
  impl().grad = g.impl_ptr();
}

Tensor Tensor::detach() const { return raw::as_view(*this, shape(), strides(), offset()); }

// ---------------------------------------------------------------------------
// Conversion and in-place ops (no history; in-place ops bump the version)
double Tensor::item() const {
  EMBER_CHECK(numel() == 1, "item: tensor has ", numel(), " elements (shape ", fmt(shape()),
              "); item() needs exactly one");
  Tensor c = raw::contiguous(*this);
  if (!device().is_cpu()) {
    Tensor h = empty(shape(), dtype());
    raw::copy(h, c);
    c = h;
  }
  return dispatch_all(dtype(), [&](auto tag) { return static_cast<double>(*c.data<decltype(tag)>()); });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = empty(shape(), dtype_of<T>::value);
  raw::copy(c, *this);
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

namespace {
// In-place writes would silently corrupt autograd: refuse them on tensors that take
// part in a graph while grad mode is on (optimizers write under NoGradGuard).
void check_inplace(const Tensor& t, const char* op) {
  EMBER_CHECK(!grad_enabled() || !t.requires_grad(), op, ": in-place change of a tensor that "
              "requires grad ", fmt(t.shape()), "; wrap it in NoGradGuard or use detach()");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  if (numel()) backend_for(device()).fill(kview(*this), value);
  raw::bump_version(*this);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  Shape s = broadcast_shapes(shape(), src.shape(), "copy_");
  EMBER_CHECK(s == shape(), "copy_: source ", fmt(src.shape()), " does not broadcast to ", fmt(shape()));
  raw::copy(*this, raw::expand(src, shape()));
  raw::bump_version(*this);
  return *this;
}

Tensor& Tensor::add_(const Tensor& o, double alpha) {
  Shape s = broadcast_shapes(shape(), o.shape(), "add_");
  EMBER_CHECK(s == shape(), "add_: ", fmt(o.shape()), " does not broadcast to ", fmt(shape()));
  check_inplace(*this, "add_");
  raw::check_same_device("add_", *this, o);
  raw::check_same_dtype("add_", *this, o);
  if (numel() == 0) return *this;
  Backend& be = backend_for(device());
  if (alpha == 1.0) {
    be.binary(BinaryOp::Add, kview(*this), kview(*this), kview(raw::expand(o, s)), 0, 0);
  } else {
    Tensor scaled = raw::unary(UnaryOp::MulScalar, o, alpha);
    be.binary(BinaryOp::Add, kview(*this), kview(*this), kview(raw::expand(scaled, s)), 0, 0);
  }
  raw::bump_version(*this);
  return *this;
}

Tensor& Tensor::mul_(double s) {
  check_inplace(*this, "mul_");
  if (numel()) backend_for(device()).unary(UnaryOp::MulScalar, kview(*this), kview(*this), s, 0);
  raw::bump_version(*this);
  return *this;
}

Tensor& Tensor::masked_fill_(const Tensor& mask, double value) {
  check_inplace(*this, "masked_fill_");
  raw::check_same_device("masked_fill_", *this, mask);
  Shape s = broadcast_shapes(shape(), mask.shape(), "masked_fill_");
  EMBER_CHECK(s == shape(), "masked_fill_: mask ", fmt(mask.shape()), " does not broadcast to ", fmt(shape()));
  Tensor v = full({}, value, TensorOptions(dtype(), device()));
  if (numel())
    backend_for(device()).where(kview(*this), kview(raw::expand(mask, s)), kview(raw::expand(v, s)),
                                kview(*this));
  raw::bump_version(*this);
  return *this;
}

}  // namespace ember
