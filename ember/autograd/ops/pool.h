// autograd/ops/pool.h: 2-D max, average and adaptive pooling, NCHW (sizes are {height, width}).
// Defined, with their backward, in autograd/ops/pool.cpp.
#pragma once

#include <cstdint>

#include "ember/autograd/ops/conv.h"
#include "ember/tensor/Tensor.h"

namespace ember {

struct Pool2dParams {
  Size2 kernel{1, 1};
  Size2 stride{0, 0};  // 0: the kernel size
  Size2 padding{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
};
Tensor max_pool2d(const Tensor& x, Pool2dParams p);
Tensor avg_pool2d(const Tensor& x, Pool2dParams p);
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);
Tensor adaptive_max_pool2d(const Tensor& x, Size2 output_size);

}  // namespace ember
