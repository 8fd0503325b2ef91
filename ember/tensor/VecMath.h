// tensor/VecMath.h: float exp written so that the compiler vectorises it.
//
// glibc's expf is an opaque scalar call: a `#pragma omp simd` loop that calls it
// stays scalar (GCC only switches to glibc's vector libmvec under -ffast-math).
// exp_f32 below is plain branch-free arithmetic, so inside such a loop GCC turns it
// into AVX2/AVX-512 code, and tensor/Math.h uses it for math::exp(float) on the host (CPU loops and the
// host side of every shared functor)
// (CUDA device code keeps ::expf). Accuracy: within 2 ulp of the correctly rounded
// result for every float (max 1 ulp seen over all floats in [-105, 90]), checked by
// tests/tensor/test_cpu_math.cpp.
//
//   e^x = 2^n * e^r,   n = round(x / ln 2),   r = x - n ln 2,   |r| <= ln 2 / 2
//
// e^r is its Taylor series up to r^7 (the r^8 term is below 2^-27 relative, under
// half an ulp), evaluated by Horner. ln 2 is split in two (Cody and Waite) so that
// n * ln2_hi is exact and r keeps its low bits. 2^n is built from exponent bits in
// two halves, so results that are subnormal (x down to -103.97) round once, as they
// should. Special inputs: x > 88.72 -> +inf, x < -103.97 -> 0, NaN -> NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ember {
namespace math {

namespace detail {
inline float mul_add(float a, float b, float c) {
#ifdef __FMA__
  return std::fma(a, b, c);  // one vfmadd instruction when FMA is enabled
#else
  return a * b + c;  // without -mfma, std::fma would be a slow library call
#endif
}
inline int32_t float_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}
inline float bits_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
}  // namespace detail

inline float exp_f32(float x) {
  using detail::mul_add;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;      // 15 significant bits: n * kLn2Hi is exact
  constexpr float kLn2Lo = 1.42860682030941723e-6f;  // ln 2 - kLn2Hi
  constexpr float kRound = 12582912.0f;              // 1.5 * 2^23: adding it rounds to an integer
  // Clamp so that n stays in [-150, 128]; the clamped ends still give 0 and inf.
  const float xc = x > 89.0f ? 89.0f : (x < -104.0f ? -104.0f : x);
  // n = round(x / ln 2), as a float and as an int (read from the bits: no UB on NaN).
  const float t = mul_add(xc, kLog2e, kRound);
  const float n = t - kRound;
  const int32_t ni = detail::float_bits(t) - detail::float_bits(kRound);
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  // e^r = 1 + r + r^2/2! + ... + r^7/7!
  float p = 1.0f / 5040.0f;
  p = mul_add(p, r, 1.0f / 720.0f);
  p = mul_add(p, r, 1.0f / 120.0f);
  p = mul_add(p, r, 1.0f / 24.0f);
  p = mul_add(p, r, 1.0f / 6.0f);
  p = mul_add(p, r, 0.5f);
  p = mul_add(p, r, 1.0f);
  p = mul_add(p, r, 1.0f);
  // 2^n = 2^n1 * 2^n2 with both halves normal floats (n1, n2 in [-75, 64]).
  const int32_t n1 = ni / 2, n2 = ni - n1;
  // (Shifts are unsigned: a NaN x gives a garbage n here, and the last line discards it.)
  const float s1 = detail::bits_float(static_cast<int32_t>(static_cast<uint32_t>(n1 + 127) << 23));
  const float s2 = detail::bits_float(static_cast<int32_t>(static_cast<uint32_t>(n2 + 127) << 23));
  const float y = p * s1 * s2;
  return x != x ? x : y;  // NaN in, NaN out
}

}  // namespace math
}  // namespace ember
