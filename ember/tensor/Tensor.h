// tensor/Tensor.h: the Tensor handle, its storage, the factories and the random generator.
//
// A Tensor is a cheap handle (a shared_ptr) to a TensorImpl: shape, strides (in
// elements), an offset, and a dtype over a refcounted Storage. Views (reshape,
// permute, narrow, expand, ...) make a new TensorImpl over the same Storage.
//
// Where things are defined:
//   tensor/*.cpp           metadata, storage, factories, printing, conversions (no autograd)
//   autograd/ops/*.cpp     the methods below that compute or view (sum, reshape, ...), each
//                          with its backward beside it (see docs/architecture.md); the free
//                          functions (add, matmul, conv2d, cross_entropy, ...) are declared
//                          beside them in autograd/ops/*.h, all included by autograd/Ops.h
// Exercises touching this file: 1 (strides and views), 2 (broadcasting).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/tensor/Device.h"
#include "ember/tensor/Error.h"

namespace ember {

using Shape = std::vector<int64_t>;
using Dims = std::vector<int64_t>;  // a list of dimensions; negative counts from the end
class Tensor;
using TensorList = std::vector<Tensor>;
struct Node;  // autograd/Node.h
namespace detail {
// The op name of an autograd Node ("log"), for printing grad_fn; set by autograd/Engine.cpp
// (tensor/ cannot see autograd's Node). Null when autograd is not linked.
extern std::string (*node_name)(const Node&);
}  // namespace detail

// ---------------------------------------------------------------------------
// Storage: bytes on one device, freed through the allocator that made them.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
};

struct Storage {
  Storage(size_t nbytes, Device device);                                   // allocates
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);  // adopts
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  // Bumped by every in-place write; autograd compares it to catch stale saved tensors.
  uint64_t version = 0;

 private:
  Allocator* allocator_ = nullptr;
  std::function<void(void*)> deleter_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;           // set on results of recorded ops
  std::shared_ptr<Node> grad_accumulator;  // set on leaves that require grad
};

