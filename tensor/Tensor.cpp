// tensor/Tensor.cpp: storage, tensor metadata, factories, raw (history-free)
// computations, and the PyTorch-like printout. No autograd here.
#include "tensor/Tensor.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <numeric>
#include <ostream>

#include "tensor/Backend.h"
#include "tensor/Dispatch.h"
#include "tensor/Random.h"
#include "tensor/Raw.h"

namespace ember {

// ---------------------------------------------------------------------------
// Device and dtype names
Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
      std::all_of(text.begin() + 5, text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() < 10)
    return cuda(std::stoi(text.substr(5)));
  EMBER_FAIL("device: cannot parse '", text, "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Backend registry
Backend& cpu_backend();  // tensor/cpu/CpuBackend.cpp

Backend& backend_for(Device d) {
  if (d.is_cpu()) return cpu_backend();
#ifdef EMBER_WITH_CUDA
  return cuda::backend(d.index);
#else
  EMBER_FAIL("device ", d.str(), ": Ember was built without CUDA (configure with -DEMBER_CUDA=ON)");
#endif
}

#ifndef EMBER_WITH_CUDA
int cuda::device_count() { return 0; }
#endif

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

// ---------------------------------------------------------------------------
// Factories
Tensor empty(Shape shape, TensorOptions opt) {
  for (int64_t v : shape)
    EMBER_CHECK(v >= 0, "empty: negative size in shape ", fmt(shape));
  auto impl = std::make_shared<TensorImpl>();
  size_t nbytes = static_cast<size_t>(numel_of(shape)) * dtype_size(opt.dtype);
  impl->storage = std::make_shared<Storage>(nbytes, opt.device);
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  impl->dtype = opt.dtype;
  Tensor t(impl);
  if (opt.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor full(Shape shape, double value, TensorOptions opt) {
  bool rg = opt.requires_grad;
  opt.requires_grad = false;
  Tensor t = empty(std::move(shape), opt);
  t.fill_(value);
  if (rg) t.requires_grad_(true);
  return t;
}
Tensor zeros(Shape shape, TensorOptions opt) { return full(std::move(shape), 0.0, opt); }
Tensor ones(Shape shape, TensorOptions opt) { return full(std::move(shape), 1.0, opt); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, TensorOptions(t.dtype(), t.device())); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor scalar_tensor(double value, TensorOptions opt) { return full({}, value, opt); }

Tensor arange(double end, TensorOptions opt) { return arange(0, end, 1, opt); }
Tensor arange(double start, double end, double step, TensorOptions opt) {
  EMBER_CHECK(step != 0, "arange: step must be non-zero");
  double n = std::ceil((end - start) / step);
  int64_t count = n > 0 ? static_cast<int64_t>(n) : 0;
  Tensor h = empty({count}, opt.dtype);
  dispatch_all(opt.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = h.data<T>();
    for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(start + step * static_cast<double>(i));
  });
  Tensor out = h.to(opt.device);
  if (opt.requires_grad) out.requires_grad_(true);
  return out;
}

template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape) {
  EMBER_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), "from_vector: ",
              values.size(), " values cannot fill shape ", fmt(shape));
  Tensor t = empty(std::move(shape), dtype_of<T>::value);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, Shape);
template Tensor from_vector<double>(const std::vector<double>&, Shape);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, Shape);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, Shape);

Tensor from_blob(void* data, Shape shape, DType dtype, std::function<void(void*)> deleter) {
  auto impl = std::make_shared<TensorImpl>();
  size_t nbytes = static_cast<size_t>(numel_of(shape)) * dtype_size(dtype);
  impl->storage = std::make_shared<Storage>(data, nbytes, Device::cpu(), std::move(deleter));
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}

// ---------------------------------------------------------------------------
// Random
Generator& default_generator() {
  static Generator g;
  return g;
}
void manual_seed(uint64_t seed) {
  default_generator().seed = seed;
  default_generator().offset = 0;
}
RngState rng_state() { return {default_generator().seed, default_generator().offset}; }
void set_rng_state(RngState s) {
  default_generator().seed = s.seed;
  default_generator().offset = s.offset;
}

