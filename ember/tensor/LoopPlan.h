// tensor/LoopPlan.h: the plan of a strided N-d loop over N same-shape views, shared by the CPU
// loop (tensor/cpu/Loops.h) and the CUDA elementwise kernels (cuda/Elementwise.cu).
//
// make_plan drops size-1 dims, turns strides into bytes and merges dims that every view steps
// through as one run (a contiguous [64, 100] becomes one dim of 6400), outermost first.
#pragma once

#include <cstdint>

#include "ember/tensor/Backend.h"

namespace ember {

template <int N>
struct LoopPlan {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t stride[N][kMaxDims];  // bytes
  char* base[N];
};

template <int N>
inline LoopPlan<N> make_plan(const KView* const (&v)[N]) {
  LoopPlan<N> p;
  const KView& ref = *v[0];
  // Keep non-trivial dims, outermost first.
  for (int d = 0; d < ref.ndim; ++d) {
    if (ref.shape[d] == 1) continue;
    p.shape[p.ndim] = ref.shape[d];
    for (int k = 0; k < N; ++k)
      p.stride[k][p.ndim] = v[k]->strides[d] * static_cast<int64_t>(dtype_size(v[k]->dtype));
    ++p.ndim;
  }
  for (int k = 0; k < N; ++k) p.base[k] = v[k]->data;
  // Merge dim d into d+1 when every view steps through d as one block of d+1.
  int out = 0;
  for (int d = 0; d < p.ndim; ++d) {
    if (out > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        merge = merge && p.stride[k][out - 1] == p.stride[k][d] * p.shape[d];
      if (merge) {
        p.shape[out - 1] *= p.shape[d];
        for (int k = 0; k < N; ++k) p.stride[k][out - 1] = p.stride[k][d];
        continue;
      }
    }
    p.shape[out] = p.shape[d];
    for (int k = 0; k < N; ++k) p.stride[k][out] = p.stride[k][d];
    ++out;
  }
  p.ndim = out;
  return p;
}

}  // namespace ember
