// cuda/Elementwise.cu: copy, fill, unary, binary and where on the GPU.
//
// Every elementwise op runs one generic kernel, templated on a small "body" that
// does the work for one element. Unary and binary bodies call the functors of
// tensor/Functors.h, generated from tensor/ElementwiseOps.def, so CUDA computes
// exactly the formula the CPU backend computes.
//
// The host first builds a LoopPlan, like cpu_loop does (tensor/cpu/Loops.h): size-1
// dims are dropped and dims that are contiguous in every view are merged, so a
// contiguous [64, 100] tensor becomes one dim of 6400. Then:
//   - 0 or 1 dims left (contiguous, a broadcast scalar, or one strided dim): the
//     fast 1-D kernel, element i at base + i * stride, several elements per thread;
//   - more dims: the N-d kernel, which turns i into coordinates and offsets.
// Both are grid-stride loops over the elements, in 32-bit arithmetic below 2^31 elements (the
// N-d kernel then divides by multiplying: FastDivider). Strides are in bytes, so views of
// different dtypes (a cast) share one plan.
#include <cstring>
#include <type_traits>

#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Random.h"
#include "ember/tensor/LoopPlan.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

// ---------------------------------------------------------------------------
// Plans (LoopPlan and make_plan: tensor/LoopPlan.h)
template <int N>
struct LinearPlan {  // after merging: at most one dim
  char* base[N];
  int64_t stride[N];  // bytes; 0 for a broadcast scalar
};

// The N-d plan in 32-bit coordinates, for tensors of fewer than 2^31 elements (nearly all).
template <int N>
struct FastPlan {
  int ndim = 0;
  FastDivider shape[kMaxDims];
  int64_t stride[N][kMaxDims];  // bytes
  char* base[N];
};

// ---------------------------------------------------------------------------
// The generic kernels. body.compute(ptr) reads element ptr[k] of the input views k >= 1 and
// returns the output element; body.store writes it to ptr[0].
//
// The 1-D kernel gives each thread kUnroll elements, a block apart (so a warp still reads
// consecutive addresses), and loads all of them before it stores any: kUnroll loads per thread
// are in flight at once, which the memory system needs to reach its bandwidth. Index is uint32_t
// when n < 2^31 (cheaper arithmetic), int64_t otherwise.
constexpr int kUnroll = 4;

template <int N, class Body, class Index>
__global__ void loop_1d_kernel(LinearPlan<N> p, Index n, Body body) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x * kUnroll;
  for (Index first = static_cast<Index>(blockIdx.x) * blockDim.x * kUnroll + threadIdx.x; first < n; first += step) {
    typename Body::Out v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const Index i = first + static_cast<Index>(u) * blockDim.x;
      if (i < n) {
        char* ptr[N];
#pragma unroll
        for (int k = 0; k < N; ++k) ptr[k] = p.base[k] + static_cast<int64_t>(i) * p.stride[k];
        v[u] = body.compute(ptr);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const Index i = first + static_cast<Index>(u) * blockDim.x;
      if (i < n) Body::store(p.base[0] + static_cast<int64_t>(i) * p.stride[0], v[u]);
    }
  }
}

// Like the 1-D kernel, kUnroll elements a thread, all loaded before any is stored.
template <int N, class Body>
__global__ void loop_nd_fast_kernel(FastPlan<N> p, uint32_t n, Body body) {
  const uint32_t step = gridDim.x * blockDim.x * kUnroll;
  for (uint32_t first = blockIdx.x * blockDim.x * kUnroll + threadIdx.x; first < n; first += step) {
    typename Body::Out v[kUnroll];
    char* out[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const uint32_t i = first + u * blockDim.x;
      if (i >= n) continue;
      char* ptr[N];
#pragma unroll
      for (int k = 0; k < N; ++k) ptr[k] = p.base[k];
      uint32_t rem = i;
      for (int d = p.ndim - 1; d >= 0; --d) {
        const uint32_t q = p.shape[d].div(rem);
        const uint32_t c = rem - q * p.shape[d].d;
        rem = q;
#pragma unroll
        for (int k = 0; k < N; ++k) ptr[k] += static_cast<int64_t>(c) * p.stride[k][d];
      }
      v[u] = body.compute(ptr);
      out[u] = ptr[0];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (first + u * blockDim.x < n) Body::store(out[u], v[u]);
  }
}

template <int N, class Body>
__global__ void loop_nd_kernel(LoopPlan<N> p, int64_t n, Body body) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    char* ptr[N];
#pragma unroll
    for (int k = 0; k < N; ++k) ptr[k] = p.base[k];
    int64_t rem = i;
    for (int d = p.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % p.shape[d];
      rem /= p.shape[d];
#pragma unroll
      for (int k = 0; k < N; ++k) ptr[k] += c * p.stride[k][d];
    }
    Body::store(ptr[0], body.compute(ptr));
  }
}

