// cuda/Reduce.cu: sum/max/min over any dims, argmax/argmin, and the softmax rows.
//
// reduce: like the CPU (tensor/cpu/Reduce.cpp, reduce_impl) the host splits src's
// dims into kept dims (K outputs) and reduced dims (R inputs per output), drops
// size-1 dims and merges runs that are contiguous. Then one of two kernels:
//   - block per output: 256 threads stride over the R inputs, then a warp-shuffle
//     reduction and one more across the block's warps. Used when the reduced
//     elements are adjacent in memory (sum over the last dim) or R is large.
//     With few outputs and a huge R (sum of everything), each output is split
//     into chunks reduced by separate blocks into scratch, then reduced again.
//   - thread per output: a thread loops over its R inputs. Used when R is small:
//     neighbouring threads read neighbouring addresses when the kept dim is the contiguous one.
//   - columns (the kept dim is the contiguous one and R is not small, sum over dim 0 of
//     [N, C]): a 32 x 8 block takes 32 neighbouring outputs and a chunk of R; the chunks of one
//     output are added by a second pass in a fixed order, so results do not change from run to run.
// Max and min let NaN win, as the CPU and PyTorch do. Sums use T as accumulator.
//
// softmax: one warp per row of a contiguous [rows, cols]; the row max and the sum
// of exponentials are warp-shuffle all-reductions. Same formulas as the CPU rows.
#include <type_traits>
#include <algorithm>

#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

// ---------------------------------------------------------------------------
// Identities and combines
template <class T> __device__ T pos_inf();
template <> __device__ float pos_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ double pos_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }
template <> __device__ int64_t pos_inf<int64_t>() { return INT64_MAX; }
template <class T> __device__ T neg_inf() { return -pos_inf<T>(); }
template <> __device__ int64_t neg_inf<int64_t>() { return INT64_MIN; }

template <class T, ReduceOp OP>
__device__ T identity() {
  if (OP == ReduceOp::Sum) return T(0);
  if (OP == ReduceOp::Max) return neg_inf<T>();
  return pos_inf<T>();
}

template <class T, ReduceOp OP>
__device__ T combine(T a, T b) {
  if (OP == ReduceOp::Sum) return a + b;
  if (OP == ReduceOp::Max) return (b > a || b != b) ? b : a;  // NaN wins
  return (b < a || b != b) ? b : a;
}

