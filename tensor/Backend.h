// tensor/Backend.h: the kernel table a device implements.
//
// This is the whole list of what a device must do. Ops in autograd/ops/ check
// shapes and dtypes, broadcast by making stride-0 views, and then call one of
// these entries on backend_for(device). CPU lives in tensor/cpu/, CUDA in cuda/.
// Kernels receive KViews: plain structs of pointer, dtype, shape and strides that
// can be passed by value to a CUDA kernel.
#pragma once

#include <cstdint>

#include "tensor/Device.h"
#include "tensor/Functors.h"

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

enum class ReduceOp : uint8_t { Sum, Max, Min };
enum class RandomDist : uint8_t { Uniform, Normal, Bits64 };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Allocator& allocator() = 0;

  // Raw bytes between this device and the host (both contiguous).
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;

  // dst and src have the same shape and sit on this device; dtypes may differ (a cast).
  virtual void copy(const KView& dst, const KView& src) = 0;
  virtual void fill(const KView& dst, double value) = 0;
  // All views have dst's shape (inputs broadcast with stride 0).
  virtual void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) = 0;
  virtual void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0,
                      double p1) = 0;
  virtual void where(const KView& dst, const KView& cond, const KView& a, const KView& b) = 0;

  // dst has src's ndim with size 1 on the reduced dims. Sum results are multiplied by `scale`.
  virtual void reduce(ReduceOp op, const KView& dst, const KView& src, double scale) = 0;
  // dst (i64) has src's ndim with size 1 at `dim`: the index of the max (or min) along dim.
  virtual void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) = 0;

  // C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], row-major, op = transpose if ta/tb.
  // A[b] starts at a + b*stride_a (in elements); C is [m, n] with leading dim ldc.
  virtual void gemm(DType t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                    const void* a, int64_t lda, int64_t stride_a, const void* b, int64_t ldb,
                    int64_t stride_b, double beta, void* c, int64_t ldc, int64_t stride_c,
                    int64_t batch) = 0;

  // Row-wise over contiguous [rows, cols]: y = softmax(x) or log_softmax(x).
  virtual void softmax(DType t, bool log, void* y, const void* x, int64_t rows, int64_t cols) = 0;
  // gx from y and gy: softmax: y*(gy - sum(gy*y)); log_softmax: gy - exp(y)*sum(gy).
  virtual void softmax_backward(DType t, bool log, void* gx, const void* gy, const void* y,
                                int64_t rows, int64_t cols) = 0;

  // dst[.., i, ..] = src[.., index[.., i, ..], ..] along dim; index (i64) has dst's shape.
  virtual void gather(const KView& dst, const KView& src, const KView& index, int dim) = 0;
  // dst[.., index[.., i, ..], ..] += src[.., i, ..]; index has src's shape. Accumulates.
  virtual void scatter_add(const KView& dst, const KView& src, const KView& index, int dim) = 0;

  // Contiguous dst filled from Philox(seed) at counters offset, offset+1, ...
  // Uniform: U[a, b); Normal: N(a, b^2); Bits64: raw 64-bit integers (into i64).
  virtual void random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
                      double b) = 0;
};

Backend& backend_for(Device d);  // throws when the device's backend is not built in

namespace cuda {
// cuda/CudaBackend.cu, compiled in when EMBER_CUDA is on. Throws a clear error when
// no device or driver is present.
Backend& backend(int index);
// cuda::device_count() is declared in tensor/Tensor.h.
}  // namespace cuda

}  // namespace ember
