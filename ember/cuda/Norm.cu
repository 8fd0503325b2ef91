// cuda/Norm.cu: the per-channel kernels of batch norm on the GPU (channel_stats, channel_affine,
// channel_grad_sums, batch_norm_backward_input). tensor/cpu/Norm.cpp is its twin and the
// reference for every formula.
//
// Batch norm: per-channel sums run in double (as on the CPU), each channel split over
// several blocks that write partial sums; a second kernel adds a channel's partials in a
// fixed order. channel_stats is one pass over x: the sums of x - k and (x - k)^2 for k the
// channel's first element (the shifted-data variance, exact to double rounding unless the
// spread is ~1e8 times smaller than |mean - k|); the CPU's two passes give the same f32 values.
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

enum class ChannelSum { Stats, Grad };

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

// Every thread of the block calls it; thread 0 gets the block's sum.
__device__ double block_sum(double v) {
  __shared__ double part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const int nwarps = (blockDim.x + 31) >> 5;
  v = lane < nwarps ? part[lane] : 0.0;
  if (warp == 0) v = warp_sum(v);
  __syncthreads();  // part is reused by the next call
  return v;
}

// Block b sums chunk (b % chunks) of channel (b / chunks) over the n * s elements of the
// channel (image i, position r: x[(i * c + ch) * s + r]), into partial[2b] and partial[2b + 1]:
//   Stats: x - k and (x - k)^2 in double, k = the channel's first element (a shift that keeps
//          the one-pass variance exact to double rounding when the mean is far from 0)
//   Grad:  gy and gy * (x - mean), the product in T as on the CPU.
// Each thread steps through its elements as (image, position) with no division per element.
template <class T, ChannelSum KIND>
__global__ void channel_partial_kernel(int64_t n, int64_t c, int64_t s, const T* x, const T* gy, const T* mean,
                                       int chunks, double* partial) {
  const int64_t ch = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const int64_t len = n * s, j0 = len * chunk / chunks, j1 = len * (chunk + 1) / chunks;
  const int64_t step_i = blockDim.x / s, step_r = blockDim.x % s;
  const int64_t j = j0 + threadIdx.x;
  int64_t i = j / s, r = j - i * s;
  const double k = KIND == ChannelSum::Stats ? static_cast<double>(x[ch * s]) : 0.0;
  const T m = KIND == ChannelSum::Grad ? mean[ch] : T(0);
  double a = 0, b = 0;
  for (int64_t jj = j; jj < j1; jj += blockDim.x) {
    const int64_t off = (i * c + ch) * s + r;
    if (KIND == ChannelSum::Stats) {
      const double d = static_cast<double>(x[off]) - k;
      a += d;
      b += d * d;
    } else {
      const T g = gy[off];
      a += static_cast<double>(g);
      b += static_cast<double>(g * (x[off] - m));
    }
    i += step_i;
    r += step_r;
    if (r >= s) r -= s, ++i;
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) {
    partial[2 * static_cast<int64_t>(blockIdx.x)] = a;
    partial[2 * static_cast<int64_t>(blockIdx.x) + 1] = b;
  }
}

// One thread per channel adds its chunks in order.
//   Stats: out0 = mean, out1 = biased variance     Grad: out0, out1 = the two sums
template <class T, ChannelSum KIND>
__global__ void channel_finish_kernel(int64_t c, int64_t s, int chunks, double count, const T* x,
                                      const double* partial, T* out0, T* out1, BatchNormFinish<T> finish) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; ch < c; ch += step) {
    double a = 0, b = 0;
    for (int k = 0; k < chunks; ++k) {
      a += partial[2 * (ch * chunks + k)];
      b += partial[2 * (ch * chunks + k) + 1];
    }
    if (KIND == ChannelSum::Stats) {
      const double k = chunks > 0 ? static_cast<double>(x[ch * s]) : 0.0;  // the shift of the partial sums
      const double d = a / count;  // mean - k
      const double var = b / count - d * d;
      const T mean_t = static_cast<T>(k + d);
      const T var_t = static_cast<T>(var > 0 ? var : 0.0);  // rounding can leave a tiny negative
      out0[ch] = mean_t;
      out1[ch] = var_t;
      batch_norm_finish(ch, mean_t, var_t, finish);
    } else {
      out0[ch] = static_cast<T>(a);
      out1[ch] = static_cast<T>(b);
    }
  }
}

constexpr int kSumThreads = 256;

// Blocks per channel: about 16 elements per thread, at most ~1024 blocks in all.
int channel_chunks(int64_t n, int64_t c, int64_t s) {
  const int64_t per_block = int64_t{kSumThreads} * 16;
  const int64_t want = (n * s + per_block - 1) / per_block;
  const int64_t cap = std::max<int64_t>(1, 1024 / std::max<int64_t>(1, c));
  return static_cast<int>(std::clamp<int64_t>(want, 1, cap));
}

