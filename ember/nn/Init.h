// nn/Init.h: weight initialisers with PyTorch's formulas (torch.nn.init), in place.
#pragma once

#include <string>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace nn {
namespace init {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field
std::pair<int64_t, int64_t> fans(const Tensor& w);
// gain for "linear", "sigmoid", "relu", "leaky_relu" (param = negative slope), "tanh"
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

void uniform_(const Tensor& t, double lo, double hi);
void normal_(const Tensor& t, double mean, double std);
void constant_(const Tensor& t, double v);
// bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) for leaky_relu
void kaiming_uniform_(const Tensor& t, double a = 0, const std::string& nonlinearity = "leaky_relu");
// std = gain / sqrt(fan); fan is fan_in, or fan_out when fan_out is true (torchvision's
// ResNet init: kaiming_normal_(w, 0, "relu", true)).
void kaiming_normal_(const Tensor& t, double a = 0, const std::string& nonlinearity = "leaky_relu", bool fan_out = false);
void xavier_uniform_(const Tensor& t, double gain = 1.0);

}  // namespace init
}  // namespace nn
}  // namespace ember
