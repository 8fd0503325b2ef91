// tensor/cpu/CpuBackend.cpp: the CPU kernel table (see tensor/Backend.h).
//
// Elementwise kernels are instantiated from tensor/ElementwiseOps.def and run on
// cpu_loop (tensor/cpu/Loops.h). GEMM goes to OpenBLAS. Reductions, softmax and
// indexing are plain loops written so that the compiler vectorises the inner one;
// float exp inside them is tensor/cpu/VecMath.h's (vectorisable, unlike glibc's expf).
// Speed against PyTorch: bench/run, bench/results/cpu.md.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "tensor/Backend.h"
#include "tensor/Dispatch.h"
#include "tensor/Random.h"
#include "tensor/Tensor.h"
#include "tensor/cpu/ConvKernels.h"
#include "tensor/cpu/Loops.h"

namespace ember {

// ---------------------------------------------------------------------------
// Op names (shared by every backend's errors)
const char* op_name(UnaryOp op) {
  switch (op) {
#define EMBER_UNARY(Name, expr) \
  case UnaryOp::Name: return #Name;
#include "tensor/ElementwiseOps.def"
  }
  return "?";
}
const char* op_name(BinaryOp op) {
  switch (op) {
#define EMBER_BINARY(Name, expr) \
  case BinaryOp::Name: return #Name;
#define EMBER_BINARY_FLOAT(Name, expr) \
  case BinaryOp::Name: return #Name;
#include "tensor/ElementwiseOps.def"
  }
  return "?";
}
bool binary_is_float_only(BinaryOp op) {
  switch (op) {
#define EMBER_BINARY_FLOAT(Name, expr) \
  case BinaryOp::Name: return true;
#include "tensor/ElementwiseOps.def"
    default: return false;
  }
}

namespace cpu {
namespace {

// ---------------------------------------------------------------------------
// Allocator: 64-byte aligned, so vector loads never split cache lines.
//
// Large blocks are cached. glibc serves a block of 32 MiB or more straight from mmap
// and unmaps it on free, so every new large tensor is fresh memory whose first write
// takes a page fault per 4 KiB: for the 64 MiB result of an op on 16M floats that is
// 16k faults and about as long as the op itself (PyTorch pays the same). Freed blocks
// of kCacheMin bytes or more are kept, up to a cap (EMBER_CPU_CACHE_MB, default 256;
// 0 turns the cache off; off under AddressSanitizer so use-after-free stays visible),
// and handed back for the next request of the same size, rounded up to kCacheRound.
// When the cap would be passed, the blocks freed longest ago go back to the OS.
constexpr size_t kCacheMin = size_t{1} << 20;
constexpr size_t kCacheRound = size_t{64} << 10;

class BlockCache {
 public:
  static BlockCache& get() {
    static BlockCache* c = new BlockCache;  // never destroyed: tensors may die after exit starts
    return *c;
  }
  bool caches(size_t nbytes) const { return cap_ > 0 && nbytes >= kCacheMin; }
  static size_t rounded(size_t nbytes) { return (nbytes + kCacheRound - 1) / kCacheRound * kCacheRound; }

  void* take(size_t size) {  // size already rounded; nullptr when none is cached
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_size_.find(size);
    if (it == by_size_.end()) return nullptr;
    void* p = it->second->second;
    lru_.erase(it->second);
    by_size_.erase(it);
    cached_ -= size;
    return p;
  }
  void put(void* p, size_t size) {
    if (size > cap_) return std::free(p);
    std::lock_guard<std::mutex> lock(mu_);
    while (cached_ + size > cap_ && !lru_.empty()) {  // evict the oldest
      auto& [old_size, old_p] = lru_.front();
      for (auto it = by_size_.find(old_size); it != by_size_.end(); ++it)
        if (it->second == lru_.begin()) { by_size_.erase(it); break; }
      cached_ -= old_size;
      std::free(old_p);
      lru_.pop_front();
    }
    lru_.emplace_back(size, p);
    by_size_.emplace(size, std::prev(lru_.end()));
    cached_ += size;
  }

