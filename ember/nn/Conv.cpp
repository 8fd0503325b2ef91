// nn/Conv.cpp: the Conv2d layer, and conv2d by im2col (see nn/Conv.h for the shapes).
// Exercise 9 (conv2d by im2col) writes the bodies of im2col and conv2d_im2col.
#include "ember/nn/Conv.h"

#include <cmath>
#include <sstream>

#include "ember/nn/Init.h"
#include "ember/tensor/Error.h"

namespace ember {
namespace nn {
namespace functional {

int64_t conv_out_size(int64_t size, int64_t kernel, int64_t stride, int64_t padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}

namespace {
// Zeros around dims 2 and 3 of [N, C, H, W], written with cat so the grad flows back.
Tensor pad_hw(const Tensor& x, int64_t p) {
  if (p == 0) return x;
  const Shape& s = x.shape();
  TensorOptions o(x.dtype(), x.device());
  Tensor side_h = zeros({s[0], s[1], p, s[3]}, o);
  Tensor xh = cat({side_h, x, side_h}, 2);  // [N, C, H + 2p, W]
  Tensor side_w = zeros({s[0], s[1], s[2] + 2 * p, p}, o);
  return cat({side_w, xh, side_w}, 3);  // [N, C, H + 2p, W + 2p]
}
}  // namespace

Tensor im2col(const Tensor& x, int64_t kh, int64_t kw, Conv2dOptions opt) {
  EMBER_CHECK(x.dim() == 4, "im2col: expects x [N, C, H, W], got ", fmt(x.shape()));
  EMBER_CHECK(kh > 0 && kw > 0 && opt.stride > 0 && opt.padding >= 0, "im2col: invalid kernel ", kh, "x", kw,
              ", stride ", opt.stride, ", padding ", opt.padding);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t OH = conv_out_size(x.shape()[2], kh, opt.stride, opt.padding);
  const int64_t OW = conv_out_size(x.shape()[3], kw, opt.stride, opt.padding);
  EMBER_CHECK(OH > 0 && OW > 0, "im2col: kernel ", kh, "x", kw, " is larger than the padded input ",
              fmt(x.shape()), " (padding ", opt.padding, ")");
  // BEGIN EXERCISE 9
  Tensor xp = pad_hw(x, opt.padding);
  // One strided view per kernel offset (i, j): the input pixels that kernel weight touches,
  // for every output position. Each is [N, C, OH, OW].
  const int64_t s = opt.stride;
  TensorList taps;
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j)
      taps.push_back(xp.slice(2, i, i + s * (OH - 1) + 1, s).slice(3, j, j + s * (OW - 1) + 1, s));
  // [N, C, kh*kw, OH, OW]: the (i, j) order is row-major, as in w.reshape([O, C*kh*kw]).
  return stack(taps, 2).reshape({N, C * kh * kw, OH * OW});
  // END EXERCISE
}

Tensor conv2d_im2col(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dOptions opt) {
  EMBER_CHECK(x.dim() == 4 && w.dim() == 4, "conv2d: expects x [N, C, H, W] and w [O, C, kh, kw], got ",
              fmt(x.shape()), " and ", fmt(w.shape()));
  EMBER_CHECK(x.shape()[1] == w.shape()[1], "conv2d: x ", fmt(x.shape()), " has ", x.shape()[1],
              " channels but w ", fmt(w.shape()), " expects ", w.shape()[1]);
  EMBER_CHECK(!b.defined() || (b.dim() == 1 && b.shape()[0] == w.shape()[0]), "conv2d: bias ", fmt(b.shape()),
              " does not match ", w.shape()[0], " output channels");
  // BEGIN EXERCISE 9
  const int64_t N = x.shape()[0], O = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  const int64_t OH = conv_out_size(x.shape()[2], kh, opt.stride, opt.padding);
  const int64_t OW = conv_out_size(x.shape()[3], kw, opt.stride, opt.padding);
  Tensor cols = im2col(x, kh, kw, opt);                  // [N, C*kh*kw, OH*OW]
  Tensor y = matmul(w.reshape({O, -1}), cols);           // [O, C*kh*kw] @ [N, ...] -> [N, O, OH*OW]
  if (b.defined()) y = y + b.reshape({1, O, 1});
  return y.reshape({N, O, OH, OW});
  // END EXERCISE
}

}  // namespace functional
}  // namespace nn
}  // namespace ember

// ---------------------------------------------------------------------------
// Conv2d (the layer)

namespace ember {
namespace nn {

Conv2d::Conv2d(int64_t in, int64_t out, Size2 k, Options opt)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(k) {
  EMBER_CHECK(in > 0 && out > 0 && k[0] > 0 && k[1] > 0 && opt.groups > 0, "Conv2d(", in, ", ", out, ", kernel_size=(",
              k[0], ", ", k[1], "), groups=", opt.groups, "): sizes must be positive");
  EMBER_CHECK(in % opt.groups == 0 && out % opt.groups == 0, "Conv2d(", in, ", ", out, "): channels must be divisible by groups=",
              opt.groups);
  params.stride = opt.stride, params.padding = opt.padding, params.dilation = opt.dilation, params.groups = opt.groups;
  weight = register_parameter("weight", empty({out, in / opt.groups, k[0], k[1]}));
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (opt.bias) {
    bias = register_parameter("bias", empty({out}));
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fans(weight).first));
    init::uniform_(bias, -bound, bound);
  }
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, bool has_bias)
    : Conv2d(in, out, {k, k}, Options{{stride, stride}, {padding, padding}, {1, 1}, 1, has_bias}) {}

Tensor Conv2d::forward(const Tensor& x) {
  EMBER_CHECK((x.dim() == 4 || x.dim() == 3) && x.shape()[x.dim() - 3] == in_channels, "Conv2d(", in_channels, ", ",
              out_channels, "): input ", fmt(x.shape()), " must be [N, ", in_channels, ", H, W]");
  return conv2d(x, weight, bias, params);
}

std::string Conv2d::extra_repr() const {
  std::ostringstream os;
  auto pair = [&](const Size2& v) { os << "(" << v[0] << ", " << v[1] << ")"; };
  os << in_channels << ", " << out_channels << ", kernel_size=";
  pair(kernel_size);
  os << ", stride=";
  pair(params.stride);
  if (params.padding != Size2{0, 0}) os << ", padding=", pair(params.padding);
  if (params.dilation != Size2{1, 1}) os << ", dilation=", pair(params.dilation);
  if (params.groups != 1) os << ", groups=" << params.groups;
  if (!bias.defined()) os << ", bias=False";
  return os.str();
}

}  // namespace nn
}  // namespace ember
