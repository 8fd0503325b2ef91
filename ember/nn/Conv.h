// nn/Conv.h: the Conv2d layer, and 2-D convolution by im2col written with Tensor ops.
//
// Conv2d calls ember::conv2d (autograd/ops/conv.cpp: fused kernels, im2col + GEMM on
// CPU, cuDNN on CUDA). The functional im2col below is the teaching version:
//
// Exercise 9 (conv2d by im2col) writes im2col and conv2d_im2col (nn/Conv.cpp).
// These are the readable reference: every step is an existing op (pad by cat, slice,
// stack, reshape, matmul), so the backward comes from theirs and runs on any device.
// A fused convolution kernel (cuDNN, a CPU im2col + gemm) is a later, faster version.
#pragma once

#include <cstdint>

#include "ember/nn/Module.h"
#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace nn {

// y = conv2d(x, weight, bias), weight [out, in / groups, kh, kw]. Init as PyTorch:
// weight ~ kaiming_uniform(a = sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class Conv2d : public Module {
 public:
  struct Options {
    Size2 stride{1, 1}, padding{0, 0}, dilation{1, 1};
    int64_t groups = 1;
    bool bias = true;
  };
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Options opt);
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t in_channels, out_channels;
  Size2 kernel_size;
  Conv2dParams params;
  Tensor weight, bias;  // bias undefined when bias = false
};
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
