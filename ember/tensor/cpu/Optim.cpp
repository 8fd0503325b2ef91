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

void CpuBackend::adam_step(const KView& p, const KView& g, const KView& m, const KView& v, const AdamStep& a) {
  const int64_t n = p.numel();
  on_float("adam_step", [&](auto* P, auto* G, auto* M, auto* V) {
    using T = std::remove_pointer_t<decltype(P)>;
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) adam_update<T>(P[i], G[i], M[i], V[i], a);
  }, p, g, m, v);
}

void CpuBackend::sgd_step(const KView& p, const KView& g, const KView& buf, const SgdStep& a) {
  const int64_t n = p.numel();
  on_float("sgd_step", [&](auto* P, auto* G, auto* B) {
    using T = std::remove_pointer_t<decltype(P)>;
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
  }, p, g, buf);
}

}  // namespace cpu
}  // namespace ember
