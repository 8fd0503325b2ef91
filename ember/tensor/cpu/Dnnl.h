// tensor/cpu/Dnnl.h: f32 convolution on the CPU through oneDNN (Debian's libdnnl, the
// library PyTorch's CPU convolutions use), when Ember is built with it (EMBER_WITH_DNNL).
//
// tensor/cpu/Conv.cpp calls these first and falls back to its own im2col + GEMM
// when they return false (not built with oneDNN, f64, or EMBER_CPU_CONV=im2col in the
// environment). Tensors stay NCHW: oneDNN picks its blocked layouts per geometry and the
// reorders to and from them are part of each call. Primitives are cached per geometry.
#pragma once

#include "ember/tensor/Backend.h"

namespace ember {
namespace cpu {
namespace dnnl_conv {

bool available();  // built with oneDNN
bool enabled();    // available and not switched off (EMBER_CPU_CONV=im2col, or set_enabled(false))
void set_enabled(bool on);  // tests compare both paths; on has no effect without oneDNN
bool forward(const ConvGeom& g, const float* x, const float* w, float* y);
bool backward_input(const ConvGeom& g, const float* gy, const float* w, float* gx);
bool backward_weight(const ConvGeom& g, const float* gy, const float* x, float* gw);

}  // namespace dnnl_conv
}  // namespace cpu
}  // namespace ember
