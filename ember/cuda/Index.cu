// cuda/Index.cu: gather and scatter_add on the GPU (index_select, gather, one_hot and their
// backward). tensor/cpu/Index.cpp is its twin.
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "ember/cuda/Cuda.h"
#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

// gather / scatter_add. A bad index cannot throw inside a kernel: the first one is
// written to a small device buffer, which the host reads after the launch.
__device__ void report_bad_index(unsigned long long* err, int64_t v) {
  if (atomicCAS(&err[0], 0ULL, 1ULL) == 0ULL) err[1] = static_cast<unsigned long long>(v);
}

// U: an unsigned type as wide as one element (gather only moves bits).
template <class U>
__global__ void gather_kernel(KView dst, KView src, KView index, int dim, int64_t n,
                              unsigned long long* err) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t doff = 0, ioff = 0, soff = 0, rem = i;
    for (int d = dst.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % dst.shape[d];
      rem /= dst.shape[d];
      doff += c * dst.strides[d];
      ioff += c * index.strides[d];
      if (d != dim) soff += c * src.strides[d];
    }
    const int64_t v = reinterpret_cast<const int64_t*>(index.data)[ioff];
    if (v < 0 || v >= src.shape[dim]) {
      report_bad_index(err, v);
      continue;
    }
    reinterpret_cast<U*>(dst.data)[doff] = reinterpret_cast<const U*>(src.data)[soff + v * src.strides[dim]];
  }
}

__device__ inline void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ inline void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ inline void atomic_add(int64_t* p, int64_t v) {
  // Two's complement: adding the bits as unsigned gives the signed sum.
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

template <class T>
__global__ void scatter_add_kernel(KView dst, KView src, KView index, int dim, int64_t n,
                                   unsigned long long* err) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t doff = 0, ioff = 0, soff = 0, rem = i;
    for (int d = src.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % src.shape[d];
      rem /= src.shape[d];
      soff += c * src.strides[d];
      ioff += c * index.strides[d];
      if (d != dim) doff += c * dst.strides[d];
    }
    const int64_t v = reinterpret_cast<const int64_t*>(index.data)[ioff];
    if (v < 0 || v >= dst.shape[dim]) {
      report_bad_index(err, v);
      continue;
    }
    atomic_add(reinterpret_cast<T*>(dst.data) + doff + v * dst.strides[dim],
               reinterpret_cast<const T*>(src.data)[soff]);
  }
}

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

void CudaBackend::gather(const KView& dst, const KView& src, const KView& index, int dim) {
  const DeviceGuard guard(index_);
  const int64_t n = dst.numel();
  if (n == 0) return;
  // The flag is one per device: a launch and the check of its flag are one step, or two
  // host threads could read each other's bad index.
  std::lock_guard<std::mutex> flag_lock(index_mu_);
  unsigned long long* err = error_buffer();
  switch (dtype_size(src.dtype)) {
    case 1: launch(gather_kernel<uint8_t>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err); break;
    case 4: launch(gather_kernel<uint32_t>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err); break;
    default: launch(gather_kernel<uint64_t>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err); break;
  }
  detail::after_launch("gather");
  check_index_error("gather", dim, src.shape[dim]);
}

void CudaBackend::scatter_add(const KView& dst, const KView& src, const KView& index, int dim) {
  const DeviceGuard guard(index_);
  const int64_t n = src.numel();
  if (n == 0) return;
  // The flag is one per device: a launch and the check of its flag are one step, or two
  // host threads could read each other's bad index.
  std::lock_guard<std::mutex> flag_lock(index_mu_);
  unsigned long long* err = error_buffer();
  dispatch_numeric(src.dtype, "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    launch(scatter_add_kernel<T>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err);
  });
  detail::after_launch("scatter_add");
  check_index_error("scatter_add", dim, dst.shape[dim]);
}

}  // namespace cuda
}  // namespace ember
