// autograd/ops/norm.h: batch norm and layer norm.
// Defined, with their backward, in autograd/ops/norm.cpp.
#pragma once

#include <cstdint>

#include "ember/tensor/Tensor.h"

namespace ember {

// Normalises each channel of x [N, C, ...]. training: batch statistics, and running_mean /
// running_var (when defined) are updated in place with `momentum` (unbiased variance), as
// PyTorch does; otherwise the running statistics are used. weight/bias [C] are optional.
// Normalises x over its last dims, those of `normalized_shape`, as PyTorch's F.layer_norm: with
// each row's mean and biased variance, y = (x - mean) / sqrt(var + eps) * weight + bias.
// weight and bias (optional) have normalized_shape.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace ember