// Thread 0's lane... all lanes take part; lane 0 ends with the warp's result.
template <class T, ReduceOp OP>
__device__ T warp_reduce(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = combine<T, OP>(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

// Every thread of the block must call it; thread 0 gets the block's result.
template <class T, ReduceOp OP>
__device__ T block_reduce(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce<T, OP>(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int nwarps = (blockDim.x + 31) >> 5;
  v = static_cast<int>(threadIdx.x) < nwarps ? partial[lane] : identity<T, OP>();
  if (warp == 0) v = warp_reduce<T, OP>(v);
  __syncthreads();  // `partial` may be reused by the next call
  return v;
}

// ---------------------------------------------------------------------------
// Reduce plan: K kept positions x R reduced positions (element strides).
struct ReducePlan {
  int nk = 0, nr = 0;
  int64_t kshape[kMaxDims], ksrc[kMaxDims], kdst[kMaxDims];
  int64_t rshape[kMaxDims], rstride[kMaxDims];
  int64_t K = 1, R = 1;
};

// Offsets in src and dst of kept position k.
__device__ inline int64_t kept_offsets(const ReducePlan& p, int64_t k, int64_t& dst_off) {
  int64_t s = 0, d = 0;
  for (int i = p.nk - 1; i >= 0; --i) {
    const int64_t c = k % p.kshape[i];
    k /= p.kshape[i];
    s += c * p.ksrc[i];
    d += c * p.kdst[i];
  }
  dst_off = d;
  return s;
}

__device__ inline int64_t reduced_offset(const ReducePlan& p, int64_t r) {
  if (p.nr == 1) return r * p.rstride[0];  // the usual case after merging: no division
  int64_t off = 0;
  for (int i = p.nr - 1; i >= 0; --i) {
    off += (r % p.rshape[i]) * p.rstride[i];
    r /= p.rshape[i];
  }
  return off;
}

// Block b reduces chunk (b % chunks) of output (b / chunks). With chunks > 1 the
// block writes its partial result to out[b]; else the final value to dst.
template <class T, ReduceOp OP>
__global__ void reduce_block_kernel(const T* in, T* out, ReducePlan p, int64_t chunks, T scale,
                                    bool scaled) {
  for (int64_t b = blockIdx.x; b < p.K * chunks; b += gridDim.x) {
    const int64_t k = b / chunks, c = b % chunks;
    int64_t doff = 0;
    const int64_t soff = kept_offsets(p, k, doff);
    const int64_t r0 = p.R * c / chunks, r1 = p.R * (c + 1) / chunks;
    T acc = identity<T, OP>();
    int64_t r = r0 + threadIdx.x;
    // Four loads in flight, combined in the order of the plain loop below (same result).
    for (const int64_t bd = blockDim.x; r + 3 * bd < r1; r += 4 * bd) {
      const T v0 = in[soff + reduced_offset(p, r)], v1 = in[soff + reduced_offset(p, r + bd)];
      const T v2 = in[soff + reduced_offset(p, r + 2 * bd)], v3 = in[soff + reduced_offset(p, r + 3 * bd)];
      acc = combine<T, OP>(combine<T, OP>(combine<T, OP>(combine<T, OP>(acc, v0), v1), v2), v3);
    }
    for (; r < r1; r += blockDim.x) acc = combine<T, OP>(acc, in[soff + reduced_offset(p, r)]);
    acc = block_reduce<T, OP>(acc);
    if (threadIdx.x == 0) {
      if (chunks > 1) out[b] = acc;
      else out[doff] = scaled ? acc * scale : acc;
    }
  }
}

template <class T, ReduceOp OP>
__global__ void reduce_thread_kernel(const T* in, T* out, ReducePlan p, T scale, bool scaled) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < p.K; k += step) {
    int64_t doff = 0;
    const T* base = in + kept_offsets(p, k, doff);
    T acc = identity<T, OP>();
    for (int64_t r = 0; r < p.R; ++r) acc = combine<T, OP>(acc, base[reduced_offset(p, r)]);
    out[doff] = scaled ? acc * scale : acc;
  }
}

// Column reduction: the kept elements are the contiguous ones (sum over dim 0 of [N, C]).
// A block of kColX x kColY threads takes kColX neighbouring outputs (a warp reads kColX
// neighbouring addresses) and one chunk of their R inputs, which its kColY rows of threads share;
// the rows' results are added in a fixed order. With chunks > 1, chunk c of output k goes to
// out[c * K + k] and a second pass adds the chunks, so [1M, 512].sum(0) gets enough blocks.
constexpr int kColX = 32, kColY = 8;

template <class T, ReduceOp OP>
__global__ void reduce_columns_kernel(const T* in, T* out, ReducePlan p, int64_t chunks, T scale, bool scaled) {
  __shared__ T part[kColY][kColX];
  const int64_t tiles = (p.K + kColX - 1) / kColX;
  for (int64_t b = blockIdx.x; b < tiles * chunks; b += gridDim.x) {
    const int64_t k = (b % tiles) * kColX + threadIdx.x, c = b / tiles;
    const int64_t r0 = p.R * c / chunks, r1 = p.R * (c + 1) / chunks;
    T acc = identity<T, OP>();
    int64_t doff = 0;
    if (k < p.K) {
      const T* base = in + kept_offsets(p, k, doff);
      for (int64_t r = r0 + threadIdx.y; r < r1; r += kColY) acc = combine<T, OP>(acc, base[reduced_offset(p, r)]);
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && k < p.K) {
      for (int y = 1; y < kColY; ++y) acc = combine<T, OP>(acc, part[y][threadIdx.x]);
      if (chunks > 1) out[c * p.K + k] = acc;
      else out[doff] = scaled ? acc * scale : acc;
    }
    __syncthreads();  // `part` is reused by the block's next tile
  }
}

void merge_dims(int& n, int64_t* shape, int64_t* s1, int64_t* s2) {
  int out = 0;
  for (int d = 0; d < n; ++d) {
    if (out > 0 && s1[out - 1] == s1[d] * shape[d] && (!s2 || s2[out - 1] == s2[d] * shape[d])) {
      shape[out - 1] *= shape[d];
      s1[out - 1] = s1[d];
      if (s2) s2[out - 1] = s2[d];
      continue;
    }
    shape[out] = shape[d];
    s1[out] = s1[d];
    if (s2) s2[out] = s2[d];
    ++out;
  }
  n = out;
}

template <class T, ReduceOp OP>
void reduce_t(const KView& dst, const KView& src, double scale_d) {
  ReducePlan p;
  for (int d = 0; d < src.ndim; ++d) {
    if (src.shape[d] == 1) continue;
    if (dst.shape[d] == 1) {
      p.rshape[p.nr] = src.shape[d];
      p.rstride[p.nr++] = src.strides[d];
    } else {
      p.kshape[p.nk] = src.shape[d];
      p.ksrc[p.nk] = src.strides[d];
      p.kdst[p.nk++] = dst.strides[d];
    }
  }
  merge_dims(p.nr, p.rshape, p.rstride, nullptr);
  merge_dims(p.nk, p.kshape, p.ksrc, p.kdst);
  for (int d = 0; d < p.nk; ++d) p.K *= p.kshape[d];
  for (int d = 0; d < p.nr; ++d) p.R *= p.rshape[d];
  if (p.K == 0) return;

  const T* in = reinterpret_cast<const T*>(src.data);
  T* out = reinterpret_cast<T*>(dst.data);
  const T scale = static_cast<T>(scale_d);
  const bool scaled = OP == ReduceOp::Sum && scale_d != 1.0;
  const bool reduced_contiguous = p.nr > 0 && p.rstride[p.nr - 1] == 1;

  if (p.R <= 32 || (!reduced_contiguous && p.K >= 512 && p.R < 256)) {
    launch(reduce_thread_kernel<T, OP>, blocks_for(p.K), kThreads, in, out, p, scale, scaled);
    after_launch("reduce");
    return;
  }
  if (!reduced_contiguous && p.K >= kColX) {
    // Enough blocks to fill the GPU: about 1024, each with at least 64 rows of its columns.
    const int64_t tiles = (p.K + kColX - 1) / kColX;
    const int64_t cchunks = std::max<int64_t>(1, std::min<int64_t>((1024 + tiles - 1) / tiles, p.R / 64));
    const auto cgrid = static_cast<unsigned int>(std::min<int64_t>(tiles * cchunks, max_grid()));
    const dim3 block(kColX, kColY);
    if (cchunks == 1) {
      launch(reduce_columns_kernel<T, OP>, cgrid, block, in, out, p, 1, scale, scaled);
      after_launch("reduce");
      return;
    }
    const size_t nbytes = static_cast<size_t>(p.K * cchunks) * sizeof(T);
    const Scratch partial(nbytes);
    T* part = static_cast<T*>(partial.get());
    launch(reduce_columns_kernel<T, OP>, cgrid, block, in, part, p, cchunks, scale, scaled);
    after_launch("reduce");
    // Second pass: src is the [chunks, K] scratch, contiguous in k; a thread per output.
    ReducePlan q = p;
    int64_t acc = 1;
    for (int d = q.nk - 1; d >= 0; --d) {
      q.ksrc[d] = acc;
      acc *= q.kshape[d];
    }
    q.nr = 1;
    q.rshape[0] = cchunks;
    q.rstride[0] = p.K;
    q.R = cchunks;
    launch(reduce_thread_kernel<T, OP>, blocks_for(p.K), kThreads, part, out, q, scale, scaled);
    after_launch("reduce");
    return;
  }
  int64_t chunks = 1;
  if (p.K < 256 && p.R >= 32768) chunks = std::max<int64_t>(1, std::min<int64_t>(p.R / 8192, (1024 + p.K - 1) / p.K));
  const auto grid = static_cast<unsigned int>(std::min<int64_t>(p.K * chunks, max_grid()));
  if (chunks == 1) {
    launch(reduce_block_kernel<T, OP>, grid, kThreads, in, out, p, 1, scale, scaled);
    after_launch("reduce");
    return;
  }
  // Two passes: [K, chunks] partial results in scratch, then reduce each row of them.
  const size_t nbytes = static_cast<size_t>(p.K * chunks) * sizeof(T);
  T* partial = static_cast<T*>(scratch_allocate(nbytes));
  launch(reduce_block_kernel<T, OP>, grid, kThreads, in, partial, p, chunks, scale, scaled);
  after_launch("reduce");
  ReducePlan q = p;  // same kept dims and dst strides; src is the [K, chunks] scratch
  int64_t acc = chunks;
  for (int d = q.nk - 1; d >= 0; --d) {
    q.ksrc[d] = acc;
    acc *= q.kshape[d];
  }
  q.nr = 1;
  q.rshape[0] = chunks;
  q.rstride[0] = 1;
  q.R = chunks;
  launch(reduce_block_kernel<T, OP>, static_cast<unsigned int>(std::min<int64_t>(p.K, max_grid())), kThreads,
      partial, out, q, 1, scale, scaled);
  after_launch("reduce");
  scratch_free(partial, nbytes);  // stream order keeps the reuse safe
}

// ---------------------------------------------------------------------------
// arg_reduce: one thread per output walks dim `dim`.
template <class T>
__global__ void arg_reduce_kernel(KView dst, KView src, int dim, bool is_max, int64_t outputs) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t n = src.shape[dim], stride = src.strides[dim];
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outputs; i += step) {
    int64_t soff = 0, doff = 0, rem = i;
    for (int d = src.ndim - 1; d >= 0; --d) {
      if (d == dim) continue;
      const int64_t c = rem % src.shape[d];
      rem /= src.shape[d];
      soff += c * src.strides[d];
      doff += c * dst.strides[d];
    }
    const T* x = reinterpret_cast<const T*>(src.data) + soff;
    int64_t best = 0;
    T bv = x[0];
    for (int64_t j = 1; j < n; ++j) {
      if (bv != bv) break;  // NaN is the max and the min, as on the CPU
      const T v = x[j * stride];
      if ((is_max && (v > bv || v != v)) || (!is_max && (v < bv || v != v))) {
        bv = v;
        best = j;
      }
    }
    reinterpret_cast<int64_t*>(dst.data)[doff] = best;
  }
}

