// learner/Metrics.h: validation metrics. A Metric is a name and a function of one
// batch's (predictions, targets); the Recorder averages it over the validation set
// weighted by batch size (fastai's AvgMetric).
#pragma once

#include <functional>
#include <string>

#include "tensor/Tensor.h"

namespace ember {
namespace learner {

struct Metric {
  std::string name;
  std::function<double(const Tensor& pred, const Tensor& target)> fn;
};

// pred [N, C] scores; target [N] class indices (any dtype holding integers).
double accuracy(const Tensor& pred, const Tensor& target);
double error_rate(const Tensor& pred, const Tensor& target);  // 1 - accuracy
double top_k_accuracy(const Tensor& pred, const Tensor& target, int64_t k);
// pred [N, C], target [N, C] one-hot (or scores): argmax(pred) == argmax(target).
double batch_accuracy(const Tensor& pred, const Tensor& target);

// Ready-made metrics with fastai's column names.
Metric accuracy_metric();        // "accuracy"
Metric error_rate_metric();      // "error_rate"
Metric top_k_accuracy_metric(int64_t k = 5);  // "top_k_accuracy"
Metric batch_accuracy_metric();  // "accuracy"

}  // namespace learner
}  // namespace ember
