// autograd/ops/softmax.h: softmax and log_softmax over one dim.
// Defined, with their backward, in autograd/ops/softmax.cpp.
#pragma once

#include <cstdint>

#include "ember/tensor/Tensor.h"

namespace ember {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace ember
