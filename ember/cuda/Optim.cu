// cuda/Optim.cu: the fused optimizer steps (Backend::adam_step, sgd_step): one grid-stride
// kernel each, on the per-element math of tensor/OptimMath.h that the CPU loop also runs.
#include "ember/cuda/Cuda.h"
#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"
#include "ember/tensor/OptimMath.h"

namespace ember {
namespace cuda {
namespace detail {

namespace {

template <class T>
__global__ void adam_kernel(int64_t n, T* p, const T* g, T* m, T* v, AdamStep a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    adam_update<T>(p[i], g[i], m[i], v[i], a);
}

template <class T>
__global__ void sgd_kernel(int64_t n, T* p, const T* g, T* buf, SgdStep a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    T unused = 0;
    sgd_update<T>(p[i], g[i], buf ? buf + i : &unused, a);
  }
}

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

void CudaBackend::adam_step(DType t, int64_t n, void* p, const void* g, void* m, void* v, const AdamStep& a) {
  const DeviceGuard guard(index_);
  if (n == 0) return;
  dispatch_float(t, "adam_step", [&](auto tag) {
    using T = decltype(tag);
    launch(adam_kernel<T>, blocks_for(n), kThreads, n, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m),
                                                static_cast<T*>(v), a);
  });
  after_launch("adam_step");
}

void CudaBackend::sgd_step(DType t, int64_t n, void* p, const void* g, void* buf, const SgdStep& a) {
  const DeviceGuard guard(index_);
  if (n == 0) return;
  dispatch_float(t, "sgd_step", [&](auto tag) {
    using T = decltype(tag);
    launch(sgd_kernel<T>, blocks_for(n), kThreads, n, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(buf), a);
  });
  after_launch("sgd_step");
}

}  // namespace cuda
}  // namespace ember
