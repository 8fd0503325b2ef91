// nn/Init.cpp: PyTorch's initialisers. All draw from Ember's seeded Philox generator.
#include "ember/nn/Init.h"

#include <cmath>

namespace ember {
namespace nn {
namespace init {

std::pair<int64_t, int64_t> fans(const Tensor& w) {
  EMBER_CHECK(w.dim() >= 2, "init: fan in/out need a tensor with >= 2 dims, got ", fmt(w.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.shape()[d];
  return {w.shape()[1] * receptive, w.shape()[0] * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "sigmoid" || nl == "conv2d") return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  EMBER_FAIL("init: unknown nonlinearity '", nl, "'");
}

namespace {
void assign(const Tensor& t, const Tensor& v) {
  NoGradGuard ng;
  Tensor(t).copy_(v);
}
}  // namespace

void uniform_(const Tensor& t, double lo, double hi) { assign(t, uniform(t.shape(), lo, hi, TensorOptions(t.dtype(), t.device()))); }
void normal_(const Tensor& t, double mean, double std) {
  assign(t, randn(t.shape(), TensorOptions(t.dtype(), t.device())) * std + mean);
}
void constant_(const Tensor& t, double v) {
  NoGradGuard ng;
  Tensor(t).fill_(v);
}

void kaiming_uniform_(const Tensor& t, double a, const std::string& nl) {
  double bound = calculate_gain(nl, a) * std::sqrt(3.0 / static_cast<double>(fans(t).first));
  uniform_(t, -bound, bound);
}
void kaiming_normal_(const Tensor& t, double a, const std::string& nl, bool fan_out) {
  auto [fi, fo] = fans(t);
  normal_(t, 0, calculate_gain(nl, a) / std::sqrt(static_cast<double>(fan_out ? fo : fi)));
}
void xavier_uniform_(const Tensor& t, double gain) {
  auto [fi, fo] = fans(t);
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fi + fo));
  uniform_(t, -bound, bound);
}

}  // namespace init
}  // namespace nn
}  // namespace ember
