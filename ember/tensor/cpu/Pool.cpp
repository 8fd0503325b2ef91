// tensor/cpu/Pool.cpp: max, average and adaptive 2-D pooling on the CPU, with their backward.
// cuda/Pool.cu is its twin.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/cpu/Loops.h"

namespace ember {
namespace cpu {

namespace {
struct Window {
  int64_t lo, hi, size;  // clipped [lo, hi) and the divisor for avg
};
Window window(bool adaptive, int64_t i, int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool count_pad) {
  if (adaptive) {
    const int64_t lo = (i * in) / out, hi = ((i + 1) * in + out - 1) / out;
    return {lo, hi, hi - lo};
  }
  int64_t lo = i * s - p, hi = std::min(lo + k, in + p);
  const int64_t padded = hi - lo;
  lo = std::max<int64_t>(lo, 0);
  hi = std::min(hi, in);
  return {lo, hi, count_pad ? padded : hi - lo};
}
}  // namespace

template <class T>
void pool2d(bool is_max, const PoolGeom& g, const T* x, T* y, int64_t* argmax) {
#pragma omp parallel for if (g.n * g.c * g.h * g.w >= 2 * kParallelGrain) schedule(static)
  for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
    const T* in = x + plane * g.h * g.w;
    T* out = y + plane * g.oh * g.ow;
    int64_t* am = is_max ? argmax + plane * g.oh * g.ow : nullptr;
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const Window wh = window(g.adaptive, oh, g.h, g.oh, g.kh, g.sh, g.ph, g.count_include_pad);
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const Window ww = window(g.adaptive, ow, g.w, g.ow, g.kw, g.sw, g.pw, g.count_include_pad);
        if (is_max) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = wh.lo * g.w + ww.lo;
          for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
            for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
              const T v = in[ih * g.w + iw];
              if (v > best || std::isnan(v)) {  // NaN wins and stays, as in PyTorch
                best = v;
                at = ih * g.w + iw;
                if (std::isnan(v)) goto done;
              }
            }
        done:
          out[oh * g.ow + ow] = best;
          am[oh * g.ow + ow] = at;
        } else {
          T sum = 0;
          for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
            for (int64_t iw = ww.lo; iw < ww.hi; ++iw) sum += in[ih * g.w + iw];
          out[oh * g.ow + ow] = sum / static_cast<T>(std::max<int64_t>(1, wh.size * ww.size));
        }
      }
    }
  }
}

template <class T>
void pool2d_backward(bool is_max, const PoolGeom& g, const T* gy, const int64_t* argmax, T* gx) {
#pragma omp parallel for if (g.n * g.c * g.h * g.w >= 2 * kParallelGrain) schedule(static)
  for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
    T* out = gx + plane * g.h * g.w;
    const T* in = gy + plane * g.oh * g.ow;
    std::fill(out, out + g.h * g.w, T(0));
    if (is_max) {
      const int64_t* am = argmax + plane * g.oh * g.ow;
      for (int64_t i = 0; i < g.oh * g.ow; ++i) out[am[i]] += in[i];
      continue;
    }
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const Window wh = window(g.adaptive, oh, g.h, g.oh, g.kh, g.sh, g.ph, g.count_include_pad);
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const Window ww = window(g.adaptive, ow, g.w, g.ow, g.kw, g.sw, g.pw, g.count_include_pad);
        const T v = in[oh * g.ow + ow] / static_cast<T>(std::max<int64_t>(1, wh.size * ww.size));
        for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
          for (int64_t iw = ww.lo; iw < ww.hi; ++iw) out[ih * g.w + iw] += v;
      }
    }
  }
}

void CpuBackend::pool2d(bool is_max, const PoolGeom& g, const KView& x, const KView& y, const KView& argmax) {
  on_float(is_max ? "max_pool2d" : "avg_pool2d",
           [&](auto* xs, auto* ys) { cpu::pool2d(is_max, g, xs, ys, typed<int64_t>(argmax)); }, x, y);
}

void CpuBackend::pool2d_backward(bool is_max, const PoolGeom& g, const KView& gy, const KView& argmax,
                                 const KView& gx) {
  on_float(is_max ? "max_pool2d" : "avg_pool2d",
           [&](auto* gys, auto* gxs) { cpu::pool2d_backward(is_max, g, gys, typed<const int64_t>(argmax), gxs); }, gy,
           gx);
}

}  // namespace cpu
}  // namespace ember
