// nn/Norm.h: BatchNorm1d, BatchNorm2d and LayerNorm, as PyTorch's.
//
// Training: normalise with the batch's statistics and move running_mean / running_var
// toward them (momentum 0.1, unbiased variance); eval: normalise with the running
// statistics. weight (gamma) starts at 1, bias (beta) at 0. state_dict keys are PyTorch's:
// weight, bias, running_mean, running_var, num_batches_tracked (i64, counts training batches).
// The op itself (forward and backward) is ember::batch_norm, autograd/ops/norm.cpp.
#pragma once

#include <string>

#include "ember/nn/Module.h"

namespace ember {
namespace nn {

class BatchNorm : public Module {
 public:
  struct Options {
    double eps = 1e-5;
    double momentum = 0.1;
    bool affine = true;               // learnable weight and bias
    bool track_running_stats = true;  // false: batch statistics in eval too
  };
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t num_features;
  Options options;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 protected:
  // dims: the input ranks this flavour accepts (BatchNorm1d: 2 or 3, BatchNorm2d: 4).
  BatchNorm(const char* type, int64_t num_features, Options opt, int min_dim, int max_dim);

 private:
  int min_dim_, max_dim_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t n, Options opt = {}) : BatchNorm("BatchNorm1d", n, opt, 2, 3) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t n, Options opt = {}) : BatchNorm("BatchNorm2d", n, opt, 4, 4) {}
};

// LayerNorm(normalized_shape): normalises each sample over its last dims (those of
// normalized_shape) with its own mean and variance, the same in training and eval; weight
// starts at 1, bias at 0 (elementwise_affine). state_dict keys: weight, bias. The op is
// ember::layer_norm, autograd/ops/norm.cpp.
class LayerNorm : public Module {
 public:
  struct Options {
    double eps = 1e-5;
    bool elementwise_affine = true;
  };
  explicit LayerNorm(Shape normalized_shape);
  LayerNorm(Shape normalized_shape, Options opt);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Shape normalized_shape;
  Options options;
  Tensor weight, bias;
};

}  // namespace nn
}  // namespace ember
