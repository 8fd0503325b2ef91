// cuda/Optim.cu: the fused optimizer steps (Backend::adam_step, sgd_step): one grid-stride
// kernel each, on the per-element math of tensor/OptimMath.h that the CPU loop also runs.
#include <type_traits>
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

void CudaBackend::adam_step(const KView& p, const KView& g, const KView& m, const KView& v, const AdamStep& a) {
  const DeviceGuard guard(index_);
  const int64_t n = p.numel();
  if (n == 0) return;
  on_float("adam_step", [&](auto* P, auto* G, auto* M, auto* V) {
    using T = std::remove_pointer_t<decltype(P)>;
    launch(adam_kernel<T>, blocks_for(n), kThreads, n, P, G, M, V, a);
  }, p, g, m, v);
  after_launch("adam_step");
}

void CudaBackend::sgd_step(const KView& p, const KView& g, const KView& buf, const SgdStep& a) {
  const DeviceGuard guard(index_);
  const int64_t n = p.numel();
  if (n == 0) return;
  on_float("sgd_step", [&](auto* P, auto* G, auto* B) {
    using T = std::remove_pointer_t<decltype(P)>;
    launch(sgd_kernel<T>, blocks_for(n), kThreads, n, P, G, B, a);
  }, p, g, buf);
  after_launch("sgd_step");
}

}  // namespace cuda
}  // namespace ember
