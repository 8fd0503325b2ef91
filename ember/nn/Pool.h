// nn/Pool.h: pooling layers (PyTorch's MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
// AdaptiveMaxPool2d) and fastai's AdaptiveConcatPool2d. The ops are in autograd/ops/pool.cpp.
#pragma once

#include <memory>
#include <string>

#include "ember/nn/Module.h"

namespace ember {
namespace nn {

class MaxPool2d : public Module {
 public:
  // stride 0: the kernel size (PyTorch's default).
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, bool ceil_mode = false);
  explicit MaxPool2d(Pool2dParams p) : Module("MaxPool2d"), params(p) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, params); }
  std::string extra_repr() const override;
  Pool2dParams params;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true);
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, params); }
  std::string extra_repr() const override;
  Pool2dParams params;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 out) : Module("AdaptiveAvgPool2d"), output_size(out) {}
  explicit AdaptiveAvgPool2d(int64_t s = 1) : AdaptiveAvgPool2d(Size2{s, s}) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, output_size); }
  std::string extra_repr() const override;
  Size2 output_size;
};

class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(Size2 out) : Module("AdaptiveMaxPool2d"), output_size(out) {}
  explicit AdaptiveMaxPool2d(int64_t s = 1) : AdaptiveMaxPool2d(Size2{s, s}) {}
  Tensor forward(const Tensor& x) override { return adaptive_max_pool2d(x, output_size); }
  std::string extra_repr() const override;
  Size2 output_size;
};

// fastai's AdaptiveConcatPool2d: cat([max pool, avg pool], dim 1), so C channels become 2C.
class AdaptiveConcatPool2d : public Module {
 public:
  explicit AdaptiveConcatPool2d(int64_t size = 1);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<AdaptiveAvgPool2d> ap;
  std::shared_ptr<AdaptiveMaxPool2d> mp;
};

}  // namespace nn
}  // namespace ember