 private:
  BlockCache() {
#if defined(__SANITIZE_ADDRESS__)
    cap_ = 0;
#else
    const char* e = std::getenv("EMBER_CPU_CACHE_MB");
    cap_ = (e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : size_t{256}) << 20;
#endif
  }
  using Lru = std::list<std::pair<size_t, void*>>;  // (size, block), oldest first
  std::mutex mu_;
  Lru lru_;
  std::multimap<size_t, Lru::iterator> by_size_;
  size_t cached_ = 0;
  size_t cap_ = 0;
};

class CpuAllocator : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    BlockCache& cache = BlockCache::get();
    const bool cached = cache.caches(nbytes);
    const size_t size = cached ? BlockCache::rounded(nbytes) : std::max<size_t>(nbytes, 64);
    if (cached)
      if (void* p = cache.take(size)) return p;
    void* p = nullptr;
    if (posix_memalign(&p, 64, size) != 0)
      EMBER_FAIL("cpu allocator: out of memory allocating ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* p, size_t nbytes) override {
    BlockCache& cache = BlockCache::get();
    if (cache.caches(nbytes)) cache.put(p, BlockCache::rounded(nbytes));
    else std::free(p);
  }
};

// ---------------------------------------------------------------------------
// Elementwise
template <class T, class F>
void unary_loop(const KView& dst, const KView& x, T p0, T p1) {
  const KView* v[2] = {&dst, &x};
  F f;
  cpu_loop(v, [&](char* const* ptr, const int64_t* st, int64_t n) {
    T* o = reinterpret_cast<T*>(ptr[0]);
    const T* a = reinterpret_cast<const T*>(ptr[1]);
    if (st[0] == sizeof(T) && st[1] == sizeof(T)) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], p0, p1);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(ptr[0] + i * st[0]) = f(*reinterpret_cast<const T*>(ptr[1] + i * st[1]), p0, p1);
    }
  });
}

template <class T, class F>
void binary_loop(const KView& dst, const KView& a, const KView& b, T p0, T p1) {
  const KView* v[3] = {&dst, &a, &b};
  F f;
  cpu_loop(v, [&](char* const* ptr, const int64_t* st, int64_t n) {
    T* o = reinterpret_cast<T*>(ptr[0]);
    const T* x = reinterpret_cast<const T*>(ptr[1]);
    const T* y = reinterpret_cast<const T*>(ptr[2]);
    constexpr int64_t s = sizeof(T);
    if (st[0] == s && st[1] == s && st[2] == s) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i], p0, p1);
    } else if (st[0] == s && st[1] == s && st[2] == 0) {
      const T yv = *y;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv, p0, p1);
    } else if (st[0] == s && st[1] == 0 && st[2] == s) {
      const T xv = *x;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i], p0, p1);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(ptr[0] + i * st[0]) =
            f(*reinterpret_cast<const T*>(ptr[1] + i * st[1]),
              *reinterpret_cast<const T*>(ptr[2] + i * st[2]), p0, p1);
    }
  });
}

// ---------------------------------------------------------------------------
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

// For [outer, n, inner] walks of one dim: the offsets of dim `dim`'s neighbours.
struct DimWalk {
  int64_t outer_count = 1;
  int64_t n = 1;
  int64_t stride = 0;
  // offset of the i-th (outer) position, all dims except `dim`
  const KView* v;
  int dim;
  int64_t offset(int64_t i) const {
    int64_t off = 0;
    for (int d = v->ndim - 1; d >= 0; --d) {
      if (d == dim) continue;
      off += (i % v->shape[d]) * v->strides[d];
      i /= v->shape[d];
    }
    return off;
  }
  // offset(i) for every i < outer_count, computed incrementally.
  std::vector<int64_t> offsets() const {
    std::vector<int64_t> out(static_cast<size_t>(outer_count));
    int64_t idx[kMaxDims] = {};
    int64_t off = 0;
    for (int64_t i = 0; i < outer_count; ++i) {
      out[static_cast<size_t>(i)] = off;
      for (int d = v->ndim - 1; d >= 0; --d) {  // odometer step over the dims except `dim`
        if (d == dim) continue;
        off += v->strides[d];
        if (++idx[d] < v->shape[d]) break;
        off -= v->strides[d] * v->shape[d];
        idx[d] = 0;
      }
    }
    return out;
  }
};
// Throws naming the first out-of-range index (called after the fast loop found one).
[[noreturn]] void report_bad_index(const char* op, const KView& index, int64_t size, int dim) {
  DimWalk w;
  w.v = &index;
  w.dim = -1;
  const int64_t* idx = reinterpret_cast<const int64_t*>(index.data);
  for (int64_t i = 0, n = index.numel(); i < n; ++i) {
    int64_t v = idx[w.offset(i)];
    if (v < 0 || v >= size) EMBER_FAIL(op, ": index ", v, " is out of range for dim ", dim, " of size ", size);
  }
  EMBER_FAIL(op, ": index out of range for dim ", dim, " of size ", size);
}