// ---------------------------------------------------------------------------
// Softmax rows: warp w of the grid handles rows w, w + warps, ...
template <class T>
__device__ T warp_all_max(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const T u = __shfl_xor_sync(0xffffffffu, v, o);
    v = u > v ? u : v;
  }
  return v;
}
template <class T>
__device__ T warp_all_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T, bool LOG>
__global__ void softmax_kernel(T* y, const T* x, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T m = neg_inf<T>();
    for (int64_t c = lane; c < cols; c += 32) m = xr[c] > m ? xr[c] : m;
    m = warp_all_max(m);
    T s = 0;
    for (int64_t c = lane; c < cols; c += 32) s += math::exp(xr[c] - m);
    s = warp_all_sum(s);
    if (LOG) {
      const T lse = m + math::log(s);
      for (int64_t c = lane; c < cols; c += 32) yr[c] = xr[c] - lse;
    } else {
      const T inv = T(1) / s;
      for (int64_t c = lane; c < cols; c += 32) yr[c] = math::exp(xr[c] - m) * inv;
    }
  }
}

template <class T, bool LOG>
__global__ void softmax_backward_kernel(T* gx, const T* gy, const T* y, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const T* g = gy + r * cols;
    const T* yr = y + r * cols;
    T* o = gx + r * cols;
    T s = 0;
    if (LOG) {
      for (int64_t c = lane; c < cols; c += 32) s += g[c];
      s = warp_all_sum(s);
      for (int64_t c = lane; c < cols; c += 32) o[c] = g[c] - math::exp(yr[c]) * s;
    } else {
      for (int64_t c = lane; c < cols; c += 32) s += g[c] * yr[c];
      s = warp_all_sum(s);
      for (int64_t c = lane; c < cols; c += 32) o[c] = yr[c] * (g[c] - s);
    }
  }
}

