// nn/Pool.cpp: the pooling layers (see nn/Pool.h).
#include "ember/nn/Pool.h"

#include <sstream>

namespace ember {
namespace nn {

namespace {
Pool2dParams square(int64_t k, int64_t s, int64_t p, bool ceil_mode, bool count_include_pad) {
  Pool2dParams o;
  o.kernel = {k, k};
  o.stride = {s ? s : k, s ? s : k};
  o.padding = {p, p};
  o.ceil_mode = ceil_mode;
  o.count_include_pad = count_include_pad;
  return o;
}
// PyTorch prints a square size as one number: kernel_size=3.
std::string size_text(const Size2& v) {
  return v[0] == v[1] ? std::to_string(v[0]) : "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ")";
}
std::string pool_repr(const Pool2dParams& p) {
  std::ostringstream os;
  os << "kernel_size=" << size_text(p.kernel) << ", stride=" << size_text(p.stride) << ", padding=" << size_text(p.padding);
  return os.str();
}
}  // namespace

MaxPool2d::MaxPool2d(int64_t k, int64_t s, int64_t p, bool ceil_mode)
    : Module("MaxPool2d"), params(square(k, s, p, ceil_mode, true)) {}
std::string MaxPool2d::extra_repr() const {
  return pool_repr(params) + ", dilation=1, ceil_mode=" + (params.ceil_mode ? "True" : "False");
}

AvgPool2d::AvgPool2d(int64_t k, int64_t s, int64_t p, bool ceil_mode, bool count_include_pad)
    : Module("AvgPool2d"), params(square(k, s, p, ceil_mode, count_include_pad)) {}
std::string AvgPool2d::extra_repr() const { return pool_repr(params); }

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + size_text(output_size); }
std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + size_text(output_size); }

AdaptiveConcatPool2d::AdaptiveConcatPool2d(int64_t size) : Module("AdaptiveConcatPool2d") {
  ap = register_module("ap", std::make_shared<AdaptiveAvgPool2d>(size));
  mp = register_module("mp", std::make_shared<AdaptiveMaxPool2d>(size));
}
Tensor AdaptiveConcatPool2d::forward(const Tensor& x) { return cat({mp->forward(x), ap->forward(x)}, 1); }

}  // namespace nn
}  // namespace ember
