// autograd/ops/shape.h: joining tensors (the views are Tensor methods, defined in the same file).
// Defined, with their backward, in autograd/ops/shape.cpp.
#pragma once

#include <cstdint>

#include "ember/tensor/Tensor.h"

namespace ember {

Tensor cat(const TensorList& xs, int64_t dim = 0);
Tensor stack(const TensorList& xs, int64_t dim = 0);

}  // namespace ember
