// autograd/ops/conv.h: 2-D convolution, NCHW. A 3-D input [C, H, W] is one image; sizes are
// {height, width}.
// Defined, with their backward, in autograd/ops/conv.cpp.
#pragma once

#include <array>
#include <cstdint>

#include "ember/tensor/Tensor.h"

namespace ember {

using Size2 = std::array<int64_t, 2>;
struct Conv2dParams {
  Size2 stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};
// x [N, C, H, W], weight [K, C / groups, kh, kw], bias [K] (optional) -> [N, K, OH, OW].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Conv2dParams p = {});

}  // namespace ember