unsigned int row_blocks(int64_t rows) { return blocks_for(rows * 32); }  // a warp per row

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

// ---------------------------------------------------------------------------
// Launchers (cuda/Launch.h)
void CudaBackend::reduce(ReduceOp op, const KView& dst, const KView& src, double scale) {
  const DeviceGuard guard(index_);
  dispatch_numeric(src.dtype, "reduce", [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::Sum: reduce_t<T, ReduceOp::Sum>(dst, src, scale); break;
      case ReduceOp::Max: reduce_t<T, ReduceOp::Max>(dst, src, scale); break;
      case ReduceOp::Min: reduce_t<T, ReduceOp::Min>(dst, src, scale); break;
    }
  });
}

void CudaBackend::arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) {
  const DeviceGuard guard(index_);
  dispatch_numeric(src.dtype, is_max ? "argmax" : "argmin", [&](auto tag) {
    using T = decltype(tag);
    const int64_t outputs = src.shape[dim] == 0 ? 0 : src.numel() / src.shape[dim];
    if (outputs == 0) return;
    launch(arg_reduce_kernel<T>, blocks_for(outputs), kThreads, dst, src, dim, is_max, outputs);
    after_launch(is_max ? "argmax" : "argmin");
  });
}

void CudaBackend::softmax(bool log, const KView& y, const KView& x) {
  const DeviceGuard guard(index_);
  const char* name = log ? "log_softmax" : "softmax";
  const int64_t rows = x.shape[0], cols = x.shape[1];
  if (rows * cols == 0) return;
  on_float(name, [&](auto* ys, auto* xs) {
    using T = std::remove_pointer_t<decltype(ys)>;
    if (log) launch(softmax_kernel<T, true>, row_blocks(rows), kThreads, ys, xs, rows, cols);
    else launch(softmax_kernel<T, false>, row_blocks(rows), kThreads, ys, xs, rows, cols);
  }, y, x);
  after_launch(name);
}

void CudaBackend::softmax_backward(bool log, const KView& gx, const KView& gy, const KView& y) {
  const DeviceGuard guard(index_);
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  const int64_t rows = y.shape[0], cols = y.shape[1];
  if (rows * cols == 0) return;
  on_float(name, [&](auto* o, auto* g, auto* yy) {
    using T = std::remove_pointer_t<decltype(o)>;
    if (log) launch(softmax_backward_kernel<T, true>, row_blocks(rows), kThreads, o, g, yy, rows, cols);
    else launch(softmax_backward_kernel<T, false>, row_blocks(rows), kThreads, o, g, yy, rows, cols);
  }, gx, gy, y);
  after_launch(name);
}

}  // namespace cuda
}  // namespace ember