template <class T, ChannelSum KIND>
void channel_pass(int64_t n, int64_t c, int64_t s, const T* x, const T* gy, const T* mean, T* out0, T* out1,
                  const BatchNormFinish<T>& finish = {}) {
  EMBER_CHECK(c * static_cast<int64_t>(channel_chunks(n, c, s)) <= INT_MAX, "batch_norm: ", c,
              " channels are too many for one launch");
  // No elements: no partial sums (chunks 0), so every sum, mean and variance is 0, as on the CPU.
  const int chunks = n * s == 0 ? 0 : channel_chunks(n, c, s);
  const Scratch buf(static_cast<size_t>(c * chunks * 2) * sizeof(double));
  double* partial = static_cast<double*>(buf.get());
  if (chunks > 0) {
    launch(channel_partial_kernel<T, KIND>, static_cast<unsigned int>(c * chunks), kSumThreads, n, c, s, x, gy, mean,
           chunks, partial);
    after_launch("batch_norm");
  }
  const double count = static_cast<double>(std::max<int64_t>(1, n * s));
  launch(channel_finish_kernel<T, KIND>, blocks_for(c), kThreads, c, s, chunks, count, x, partial, out0, out1,
         finish);
  after_launch("batch_norm");
}

// The channel of flat element i of [n, c, s]: (i / s) % c, by multiplications (FastDivider) while
// the tensor has fewer than 2^31 elements.
template <class Index>
struct ChannelOf;
template <>
struct ChannelOf<uint32_t> {
  FastDivider s, c;
  ChannelOf(int64_t s_, int64_t c_) : s(static_cast<uint32_t>(s_)), c(static_cast<uint32_t>(c_)) {}
  __device__ uint32_t operator()(uint32_t i) const {
    const uint32_t q = s.div(i);
    return q - c.div(q) * c.d;
  }
};
template <>
struct ChannelOf<int64_t> {
  int64_t s, c;
  ChannelOf(int64_t s_, int64_t c_) : s(s_), c(c_) {}
  __device__ int64_t operator()(int64_t i) const { return (i / s) % c; }
};

template <class T, class Index>
__global__ void channel_affine_kernel(Index total, ChannelOf<Index> chan, const T* x, const T* scale, const T* shift,
                                      T* y) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const Index ch = chan(i);
    y[i] = x[i] * scale[ch] + shift[ch];
  }
}

template <class T, class Index>
__global__ void bn_backward_input_kernel(Index total, ChannelOf<Index> chan, const T* gy, const T* x, const T* mean,
                                         const T* a, const T* b, const T* k, T* gx) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const Index ch = chan(i);
    gx[i] = (gy[i] - a[ch] - (x[i] - mean[ch]) * b[ch]) * k[ch];
  }
}

// Every thread of the block gets the block's sum.
__device__ double block_sum_all(double v) {
  __shared__ double total;
  v = block_sum(v);
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  v = total;
  __syncthreads();  // total is reused by the next call
  return v;
}

// Layer norm: one block per row (grid-stride over rows), sums in double over the block.
template <class T>
__global__ void layer_norm_kernel(int64_t rows, int64_t cols, const T* x, const T* w, const T* b, double eps, T* y,
                                  T* mean, T* rstd) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    double s = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += static_cast<double>(xr[c]);
    const double mu = block_sum_all(s) / static_cast<double>(cols);
    double v = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double d = static_cast<double>(xr[c]) - mu;
      v += d * d;
    }
    const double rs = 1.0 / sqrt(block_sum_all(v) / static_cast<double>(cols) + eps);
    if (threadIdx.x == 0) {
      mean[r] = static_cast<T>(mu);
      rstd[r] = static_cast<T>(rs);
    }
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const T h = static_cast<T>((static_cast<double>(xr[c]) - mu) * rs);
      y[r * cols + c] = (w ? h * w[c] : h) + (b ? b[c] : T(0));
    }
  }
}

template <class T>
__global__ void layer_norm_backward_kernel(int64_t rows, int64_t cols, const T* gy, const T* x, const T* mean,
                                           const T* rstd, const T* w, T* gx) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const double mu = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    double s1 = 0, s2 = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double g = static_cast<double>(w ? gr[c] * w[c] : gr[c]);
      s1 += g;
      s2 += g * (static_cast<double>(xr[c]) - mu) * rs;
    }
    const double m1 = block_sum_all(s1) / static_cast<double>(cols);
    const double m2 = block_sum_all(s2) / static_cast<double>(cols);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double g = static_cast<double>(w ? gr[c] * w[c] : gr[c]);
      const double h = (static_cast<double>(xr[c]) - mu) * rs;
      gx[r * cols + c] = static_cast<T>(rs * (g - m1 - h * m2));
    }
  }
}

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