template <int N, class Body>
void run_loop(const char* op, const KView* const (&views)[N], const Body& body) {
  const int64_t n = views[0]->numel();
  if (n == 0) return;
  LoopPlan<N> p = make_plan(views);
  const bool small = n <= INT32_MAX;
  if (p.ndim <= 1) {
    LinearPlan<N> lp;
    for (int k = 0; k < N; ++k) {
      lp.base[k] = p.base[k];
      lp.stride[k] = p.ndim == 1 ? p.stride[k][0] : 0;
    }
    const unsigned int grid = blocks_for((n + kUnroll - 1) / kUnroll);
    if (small) launch(loop_1d_kernel<N, Body, uint32_t>, grid, kThreads, lp, static_cast<uint32_t>(n), body);
    else launch(loop_1d_kernel<N, Body, int64_t>, grid, kThreads, lp, n, body);
  } else if (small) {
    FastPlan<N> fp;
    fp.ndim = p.ndim;
    for (int d = 0; d < p.ndim; ++d) {
      fp.shape[d] = FastDivider(static_cast<uint32_t>(p.shape[d]));
      for (int k = 0; k < N; ++k) fp.stride[k][d] = p.stride[k][d];
    }
    for (int k = 0; k < N; ++k) fp.base[k] = p.base[k];
    launch(loop_nd_fast_kernel<N, Body>, blocks_for((n + kUnroll - 1) / kUnroll), kThreads, fp,
           static_cast<uint32_t>(n), body);
  } else {
    launch(loop_nd_kernel<N, Body>, blocks_for(n), kThreads, p, n, body);
  }
  after_launch(op);
}

// ---------------------------------------------------------------------------
// Bodies: Out is the output element type; compute reads the inputs, store writes the output.
template <class O>
struct StoreAs {
  using Out = O;
  __device__ static void store(char* p, O v) { *reinterpret_cast<O*>(p) = v; }
};

template <class T, class F>
struct UnaryBody : StoreAs<T> {
  T p0, p1;
  UnaryBody(T a, T b) : p0(a), p1(b) {}
  __device__ T compute(char* const* ptr) const { return F{}(*reinterpret_cast<const T*>(ptr[1]), p0, p1); }
};

template <class T, class F>
struct BinaryBody : StoreAs<T> {
  T p0, p1;
  BinaryBody(T a, T b) : p0(a), p1(b) {}
  __device__ T compute(char* const* ptr) const {
    return F{}(*reinterpret_cast<const T*>(ptr[1]), *reinterpret_cast<const T*>(ptr[2]), p0, p1);
  }
};

template <class D, class S>
struct CastBody : StoreAs<D> {
  __device__ D compute(char* const* ptr) const { return math::convert<D>(*reinterpret_cast<const S*>(ptr[1])); }
};

// fill and where only move bits, so they are instantiated per element size (U).
template <class U>
struct FillBody : StoreAs<U> {
  U bits;
  __device__ U compute(char* const*) const { return bits; }
};

template <class C, class U>
struct WhereBody : StoreAs<U> {
  __device__ U compute(char* const* ptr) const {
    const bool pick_a = *reinterpret_cast<const C*>(ptr[1]) != C(0);
    return *reinterpret_cast<const U*>(pick_a ? ptr[2] : ptr[3]);
  }
};

// The unsigned type as wide as T.
template <class T>
using BitsOf = std::conditional_t<sizeof(T) == 1, uint8_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;

