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

#include "cuda/Launch.h"
#include "tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

// ---------------------------------------------------------------------------
// Plans
template <int N>
struct LoopPlan {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t stride[N][kMaxDims];  // bytes
  char* base[N];
};

template <int N>
struct LinearPlan {  // after merging: at most one dim
  char* base[N];
  int64_t stride[N];  // bytes; 0 for a broadcast scalar
};

template <int N>
LoopPlan<N> make_plan(const KView* const (&v)[N]) {
  LoopPlan<N> p;
  const KView& ref = *v[0];
  for (int d = 0; d < ref.ndim; ++d) {
    if (ref.shape[d] == 1) continue;
    p.shape[p.ndim] = ref.shape[d];
    for (int k = 0; k < N; ++k)
      p.stride[k][p.ndim] = v[k]->strides[d] * static_cast<int64_t>(dtype_size(v[k]->dtype));
    ++p.ndim;
  }
  for (int k = 0; k < N; ++k) p.base[k] = v[k]->data;
  // Merge dim d into the one before it when every view steps through both as one run.
  int out = 0;
  for (int d = 0; d < p.ndim; ++d) {
    if (out > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        merge = merge && p.stride[k][out - 1] == p.stride[k][d] * p.shape[d];
      if (merge) {
        p.shape[out - 1] *= p.shape[d];
        for (int k = 0; k < N; ++k) p.stride[k][out - 1] = p.stride[k][d];
        continue;
      }
    }
    p.shape[out] = p.shape[d];
    for (int k = 0; k < N; ++k) p.stride[k][out] = p.stride[k][d];
    ++out;
  }
  p.ndim = out;
  return p;
}

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

// ---------------------------------------------------------------------------
// Launchers (cuda/Launch.h)
void copy(const KView& dst, const KView& src) {
  dispatch_all(dst.dtype, [&](auto dtag) {
    dispatch_all(src.dtype, [&](auto stag) {
      using D = decltype(dtag);
      using S = decltype(stag);
      const KView* v[2] = {&dst, &src};
      run_loop("copy", v, CastBody<D, S>{});
    });
  });
}

void fill(const KView& dst, double value) {
  dispatch_all(dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T typed = math::convert<T>(value);
    FillBody<BitsOf<T>> body{};
    std::memcpy(&body.bits, &typed, sizeof(T));
    const KView* v[1] = {&dst};
    run_loop("fill", v, body);
  });
}

void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) {
  dispatch_float(dst.dtype, op_name(op), [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define EMBER_UNARY(Name, expr) \
  case UnaryOp::Name: unary_t<T, fn::Name>(#Name, dst, x, p0, p1); break;
#include "tensor/ElementwiseOps.def"
    }
  });
}

void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0, double p1) {
  if (binary_is_float_only(op)) {
    dispatch_float(dst.dtype, op_name(op), [&](auto tag) {
      using T = decltype(tag);
      switch (op) {
#define EMBER_BINARY_FLOAT(Name, expr) \
  case BinaryOp::Name: binary_t<T, fn::Name>(#Name, dst, a, b, p0, p1); break;
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
  case BinaryOp::Name: binary_t<T, fn::Name>(#Name, dst, a, b, p0, p1); break;
#include "tensor/ElementwiseOps.def"
      default: break;
    }
  });
}

void where(const KView& dst, const KView& cond, const KView& a, const KView& b) {
  dispatch_all(cond.dtype, [&](auto ctag) {
    dispatch_bits(dst.dtype, [&](auto utag) {
      using C = decltype(ctag);
      using U = decltype(utag);
      const KView* v[4] = {&dst, &cond, &a, &b};
      run_loop("where", v, WhereBody<C, U>{});
    });
  });
}

}  // namespace detail
}  // namespace cuda
}  // namespace ember
