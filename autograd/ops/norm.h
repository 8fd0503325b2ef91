// autograd/ops/norm.h: batch norm.
// Defined, with their backward, in autograd/ops/norm.cpp.
#pragma once

#include <cstdint>

#include "tensor/Tensor.h"

namespace ember {

// Normalises each channel of x [N, C, ...]. training: batch statistics, and running_mean /
// running_var (when defined) are updated in place with `momentum` (unbiased variance), as
// PyTorch does; otherwise the running statistics are used. weight/bias [C] are optional.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace ember
