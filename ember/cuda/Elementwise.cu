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
//     fast 1-D kernel, element i at base + i * stride;
//   - more dims: the N-d kernel, which turns i into coordinates and offsets.
// Both are grid-stride loops over the elements. Strides are in bytes, so views of
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

// ---------------------------------------------------------------------------
// The two generic kernels. body(ptr) reads and writes element ptr[k] of view k.
template <int N, class Body>
__global__ void loop_1d_kernel(LinearPlan<N> p, int64_t n, Body body) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    char* ptr[N];
#pragma unroll
    for (int k = 0; k < N; ++k) ptr[k] = p.base[k] + i * p.stride[k];
    body(ptr);
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
    body(ptr);
  }
}

template <int N, class Body>
void run_loop(const char* op, const KView* const (&views)[N], const Body& body) {
  const int64_t n = views[0]->numel();
  if (n == 0) return;
  LoopPlan<N> p = make_plan(views);
  if (p.ndim <= 1) {
    LinearPlan<N> lp;
    for (int k = 0; k < N; ++k) {
      lp.base[k] = p.base[k];
      lp.stride[k] = p.ndim == 1 ? p.stride[k][0] : 0;
    }
    launch(loop_1d_kernel<N, Body>, blocks_for(n), kThreads, lp, n, body);
  } else {
    launch(loop_nd_kernel<N, Body>, blocks_for(n), kThreads, p, n, body);
  }
  after_launch(op);
}

// ---------------------------------------------------------------------------
// Bodies
template <class T, class F>
struct UnaryBody {
  T p0, p1;
  __device__ void operator()(char* const* ptr) const {
    *reinterpret_cast<T*>(ptr[0]) = F{}(*reinterpret_cast<const T*>(ptr[1]), p0, p1);
  }
};

template <class T, class F>
struct BinaryBody {
  T p0, p1;
  __device__ void operator()(char* const* ptr) const {
    *reinterpret_cast<T*>(ptr[0]) =
        F{}(*reinterpret_cast<const T*>(ptr[1]), *reinterpret_cast<const T*>(ptr[2]), p0, p1);
  }
};

template <class D, class S>
struct CastBody {
  __device__ void operator()(char* const* ptr) const {
    *reinterpret_cast<D*>(ptr[0]) = math::convert<D>(*reinterpret_cast<const S*>(ptr[1]));
  }
};

// fill and where only move bits, so they are instantiated per element size (U).
template <class U>
struct FillBody {
  U bits;
  __device__ void operator()(char* const* ptr) const { *reinterpret_cast<U*>(ptr[0]) = bits; }
};

template <class C, class U>
struct WhereBody {
  __device__ void operator()(char* const* ptr) const {
    const bool pick_a = *reinterpret_cast<const C*>(ptr[1]) != C(0);
    *reinterpret_cast<U*>(ptr[0]) = *reinterpret_cast<const U*>(pick_a ? ptr[2] : ptr[3]);
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
    FillBody<BitsOf<T>> body{};
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