void CudaBackend::channel_stats(const KView& x, const KView& mean, const KView& var, const ChannelStatsFinish& finish) {
  const DeviceGuard guard(index_);
  const int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2];
  if (c == 0) return;
  on_float("batch_norm", [&](auto* xs, auto* m, auto* v) {
    using T = std::remove_pointer_t<decltype(xs)>;
    channel_pass<T, ChannelSum::Stats>(n, c, s, xs, nullptr, nullptr, m, v, finish.typed_for<T>());
  }, x, mean, var);
}

void CudaBackend::channel_grad_sums(const KView& gy, const KView& x, const KView& mean, const KView& sum_gy,
                                    const KView& sum_gy_xmu) {
  const DeviceGuard guard(index_);
  const int64_t n = x.shape[0], c = x.shape[1], s = x.shape[2];
  if (c == 0) return;
  on_float("batch_norm", [&](auto* gys, auto* xs, auto* m, auto* sg, auto* sgx) {
    using T = std::remove_pointer_t<decltype(xs)>;
    channel_pass<T, ChannelSum::Grad>(n, c, s, xs, gys, m, sg, sgx);
  }, gy, x, mean, sum_gy, sum_gy_xmu);
}

void CudaBackend::channel_affine(const KView& x, const KView& scale, const KView& shift, const KView& y) {
  const DeviceGuard guard(index_);
  const int64_t c = x.shape[1], s = x.shape[2], total = x.numel();
  if (total == 0) return;
  on_float("batch_norm", [&](auto* xs, auto* a, auto* b, auto* ys) {
    using T = std::remove_pointer_t<decltype(xs)>;
    if (total <= INT32_MAX)  // 32-bit indexing
      launch(channel_affine_kernel<T, uint32_t>, blocks_for(total), kThreads, static_cast<uint32_t>(total),
             ChannelOf<uint32_t>(s, c), xs, a, b, ys);
    else
      launch(channel_affine_kernel<T, int64_t>, blocks_for(total), kThreads, total, ChannelOf<int64_t>(s, c), xs, a,
             b, ys);
  }, x, scale, shift, y);
  after_launch("batch_norm");
}

void CudaBackend::batch_norm_backward_input(const KView& gy, const KView& x, const KView& mean, const KView& a,
                                            const KView& b, const KView& k, const KView& gx) {
  const DeviceGuard guard(index_);
  const int64_t c = x.shape[1], s = x.shape[2], total = x.numel();
  if (total == 0) return;
  on_float("batch_norm", [&](auto* gys, auto* xs, auto* m, auto* as, auto* bs, auto* ks, auto* gxs) {
    using T = std::remove_pointer_t<decltype(xs)>;
    if (total <= INT32_MAX)
      launch(bn_backward_input_kernel<T, uint32_t>, blocks_for(total), kThreads, static_cast<uint32_t>(total),
             ChannelOf<uint32_t>(s, c), gys, xs, m, as, bs, ks, gxs);
    else
      launch(bn_backward_input_kernel<T, int64_t>, blocks_for(total), kThreads, total, ChannelOf<int64_t>(s, c), gys,
             xs, m, as, bs, ks, gxs);
  }, gy, x, mean, a, b, k, gx);
  after_launch("batch_norm");
}

void CudaBackend::layer_norm(const KView& y, const KView& mean, const KView& rstd, const KView& x, const KView& w,
                             const KView& b, double eps) {
  const DeviceGuard guard(index_);
  const int64_t rows = x.shape[0], cols = x.shape[1];
  if (rows == 0) return;
  on_float("layer_norm", [&](auto* ys, auto* ms, auto* rs, auto* xs, auto* ws, auto* bs) {
    using T = std::remove_pointer_t<decltype(xs)>;
    launch(layer_norm_kernel<T>, blocks_for(rows, 1), kSumThreads, rows, cols, xs, ws, bs, eps, ys, ms, rs);
  }, y, mean, rstd, x, w, b);
  after_launch("layer_norm");
}

void CudaBackend::layer_norm_backward_input(const KView& gx, const KView& gy, const KView& x, const KView& mean,
                                            const KView& rstd, const KView& w) {
  const DeviceGuard guard(index_);
  const int64_t rows = x.shape[0], cols = x.shape[1];
  if (rows == 0) return;
  on_float("layer_norm", [&](auto* gxs, auto* gys, auto* xs, auto* ms, auto* rs, auto* ws) {
    using T = std::remove_pointer_t<decltype(xs)>;
    launch(layer_norm_backward_kernel<T>, blocks_for(rows, 1), kSumThreads, rows, cols, gys, xs, ms, rs, ws, gxs);
  }, gx, gy, x, mean, rstd, w);
  after_launch("layer_norm");
}

}  // namespace cuda
}  // namespace ember
