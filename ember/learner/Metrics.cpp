// learner/Metrics.cpp: the metrics, computed on the host, and their totals over a validation pass.
#include "ember/learner/Metrics.h"

#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace ember {
namespace learner {

namespace {
// Row-wise argmax of a [N, C] tensor, on the host.
std::vector<int64_t> argmax_rows(const Tensor& t, const char* who) {
  EMBER_CHECK(t.dim() == 2, who, ": expected [N, C] predictions, got ", fmt(t.shape()));
  return t.detach().argmax(1).to_vector<int64_t>();
}

std::vector<int64_t> class_targets(const Tensor& target, int64_t n, const char* who) {
  EMBER_CHECK(target.dim() == 1 && target.size(0) == n, who, ": expected [", n, "] class indices as targets, got ",
              fmt(target.shape()));
  return target.detach().to_vector<int64_t>();
}
}  // namespace

double accuracy(const Tensor& pred, const Tensor& target) {
  std::vector<int64_t> p = argmax_rows(pred, "accuracy");
  std::vector<int64_t> t = class_targets(target, pred.size(0), "accuracy");
  if (p.empty()) return 0.0;
  int64_t hit = 0;
  for (size_t i = 0; i < p.size(); ++i) hit += p[i] == t[i];
  return static_cast<double>(hit) / static_cast<double>(p.size());
}

double error_rate(const Tensor& pred, const Tensor& target) { return 1.0 - accuracy(pred, target); }

double top_k_accuracy(const Tensor& pred, const Tensor& target, int64_t k) {
  EMBER_CHECK(pred.dim() == 2, "top_k_accuracy: expected [N, C] predictions, got ", fmt(pred.shape()));
  EMBER_CHECK(k >= 1 && k <= pred.size(1), "top_k_accuracy: k = ", k, " must be in [1, ", pred.size(1), "]");
  std::vector<int64_t> t = class_targets(target, pred.size(0), "top_k_accuracy");
  if (t.empty()) return 0.0;
  std::vector<int64_t> idx = topk(pred.detach(), k, 1).second.to_vector<int64_t>();  // [N, k]
  int64_t hit = 0;
  for (size_t i = 0; i < t.size(); ++i)
    for (int64_t j = 0; j < k; ++j)
      if (idx[i * static_cast<size_t>(k) + static_cast<size_t>(j)] == t[i]) {
        ++hit;
        break;
      }
  return static_cast<double>(hit) / static_cast<double>(t.size());
}

double batch_accuracy(const Tensor& pred, const Tensor& target) {
  EMBER_CHECK(pred.shape() == target.shape(), "batch_accuracy: predictions ", fmt(pred.shape()), " and targets ",
              fmt(target.shape()), " must have the same [N, C] shape");
  std::vector<int64_t> p = argmax_rows(pred, "batch_accuracy"), t = argmax_rows(target, "batch_accuracy");
  if (p.empty()) return 0.0;
  int64_t hit = 0;
  for (size_t i = 0; i < p.size(); ++i) hit += p[i] == t[i];
  return static_cast<double>(hit) / static_cast<double>(p.size());
}

Metric accuracy_metric() { return {"accuracy", accuracy}; }
Metric error_rate_metric() { return {"error_rate", error_rate}; }
Metric top_k_accuracy_metric(int64_t k) {
  return {"top_k_accuracy", [k](const Tensor& p, const Tensor& t) { return top_k_accuracy(p, t, k); }};
}
Metric batch_accuracy_metric() { return {"accuracy", batch_accuracy}; }

double macro_f1(const std::vector<int64_t>& pred, const std::vector<int64_t>& target) {
  EMBER_CHECK(pred.size() == target.size(), "macro_f1: ", pred.size(), " predictions but ", target.size(), " targets");
  std::set<int64_t> labels(target.begin(), target.end());
  for (int64_t p : pred)
    if (p >= 0) labels.insert(p);
  double sum = 0;
  for (int64_t c : labels) {
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < target.size(); ++i) {
      tp += pred[i] == c && target[i] == c;
      fp += pred[i] == c && target[i] != c;
      fn += pred[i] != c && target[i] == c;
    }
    sum += 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
  }
  return labels.empty() ? NAN : sum / static_cast<double>(labels.size());
}

double macro_f1(const Tensor& pred, const Tensor& target) {
  std::vector<int64_t> p = argmax_rows(pred, "macro_f1");
  return macro_f1(p, class_targets(target, pred.size(0), "macro_f1"));
}

Metric macro_f1_metric() {
  return {"f1_score", [](const Tensor& p, const Tensor& t) { return macro_f1(p, t); }, true};
}

// ---------------------------------------------------------------------------
// MetricTotals
void MetricTotals::reset(const std::vector<Metric>& metrics) {
  metrics_ = metrics;
  count_ = 0;
  loss_total_ = 0;
  totals_.assign(metrics.size(), 0.0);
  outputs_.clear();
  targets_.clear();
}

void MetricTotals::add(double loss, const TensorList& outputs, const Tensor& target) {
  const int64_t bs = target.defined() && target.dim() > 0 ? target.size(0) : 1;
  const auto w = static_cast<double>(bs);
  loss_total_ += loss * w;
  count_ += bs;
  bool keep = false;
  for (size_t i = 0; i < metrics_.size(); ++i) {
    const Metric& m = metrics_[i];
    EMBER_CHECK(m.output < outputs.size(), "metric '", m.name, "' reads output ", m.output, " but the model gave ",
                outputs.size(), outputs.size() == 1 ? " output" : " outputs");
    if (m.accumulate) keep = true;
    else totals_[i] += m.fn(outputs[m.output], target) * w;
  }
  if (keep) {
    outputs_.resize(outputs.size());
    for (size_t k = 0; k < outputs.size(); ++k) outputs_[k].push_back(outputs[k].detach().cpu());
    targets_.push_back(target.detach().cpu());
  }
}

std::vector<double> MetricTotals::values() const {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto c = static_cast<double>(count_);
  std::vector<double> out{count_ ? loss_total_ / c : nan};
  TensorList all_outputs(outputs_.size());
  Tensor all_target;
  for (size_t i = 0; i < metrics_.size(); ++i) {
    const Metric& m = metrics_[i];
    if (!count_) {
      out.push_back(nan);
    } else if (m.accumulate) {
      if (!all_target.defined()) all_target = cat(targets_);
      if (!all_outputs[m.output].defined()) all_outputs[m.output] = cat(outputs_[m.output]);
      out.push_back(m.fn(all_outputs[m.output], all_target));
    } else {
      out.push_back(totals_[i] / c);
    }
  }
  return out;
}

}  // namespace learner
}  // namespace ember
