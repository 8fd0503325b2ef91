// nn/Norm.cpp: BatchNorm1d / BatchNorm2d and LayerNorm (see nn/Norm.h).
#include "ember/nn/Norm.h"

#include <sstream>

namespace ember {
namespace nn {

BatchNorm::BatchNorm(const char* type, int64_t n, Options opt, int min_dim, int max_dim)
    : Module(type), num_features(n), options(opt), min_dim_(min_dim), max_dim_(max_dim) {
  EMBER_CHECK(n > 0, type, "(", n, "): num_features must be positive");
  if (opt.affine) {
    weight = register_parameter("weight", ones({n}));
    bias = register_parameter("bias", zeros({n}));
  }
  if (opt.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({n}));
    running_var = register_buffer("running_var", ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  EMBER_CHECK(x.dim() >= min_dim_ && x.dim() <= max_dim_ && x.shape()[1] == num_features, type_name(), "(",
              num_features, "): input ", fmt(x.shape()), " must be ",
              max_dim_ == 4 ? "[N, C, H, W]" : "[N, C] or [N, C, L]", " with C = ", num_features);
  const bool use_batch_stats = is_training() || !options.track_running_stats;
  if (is_training() && options.track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(ones({}, TensorOptions(DType::i64, num_batches_tracked.device())));
  }
  // Without track_running_stats the buffers are undefined, so batch_norm neither reads nor updates them.
  return batch_norm(x, weight, bias, running_mean, running_var, use_batch_stats, options.momentum, options.eps);
}

std::string BatchNorm::extra_repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << options.eps << ", momentum=" << options.momentum
     << ", affine=" << (options.affine ? "True" : "False")
     << ", track_running_stats=" << (options.track_running_stats ? "True" : "False");
  return os.str();
}

LayerNorm::LayerNorm(Shape shape) : LayerNorm(std::move(shape), Options{}) {}

LayerNorm::LayerNorm(Shape shape, Options opt) : Module("LayerNorm"), normalized_shape(std::move(shape)), options(opt) {
  EMBER_CHECK(!normalized_shape.empty() && numel_of(normalized_shape) > 0, "LayerNorm(", fmt(normalized_shape),
              "): normalized_shape must be non-empty with positive sizes");
  if (opt.elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    bias = register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, options.eps); }

std::string LayerNorm::extra_repr() const {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < normalized_shape.size(); ++i) os << (i ? ", " : "") << normalized_shape[i];
  os << (normalized_shape.size() == 1 ? ",), eps=" : "), eps=") << options.eps << ", elementwise_affine=" << (options.elementwise_affine ? "True" : "False");
  return os.str();
}

}  // namespace nn
}  // namespace ember
