// tensor/cpu/Reduce.cpp: the reductions of the CPU backend: sum/max/min over dims, argmax/argmin,
// and softmax / log_softmax over rows with their backward. cuda/Reduce.cu is its twin.
// Inner loops are written so that the compiler vectorises them; float exp is
// tensor/VecMath.h's (vectorisable, unlike glibc's expf).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/cpu/DimWalk.h"
#include "ember/tensor/cpu/Loops.h"

namespace ember {
namespace cpu {

namespace {

// Reductions. dst is contiguous with src's ndim and 1 on reduced dims.
template <class T>
struct Acc {
  ReduceOp op;
  T init(T first) const { return op == ReduceOp::Sum ? T(0) : first; }
  T combine(T a, T b) const {
    if (op == ReduceOp::Sum) return a + b;
    if (op == ReduceOp::Max) return (b > a || b != b) ? b : a;  // NaN wins, as in PyTorch
    return (b < a || b != b) ? b : a;
  }
};

// Sums accumulate floats in double between blocks (sum of 16M floats stays exact to
// ~1e-7 relative, like PyTorch's cascade sum); other types in their own type.
template <class T> struct SumAcc { using type = T; };
template <> struct SumAcc<float> { using type = double; };

// Sum of n contiguous values. Inside a block, 32 independent partial sums (several
// vector registers, so the adds pipeline instead of waiting on one register); each
// block's total is then added in the wider accumulator type.
template <class T>
typename SumAcc<T>::type sum_contig(const T* x, int64_t n) {
  using A = typename SumAcc<T>::type;
  constexpr int kLanes = 32;
  constexpr int64_t kBlock = 4096;  // a multiple of kLanes
  A total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    const T* xb = x + b;
    T acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += xb[i + j];
    A block = 0;
    for (; i < len; ++i) block += xb[i];
    for (int j = 0; j < kLanes; ++j) block += acc[j];
    total += block;
  }
  return total;
}

template <class T>
T reduce_row(ReduceOp op, const T* x, int64_t n, int64_t stride) {
  if (op == ReduceOp::Sum) {
    if (stride == 1) return static_cast<T>(sum_contig(x, n));
    typename SumAcc<T>::type acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += x[i * stride];
    return static_cast<T>(acc);
  }
  Acc<T> a{op};
  T acc = x[0];
  for (int64_t i = 1; i < n; ++i) acc = a.combine(acc, x[i * stride]);
  return acc;
}

template <class T>
void reduce_impl(ReduceOp op, const KView& dst, const KView& src, double scale) {
  // Split src dims into kept (outer) and reduced (inner), drop size-1 dims.
  int nk = 0, nr = 0;
  int64_t kshape[kMaxDims], kstride[kMaxDims], rshape[kMaxDims], rstride[kMaxDims];
  for (int d = 0; d < src.ndim; ++d) {
    if (src.shape[d] == 1) continue;
    if (dst.shape[d] == 1) { rshape[nr] = src.shape[d]; rstride[nr++] = src.strides[d]; }
    else { kshape[nk] = src.shape[d]; kstride[nk++] = src.strides[d]; }
  }
  // Merge reduced dims that are contiguous with each other.
  auto merge = [](int& n, int64_t* shape, int64_t* stride) {
    int out = 0;
    for (int d = 0; d < n; ++d) {
      if (out > 0 && stride[out - 1] == stride[d] * shape[d]) {
        shape[out - 1] *= shape[d];
        stride[out - 1] = stride[d];
        continue;
      }
      shape[out] = shape[d];
      stride[out++] = stride[d];
    }
    n = out;
  };
  merge(nr, rshape, rstride);
  merge(nk, kshape, kstride);
  int64_t K = 1, R = 1;
  for (int d = 0; d < nk; ++d) K *= kshape[d];
  for (int d = 0; d < nr; ++d) R *= rshape[d];
  T* out = reinterpret_cast<T*>(dst.data);
  const T* in = reinterpret_cast<const T*>(src.data);
  const T sc = static_cast<T>(scale);
  const bool scaled = op == ReduceOp::Sum && scale != 1.0;

  auto kept_offset = [&](int64_t k) {
    int64_t off = 0;
    for (int d = nk - 1; d >= 0; --d) {
      off += (k % kshape[d]) * kstride[d];
      k /= kshape[d];
    }
    return off;
  };

  if (nr <= 1) {  // every output reduces one strided row
    int64_t rs = nr == 1 ? rstride[0] : 1;
    if (op == ReduceOp::Sum && K == 1 && rs == 1 && R >= 2 * kParallelGrain) {
      // One long contiguous sum (x.sum()): fixed-size chunks summed in parallel and
      // added in chunk order, so the result does not depend on the thread count.
      using A = typename SumAcc<T>::type;
      constexpr int64_t kChunk = int64_t{1} << 16;
      const int64_t nchunks = (R + kChunk - 1) / kChunk;
      std::vector<A> part(static_cast<size_t>(nchunks));
#pragma omp parallel for schedule(static)
      for (int64_t c = 0; c < nchunks; ++c)
        part[static_cast<size_t>(c)] = sum_contig(in + c * kChunk, std::min(kChunk, R - c * kChunk));
      A total = 0;
      for (A v : part) total += v;
      if constexpr (std::is_floating_point_v<T>) out[0] = static_cast<T>(scaled ? total * static_cast<A>(scale) : total);
      else out[0] = scaled ? static_cast<T>(total) * sc : static_cast<T>(total);
      return;
    }
#pragma omp parallel for if (K * R >= 2 * kParallelGrain && K > 1) schedule(static)
    for (int64_t k = 0; k < K; ++k) {
      T v = reduce_row(op, in + kept_offset(k), R, rs);
      out[k] = scaled ? v * sc : v;
    }
    return;
  }
  if (nk == 1 && kstride[0] == 1) {  // reduce leading dims of rows laid out as [..., K]
    Acc<T> a{op};
    for (int64_t k = 0; k < K; ++k) out[k] = a.init(in[k]);
    bool first = op != ReduceOp::Sum;
    for (int64_t r = 0; r < R; ++r) {
      if (first) { first = false; continue; }
      int64_t off = 0, rem = r;
      for (int d = nr - 1; d >= 0; --d) { off += (rem % rshape[d]) * rstride[d]; rem /= rshape[d]; }
      const T* row = in + off;
      if (op == ReduceOp::Sum) {
#pragma omp simd
        for (int64_t k = 0; k < K; ++k) out[k] += row[k];
      } else {
        for (int64_t k = 0; k < K; ++k) out[k] = a.combine(out[k], row[k]);
      }
    }
    if (scaled) for (int64_t k = 0; k < K; ++k) out[k] *= sc;
    return;
  }
  // General case: walk the reduced index space for each output.
  Acc<T> a{op};
#pragma omp parallel for if (K * R >= 2 * kParallelGrain && K > 1) schedule(static)
  for (int64_t k = 0; k < K; ++k) {
    const T* base = in + kept_offset(k);
    T acc = T(0);
    for (int64_t r = 0; r < R; ++r) {
      int64_t off = 0, rem = r;
      for (int d = nr - 1; d >= 0; --d) { off += (rem % rshape[d]) * rstride[d]; rem /= rshape[d]; }
      acc = r == 0 ? (op == ReduceOp::Sum ? base[off] : base[off]) : a.combine(acc, base[off]);
    }
    out[k] = scaled ? acc * sc : acc;
  }
}

template <class T>
void softmax_rows(bool log, T* y, const T* x, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= 2 * kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T m = xr[0];
#pragma omp simd reduction(max : m)
    for (int64_t c = 1; c < cols; ++c) m = xr[c] > m ? xr[c] : m;
    T s = 0;
    if (log) {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c) s += math::exp(xr[c] - m);
      T lse = m + math::log(s);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] - lse;
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c) {
        yr[c] = math::exp(xr[c] - m);
        s += yr[c];
      }
      T inv = T(1) / s;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
    }
  }
}

