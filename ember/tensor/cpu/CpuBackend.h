// tensor/cpu/CpuBackend.h: the CPU backend, the kernel table of tensor/Backend.h for the host.
//
// Its entries are defined by family, each file named as its twin in cuda/:
//   Allocator.cpp    64-byte aligned blocks; large ones cached
//   Elementwise.cpp  copy/cast, fill, tensor/ElementwiseOps.def's kernels, where, random
//   Reduce.cpp       sum/max/min, argmax/argmin, softmax
//   Gemm.cpp         batched GEMM through OpenBLAS
//   Index.cpp        gather, scatter_add, check_range
//   Conv.cpp         convolution: oneDNN (Dnnl.cpp) or im2col + GEMM
//   Pool.cpp         max/avg/adaptive pooling
//   Norm.cpp         batch-norm channel statistics and affine maps
//   Optim.cpp        fused SGD / Adam steps
// Loops run on cpu_loop (tensor/cpu/Loops.h) and OpenMP. Speed against PyTorch: bench/run,
// bench/results/cpu.md.
#pragma once

#include <cstring>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace cpu {

Allocator& cpu_allocator();  // Allocator.cpp

class CpuBackend final : public Backend {
 public:
  CpuBackend() : Backend(Device::cpu()) {}
  // Allocator.cpp
  Allocator& allocator() override { return cpu_allocator(); }
  // CpuBackend.h (host copies)
  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_from_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  // Elementwise.cpp
  void copy(const KView& dst, const KView& src) override;
  void fill(const KView& dst, double value) override;
  void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) override;
  void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0,
              double p1) override;
  void where(const KView& dst, const KView& cond, const KView& a, const KView& b) override;
  void random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override;
  // Reduce.cpp
  void reduce(ReduceOp op, const KView& dst, const KView& src, double scale) override;
  void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) override;
  void softmax(bool log, const KView& y, const KView& x) override;
  void softmax_backward(bool log, const KView& gx, const KView& gy, const KView& y) override;
  // Gemm.cpp
  void gemm(const GemmGeom& g, const KView& a, const KView& b, const KView& c) override;
  // Index.cpp
  void gather(const KView& dst, const KView& src, const KView& index, int dim) override;
  void scatter_add(const KView& dst, const KView& src, const KView& index, int dim) override;
  void check_range(const KView& values, int64_t lo, int64_t hi, const std::string& message) override;
  // Conv.cpp
  void conv2d(const ConvGeom& g, const KView& x, const KView& w, const KView& y) override;
  void conv2d_backward_input(const ConvGeom& g, const KView& gy, const KView& w, const KView& gx) override;
  void conv2d_backward_weight(const ConvGeom& g, const KView& gy, const KView& x, const KView& gw) override;
  // Pool.cpp
  void pool2d(bool is_max, const PoolGeom& g, const KView& x, const KView& y, const KView& argmax) override;
  void pool2d_backward(bool is_max, const PoolGeom& g, const KView& gy, const KView& argmax, const KView& gx) override;
  // Norm.cpp
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
  // Optim.cpp
  void adam_step(const KView& p, const KView& g, const KView& m, const KView& v, const AdamStep& a) override;
  void sgd_step(const KView& p, const KView& g, const KView& buf, const SgdStep& a) override;
};

}  // namespace cpu
}  // namespace ember
