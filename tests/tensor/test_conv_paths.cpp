// tests/tensor/test_conv_paths.cpp: the CPU's two f32 convolution paths agree: oneDNN
// (tensor/cpu/Dnnl.cpp, when built with it) and Ember's own im2col + GEMM
// (tensor/cpu/Conv.cpp), forward, backward data and backward weights, over the
// geometries a ResNet uses and the awkward ones (padding past the input, dilation, groups).
#include <gtest/gtest.h>

#include <cmath>

#include "ember/autograd/Node.h"
#include "ember/tensor/cpu/Dnnl.h"
#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

using namespace ember;

namespace {

struct Geo {
  Shape x, w;
  Conv2dParams p;
};

Conv2dParams P(Size2 s, Size2 pad, Size2 d = {1, 1}, int64_t g = 1) {
  Conv2dParams p;
  p.stride = s, p.padding = pad, p.dilation = d, p.groups = g;
  return p;
}

// y, dx, dw for a fixed upstream gradient.
TensorList run(const Geo& g) {
  manual_seed(11);
  Tensor x = randn(g.x).requires_grad_(true);
  Tensor w = randn(g.w).requires_grad_(true);
  Tensor y = conv2d(x, w, Tensor(), g.p);
  Tensor v = randn(y.shape());
  (y * v).sum().backward();
  return {y.detach(), x.grad(), w.grad()};
}

void expect_close(const Tensor& a, const Tensor& b, const char* what, const Geo& g) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const double scale = b.abs().max().item<double>() + 1e-12;
  const double diff = (a - b).abs().max().item<double>();
  EXPECT_LE(diff, 2e-5 * scale) << what << " for x " << fmt(g.x) << " w " << fmt(g.w) << ": max |diff| " << diff
                                << " vs scale " << scale;
}

}  // namespace

TEST(ConvPaths, OneDnnMatchesIm2col) {
  if (!cpu::dnnl_conv::available()) GTEST_SKIP() << "built without oneDNN (EMBER_DNNL=OFF or libdnnl-dev missing): one CPU path only";
  const std::vector<Geo> geos = {
      {{4, 3, 56, 56}, {64, 3, 7, 7}, P({2, 2}, {3, 3})},     // ResNet stem
      {{4, 64, 14, 14}, {64, 64, 3, 3}, P({1, 1}, {1, 1})},   // layer1
      {{4, 64, 14, 14}, {128, 64, 3, 3}, P({2, 2}, {1, 1})},  // layer2.0.conv1
      {{4, 64, 14, 14}, {128, 64, 1, 1}, P({2, 2}, {0, 0})},  // layer2.0.downsample (odd right edge)
      {{2, 256, 4, 4}, {512, 256, 3, 3}, P({2, 2}, {1, 1})},  // layer4.0.conv1: 2x2 output
      {{2, 512, 2, 2}, {512, 512, 3, 3}, P({1, 1}, {1, 1})},  // layer4 conv2: 2x2 in and out
      {{2, 256, 4, 4}, {512, 256, 1, 1}, P({2, 2}, {0, 0})},  // layer4.0.downsample
      {{2, 128, 7, 7}, {256, 128, 3, 3}, P({2, 2}, {1, 1})},  // layer3.0.conv1: odd input
      {{2, 128, 7, 7}, {256, 128, 1, 1}, P({2, 2}, {0, 0})},  // layer3.0.downsample
      {{2, 6, 9, 7}, {4, 3, 3, 2}, P({2, 1}, {2, 1}, {2, 2}, 2)},  // groups + dilation + uneven
      {{3, 5, 5, 5}, {7, 5, 1, 1}, P({1, 1}, {0, 0})},        // pointwise
  };
  for (const Geo& g : geos) {
    cpu::dnnl_conv::set_enabled(true);
    TensorList a = run(g);
    cpu::dnnl_conv::set_enabled(false);
    TensorList b = run(g);
    cpu::dnnl_conv::set_enabled(true);
    expect_close(a[0], b[0], "forward", g);
    expect_close(a[1], b[1], "grad input", g);
    expect_close(a[2], b[2], "grad weight", g);
  }
}
