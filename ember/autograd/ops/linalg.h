// autograd/ops/linalg.h: matrix products.
// Defined, with their backward, in autograd/ops/linalg.cpp.
#pragma once

#include <cstdint>

#include "ember/tensor/Tensor.h"

namespace ember {

// [n, k] @ [k, m]; batched [..., n, k] @ [..., k, m] with broadcast batch dims; 1-D as in NumPy.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] , weight [out, in], bias [out] (optional) -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace ember
