// tensor/Math.h: scalar math usable in host and device code (EMBER_HD), with float
// and double overloads, so an elementwise functor is written once for CPU and CUDA.
//
// float exp on the host is tensor/VecMath.h's exp_f32 (branch-free, so CPU loops
// vectorise it; within 1 ulp); device code keeps CUDA's expf.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ember/tensor/VecMath.h"

#ifdef __CUDACC__
#define EMBER_HD __host__ __device__
#else
#define EMBER_HD
#endif

namespace ember {
namespace math {

#define EMBER_MATH_FN(name)                                            \
  EMBER_HD inline float name(float x) { return ::name##f(x); }        \
  EMBER_HD inline double name(double x) { return ::name(x); }
EMBER_MATH_FN(log)
EMBER_MATH_FN(log1p)
EMBER_MATH_FN(sqrt)
EMBER_MATH_FN(tanh)
#undef EMBER_MATH_FN

EMBER_HD inline float exp(float x) {
#ifdef __CUDA_ARCH__
  return ::expf(x);
#else
  return exp_f32(x);
#endif
}
EMBER_HD inline double exp(double x) { return ::exp(x); }

EMBER_HD inline float pow(float a, float b) { return ::powf(a, b); }
EMBER_HD inline double pow(double a, double b) { return ::pow(a, b); }

// a / b. For integers, where the CPU would trap and a GPU gives garbage, a zero divisor gives 0
// and INT64_MIN / -1 wraps to INT64_MIN, so both devices agree (Tensor division refuses zero
// integer divisors before it runs: autograd/ops/elementwise.cpp).
template <class T>
EMBER_HD inline T div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == T(0)) return T(0);
    if (std::is_signed_v<T> && b == T(-1)) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
  }
  return a / b;
}

// A dtype conversion, the same on every device. static_cast from a floating-point value to
// an integer type is undefined in C++ when the value does not fit (x86 gives INT64_MIN, a GPU
// saturates), so a float becomes an integer by truncation toward zero, saturated to the
// integer type's range, with NaN giving 0 (what CUDA's cvt.rzi.sat instructions do).
// Everything else is a plain static_cast (integers narrow by wrapping, as in C++20).
template <class D, class S>
EMBER_HD inline D convert(S v) {
  if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    constexpr int bits = static_cast<int>(sizeof(D)) * 8;
    constexpr D dmax = std::is_signed_v<D> ? static_cast<D>((uint64_t{1} << (bits - 1)) - 1) : static_cast<D>(~D(0));
    constexpr D dmin = std::is_signed_v<D> ? static_cast<D>(-dmax - 1) : D(0);
    if (!(v == v)) return D(0);
    // Compared in S: the bounds as S are exact (0, 255, -2^63) or round up to 2^63.
    if (v <= static_cast<S>(dmin)) return dmin;
    if (v >= static_cast<S>(dmax)) return dmax;
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace math
}  // namespace ember
