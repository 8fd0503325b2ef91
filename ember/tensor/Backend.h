// tensor/Backend.h: the kernel table a device implements.
//
// This is the whole list of what a device must do. Ops in autograd/ops/ check
// shapes and dtypes, broadcast by making stride-0 views, and then call one of
// these entries on backend_for(device). CPU lives in tensor/cpu/, CUDA in cuda/.
// Every entry receives KViews: plain structs of pointer, dtype, shape and strides that
// can be passed by value to a CUDA kernel (one calling convention; the ops never hand a
// backend a raw pointer). A backend turns them into its typed kernel with on_float (below).
#pragma once

#include <cstdint>
#include <string>

#include <initializer_list>
#include <vector>

#include "ember/tensor/Device.h"
#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Functors.h"
#include "ember/tensor/NormMath.h"
#include "ember/tensor/OptimMath.h"

namespace ember {

class Tensor;
class Allocator;

constexpr int kMaxDims = 8;

struct KView {
  char* data = nullptr;  // points at element 0 (offset already applied)
  DType dtype = DType::f32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
};
KView kview(const Tensor& t);  // throws for more than kMaxDims dims
KView kview_or_absent(const Tensor& t);  // an undefined tensor gives an absent view (data == nullptr)
KView kview(const Tensor& t, const std::vector<int64_t>& as);  // contiguous t seen with another shape of its size

// The typed adapter: a backend entry hands its views to its kernel for T = float or double,
//   on_float("batch_norm", [&](auto* x, auto* mean, auto* var) { kernel(n, c, s, x, mean, var); },
//            x, mean, var);
// after checking that the views present share one float dtype. An absent view (data == nullptr)
// becomes a null pointer. The lambda gets T* for every view (const T* parameters accept them).
template <class T>
T* typed(const KView& v) {
  return reinterpret_cast<T*>(v.data);
}

template <class F, class... V>
void on_float(const char* op, F&& f, const KView& first, const V&... rest) {
  for (const KView* v : std::initializer_list<const KView*>{&rest...})
    EMBER_CHECK(v->data == nullptr || v->dtype == first.dtype, op, ": dtype mismatch between ",
                dtype_name(first.dtype), " and ", dtype_name(v->dtype));
  dispatch_float(first.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    f(typed<T>(first), typed<T>(rest)...);
  });
}

// The finishing step of Backend::channel_stats (tensor/NormMath.h): [c] views, each may be absent
// (data == nullptr). weight and bias are read; running_mean and running_var are updated in place;
// invstd, scale and shift are written. count: the values per channel (for the unbiased variance).
struct ChannelStatsFinish {
  KView weight, bias, running_mean, running_var, invstd, scale, shift;
  double eps = 1e-5, momentum = 0.1;
  int64_t count = 1;
  template <class T>
  BatchNormFinish<T> typed_for() const {
    BatchNormFinish<T> f;
    f.weight = typed<T>(weight), f.bias = typed<T>(bias);
    f.running_mean = typed<T>(running_mean), f.running_var = typed<T>(running_var);
    f.invstd = typed<T>(invstd), f.scale = typed<T>(scale), f.shift = typed<T>(shift);
    f.eps = static_cast<T>(eps), f.keep = static_cast<T>(1 - momentum), f.momentum = static_cast<T>(momentum);
    f.unbias = static_cast<T>(count > 1 ? static_cast<double>(count) / static_cast<double>(count - 1) : 1.0);
    return f;
  }
};

enum class ReduceOp : uint8_t { Sum, Max, Min };
enum class RandomDist : uint8_t { Uniform, Normal, Bits64 };

// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b < batch, row-major, op = transpose
// if ta/tb; A[b] starts stride_a elements after A[b - 1] (0: one A for every b); C[b] is [m, n].
struct GemmGeom {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;                 // leading dims
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // batch strides, in elements
  int64_t batch = 1;
  double alpha = 1, beta = 0;
};

// 2-D convolution, NCHW: x [n, c, h, w] * weight [k, c / groups, kh, kw] -> y [n, k, oh, ow],
// oh = (h + 2 ph - dh (kh - 1) - 1) / sh + 1 (and the same for ow).
struct ConvGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, kh = 0, kw = 0;       // output channels, kernel size
  int64_t oh = 0, ow = 0;              // output size
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
};

