// tensor/cpu/Loops.h: the strided N-d loop every CPU elementwise kernel runs on.
//
// cpu_loop<N>(views, body) visits all elements of N same-shape views. It first
// merges dims that are contiguous in every view (a [64, 100] contiguous tensor
// becomes one dim of 6400), then calls body(ptrs, byte_strides, n) once per
// innermost row, so the body's loop is a plain 1-D loop the compiler vectorises.
// Large loops are split over OpenMP threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ember/tensor/Backend.h"
#include "ember/tensor/LoopPlan.h"

namespace ember {
namespace cpu {

constexpr int64_t kParallelGrain = 32768;  // below this many elements, one thread

// body(char* const ptr[N], const int64_t stride[N], int64_t n)
template <int N, class Body>
void cpu_loop(const KView* const (&views)[N], Body&& body) {
  LoopPlan<N> p = make_plan(views);
  int64_t zero[N] = {};
  if (p.ndim == 0) {
    body(p.base, zero, int64_t{1});
    return;
  }
  const int last = p.ndim - 1;
  const int64_t inner = p.shape[last];
  int64_t inner_stride[N];
  for (int k = 0; k < N; ++k) inner_stride[k] = p.stride[k][last];
  int64_t outer = 1;
  for (int d = 0; d < last; ++d) outer *= p.shape[d];
  const int64_t total = outer * inner;

  if (outer == 1) {  // one long row: split it into chunks
    int64_t chunks = total >= 2 * kParallelGrain ? std::min<int64_t>(total / kParallelGrain, 64) : 1;
#pragma omp parallel for if (chunks > 1) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t begin = inner * c / chunks, end = inner * (c + 1) / chunks;
      char* ptr[N];
      for (int k = 0; k < N; ++k) ptr[k] = p.base[k] + begin * inner_stride[k];
      body(ptr, inner_stride, end - begin);
    }
    return;
  }
#pragma omp parallel for if (total >= 2 * kParallelGrain) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    char* ptr[N];
    for (int k = 0; k < N; ++k) ptr[k] = p.base[k];
    int64_t rem = o;
    for (int d = last - 1; d >= 0; --d) {
      int64_t i = rem % p.shape[d];
      rem /= p.shape[d];
      for (int k = 0; k < N; ++k) ptr[k] += i * p.stride[k][d];
    }
    body(ptr, inner_stride, inner);
  }
}

}  // namespace cpu
}  // namespace ember
