// nn/Conv.h: 2-D convolution by im2col, written with differentiable Tensor ops.
//
// Exercise 9 (conv2d by im2col) writes im2col and conv2d_im2col (nn/Conv.cpp).
// These are the readable reference: every step is an existing op (pad by cat, slice,
// stack, reshape, matmul), so the backward comes from theirs and runs on any device.
// A fused convolution kernel (cuDNN, a CPU im2col + gemm) is a later, faster version.
#pragma once

#include <cstdint>

#include "tensor/Tensor.h"

namespace ember {
namespace nn {
namespace functional {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;  // zeros on every side of H and W
};

// Output size of one spatial dim: (size + 2 padding - kernel) / stride + 1.
int64_t conv_out_size(int64_t size, int64_t kernel, int64_t stride, int64_t padding);

// x [N, C, H, W] -> columns [N, C*kh*kw, OH*OW]. Row c*kh*kw + i*kw + j of column
// oh*OW + ow holds x_padded[n, c, oh*stride + i, ow*stride + j].
Tensor im2col(const Tensor& x, int64_t kh, int64_t kw, Conv2dOptions opt = {});

// y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] * x_padded[n, c, oh*stride + i, ow*stride + j]
// x [N, C, H, W], w [O, C, kh, kw], b [O] or undefined -> y [N, O, OH, OW].
// As one matmul: w.reshape([O, C*kh*kw]) @ im2col(x) -> [N, O, OH*OW].
Tensor conv2d_im2col(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), Conv2dOptions opt = {});

}  // namespace functional
}  // namespace nn
}  // namespace ember