// 2-D pooling, NCHW: x [n, c, h, w] -> y [n, c, oh, ow]. Window of output row i:
//   fixed:    rows [i*sh - ph, i*sh - ph + kh), clipped to the input (padding never wins a max);
//             avg divides by the window clipped to the padded input when count_include_pad,
//             else by the window clipped to the input.
//   adaptive: rows [floor(i*h/oh), ceil((i+1)*h/oh)), as PyTorch's adaptive pools.
struct PoolGeom {
  int64_t n = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  bool adaptive = false;
  bool count_include_pad = true;
};

// check_range's message with its "{}" replaced by the bad value.
inline std::string format_check_message(const std::string& message, int64_t value) {
  const size_t at = message.find("{}");
  if (at == std::string::npos) return message + " (value " + std::to_string(value) + ")";
  return message.substr(0, at) + std::to_string(value) + message.substr(at + 2);
}

// Memory and copies are what makes a device; every other entry has a default that throws
// "<op>: not implemented for <device>", so a backend can be built up one family at a time and
// a missing kernel is a clear error, never a crash.
class Backend {
 public:
  explicit Backend(Device device) : device_(device) {}
  virtual ~Backend() = default;
  Device device() const { return device_; }
  virtual Allocator& allocator() = 0;

  // Raw bytes between this device and the host (both contiguous).
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;

