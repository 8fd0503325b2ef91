// learner/Metrics.h: validation metrics. A Metric is a name and a function of
// (predictions, targets); a model with several outputs (two heads) gives each metric the output
// it names. By default the Learner calls it on every validation batch and averages
// the results weighted by batch size (fastai's AvgMetric); with `accumulate` it gathers the whole
// validation set's predictions and targets and calls it once (fastai's AccumMetric), for metrics
// that are not a mean over items (F1, mistake severity: a mean over the mistakes only).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

struct Metric {
  std::string name;
  std::function<double(const Tensor& pred, const Tensor& target)> fn;
  bool accumulate = false;  // call fn once on the whole validation set (see above)
  size_t output = 0;        // which of the model's outputs is `pred` (nn::Module::forward_outputs)
};

// The validation loss and metrics of one pass, batch by batch (used by the Recorder and by
// Learner::validate). Accumulating metrics keep a CPU copy of each batch's pred and target.
class MetricTotals {
 public:
  void reset(const std::vector<Metric>& metrics);
  void add(double loss, const TensorList& outputs, const Tensor& target);  // one batch
  int64_t count() const { return count_; }                           // items seen
  // {loss, metric...}: batch-size-weighted means, or fn over everything; NaN before any batch.
  std::vector<double> values() const;

 private:
  std::vector<Metric> metrics_;
  int64_t count_ = 0;
  double loss_total_ = 0;
  std::vector<double> totals_;
  std::vector<TensorList> outputs_;  // [output][batch], kept for accumulating metrics
  TensorList targets_;
};

// pred [N, C] scores; target [N] class indices (any dtype holding integers).
double accuracy(const Tensor& pred, const Tensor& target);
double error_rate(const Tensor& pred, const Tensor& target);  // 1 - accuracy
double top_k_accuracy(const Tensor& pred, const Tensor& target, int64_t k);
// pred [N, C], target [N, C] one-hot (or scores): argmax(pred) == argmax(target).
double batch_accuracy(const Tensor& pred, const Tensor& target);

// sklearn's f1_score(average='macro'): the mean over the classes found in the targets or in the
// predictions of 2TP / (2TP + FP + FN). A prediction of -1 means "no label": it counts as a miss
// and is no class of its own. NaN when there are no classes at all.
double macro_f1(const std::vector<int64_t>& pred, const std::vector<int64_t>& target);
// The same with pred [N, C] scores (the argmax is the prediction) and target [N] class indices.
double macro_f1(const Tensor& pred, const Tensor& target);

// Ready-made metrics with fastai's column names.
Metric accuracy_metric();        // "accuracy"
Metric error_rate_metric();      // "error_rate"
Metric top_k_accuracy_metric(int64_t k = 5);  // "top_k_accuracy"
Metric batch_accuracy_metric();  // "accuracy"
Metric macro_f1_metric();        // "f1_score", over the whole validation set (accumulate)

}  // namespace learner
}  // namespace ember
