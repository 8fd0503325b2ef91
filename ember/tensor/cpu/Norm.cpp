// tensor/cpu/Norm.cpp: the per-channel kernels of batch norm on the CPU. cuda/Norm.cu is its twin.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/cpu/Loops.h"

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

void CpuBackend::channel_stats(const KView& x, const KView& mean, const KView& var, const ChannelStatsFinish& finish) {
  on_float("batch_norm", [&](auto* xs, auto* m, auto* v) {
    using T = std::remove_pointer_t<decltype(m)>;
    const int64_t c = x.shape[1];
    cpu::channel_stats(x.shape[0], c, x.shape[2], xs, m, v);
    const BatchNormFinish<T> f = finish.typed_for<T>();
    for (int64_t ch = 0; ch < c; ++ch) batch_norm_finish(ch, m[ch], v[ch], f);
  }, x, mean, var);
}

void CpuBackend::channel_affine(const KView& x, const KView& scale, const KView& shift, const KView& y) {
  on_float("batch_norm", [&](auto* xs, auto* a, auto* b, auto* ys) {
    cpu::channel_affine(x.shape[0], x.shape[1], x.shape[2], xs, a, b, ys);
  }, x, scale, shift, y);
}

void CpuBackend::channel_grad_sums(const KView& gy, const KView& x, const KView& mean, const KView& sum_gy,
                                   const KView& sum_gy_xmu) {
  on_float("batch_norm", [&](auto* gys, auto* xs, auto* m, auto* sg, auto* sgx) {
    cpu::channel_grad_sums(x.shape[0], x.shape[1], x.shape[2], gys, xs, m, sg, sgx);
  }, gy, x, mean, sum_gy, sum_gy_xmu);
}

void CpuBackend::batch_norm_backward_input(const KView& gy, const KView& x, const KView& mean, const KView& a,
                                           const KView& b, const KView& k, const KView& gx) {
  on_float("batch_norm", [&](auto* gys, auto* xs, auto* m, auto* as, auto* bs, auto* ks, auto* gxs) {
    cpu::batch_norm_backward_input(x.shape[0], x.shape[1], x.shape[2], gys, xs, m, as, bs, ks, gxs);
  }, gy, x, mean, a, b, k, gx);
}

// Layer norm: one row at a time (rows spread over threads), sums in double.
template <class T>
void layer_norm_rows(int64_t rows, int64_t cols, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b,
                     double eps) {
#pragma omp parallel for if (rows * cols >= 2 * kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(xr[c]);
    const double mu = s / static_cast<double>(cols);
    double v = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const double d = static_cast<double>(xr[c]) - mu;
      v += d * d;
    }
    const double rs = 1.0 / std::sqrt(v / static_cast<double>(cols) + eps);
    mean[r] = static_cast<T>(mu);
    rstd[r] = static_cast<T>(rs);
    for (int64_t c = 0; c < cols; ++c) {
      const T h = static_cast<T>((static_cast<double>(xr[c]) - mu) * rs);
      yr[c] = (w ? h * w[c] : h) + (b ? b[c] : T(0));
    }
  }
}

template <class T>
void layer_norm_backward_rows(int64_t rows, int64_t cols, T* gx, const T* gy, const T* x, const T* mean,
                              const T* rstd, const T* w) {
#pragma omp parallel for if (rows * cols >= 2 * kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const double mu = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const double g = static_cast<double>(w ? gr[c] * w[c] : gr[c]);
      s1 += g;
      s2 += g * (static_cast<double>(xr[c]) - mu) * rs;
    }
    const double m1 = s1 / static_cast<double>(cols), m2 = s2 / static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const double g = static_cast<double>(w ? gr[c] * w[c] : gr[c]);
      const double h = (static_cast<double>(xr[c]) - mu) * rs;
      gx[r * cols + c] = static_cast<T>(rs * (g - m1 - h * m2));
    }
  }
}

void CpuBackend::layer_norm(const KView& y, const KView& mean, const KView& rstd, const KView& x, const KView& w,
                            const KView& b, double eps) {
  on_float("layer_norm", [&](auto* ys, auto* ms, auto* rs, auto* xs, auto* ws, auto* bs) {
    layer_norm_rows(x.shape[0], x.shape[1], ys, ms, rs, xs, ws, bs, eps);
  }, y, mean, rstd, x, w, b);
}

void CpuBackend::layer_norm_backward_input(const KView& gx, const KView& gy, const KView& x, const KView& mean,
                                           const KView& rstd, const KView& w) {
  on_float("layer_norm", [&](auto* gxs, auto* gys, auto* xs, auto* ms, auto* rs, auto* ws) {
    layer_norm_backward_rows(x.shape[0], x.shape[1], gxs, gys, xs, ms, rs, ws);
  }, gx, gy, x, mean, rstd, w);
}

}  // namespace cpu
}  // namespace ember