namespace {
Tensor random_tensor(Shape shape, TensorOptions opt, RandomDist dist, double a, double b) {
  bool rg = opt.requires_grad;
  opt.requires_grad = false;
  Tensor t = empty(std::move(shape), opt);
  uint64_t first = default_generator().take(static_cast<uint64_t>(t.numel()));
  if (t.numel()) backend_for(t.device()).random(kview(t), dist, default_generator().seed, first, a, b);
  if (rg) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor rand(Shape shape, TensorOptions opt) {
  EMBER_CHECK(is_floating(opt.dtype), "rand: needs a float dtype, got ", dtype_name(opt.dtype));
  return random_tensor(std::move(shape), opt, RandomDist::Uniform, 0, 1);
}
Tensor uniform(Shape shape, double lo, double hi, TensorOptions opt) {
  EMBER_CHECK(is_floating(opt.dtype), "uniform: needs a float dtype, got ", dtype_name(opt.dtype));
  EMBER_CHECK(lo <= hi, "uniform: low ", lo, " > high ", hi);
  return random_tensor(std::move(shape), opt, RandomDist::Uniform, lo, hi);
}
Tensor randn(Shape shape, TensorOptions opt) {
  EMBER_CHECK(is_floating(opt.dtype), "randn: needs a float dtype, got ", dtype_name(opt.dtype));
  return random_tensor(std::move(shape), opt, RandomDist::Normal, 0, 1);
}

Tensor randint(int64_t low, int64_t high, Shape shape, TensorOptions opt) {
  EMBER_CHECK(low < high, "randint: low ", low, " must be < high ", high);
  Tensor bits = random_tensor(std::move(shape), TensorOptions(DType::i64, Device::cpu()),
                              RandomDist::Bits64, 0, 0);
  auto range = static_cast<uint64_t>(high - low);
  int64_t* p = bits.data<int64_t>();
  for (int64_t i = 0; i < bits.numel(); ++i)
    p[i] = low + static_cast<int64_t>(static_cast<uint64_t>(p[i]) % range);
  return bits.to(opt.dtype).to(opt.device);
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t offset) {
  EMBER_CHECK(n >= 0, "permutation: n must be >= 0, got ", n);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    uint64_t r = philox::bits64(offset + static_cast<uint64_t>(i), seed);
    auto j = static_cast<int64_t>(r % static_cast<uint64_t>(i + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

Tensor randperm(int64_t n, TensorOptions opt) {
  EMBER_CHECK(n >= 0, "randperm: n must be >= 0, got ", n);
  uint64_t first = default_generator().take(static_cast<uint64_t>(n));
  return from_vector(permutation(n, default_generator().seed, first)).to(opt.dtype).to(opt.device);
}

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

// ---------------------------------------------------------------------------
// Printing, in PyTorch's style:
//   tensor([[ 0.1000, -1.2000],
//           [ 3.0000,  4.0000]], requires_grad=True)
namespace {

struct Printer {
  std::vector<double> v;
  bool is_float = true;
  bool use_sci = false;
  bool integral = false;  // floats that are all whole numbers print as "1."
  int width = 1;
  int precision = 4;

  std::string one(double x) const {
    char buf[64];
    if (!is_float) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
    else if (std::isnan(x)) std::snprintf(buf, sizeof buf, "nan");
    else if (std::isinf(x)) std::snprintf(buf, sizeof buf, x > 0 ? "inf" : "-inf");
    else if (use_sci) std::snprintf(buf, sizeof buf, "%.*e", precision, x);
    else if (integral) std::snprintf(buf, sizeof buf, "%.0f.", x);
    else std::snprintf(buf, sizeof buf, "%.*f", precision, x);
    return buf;
  }
};

void print_rec(std::ostream& os, const Printer& p, const Shape& shape, size_t d, int64_t base,
               int indent) {
  const int64_t edge = 3;
  int64_t n = shape[d];
  int64_t inner = 1;
  for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  bool summarize = p.v.size() > 1000 && n > 2 * edge;
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && i == edge) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - edge;
    }
    if (d + 1 == shape.size()) {
      std::string s = p.one(p.v[static_cast<size_t>(base + i)]);
      os << std::string(static_cast<size_t>(std::max<int>(0, p.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      print_rec(os, p, shape, d + 1, base + i * inner, indent + 1);
    }
    if (i + 1 < n) {
      if (d + 1 == shape.size()) os << ", ";
      else os << "," << std::string(shape.size() - d - 1, '\n') << std::string(indent + 1, ' ');
    }
  }
  os << "]";
}

}  // namespace

namespace detail {
std::string (*node_name)(const Node&) = nullptr;
}  // namespace detail

namespace {
// "cross_entropy" -> "CrossEntropyBackward", as PyTorch names its grad_fn classes.
std::string backward_name(const std::string& op) {
  std::string out;
  bool up = true;
  for (char c : op) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out + "Backward";
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  Printer p;
  p.is_float = is_floating(dtype());
  p.v = to_vector<double>();
  double maxabs = 0, minabs = 0;
  bool first = true;
  for (double x : p.v)
    if (std::isfinite(x) && x != 0) {
      maxabs = first ? std::fabs(x) : std::max(maxabs, std::fabs(x));
      minabs = first ? std::fabs(x) : std::min(minabs, std::fabs(x));
      first = false;
    }
  if (p.is_float && !first) p.use_sci = maxabs >= 1e8 || minabs < 1e-4;
  p.integral = p.is_float && std::all_of(p.v.begin(), p.v.end(), [](double x) {
    return !std::isfinite(x) || (x == std::floor(x) && std::fabs(x) < 1e8);
  });
  if (p.integral) p.use_sci = false;
  for (double x : p.v) p.width = std::max<int>(p.width, static_cast<int>(p.one(x).size()));
  os << "tensor(";
  if (dim() == 0) os << p.one(p.v.empty() ? 0 : p.v[0]);
  else print_rec(os, p, shape(), 0, 0, 7);
  if (numel() == 0) os << ", size=" << fmt(shape());
  if (device().is_cuda()) os << ", device='" << device().str() << "'";
  if (!p.is_float || dtype() != DType::f32) {
    if (dtype() != DType::i64) os << ", dtype=" << dtype_name(dtype());
  }
  if (grad_fn()) os << ", grad_fn=<" << backward_name(detail::node_name ? detail::node_name(*grad_fn()) : "") << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ember
