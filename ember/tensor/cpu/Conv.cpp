// tensor/cpu/Conv.cpp: 2-D convolution on the CPU, forward and both backwards. cuda/Conv.cu is
// its twin (cuDNN).
//
// f32 goes to oneDNN when Ember is built with it (tensor/cpu/Dnnl.h); otherwise, and for f64:
// Convolution is im2col + one OpenBLAS GEMM per group over a chunk of images:
//   col [c/g * kh * kw, nb * oh * ow]     (every image of the chunk side by side)
//   y_g [k/g, nb * oh * ow] = w_g [k/g, c/g * kh * kw] @ col
// then y_g is copied into NCHW. Backward input is w_g^T @ gy_g followed by col2im
// (a scatter-add of the columns back into the image); backward weight is gy_g @ col^T.
// Putting the images side by side keeps the GEMM large when oh * ow is small (a 56-px
// ResNet's last stage is 2x2). Scratch memory is a per-thread buffer that only grows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "ember/tensor/cpu/Blas.h"
#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/cpu/Dnnl.h"
#include "ember/tensor/cpu/Loops.h"

namespace ember {
namespace cpu {
namespace {

// A per-thread scratch buffer that only grows (no zeroing, no page faults once warm).
template <class T>
T* scratch(int slot, int64_t count) {
  struct Buf {
    std::unique_ptr<char[]> p;
    int64_t bytes = 0;
  };
  thread_local Buf bufs[3];
  Buf& b = bufs[slot];
  const int64_t need = count * static_cast<int64_t>(sizeof(T));
  if (need > b.bytes) {
    b.p.reset(new char[static_cast<size_t>(need)]);
    b.bytes = need;
  }
  return reinterpret_cast<T*>(b.p.get());
}

// Images per chunk so that the column buffer stays under ~64 MiB.
int64_t chunk_images(const ConvGeom& g, int64_t col_rows, size_t elem) {
  const int64_t per_image = std::max<int64_t>(1, col_rows * g.oh * g.ow * static_cast<int64_t>(elem));
  return std::clamp<int64_t>((int64_t{64} << 20) / per_image, 1, g.n);
}

// col [cg*kh*kw, nb*oh*ow] from images [n0, n0 + nb) and channels [c0, c0 + cg) of x.
template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t n0, int64_t nb, int64_t c0, int64_t cg, T* col) {
  const int64_t P = g.oh * g.ow, rows = cg * g.kh * g.kw, cols = nb * P;
#pragma omp parallel for if (rows * cols >= 2 * kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ci = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    T* out = col + r * cols;
    for (int64_t b = 0; b < nb; ++b) {
      const T* plane = x + ((n0 + b) * g.c + c0 + ci) * g.h * g.w;
      for (int64_t oh = 0; oh < g.oh; ++oh, out += g.ow) {
        const int64_t ih = oh * g.sh - g.ph + i * g.dh;
        if (ih < 0 || ih >= g.h) {
          std::fill(out, out + g.ow, T(0));
          continue;
        }
        const T* row = plane + ih * g.w;
        const int64_t off = j * g.dw - g.pw;  // iw = ow * sw + off
        // Valid ow: 0 <= ow*sw + off < w.
        const int64_t lo = off >= 0 ? 0 : std::min(g.ow, (-off + g.sw - 1) / g.sw);
        const int64_t hi = std::max(lo, std::min(g.ow, g.w - off > 0 ? (g.w - off + g.sw - 1) / g.sw : 0));
        std::fill(out, out + lo, T(0));
        if (g.sw == 1) std::memcpy(out + lo, row + lo + off, static_cast<size_t>(hi - lo) * sizeof(T));
        else
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[ow * g.sw + off];
        std::fill(out + hi, out + g.ow, T(0));
      }
    }
  }
}

// gx[images n0.., channels c0..] += col2im(col): the adjoint of im2col.
template <class T>
void col2im(const ConvGeom& g, const T* col, int64_t n0, int64_t nb, int64_t c0, int64_t cg, T* gx) {
  const int64_t P = g.oh * g.ow, cols = nb * P, kk = g.kh * g.kw;
  // One thread per (image, channel) plane: the kh*kw rows of a channel all land in its plane.
#pragma omp parallel for collapse(2) if (cg * kk * cols >= 2 * kParallelGrain) schedule(static)
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t ci = 0; ci < cg; ++ci) {
      T* plane = gx + ((n0 + b) * g.c + c0 + ci) * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* in = col + ((ci * g.kh + i) * g.kw + j) * cols + b * P;
          const int64_t off = j * g.dw - g.pw;
          const int64_t lo = off >= 0 ? 0 : std::min(g.ow, (-off + g.sw - 1) / g.sw);
          const int64_t hi = std::max(lo, std::min(g.ow, g.w - off > 0 ? (g.w - off + g.sw - 1) / g.sw : 0));
          for (int64_t oh = 0; oh < g.oh; ++oh, in += g.ow) {
            const int64_t ih = oh * g.sh - g.ph + i * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            T* row = plane + ih * g.w;  // row[ow * sw + off] += in[ow] for the valid ow
            if (g.sw == 1) {
              T* r = row + lo + off;
              const T* c = in + lo;
#pragma omp simd
              for (int64_t o = 0; o < hi - lo; ++o) r[o] += c[o];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) row[ow * g.sw + off] += in[ow];
            }
          }
        }
    }
}

