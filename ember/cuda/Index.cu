// cuda/Index.cu: gather and scatter_add on the GPU (index_select, gather, one_hot and their
// backward). tensor/cpu/Index.cpp is its twin.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "ember/cuda/Cuda.h"
#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

// A bad index or value cannot throw inside a kernel: the first one goes to the caller's check
// slot with the check's id, and the host reads the slot at its next synchronisation
// (CudaBackend::DeviceCheck). The bad element itself is skipped: no access out of bounds.
__device__ void report_bad_value(unsigned long long* slot, unsigned long long id, int64_t v) {
  if (atomicCAS(&slot[0], 0ULL, id) == 0ULL) slot[1] = static_cast<unsigned long long>(v);
}

// U: an unsigned type as wide as one element (gather only moves bits).
template <class U>
__global__ void gather_kernel(KView dst, KView src, KView index, int dim, int64_t n,
                              CudaBackend::DeviceCheck check) {
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
      report_bad_value(check.slot, check.id, v);
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
                                   CudaBackend::DeviceCheck check) {
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
      report_bad_value(check.slot, check.id, v);
      continue;
    }
    atomic_add(reinterpret_cast<T*>(dst.data) + doff + v * dst.strides[dim],
               reinterpret_cast<const T*>(src.data)[soff]);
  }
}

__global__ void check_range_kernel(KView values, int64_t lo, int64_t hi, int64_t n, CudaBackend::DeviceCheck check) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off = 0, rem = i;
    for (int d = values.ndim - 1; d >= 0; --d) {
      off += (rem % values.shape[d]) * values.strides[d];
      rem /= values.shape[d];
    }
    const int64_t v = reinterpret_cast<const int64_t*>(values.data)[off];
    if (v < lo || v >= hi) report_bad_value(check.slot, check.id, v);
  }
}

std::string index_message(const char* op, int dim, int64_t size) {
  return std::string(op) + ": index {} is out of range for dim " + std::to_string(dim) + " of size " +
         std::to_string(size);
}

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

void CudaBackend::gather(const KView& dst, const KView& src, const KView& index, int dim) {
  const DeviceGuard guard(index_);
  const int64_t n = dst.numel();
  if (n == 0) return;
  const DeviceCheck check = begin_check(index_message("gather", dim, src.shape[dim]));
  switch (dtype_size(src.dtype)) {
    case 1: launch(gather_kernel<uint8_t>, blocks_for(n), kThreads, dst, src, index, dim, n, check); break;
    case 4: launch(gather_kernel<uint32_t>, blocks_for(n), kThreads, dst, src, index, dim, n, check); break;
    default: launch(gather_kernel<uint64_t>, blocks_for(n), kThreads, dst, src, index, dim, n, check); break;
  }
  after_launch("gather");
}

void CudaBackend::scatter_add(const KView& dst, const KView& src, const KView& index, int dim) {
  const DeviceGuard guard(index_);
  const int64_t n = src.numel();
  if (n == 0) return;
  const DeviceCheck check = begin_check(index_message("scatter_add", dim, dst.shape[dim]));
  dispatch_numeric(src.dtype, "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    launch(scatter_add_kernel<T>, blocks_for(n), kThreads, dst, src, index, dim, n, check);
  });
  after_launch("scatter_add");
}

void CudaBackend::check_range(const KView& values, int64_t lo, int64_t hi, const std::string& message) {
  EMBER_CHECK(values.dtype == DType::i64, "check_range: values must be i64, got ", dtype_name(values.dtype));
  const DeviceGuard guard(index_);
  const int64_t n = values.numel();
  if (n == 0) return;
  const DeviceCheck check = begin_check(message);
  launch(check_range_kernel, blocks_for(n), kThreads, values, lo, hi, n, check);
  after_launch("check_range");
}

}  // namespace cuda
}  // namespace ember
