// nn/Layers.cpp: Linear, Flatten, Dropout, Sequential.
#include "ember/nn/Layers.h"

#include <cmath>
#include <sstream>

#include "ember/nn/Init.h"

namespace ember {
namespace nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias) : Module("Linear"), in_features(in), out_features(out) {
  EMBER_CHECK(in > 0 && out > 0, "Linear(", in, "->", out, "): feature counts must be positive");
  weight = register_parameter("weight", empty({out, in}));
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (has_bias) {
    bias = register_parameter("bias", empty({out}));
    double bound = 1.0 / std::sqrt(static_cast<double>(in));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  EMBER_CHECK(x.dim() >= 1 && x.shape().back() == in_features, "Linear(", in_features, "->", out_features,
              "): input ", fmt(x.shape()), " has ", (x.dim() ? x.shape().back() : 0), " features, expected ",
              in_features);
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  std::ostringstream os;
  os << "in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << (bias.defined() ? "True" : "False");
  return os.str();
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

Dropout::Dropout(double p_) : Module("Dropout"), p(p_) {
  EMBER_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p == 0) return x;
  if (p == 1) return x * 0.0;
  Tensor keep = lt(rand(x.shape(), TensorOptions(x.dtype(), x.device())), full({}, 1.0 - p, TensorOptions(x.dtype(), x.device())));
  return x * keep * (1.0 / (1.0 - p));
}

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p << ", inplace=False";
  return os.str();
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> layers) : Module("Sequential") {
  for (auto& l : layers) push_back(l);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  add_child(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& l : layers_) h = (*l)(h);  // operator(): names the layer in anomaly mode
  return h;
}

}  // namespace nn
}  // namespace ember
