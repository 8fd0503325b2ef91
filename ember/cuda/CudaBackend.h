// cuda/CudaBackend.h: the CUDA backend of one device, the kernel table of tensor/Backend.h on a
// GPU (internal to cuda/). Its entries are defined by family, each file named as its twin in
// tensor/cpu/: CudaBackend.cu (devices, handles, host copies, GEMM through cuBLAS),
// Elementwise.cu, Reduce.cu, Index.cu, Conv.cu (cuDNN), Pool.cu, Norm.cu, Optim.cu, and the
// caching allocator in Allocator.h.
//
// Every entry starts with `const DeviceGuard guard(index_)`: its device is current for the call
// and the caller's is restored after. Kernels run on that device's legacy default stream, in
// the order they are issued, and cudaMemcpy to the host waits for them. Nothing else waits:
// index and range checks are read at the next copy to the host (DeviceCheck below).
#pragma once

#include <cublas_v2.h>

#include <mutex>
#include <string>

#include "ember/cuda/Allocator.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Backend.h"

namespace ember {
namespace cuda {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : Backend(Device::cuda(index)), index_(index), alloc_(index) {}

  Allocator& allocator() override { return alloc_; }
  CachingAllocator& caching_allocator() { return alloc_; }
  int index() const { return index_; }

  // CudaBackend.cu
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void gemm(const GemmGeom& g, const KView& a, const KView& b, const KView& c) override;
  // Elementwise.cu
  void copy(const KView& dst, const KView& src) override;
  void fill(const KView& dst, double value) override;
  void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) override;
  void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0,
              double p1) override;
  void where(const KView& dst, const KView& cond, const KView& a, const KView& b) override;
  void random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override;
  // Reduce.cu
  void reduce(ReduceOp op, const KView& dst, const KView& src, double scale) override;
  void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) override;
  void softmax(bool log, const KView& y, const KView& x) override;
  void softmax_backward(bool log, const KView& gx, const KView& gy, const KView& y) override;
  // Index.cu
  void gather(const KView& dst, const KView& src, const KView& index, int dim) override;
  void scatter_add(const KView& dst, const KView& src, const KView& index, int dim) override;
  void check_range(const KView& values, int64_t lo, int64_t hi, const std::string& message) override;
  // Conv.cu (cuDNN)
  void conv2d(const ConvGeom& g, const KView& x, const KView& w, const KView& y) override;
  void conv2d_backward_input(const ConvGeom& g, const KView& gy, const KView& w, const KView& gx) override;
  void conv2d_backward_weight(const ConvGeom& g, const KView& gy, const KView& x, const KView& gw) override;
  // Pool.cu
  void pool2d(bool is_max, const PoolGeom& g, const KView& x, const KView& y, const KView& argmax) override;
  void pool2d_backward(bool is_max, const PoolGeom& g, const KView& gy, const KView& argmax, const KView& gx) override;
  // Norm.cu
  void channel_stats(const KView& x, const KView& mean, const KView& var, const ChannelStatsFinish& finish) override;
  void channel_affine(const KView& x, const KView& scale, const KView& shift, const KView& y) override;
  void channel_grad_sums(const KView& gy, const KView& x, const KView& mean, const KView& sum_gy,
                         const KView& sum_gy_xmu) override;
  void batch_norm_backward_input(const KView& gy, const KView& x, const KView& mean, const KView& a, const KView& b,
                                 const KView& k, const KView& gx) override;
  void layer_norm(const KView& y, const KView& mean, const KView& rstd, const KView& x, const KView& w,
                  const KView& b, double eps) override;
  void layer_norm_backward_input(const KView& gx, const KView& gy, const KView& x, const KView& mean,
                                 const KView& rstd, const KView& w) override;
  // Optim.cu
  void adam_step(const KView& p, const KView& g, const KView& m, const KView& v, const AdamStep& a) override;
  void sgd_step(const KView& p, const KView& g, const KView& buf, const SgdStep& a) override;

 private:
  cublasHandle_t blas();
  // One cuDNN handle per device, made on first use (the device is current). Like every
  // other op it runs on the legacy default stream, so cuDNN's kernels, Ember's kernels and
  // the allocator's block reuse stay in issue order.
  cudnnHandle_t dnn();

 public:
  // Lazy device checks (bad indices of gather/scatter_add, check_range). A check registers its
  // message and gets an id and this host thread's slot of the device's check buffer; a kernel
  // that finds a bad value writes (id, value) into the slot, first one wins. Nothing waits:
  // raise_failed_checks, called where the host synchronises anyway (copy_to_host,
  // cuda::synchronize), reads the slot once when this thread has checks outstanding and throws
  // the failed check's message. Each host thread has its own slot, so a thread is never blamed
  // for another thread's bad index.
  struct DeviceCheck {
    unsigned long long* slot;  // [id of the failed check, its value]
    unsigned long long id;
  };
  DeviceCheck begin_check(std::string message);
  void raise_failed_checks();

 private:
  int index_;
  CachingAllocator alloc_;
  std::mutex mu_;
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  unsigned long long* checks_ = nullptr;  // kCheckSlots slots of two words, zeroed
};

}  // namespace cuda
}  // namespace ember