// Runs f(U{}) with the unsigned type as wide as one element of t.
template <class F>
void dispatch_bits(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 1: f(uint8_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

template <class T, class F>
void unary_t(const char* name, const KView& dst, const KView& x, double p0, double p1) {
  const KView* v[2] = {&dst, &x};
  run_loop(name, v, UnaryBody<T, F>{static_cast<T>(p0), static_cast<T>(p1)});
}

template <class T, class F>
void binary_t(const char* name, const KView& dst, const KView& a, const KView& b, double p0,
              double p1) {
  const KView* v[3] = {&dst, &a, &b};
  run_loop(name, v, BinaryBody<T, F>{static_cast<T>(p0), static_cast<T>(p1)});
}

}  // namespace
}  // namespace detail

using namespace detail;  // the kernels and helpers above

// ---------------------------------------------------------------------------
// Launchers (cuda/Launch.h)
void CudaBackend::copy(const KView& dst, const KView& src) {
  const DeviceGuard guard(index_);
  dispatch_all(dst.dtype, [&](auto dtag) {
    dispatch_all(src.dtype, [&](auto stag) {
      using D = decltype(dtag);
      using S = decltype(stag);
      const KView* v[2] = {&dst, &src};
      run_loop("copy", v, CastBody<D, S>{});
    });
  });
}

void CudaBackend::fill(const KView& dst, double value) {
  const DeviceGuard guard(index_);
  dispatch_all(dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T typed = math::convert<T>(value);
    FillBody<BitsOf<T>> body;
    std::memcpy(&body.bits, &typed, sizeof(T));
    const KView* v[1] = {&dst};
    run_loop("fill", v, body);
  });
}

void CudaBackend::unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) {
  const DeviceGuard guard(index_);
  dispatch_unary(op, dst.dtype, [&](auto tag, auto f) {
    unary_t<decltype(tag), decltype(f)>(op_name(op), dst, x, p0, p1);
  });
}

void CudaBackend::binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0, double p1) {
  const DeviceGuard guard(index_);
  dispatch_binary(op, dst.dtype, [&](auto tag, auto f) {
    binary_t<decltype(tag), decltype(f)>(op_name(op), dst, a, b, p0, p1);
  });
}

void CudaBackend::where(const KView& dst, const KView& cond, const KView& a, const KView& b) {
  const DeviceGuard guard(index_);
  dispatch_all(cond.dtype, [&](auto ctag) {
    dispatch_bits(dst.dtype, [&](auto utag) {
      using C = decltype(ctag);
      using U = decltype(utag);
      const KView* v[4] = {&dst, &cond, &a, &b};
      run_loop("where", v, WhereBody<C, U>{});
    });
  });
}

namespace detail {
namespace {

// random: element i is a function of (seed, offset + i), the formulas of the CPU
// backend (tensor/Random.h), so one seed gives the same numbers on both.
template <class T>
__global__ void random_kernel(T* out, int64_t n, RandomDist dist, uint64_t seed, uint64_t offset,
                              double a, double b) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const uint64_t c = offset + static_cast<uint64_t>(i);
    out[i] = static_cast<T>(dist == RandomDist::Uniform ? a + (b - a) * philox::uniform(c, seed)
                                                       : a + b * philox::normal(c, seed));
  }
}

__global__ void random_bits_kernel(int64_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = static_cast<int64_t>(philox::bits64(offset + static_cast<uint64_t>(i), seed));
}

}  // namespace
}  // namespace detail

void CudaBackend::random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
            double b) {
  const DeviceGuard guard(index_);
  const int64_t n = dst.numel();
  if (n == 0) return;
  if (dist == RandomDist::Bits64) {
    EMBER_CHECK(dst.dtype == DType::i64, "random: 64-bit draws need an i64 tensor, got ",
                dtype_name(dst.dtype));
    launch(random_bits_kernel, detail::blocks_for(n), detail::kThreads, reinterpret_cast<int64_t*>(dst.data), n,
                                                                    seed, offset);
  } else {
    dispatch_float(dst.dtype, "random", [&](auto tag) {
      using T = decltype(tag);
      launch(random_kernel<T>, detail::blocks_for(n), detail::kThreads, reinterpret_cast<T*>(dst.data), n, dist,
                                                                    seed, offset, a, b);
    });
  }
  detail::after_launch("random");
}

}  // namespace cuda
}  // namespace ember