template <class T>
void softmax_backward_rows(bool log, T* gx, const T* gy, const T* y, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= 2 * kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gy + r * cols;
    const T* yr = y + r * cols;
    T* o = gx + r * cols;
    T s = 0;
    if (log) {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c) s += g[c];
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) o[c] = g[c] - math::exp(yr[c]) * s;
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c) s += g[c] * yr[c];
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) o[c] = yr[c] * (g[c] - s);
    }
  }
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const KView& dst, const KView& src, double scale) {
  dispatch_numeric(src.dtype, "reduce", [&](auto tag) {
    reduce_impl<decltype(tag)>(op, dst, src, scale);
  });
}

void CpuBackend::arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) {
  dispatch_numeric(src.dtype, is_max ? "argmax" : "argmin", [&](auto tag) {
    using T = decltype(tag);
    DimWalk ws = walk(src, dim), wd = walk(dst, dim);
    const T* in = reinterpret_cast<const T*>(src.data);
    int64_t* out = reinterpret_cast<int64_t*>(dst.data);
#pragma omp parallel for if (ws.outer_count * ws.n >= 2 * kParallelGrain) schedule(static)
    for (int64_t i = 0; i < ws.outer_count; ++i) {
      const T* x = in + ws.offset(i);
      int64_t best = 0;
      T bv = x[0];
      for (int64_t j = 1; j < ws.n; ++j) {
        T v = x[j * ws.stride];
        if (bv != bv) break;  // NaN is the max and the min, as in PyTorch
        if ((is_max && (v > bv || v != v)) || (!is_max && (v < bv || v != v))) { bv = v; best = j; }
      }
      out[wd.offset(i)] = best;
    }
  });
}

void CpuBackend::softmax(bool log, const KView& y, const KView& x) {
  on_float(log ? "log_softmax" : "softmax",
           [&](auto* ys, auto* xs) { softmax_rows(log, ys, xs, x.shape[0], x.shape[1]); }, y, x);
}

void CpuBackend::softmax_backward(bool log, const KView& gx, const KView& gy, const KView& y) {
  on_float(log ? "log_softmax" : "softmax",
           [&](auto* gxs, auto* gys, auto* ys) { softmax_backward_rows(log, gxs, gys, ys, y.shape[0], y.shape[1]); },
           gx, gy, y);
}

}  // namespace cpu
}  // namespace ember