// ---------------------------------------------------------------------------
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- metadata -------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  bool is_contiguous() const;
  // Element pointer at the tensor's offset. T must match dtype().
  template <class T> T* data() const;
  void* raw_data() const;  // byte pointer at the offset
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both tensors view the same bytes of the same storage.
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  std::string str() const;  // the PyTorch-like printout

  // --- autograd ---------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);  // only on leaves; returns *this
  Tensor grad() const;                      // undefined until backward reaches it
  void set_grad(const Tensor& g);
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // Reverse-mode from this tensor. A scalar gets grad 1; others need `grad`.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same storage, no history

  // --- conversion -------------------------------------------------------------
  Tensor to(Device d) const;
  Tensor to(DType t) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor contiguous() const;
  Tensor clone() const;
  double item() const;  // one-element tensor -> double
  template <class T> T item() const { return static_cast<T>(item()); }
  template <class T> std::vector<T> to_vector() const;  // contiguous copy on cpu

  // --- views (share storage, differentiable) ---------------------------------
  Tensor reshape(Shape shape) const;  // one -1 allowed; copies only when strides forbid a view
  Tensor view(Shape shape) const;     // like reshape but never copies
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor permute(Dims order) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops dim
  Tensor expand(Shape shape) const;                 // -1 keeps a size
  Tensor expand_as(const Tensor& o) const { return expand(o.shape()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;

  // --- math (differentiable) ----------------------------------------------------
  Tensor sum(Dims dims = {}, bool keepdim = false) const;  // {} = all dims
  Tensor mean(Dims dims = {}, bool keepdim = false) const;
  Tensor max(Dims dims = {}, bool keepdim = false) const;
  Tensor min(Dims dims = {}, bool keepdim = false) const;
  Tensor logsumexp(Dims dims, bool keepdim = false) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor argmin(int64_t dim, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor neg() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor relu() const;
  Tensor pow(double exponent) const;
  Tensor clamp(double lo, double hi) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor matmul(const Tensor& o) const;

  // --- in-place (not differentiable; they bump the storage version) ------------
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // broadcasts src, casts dtype, crosses devices
  Tensor& add_(const Tensor& o, double alpha = 1.0);
  Tensor& mul_(double s);
  Tensor& masked_fill_(const Tensor& mask, double value);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---------------------------------------------------------------------------
// CUDA availability: 0 devices when built without CUDA or without a driver/GPU.
namespace cuda {
int device_count();
inline bool is_available() { return device_count() > 0; }
}  // namespace cuda

// ---------------------------------------------------------------------------
// Grad mode: when off, ops record no history (inference, optimizer steps).
bool grad_enabled();
void set_grad_enabled(bool on);
struct NoGradGuard {
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// ---------------------------------------------------------------------------
// Factories. `dtype` and `device` default to f32 on cpu.
struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
  bool requires_grad = false;
  TensorOptions() = default;
  TensorOptions(DType t) : dtype(t) {}   // NOLINT: zeros({2}, DType::i64) reads well
  TensorOptions(Device d) : device(d) {}  // NOLINT
  TensorOptions(DType t, Device d) : dtype(t), device(d) {}
};

Tensor empty(Shape shape, TensorOptions opt = {});
Tensor zeros(Shape shape, TensorOptions opt = {});
Tensor ones(Shape shape, TensorOptions opt = {});
Tensor full(Shape shape, double value, TensorOptions opt = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
Tensor scalar_tensor(double value, TensorOptions opt = {});  // 0-d
Tensor arange(double end, TensorOptions opt = {});
Tensor arange(double start, double end, double step = 1, TensorOptions opt = {});
// Copies `values` into a new cpu tensor; T picks the dtype (float -> f32, int64_t -> i64, ...).
template <class T> Tensor from_vector(const std::vector<T>& values, Shape shape);
template <class T> Tensor from_vector(const std::vector<T>& values) {
  return from_vector(values, Shape{static_cast<int64_t>(values.size())});
}
// Wraps memory the caller owns (cpu); `deleter` runs when the last view dies.
Tensor from_blob(void* data, Shape shape, DType dtype, std::function<void(void*)> deleter = nullptr);

// Random numbers from a counter-based Philox generator (tensor/Random.h):
// one seed gives the same numbers on every device.
void manual_seed(uint64_t seed);
// The global generator's position, for checkpoints: restoring it makes the following random
// numbers (dropout masks, rand, randperm) exactly those a run without the save would draw.
struct RngState {
  uint64_t seed = 0;
  uint64_t offset = 0;  // counters used so far
};
RngState rng_state();
void set_rng_state(RngState s);
Tensor rand(Shape shape, TensorOptions opt = {});   // U[0, 1)
Tensor randn(Shape shape, TensorOptions opt = {});  // N(0, 1)
Tensor uniform(Shape shape, double lo, double hi, TensorOptions opt = {});
Tensor randint(int64_t low, int64_t high, Shape shape, TensorOptions opt = DType::i64);
Tensor randperm(int64_t n, TensorOptions opt = DType::i64);
// The shuffle behind randperm, the splitters and the loaders: Fisher-Yates where step i
// (from n-1 down to 1) swaps i with philox::bits64(offset + i, seed) % (i + 1). A pure
// function of (n, seed, offset): it never touches the global generator.
// randperm(n) == permutation(n, seed, offset) at the generator's seed and offset.
std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t offset = 0);

// ---------------------------------------------------------------------------
// The shape two shapes broadcast to; throws "<op>: cannot broadcast [3, 4] with [5]".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op = "broadcast");

// ---------------------------------------------------------------------------
// Helpers for code that loops over dims.
inline int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;
  EMBER_CHECK(d >= -n && d < n, op, ": dim ", d, " out of range for a ", ndim, "-d tensor");
  return d < 0 ? d + n : d;
}
int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& s);

}  // namespace ember
