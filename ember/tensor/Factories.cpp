// tensor/Factories.cpp: tensors made from nothing (empty, zeros, arange, from_vector, ...)
// and from the global Philox generator (rand, randn, randint, randperm).
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Random.h"
#include "ember/tensor/Raw.h"
#include "ember/tensor/Tensor.h"

namespace ember {

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
  Tensor out = raw::to(h, h.dtype(), opt.device);
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
  return raw::to(bits, opt.dtype, opt.device);
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
  return raw::to(from_vector(permutation(n, default_generator().seed, first)), opt.dtype, opt.device);
}

}  // namespace ember
