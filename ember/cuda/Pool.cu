// cuda/Pool.cu: max, average and adaptive 2-D pooling on the GPU, with their backward, in
// Ember's own kernels. tensor/cpu/Pool.cpp is its twin and the reference for every formula.
//
// Pooling: forward is one thread per output (the CPU's window, NaN wins a max and stops
// the scan). Backward is one thread per input element that sums, in the CPU's order, the
// outputs whose window covers it (max: those whose argmax is this element), so the result
// is deterministic and matches the CPU's scatter bit for bit.
#include <type_traits>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {

namespace {

template <class T> __device__ T neg_inf();
template <> __device__ float neg_inf<float>() { return __int_as_float(static_cast<int>(0xff800000u)); }
template <> __device__ double neg_inf<double>() { return __longlong_as_double(static_cast<long long>(0xfff0000000000000ull)); }

__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

struct Win {
  int64_t lo, hi, size;  // clipped [lo, hi), and the divisor of an average
};

// Output i's window along one dim (tensor/Backend.h, PoolGeom; the CPU's window()).
__device__ __forceinline__ Win pool_window(bool adaptive, int64_t i, int64_t in, int64_t out, int64_t k, int64_t s,
                                           int64_t p, bool count_pad) {
  if (adaptive) {
    const int64_t lo = (i * in) / out, hi = ((i + 1) * in + out - 1) / out;
    return {lo, hi, hi - lo};
  }
  int64_t lo = i * s - p, hi = imin(lo + k, in + p);
  const int64_t padded = hi - lo;
  lo = imax(lo, 0);
  hi = imin(hi, in);
  return {lo, hi, count_pad ? padded : hi - lo};
}

// The outputs [lo, hi) along one dim whose windows can hold input position i.
//   adaptive: floor(o*in/out) <= i < ceil((o+1)*in/out)  <=>  floor(i*out/in) <= o < ceil((i+1)*out/in)
//   fixed:    o*s - p <= i < o*s - p + k                  <=>  (i+p-k)/s < o <= (i+p)/s
__device__ __forceinline__ void covering(bool adaptive, int64_t i, int64_t in, int64_t out, int64_t k, int64_t s,
                                         int64_t p, int64_t& lo, int64_t& hi) {
  if (adaptive) {
    lo = (i * out) / in;
    hi = ((i + 1) * out + in - 1) / in;
  } else {
    lo = i + p < k ? 0 : (i + p - k) / s + 1;
    hi = (i + p) / s + 1;
  }
  lo = imax(lo, 0);
  hi = imin(hi, out);
}

template <class T, bool MAX>
__global__ void pool_forward_kernel(PoolGeom g, const T* x, T* y, int64_t* argmax, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += step) {
    const int64_t ow = idx % g.ow, oh = (idx / g.ow) % g.oh, plane = idx / (g.ow * g.oh);
    const T* in = x + plane * g.h * g.w;
    const Win wh = pool_window(g.adaptive, oh, g.h, g.oh, g.kh, g.sh, g.ph, g.count_include_pad);
    const Win ww = pool_window(g.adaptive, ow, g.w, g.ow, g.kw, g.sw, g.pw, g.count_include_pad);
    if (MAX) {
      T best = neg_inf<T>();
      int64_t at = wh.lo * g.w + ww.lo;
      bool nan = false;
      for (int64_t ih = wh.lo; ih < wh.hi && !nan; ++ih)
        for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
          const T v = in[ih * g.w + iw];
          if (v > best || v != v) {  // NaN wins and stays, as on the CPU
            best = v;
            at = ih * g.w + iw;
            if (v != v) {
              nan = true;
              break;
            }
          }
        }
      y[idx] = best;
      argmax[idx] = at;
    } else {
      T sum = 0;
      for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
        for (int64_t iw = ww.lo; iw < ww.hi; ++iw) sum += in[ih * g.w + iw];
      y[idx] = sum / static_cast<T>(imax(1, wh.size * ww.size));
    }
  }
}

// One thread per input element: the sum over the outputs that reach it, in the order
// the CPU adds them (output rows, then columns).
template <class T, bool MAX>
__global__ void pool_backward_kernel(PoolGeom g, const T* gy, const int64_t* argmax, T* gx, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += step) {
    const int64_t iw = idx % g.w, ih = (idx / g.w) % g.h, plane = idx / (g.w * g.h);
    const int64_t self = ih * g.w + iw, out0 = plane * g.oh * g.ow;
    int64_t oh0, oh1, ow0, ow1;
    covering(g.adaptive, ih, g.h, g.oh, g.kh, g.sh, g.ph, oh0, oh1);
    covering(g.adaptive, iw, g.w, g.ow, g.kw, g.sw, g.pw, ow0, ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const Win wh = pool_window(g.adaptive, oh, g.h, g.oh, g.kh, g.sh, g.ph, g.count_include_pad);
      if (ih < wh.lo || ih >= wh.hi) continue;
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const Win ww = pool_window(g.adaptive, ow, g.w, g.ow, g.kw, g.sw, g.pw, g.count_include_pad);
        if (iw < ww.lo || iw >= ww.hi) continue;
        const int64_t o = out0 + oh * g.ow + ow;
        if (MAX) {
          if (argmax[o] == self) acc += gy[o];
        } else {
          acc += gy[o] / static_cast<T>(imax(1, wh.size * ww.size));
        }
      }
    }
    gx[idx] = acc;
  }
}

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

void CudaBackend::pool2d(bool is_max, const PoolGeom& g, const KView& x, const KView& y, const KView& argmax) {
  const DeviceGuard guard(index_);
  const char* op = is_max ? "max_pool2d" : "avg_pool2d";
  const int64_t total = g.n * g.c * g.oh * g.ow;
  if (total == 0) return;
  int64_t* am = typed<int64_t>(argmax);
  on_float(op, [&](auto* xs, auto* ys) {
    using T = std::remove_pointer_t<decltype(ys)>;
    if (is_max)
      launch(pool_forward_kernel<T, true>, blocks_for(total), kThreads, g, xs, ys, am, total);
    else
      launch(pool_forward_kernel<T, false>, blocks_for(total), kThreads, g, xs, ys, am, total);
  }, x, y);
  after_launch(op);
}

void CudaBackend::pool2d_backward(bool is_max, const PoolGeom& g, const KView& gy, const KView& argmax,
                                  const KView& gx) {
  const DeviceGuard guard(index_);
  const char* op = is_max ? "max_pool2d" : "avg_pool2d";
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total == 0) return;
  const int64_t* am = typed<const int64_t>(argmax);
  on_float(op, [&](auto* gys, auto* gxs) {
    using T = std::remove_pointer_t<decltype(gxs)>;
    if (is_max)
      launch(pool_backward_kernel<T, true>, blocks_for(total), kThreads, g, gys, am, gxs, total);
    else
      launch(pool_backward_kernel<T, false>, blocks_for(total), kThreads, g, gys, am, gxs, total);
  }, gy, gx);
  after_launch(op);
}

}  // namespace cuda
}  // namespace ember
