// tensor/cpu/Elementwise.cpp: the elementwise entries of the CPU backend: copy and cast, fill,
// the kernels of tensor/ElementwiseOps.def (unary, binary), where, and random numbers.
// Each runs on cpu_loop (tensor/cpu/Loops.h); cuda/Elementwise.cu is its twin.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/Random.h"
#include "ember/tensor/cpu/Loops.h"

namespace ember {
namespace cpu {

namespace {

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

}  // namespace

void CpuBackend::copy(const KView& dst, const KView& src) {
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

void CpuBackend::fill(const KView& dst, double value) {
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

void CpuBackend::unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) {
  dispatch_unary(op, dst.dtype, [&](auto tag, auto f) {
    using T = decltype(tag);
    unary_loop<T, decltype(f)>(dst, x, static_cast<T>(p0), static_cast<T>(p1));
  });
}

void CpuBackend::binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0, double p1) {
  dispatch_binary(op, dst.dtype, [&](auto tag, auto f) {
    using T = decltype(tag);
    binary_loop<T, decltype(f)>(dst, a, b, static_cast<T>(p0), static_cast<T>(p1));
  });
}

void CpuBackend::where(const KView& dst, const KView& cond, const KView& a, const KView& b) {
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

void CpuBackend::random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
            double b) {
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

}  // namespace cpu
}  // namespace ember
