// tensor/NormMath.h: the per-channel math that finishes batch norm's training statistics, written
// once for the CPU (tensor/cpu/Norm.cpp) and the CUDA kernel (cuda/Norm.cu).
//
// From a channel's mean and biased variance (in T) it computes what autograd/ops/norm.cpp needs,
// in one pass over the [c] vectors instead of ~10 small tensor ops:
//   invstd = (var + eps)^-0.5
//   scale  = weight * invstd            (no weight: invstd)
//   shift  = bias - mean * scale        (no bias: -(mean * scale))
//   running_mean = running_mean * (1 - momentum) + mean * momentum
//   running_var  = running_var * (1 - momentum) + var * count / (count - 1) * momentum
#pragma once

#include <cstdint>

#include "ember/tensor/Math.h"

namespace ember {

// The views of Backend::channel_stats's finishing step, as the backend hands them to the math.
// Absent ones are null: not read (weight, bias) or not written.
template <class T>
struct BatchNormFinish {
  const T* weight = nullptr;
  const T* bias = nullptr;
  T* running_mean = nullptr;
  T* running_var = nullptr;
  T* invstd = nullptr;
  T* scale = nullptr;
  T* shift = nullptr;
  T eps = T(1e-5), keep = T(0.9), momentum = T(0.1), unbias = T(1);  // keep = 1 - momentum
};

template <class T>
EMBER_HD inline void batch_norm_finish(int64_t ch, T mean, T var, const BatchNormFinish<T>& f) {
  const T is = math::pow(var + f.eps, T(-0.5));
  const T sc = f.weight ? f.weight[ch] * is : is;
  if (f.invstd) f.invstd[ch] = is;
  if (f.scale) f.scale[ch] = sc;
  if (f.shift) f.shift[ch] = f.bias ? f.bias[ch] - mean * sc : -(mean * sc);
  if (f.running_mean) f.running_mean[ch] = f.running_mean[ch] * f.keep + mean * f.momentum;
  if (f.running_var) f.running_var[ch] = f.running_var[ch] * f.keep + var * f.unbias * f.momentum;
}

}  // namespace ember
