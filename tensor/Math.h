// tensor/Math.h: scalar math usable in host and device code (EMBER_HD), with float
// and double overloads, so an elementwise functor is written once for CPU and CUDA.
//
// float exp on the host is tensor/cpu/VecMath.h's exp_f32 (branch-free, so CPU loops
// vectorise it; within 1 ulp); device code keeps CUDA's expf.
#pragma once

#include <cmath>

#include "tensor/cpu/VecMath.h"

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
  return cpu::exp_f32(x);
#endif
}
EMBER_HD inline double exp(double x) { return ::exp(x); }

EMBER_HD inline float pow(float a, float b) { return ::powf(a, b); }
EMBER_HD inline double pow(double a, double b) { return ::pow(a, b); }

}  // namespace math
}  // namespace ember