DimWalk walk(const KView& v, int dim) {
  DimWalk w;
  w.v = &v;
  w.dim = dim;
  w.n = v.shape[dim];
  w.stride = v.strides[dim];
  for (int d = 0; d < v.ndim; ++d)
    if (d != dim) w.outer_count *= v.shape[d];
  return w;
}

// ---------------------------------------------------------------------------
// Softmax over contiguous rows
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

// ---------------------------------------------------------------------------
class CpuBackend : public Backend {
 public:
  Allocator& allocator() override { return alloc_; }

  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_from_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }

  void copy(const KView& dst, const KView& src) override {
    dispatch_all(dst.dtype, [&](auto dtag) {
      dispatch_all(src.dtype, [&](auto stag) {
        using D = decltype(dtag);
        using S = decltype(stag);
        const KView* v[2] = {&dst, &src};
        cpu_loop(v, [&](char* const* ptr, const int64_t* st, int64_t n) {
          if (st[0] == sizeof(D) && st[1] == sizeof(S)) {
            D* o = reinterpret_cast<D*>(ptr[0]);
            const S* a = reinterpret_cast<const S*>(ptr[1]);
            if constexpr (std::is_same_v<D, S>) std::memcpy(o, a, static_cast<size_t>(n) * sizeof(D));
            else
#pragma omp simd
              for (int64_t i = 0; i < n; ++i) o[i] = math::convert<D>(a[i]);
          } else {
            for (int64_t i = 0; i < n; ++i)
              *reinterpret_cast<D*>(ptr[0] + i * st[0]) =
                  math::convert<D>(*reinterpret_cast<const S*>(ptr[1] + i * st[1]));
          }
        });
      });
    });
  }

  void fill(const KView& dst, double value) override {
    dispatch_all(dst.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T v = math::convert<T>(value);
      const KView* views[1] = {&dst};
      cpu_loop(views, [&](char* const* ptr, const int64_t* st, int64_t n) {
        if (st[0] == sizeof(T)) std::fill_n(reinterpret_cast<T*>(ptr[0]), n, v);
        else for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(ptr[0] + i * st[0]) = v;
      });
    });
  }

  void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) override {
    dispatch_float(dst.dtype, op_name(op), [&](auto tag) {
      using T = decltype(tag);
      switch (op) {
#define EMBER_UNARY(Name, expr) \
  case UnaryOp::Name: unary_loop<T, fn::Name>(dst, x, static_cast<T>(p0), static_cast<T>(p1)); break;
#include "tensor/ElementwiseOps.def"
      }
    });
  }

  void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0,
              double p1) override {
    if (binary_is_float_only(op)) {
      dispatch_float(dst.dtype, op_name(op), [&](auto tag) {
        using T = decltype(tag);
        switch (op) {
#define EMBER_BINARY_FLOAT(Name, expr) \
  case BinaryOp::Name: binary_loop<T, fn::Name>(dst, a, b, static_cast<T>(p0), static_cast<T>(p1)); break;
#include "tensor/ElementwiseOps.def"
          default: break;
        }
      });
      return;
    }
    dispatch_numeric(dst.dtype, op_name(op), [&](auto tag) {
      using T = decltype(tag);
      switch (op) {
#define EMBER_BINARY(Name, expr) \
  case BinaryOp::Name: binary_loop<T, fn::Name>(dst, a, b, static_cast<T>(p0), static_cast<T>(p1)); break;
#include "tensor/ElementwiseOps.def"
        default: break;
      }
    });
  }

  void where(const KView& dst, const KView& cond, const KView& a, const KView& b) override {
    dispatch_all(cond.dtype, [&](auto ctag) {
      dispatch_all(dst.dtype, [&](auto tag) {
        using C = decltype(ctag);
        using T = decltype(tag);
        const KView* v[4] = {&dst, &cond, &a, &b};
        cpu_loop(v, [&](char* const* ptr, const int64_t* st, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            C c = *reinterpret_cast<const C*>(ptr[1] + i * st[1]);
            *reinterpret_cast<T*>(ptr[0] + i * st[0]) =
                c != C(0) ? *reinterpret_cast<const T*>(ptr[2] + i * st[2])
                          : *reinterpret_cast<const T*>(ptr[3] + i * st[3]);
          }
        });
      });
    });
  }

  void reduce(ReduceOp op, const KView& dst, const KView& src, double scale) override {
    dispatch_numeric(src.dtype, "reduce", [&](auto tag) {
      reduce_impl<decltype(tag)>(op, dst, src, scale);
    });
  }

  void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) override {
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

  // GEMM threading is OpenBLAS's own (OPENBLAS_NUM_THREADS), as in PyTorch. Splitting
  // C over Ember's OpenMP threads with one single-threaded OpenBLAS call each was
  // tried (bench/results/cpu.md): no faster on a quiet machine, and on a loaded one a
  // fork/join waiting on a descheduled thread cost ~8 ms per call.
  void gemm(DType t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void* a,
            int64_t lda, int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, double beta,
            void* c, int64_t ldc, int64_t stride_c, int64_t batch) override {
    const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
    for (int64_t i = 0; i < batch; ++i) {
      if (t == DType::f32)
        cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, static_cast<float>(alpha),
                    static_cast<const float*>(a) + i * stride_a, static_cast<blasint>(lda),
                    static_cast<const float*>(b) + i * stride_b, static_cast<blasint>(ldb),
                    static_cast<float>(beta), static_cast<float*>(c) + i * stride_c, static_cast<blasint>(ldc));
      else if (t == DType::f64)
        cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, alpha, static_cast<const double*>(a) + i * stride_a,
                    static_cast<blasint>(lda), static_cast<const double*>(b) + i * stride_b,
                    static_cast<blasint>(ldb), beta, static_cast<double*>(c) + i * stride_c,
                    static_cast<blasint>(ldc));
      else EMBER_FAIL("matmul: dtype ", dtype_name(t), " is not supported (needs f32 or f64)");
    }
  }



  void softmax(DType t, bool log, void* y, const void* x, int64_t rows, int64_t cols) override {
    dispatch_float(t, log ? "log_softmax" : "softmax", [&](auto tag) {
      using T = decltype(tag);
      softmax_rows<T>(log, static_cast<T*>(y), static_cast<const T*>(x), rows, cols);
    });
  }

  void softmax_backward(DType t, bool log, void* gx, const void* gy, const void* y, int64_t rows,
                        int64_t cols) override {
    dispatch_float(t, log ? "log_softmax" : "softmax", [&](auto tag) {
      using T = decltype(tag);
      softmax_backward_rows<T>(log, static_cast<T*>(gx), static_cast<const T*>(gy),
                               static_cast<const T*>(y), rows, cols);
    });
  }

  // gather and scatter_add walk `dim` in the outer loop and every other position in the
  // inner one (offsets precomputed), so gathering rows of a row-major matrix reads and
  // writes whole rows: index_select(x, 0, idx) runs at memory speed.
  void gather(const KView& dst, const KView& src, const KView& index, int dim) override {
    dispatch_all(src.dtype, [&](auto tag) {
      using T = decltype(tag);
      DimWalk wd = walk(dst, dim), wi = walk(index, dim), ws = walk(src, dim);
      std::vector<int64_t> od = wd.offsets(), oi = wi.offsets(), os = ws.offsets();
      const int64_t* idx = reinterpret_cast<const int64_t*>(index.data);
      T* out = reinterpret_cast<T*>(dst.data);
      const T* in = reinterpret_cast<const T*>(src.data);
      const int64_t m = wd.outer_count;
      bool bad = false;
      // Whole rows (index_select of rows): one index per j, contiguous rows in and out.
      bool rows = true;
      for (int64_t i = 0; i < m && rows; ++i) rows = oi[i] == 0 && od[i] == i && os[i] == i;
      if (rows) {
#pragma omp parallel for if (wd.n * m >= 2 * kParallelGrain) schedule(static) reduction(|| : bad)
        for (int64_t j = 0; j < wd.n; ++j) {
          int64_t v = idx[j * wi.stride];
          if (v < 0 || v >= ws.n) { bad = true; continue; }
          std::memcpy(out + j * wd.stride, in + v * ws.stride, static_cast<size_t>(m) * sizeof(T));
        }
        if (bad) report_bad_index("gather", index, ws.n, dim);
        return;
      }
#pragma omp parallel for if (wd.n * m >= 2 * kParallelGrain) schedule(static) reduction(|| : bad)
      for (int64_t j = 0; j < wd.n; ++j) {
        T* o = out + j * wd.stride;
        const int64_t* ix = idx + j * wi.stride;
        for (int64_t i = 0; i < m; ++i) {
          int64_t v = ix[oi[i]];
          if (v < 0 || v >= ws.n) { bad = true; continue; }
          o[od[i]] = in[os[i] + v * ws.stride];
        }
      }
      if (bad) report_bad_index("gather", index, ws.n, dim);
    });
  }

  void scatter_add(const KView& dst, const KView& src, const KView& index, int dim) override {
    dispatch_numeric(src.dtype, "scatter_add", [&](auto tag) {
      using T = decltype(tag);
      DimWalk wd = walk(dst, dim), wi = walk(index, dim), ws = walk(src, dim);
      std::vector<int64_t> od = wd.offsets(), oi = wi.offsets(), os = ws.offsets();
      const int64_t* idx = reinterpret_cast<const int64_t*>(index.data);
      T* out = reinterpret_cast<T*>(dst.data);
      const T* in = reinterpret_cast<const T*>(src.data);
      for (int64_t j = 0; j < ws.n; ++j) {
        const T* s = in + j * ws.stride;
        const int64_t* ix = idx + j * wi.stride;
        for (int64_t i = 0; i < ws.outer_count; ++i) {
          int64_t v = ix[oi[i]];
          if (v < 0 || v >= wd.n) report_bad_index("scatter_add", index, wd.n, dim);
          out[od[i] + v * wd.stride] += s[os[i]];
        }
      }
    });
  }

  void adam_step(DType t, int64_t n, void* p, const void* g, void* m, void* v, const AdamStep& a) override {
    dispatch_float(t, "adam_step", [&](auto tag) {
      using T = decltype(tag);
      T *P = static_cast<T*>(p), *M = static_cast<T*>(m), *V = static_cast<T*>(v);
      const T* G = static_cast<const T*>(g);
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) adam_update<T>(P[i], G[i], M[i], V[i], a);
    });
  }
  void sgd_step(DType t, int64_t n, void* p, const void* g, void* buf, const SgdStep& a) override {
    dispatch_float(t, "sgd_step", [&](auto tag) {
      using T = decltype(tag);
      T* P = static_cast<T*>(p);
      T* B = static_cast<T*>(buf);
      const T* G = static_cast<const T*>(g);
      if (B == nullptr || a.momentum == 0) {
        const T lr = T(a.lr), wd = T(a.weight_decay);
        if (wd == T(0)) {  // two loops, so that neither has a branch inside
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
          for (int64_t i = 0; i < n; ++i) sgd_update_plain<T>(P[i], G[i], lr, T(0));
        } else {
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
          for (int64_t i = 0; i < n; ++i) sgd_update_plain<T>(P[i], G[i], lr, wd);
        }
      } else {
#pragma omp parallel for simd if (n >= 2 * kParallelGrain) schedule(static)
        for (int64_t i = 0; i < n; ++i) sgd_update<T>(P[i], G[i], B + i, a);
      }
    });
  }

  // Conv nets: tensor/cpu/ConvKernels.cpp.
  void conv2d(DType t, const ConvGeom& g, const void* x, const void* w, void* y) override {
    dispatch_float(t, "conv2d", [&](auto tag) {
      using T = decltype(tag);
      cpu::conv2d<T>(g, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y));
    });
  }
  void conv2d_backward_input(DType t, const ConvGeom& g, const void* gy, const void* w, void* gx) override {
    dispatch_float(t, "conv2d", [&](auto tag) {
      using T = decltype(tag);
      cpu::conv2d_backward_input<T>(g, static_cast<const T*>(gy), static_cast<const T*>(w), static_cast<T*>(gx));
    });
  }
  void conv2d_backward_weight(DType t, const ConvGeom& g, const void* gy, const void* x, void* gw) override {
    dispatch_float(t, "conv2d", [&](auto tag) {
      using T = decltype(tag);
      cpu::conv2d_backward_weight<T>(g, static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<T*>(gw));
    });
  }
  void pool2d(DType t, bool is_max, const PoolGeom& g, const void* x, void* y, int64_t* argmax) override {
    dispatch_float(t, is_max ? "max_pool2d" : "avg_pool2d", [&](auto tag) {
      using T = decltype(tag);
      cpu::pool2d<T>(is_max, g, static_cast<const T*>(x), static_cast<T*>(y), argmax);
    });
  }
  void pool2d_backward(DType t, bool is_max, const PoolGeom& g, const void* gy, const int64_t* argmax,
                       void* gx) override {
    dispatch_float(t, is_max ? "max_pool2d" : "avg_pool2d", [&](auto tag) {
      using T = decltype(tag);
      cpu::pool2d_backward<T>(is_max, g, static_cast<const T*>(gy), argmax, static_cast<T*>(gx));
    });
  }
  void channel_stats(DType t, int64_t n, int64_t c, int64_t s, const void* x, void* mean, void* var) override {
    dispatch_float(t, "batch_norm", [&](auto tag) {
      using T = decltype(tag);
      cpu::channel_stats<T>(n, c, s, static_cast<const T*>(x), static_cast<T*>(mean), static_cast<T*>(var));
    });
  }
  void channel_affine(DType t, int64_t n, int64_t c, int64_t s, const void* x, const void* scale, const void* shift,
                      void* y) override {
    dispatch_float(t, "batch_norm", [&](auto tag) {
      using T = decltype(tag);
      cpu::channel_affine<T>(n, c, s, static_cast<const T*>(x), static_cast<const T*>(scale),
                             static_cast<const T*>(shift), static_cast<T*>(y));
    });
  }
  void channel_grad_sums(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x, const void* mean,
                         void* sum_gy, void* sum_gy_xmu) override {
    dispatch_float(t, "batch_norm", [&](auto tag) {
      using T = decltype(tag);
      cpu::channel_grad_sums<T>(n, c, s, static_cast<const T*>(gy), static_cast<const T*>(x),
                                static_cast<const T*>(mean), static_cast<T*>(sum_gy), static_cast<T*>(sum_gy_xmu));
    });
  }
  void batch_norm_backward_input(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x,
                                 const void* mean, const void* a, const void* b, const void* k, void* gx) override {
    dispatch_float(t, "batch_norm", [&](auto tag) {
      using T = decltype(tag);
      cpu::batch_norm_backward_input<T>(n, c, s, static_cast<const T*>(gy), static_cast<const T*>(x),
                                        static_cast<const T*>(mean), static_cast<const T*>(a),
                                        static_cast<const T*>(b), static_cast<const T*>(k), static_cast<T*>(gx));
    });
  }

  void random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override {
    int64_t n = dst.numel();
    if (dist == RandomDist::Bits64) {
      auto* o = reinterpret_cast<int64_t*>(dst.data);
      for (int64_t i = 0; i < n; ++i)
        o[i] = static_cast<int64_t>(philox::bits64(offset + static_cast<uint64_t>(i), seed));
      return;
    }
    dispatch_float(dst.dtype, "random", [&](auto tag) {
      using T = decltype(tag);
      T* o = reinterpret_cast<T*>(dst.data);
#pragma omp parallel for if (n >= 2 * kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        uint64_t c = offset + static_cast<uint64_t>(i);
        o[i] = static_cast<T>(dist == RandomDist::Uniform ? a + (b - a) * philox::uniform(c, seed)
                                                         : a + b * philox::normal(c, seed));
      }
    });
  }

 private:
  CpuAllocator alloc_;
};

}  // namespace
}  // namespace cpu

Backend& cpu_backend() {
  static cpu::CpuBackend backend;
  return backend;
}

}  // namespace ember