  // dst and src have the same shape and sit on this device; dtypes may differ (a cast).
  virtual void copy(const KView& dst, const KView& src) = 0;
  virtual void fill(const KView& dst, double value) = 0;
  // All views have dst's shape (inputs broadcast with stride 0).
  virtual void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) { not_implemented("unary"); }
  virtual void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0,
                      double p1) { not_implemented("binary"); }
  virtual void where(const KView& dst, const KView& cond, const KView& a, const KView& b) { not_implemented("where"); }

  // dst has src's ndim with size 1 on the reduced dims. Sum results are multiplied by `scale`.
  virtual void reduce(ReduceOp op, const KView& dst, const KView& src, double scale) { not_implemented("reduce"); }
  // dst (i64) has src's ndim with size 1 at `dim`: the index of the max (or min) along dim.
  virtual void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) { not_implemented("arg_reduce"); }

  // a, b, c: the operands' first elements (GemmGeom has their layout).
  virtual void gemm(const GemmGeom& g, const KView& a, const KView& b, const KView& c) { not_implemented("gemm"); }

  // Row-wise over contiguous x [rows, cols]: y = softmax(x) or log_softmax(x).
  virtual void softmax(bool log, const KView& y, const KView& x) { not_implemented("softmax"); }
  // gx from y and gy (all [rows, cols]): softmax: y*(gy - sum(gy*y)); log_softmax: gy - exp(y)*sum(gy).
  virtual void softmax_backward(bool log, const KView& gx, const KView& gy, const KView& y) {
    not_implemented("softmax_backward");
  }

  // dst[.., i, ..] = src[.., index[.., i, ..], ..] along dim; index (i64) has dst's shape.
  virtual void gather(const KView& dst, const KView& src, const KView& index, int dim) { not_implemented("gather"); }
  // dst[.., index[.., i, ..], ..] += src[.., i, ..]; index has src's shape. Accumulates.
  virtual void scatter_add(const KView& dst, const KView& src, const KView& index, int dim) { not_implemented("scatter_add"); }
  // Checks lo <= v < hi for every element v of `values` (i64); a bad one throws ember::Error
  // with `message`, its "{}" replaced by the value. The CPU checks now. A GPU checks on the device
  // without waiting and throws at this host thread's next synchronisation with it (a copy to the
  // host such as .item(), or cuda::synchronize); so do its gather and scatter_add.
  virtual void check_range(const KView& values, int64_t lo, int64_t hi, const std::string& message) {
    not_implemented("check_range");
  }

  // --- conv nets (autograd/ops/conv.cpp, pool.cpp, norm.cpp) --------------------------
  // All tensors contiguous, NCHW; weight [k, c / groups, kh, kw]. y and gx/gw are overwritten.
  virtual void conv2d(const ConvGeom& g, const KView& x, const KView& w, const KView& y) { not_implemented("conv2d"); }
  virtual void conv2d_backward_input(const ConvGeom& g, const KView& gy, const KView& w, const KView& gx) {
    not_implemented("conv2d_backward_input");
  }
  virtual void conv2d_backward_weight(const ConvGeom& g, const KView& gy, const KView& x, const KView& gw) {
    not_implemented("conv2d_backward_weight");
  }
  // Max or average pooling over the windows of PoolGeom; max also writes the flat h*w index
  // of each maximum into argmax (i64, y's shape; absent for average), which its backward reads.
  // gx is overwritten.
  virtual void pool2d(bool is_max, const PoolGeom& g, const KView& x, const KView& y, const KView& argmax) {
    not_implemented("pool2d");
  }
  virtual void pool2d_backward(bool is_max, const PoolGeom& g, const KView& gy, const KView& argmax, const KView& gx) {
    not_implemented("pool2d_backward");
  }
  // Per-channel kernels over contiguous x [n, c, s] (batch norm; s = h * w); per-channel views are [c]:
  //   channel_stats:  mean[c], biased var[c] over n and s; then, when `finish` has them, the rest of
  //                   a training step's statistics (invstd, scale, shift, running stats: the math
  //                   of tensor/NormMath.h) in the same launch
  //   channel_affine: y = x * scale[c] + shift[c]
  //   channel_grad_sums: sum_gy[c] = sum gy, sum_gy_xmu[c] = sum gy * (x - mean[c])
  //   batch_norm_backward_input: gx = (gy - a[c] - (x - mean[c]) * b[c]) * k[c]
  virtual void channel_stats(const KView& x, const KView& mean, const KView& var, const ChannelStatsFinish& finish) {
    not_implemented("channel_stats");
  }
  virtual void channel_affine(const KView& x, const KView& scale, const KView& shift, const KView& y) {
    not_implemented("channel_affine");
  }
  virtual void channel_grad_sums(const KView& gy, const KView& x, const KView& mean, const KView& sum_gy,
                                 const KView& sum_gy_xmu) {
    not_implemented("channel_grad_sums");
  }
  virtual void batch_norm_backward_input(const KView& gy, const KView& x, const KView& mean, const KView& a,
                                         const KView& b, const KView& k, const KView& gx) {
    not_implemented("batch_norm_backward_input");
  }

  // --- fused optimizer steps (tensor/OptimMath.h), over contiguous views of p's size -------
  virtual void adam_step(const KView& p, const KView& g, const KView& m, const KView& v, const AdamStep& a) {
    not_implemented("adam_step");
  }
  // buf is absent when momentum is 0.
  virtual void sgd_step(const KView& p, const KView& g, const KView& buf, const SgdStep& a) { not_implemented("sgd_step"); }

  // Contiguous dst filled from Philox(seed) at counters offset, offset+1, ...
  // Uniform: U[a, b); Normal: N(a, b^2); Bits64: raw 64-bit integers (into i64).
  virtual void random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
                      double b) { not_implemented("random"); }

  // --- layer norm (autograd/ops/norm.cpp) over the rows of contiguous x [rows, cols] --------
  //   layer_norm: mean[r] and rstd[r] = 1 / sqrt(biased var + eps) of row r, and
  //               y = (x - mean) * rstd * w + b; w and b [cols] may be absent (data == nullptr).
  //   layer_norm_backward_input: with g = gy * w and xhat = (x - mean) * rstd, per row
  //               gx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
  virtual void layer_norm(const KView& y, const KView& mean, const KView& rstd, const KView& x, const KView& w,
                          const KView& b, double eps) { not_implemented("layer_norm"); }
  virtual void layer_norm_backward_input(const KView& gx, const KView& gy, const KView& x, const KView& mean,
                                         const KView& rstd, const KView& w) {
    not_implemented("layer_norm_backward_input");
  }

 private:
  [[noreturn]] void not_implemented(const char* op) const;
  Device device_;
};

Backend& backend_for(Device d);  // throws when the device's backend is not built in

namespace cuda {
// cuda/CudaBackend.cu, compiled in when EMBER_CUDA is on. Throws a clear error when
// no device or driver is present.
Backend& backend(int index);
// cuda::device_count() is declared in tensor/Tensor.h.
}  // namespace cuda

}  // namespace ember
