// tensor/cpu/ConvKernels.h: the CPU kernels for convolution, pooling and batch norm
// (the conv-net entries of tensor/Backend.h; CpuBackend.cpp forwards to these).
//
// Convolution is im2col + one OpenBLAS GEMM per group over a chunk of images:
//   col [c/g * kh * kw, nb * oh * ow]     (every image of the chunk side by side)
//   y_g [k/g, nb * oh * ow] = w_g [k/g, c/g * kh * kw] @ col
// then y_g is copied into NCHW. Backward input is w_g^T @ gy_g followed by col2im
// (a scatter-add of the columns back into the image); backward weight is gy_g @ col^T.
// Putting the images side by side keeps the GEMM large when oh * ow is small (a 56-px
// ResNet's last stage is 2x2). Scratch memory is a per-thread buffer that only grows.
#pragma once

#include <cstdint>

#include "tensor/Backend.h"

namespace ember {
namespace cpu {

template <class T> void conv2d(const ConvGeom& g, const T* x, const T* w, T* y);
template <class T> void conv2d_backward_input(const ConvGeom& g, const T* gy, const T* w, T* gx);
template <class T> void conv2d_backward_weight(const ConvGeom& g, const T* gy, const T* x, T* gw);

template <class T> void pool2d(bool is_max, const PoolGeom& g, const T* x, T* y, int64_t* argmax);
template <class T> void pool2d_backward(bool is_max, const PoolGeom& g, const T* gy, const int64_t* argmax, T* gx);

template <class T> void channel_stats(int64_t n, int64_t c, int64_t s, const T* x, T* mean, T* var);
template <class T> void channel_affine(int64_t n, int64_t c, int64_t s, const T* x, const T* scale, const T* shift, T* y);
template <class T>
void channel_grad_sums(int64_t n, int64_t c, int64_t s, const T* gy, const T* x, const T* mean, T* sum_gy, T* sum_gy_xmu);
template <class T>
void batch_norm_backward_input(int64_t n, int64_t c, int64_t s, const T* gy, const T* x, const T* mean, const T* a,
                               const T* b, const T* k, T* gx);

}  // namespace cpu
}  // namespace ember