// NCHW block [nb, kg channels at k0, P] <-> matrix [kg, nb * P].
template <class T>
void nchw_to_rows(const ConvGeom& g, const T* y, int64_t n0, int64_t nb, int64_t k0, int64_t kg, T* m) {
  const int64_t P = g.oh * g.ow;
#pragma omp parallel for collapse(2) if (kg * nb * P >= 2 * kParallelGrain) schedule(static)
  for (int64_t k = 0; k < kg; ++k)
    for (int64_t b = 0; b < nb; ++b)
      std::memcpy(m + (k * nb + b) * P, y + ((n0 + b) * g.k + k0 + k) * P, static_cast<size_t>(P) * sizeof(T));
}
template <class T>
void rows_to_nchw(const ConvGeom& g, const T* m, int64_t n0, int64_t nb, int64_t k0, int64_t kg, T* y) {
  const int64_t P = g.oh * g.ow;
#pragma omp parallel for collapse(2) if (kg * nb * P >= 2 * kParallelGrain) schedule(static)
  for (int64_t k = 0; k < kg; ++k)
    for (int64_t b = 0; b < nb; ++b)
      std::memcpy(y + ((n0 + b) * g.k + k0 + k) * P, m + (k * nb + b) * P, static_cast<size_t>(P) * sizeof(T));
}

// A 1x1 convolution with stride 1 and no padding reads x as it is: no im2col.
bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Runs body(n0, nb, c0, cg, k0, kg) over image chunks and groups.
template <class F>
void for_chunks(const ConvGeom& g, size_t elem, F&& body) {
  const int64_t cg = g.c / g.groups, kg = g.k / g.groups;
  const int64_t chunk = chunk_images(g, cg * g.kh * g.kw + kg, elem);
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk)
    for (int64_t grp = 0; grp < g.groups; ++grp) body(n0, std::min(chunk, g.n - n0), grp * cg, cg, grp * kg, kg);
}

}  // namespace

// oneDNN first (f32, when built with it: tensor/cpu/Dnnl.h), else im2col + GEMM below.
template <class T>
bool via_dnnl(bool (*f)(const ConvGeom&, const float*, const float*, float*), const ConvGeom& g, const T* a, const T* b, T* out) {
  if constexpr (std::is_same_v<T, float>) return f(g, a, b, out);
  (void)f, (void)g, (void)a, (void)b, (void)out;
  return false;
}

template <class T>
void conv2d(const ConvGeom& g, const T* x, const T* w, T* y) {
  if (via_dnnl(dnnl_conv::forward, g, x, w, y)) return;
  const int64_t P = g.oh * g.ow;
  const int64_t wsize = (g.c / g.groups) * g.kh * g.kw;
  if (is_pointwise(g) && g.groups == 1) {  // y[n] = w @ x[n], straight into NCHW
    for (int64_t b = 0; b < g.n; ++b) blas_gemm(false, false, g.k, P, g.c, T(1), w, g.c, x + b * g.c * P, P, T(0), y + b * g.k * P, P);
    return;
  }
  for_chunks(g, sizeof(T), [&](int64_t n0, int64_t nb, int64_t c0, int64_t cg, int64_t k0, int64_t kg) {
    T* col = scratch<T>(0, wsize * nb * P);
    T* out = scratch<T>(1, kg * nb * P);
    im2col(g, x, n0, nb, c0, cg, col);
    blas_gemm(false, false, kg, nb * P, wsize, T(1), w + k0 * wsize, wsize, col, nb * P, T(0), out, nb * P);
    rows_to_nchw(g, out, n0, nb, k0, kg, y);
  });
}

