// tensor/cpu/Optim.cpp: the fused SGD and Adam steps on the CPU: tensor/OptimMath.h's
// per-element math in one OpenMP pass. cuda/Optim.cu is its twin.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/cpu/Loops.h"

namespace ember {
namespace cpu {

void CpuBackend::adam_step(DType t, int64_t n, void* p, const void* g, void* m, void* v, const AdamStep& a) {
  dispatch_float(t, "adam_step", [&](auto tag) {
    using T = decltype(tag);
    T *P = static_cast<T*>(p), *M = static_cast<T*>(m), *V = static_cast<T*>(v);
    const T* G = static_cast<const T*>(g);
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) adam_update<T>(P[i], G[i], M[i], V[i], a);
  });
}

void CpuBackend::sgd_step(DType t, int64_t n, void* p, const void* g, void* buf, const SgdStep& a) {
  dispatch_float(t, "sgd_step", [&](auto tag) {
    using T = decltype(tag);
    T* P = static_cast<T*>(p);
    T* B = static_cast<T*>(buf);
    const T* G = static_cast<const T*>(g);
    if (B == nullptr || a.momentum == 0) {
      const T lr = T(a.lr), wd = T(a.weight_decay);
      if (wd == T(0)) {  // two loops, so that neither has a branch inside
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
        for (int64_t i = 0; i < n; ++i) sgd_update_plain<T>(P[i], G[i], lr, T(0));
      } else {
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
        for (int64_t i = 0; i < n; ++i) sgd_update_plain<T>(P[i], G[i], lr, wd);
      }
    } else {
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) sgd_update<T>(P[i], G[i], B + i, a);
    }
  });
}

}  // namespace cpu
}  // namespace ember
