// tensor/cpu/Norm.cpp: the per-channel kernels of batch norm on the CPU. cuda/Norm.cu is its twin.
#include <algorithm>
#include <cmath>

#include "tensor/Dispatch.h"
#include "tensor/cpu/CpuBackend.h"
#include "tensor/cpu/Loops.h"

namespace ember {
namespace cpu {
// Batch norm. Sums run in double: a channel of a 64-image batch holds 10^5+ values.

template <class T>
void channel_stats(int64_t n, int64_t c, int64_t s, const T* x, T* mean, T* var) {
  const double count = static_cast<double>(std::max<int64_t>(1, n * s));
#pragma omp parallel for if (n * c * s >= 2 * kParallelGrain) schedule(static)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * s;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < s; ++i) sum += p[i];
    }
    const double m = sum / count;
    double sq = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * s;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = 0; i < s; ++i) sq += (p[i] - m) * (p[i] - m);
    }
    mean[ch] = static_cast<T>(m);
    var[ch] = static_cast<T>(sq / count);
  }
}

template <class T>
void channel_affine(int64_t n, int64_t c, int64_t s, const T* x, const T* scale, const T* shift, T* y) {
#pragma omp parallel for if (n * c * s >= 2 * kParallelGrain) schedule(static)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const T a = scale[plane % c], b = shift[plane % c];
    const T* p = x + plane * s;
    T* q = y + plane * s;
#pragma omp simd
    for (int64_t i = 0; i < s; ++i) q[i] = p[i] * a + b;
  }
}

template <class T>
void channel_grad_sums(int64_t n, int64_t c, int64_t s, const T* gy, const T* x, const T* mean, T* sum_gy, T* sum_gy_xmu) {
#pragma omp parallel for if (n * c * s >= 2 * kParallelGrain) schedule(static)
  for (int64_t ch = 0; ch < c; ++ch) {
    double a = 0, b = 0;
    const T m = mean[ch];
    for (int64_t bi = 0; bi < n; ++bi) {
      const T* g = gy + (bi * c + ch) * s;
      const T* p = x + (bi * c + ch) * s;
#pragma omp simd reduction(+ : a, b)
      for (int64_t i = 0; i < s; ++i) {
        a += g[i];
        b += g[i] * (p[i] - m);
      }
    }
    sum_gy[ch] = static_cast<T>(a);
    sum_gy_xmu[ch] = static_cast<T>(b);
  }
}

template <class T>
void batch_norm_backward_input(int64_t n, int64_t c, int64_t s, const T* gy, const T* x, const T* mean, const T* a,
                               const T* b, const T* k, T* gx) {
#pragma omp parallel for if (n * c * s >= 2 * kParallelGrain) schedule(static)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const int64_t ch = plane % c;
    const T m = mean[ch], aa = a[ch], bb = b[ch], kk = k[ch];
    const T* g = gy + plane * s;
    const T* p = x + plane * s;
    T* q = gx + plane * s;
#pragma omp simd
    for (int64_t i = 0; i < s; ++i) q[i] = (g[i] - aa - (p[i] - m) * bb) * kk;
  }
}

void CpuBackend::channel_stats(DType t, int64_t n, int64_t c, int64_t s, const void* x, void* mean, void* var) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    cpu::channel_stats<T>(n, c, s, static_cast<const T*>(x), static_cast<T*>(mean), static_cast<T*>(var));
  });
}

void CpuBackend::channel_affine(DType t, int64_t n, int64_t c, int64_t s, const void* x, const void* scale, const void* shift,
                    void* y) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    cpu::channel_affine<T>(n, c, s, static_cast<const T*>(x), static_cast<const T*>(scale),
                           static_cast<const T*>(shift), static_cast<T*>(y));
  });
}

void CpuBackend::channel_grad_sums(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x, const void* mean,
                       void* sum_gy, void* sum_gy_xmu) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    cpu::channel_grad_sums<T>(n, c, s, static_cast<const T*>(gy), static_cast<const T*>(x),
                              static_cast<const T*>(mean), static_cast<T*>(sum_gy), static_cast<T*>(sum_gy_xmu));
  });
}

void CpuBackend::batch_norm_backward_input(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x,
                               const void* mean, const void* a, const void* b, const void* k, void* gx) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    cpu::batch_norm_backward_input<T>(n, c, s, static_cast<const T*>(gy), static_cast<const T*>(x),
                                      static_cast<const T*>(mean), static_cast<const T*>(a),
                                      static_cast<const T*>(b), static_cast<const T*>(k), static_cast<T*>(gx));
  });
}

}  // namespace cpu
}  // namespace ember