template <class T>
void conv2d_backward_input(const ConvGeom& g, const T* gy, const T* w, T* gx) {
  if (via_dnnl(dnnl_conv::backward_input, g, gy, w, gx)) return;
  const int64_t P = g.oh * g.ow;
  const int64_t wsize = (g.c / g.groups) * g.kh * g.kw;
  if (is_pointwise(g) && g.groups == 1) {  // gx[n] = w^T @ gy[n]
    for (int64_t b = 0; b < g.n; ++b) blas_gemm(true, false, g.c, P, g.k, T(1), w, g.c, gy + b * g.k * P, P, T(0), gx + b * g.c * P, P);
    return;
  }
  std::fill(gx, gx + g.n * g.c * g.h * g.w, T(0));
  for_chunks(g, sizeof(T), [&](int64_t n0, int64_t nb, int64_t c0, int64_t cg, int64_t k0, int64_t kg) {
    T* rows = scratch<T>(1, kg * nb * P);
    T* col = scratch<T>(0, wsize * nb * P);
    nchw_to_rows(g, gy, n0, nb, k0, kg, rows);
    blas_gemm(true, false, wsize, nb * P, kg, T(1), w + k0 * wsize, wsize, rows, nb * P, T(0), col, nb * P);
    col2im(g, col, n0, nb, c0, cg, gx);
  });
}

template <class T>
void conv2d_backward_weight(const ConvGeom& g, const T* gy, const T* x, T* gw) {
  if (via_dnnl(dnnl_conv::backward_weight, g, gy, x, gw)) return;
  const int64_t P = g.oh * g.ow;
  const int64_t wsize = (g.c / g.groups) * g.kh * g.kw;
  if (is_pointwise(g) && g.groups == 1) {  // gw = sum_n gy[n] @ x[n]^T
    for (int64_t b = 0; b < g.n; ++b)
      blas_gemm(false, true, g.k, g.c, P, T(1), gy + b * g.k * P, P, x + b * g.c * P, P, b ? T(1) : T(0), gw, g.c);
    if (g.n == 0) std::fill(gw, gw + g.k * g.c, T(0));
    return;
  }
  std::fill(gw, gw + g.k * wsize, T(0));
  for_chunks(g, sizeof(T), [&](int64_t n0, int64_t nb, int64_t c0, int64_t cg, int64_t k0, int64_t kg) {
    T* rows = scratch<T>(1, kg * nb * P);
    T* col = scratch<T>(0, wsize * nb * P);
    nchw_to_rows(g, gy, n0, nb, k0, kg, rows);
    im2col(g, x, n0, nb, c0, cg, col);
    blas_gemm(false, true, kg, wsize, nb * P, T(1), rows, nb * P, col, nb * P, T(1), gw + k0 * wsize, wsize);
  });
}

void CpuBackend::conv2d(const ConvGeom& g, const KView& x, const KView& w, const KView& y) {
  on_float("conv2d", [&](auto* xs, auto* ws, auto* ys) { cpu::conv2d(g, xs, ws, ys); }, x, w, y);
}

void CpuBackend::conv2d_backward_input(const ConvGeom& g, const KView& gy, const KView& w, const KView& gx) {
  on_float("conv2d", [&](auto* gys, auto* ws, auto* gxs) { cpu::conv2d_backward_input(g, gys, ws, gxs); }, gy, w, gx);
}

void CpuBackend::conv2d_backward_weight(const ConvGeom& g, const KView& gy, const KView& x, const KView& gw) {
  on_float("conv2d", [&](auto* gys, auto* xs, auto* gws) { cpu::conv2d_backward_weight(g, gys, xs, gws); }, gy, x, gw);
}

}  // namespace cpu
}  // namespace ember
