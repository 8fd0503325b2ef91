// learner/HierMetrics.cpp: hierarchy-aware metrics, computed on the host from one batch.
#include "ember/learner/HierMetrics.h"

#include <memory>
#include <vector>

namespace ember {
namespace learner {

namespace {

void check_batch(const char* who, const Tensor& scores, const Tensor& target, int64_t n_classes) {
  EMBER_CHECK(scores.dim() == 2, who, ": expected [B, N] predictions, got ", fmt(scores.shape()));
  EMBER_CHECK(scores.size(1) == n_classes, who, ": predictions ", fmt(scores.shape()), " have ", scores.size(1),
              " classes, the hierarchy has ", n_classes);
  EMBER_CHECK(target.dim() == 1 && target.size(0) == scores.size(0), who, ": expected [", scores.size(0),
              "] class indices as targets, got ", fmt(target.shape()));
}

std::vector<int64_t> targets_of(const char* who, const Tensor& target, int64_t n_classes) {
  std::vector<int64_t> t = target.detach().to(DType::i64).to_vector<int64_t>();
  for (int64_t v : t)
    EMBER_CHECK(v >= 0 && v < n_classes, who, ": target ", v, " out of range [0, ", n_classes, ")");
  return t;
}

std::vector<double> square(const char* who, const Tensor& dist, int64_t n) {
  EMBER_CHECK(dist.dim() == 2 && dist.size(0) == n && dist.size(1) == n, who, ": expected an [", n, ", ", n,
              "] distance matrix, got ", fmt(dist.shape()));
  return dist.detach().to(DType::f64).to_vector<double>();
}

std::vector<int64_t> argmax_rows(const Tensor& t) { return t.detach().argmax(1).to_vector<int64_t>(); }

Tensor probs_of(const Tensor& logits) {
  NoGradGuard ng;
  return softmax(logits.detach(), 1);
}

}  // namespace

double level_accuracy(const Tensor& scores, const Tensor& target, const hier::ClassTree& tree, int level) {
  check_batch("level_accuracy", scores, target, tree.num_leaves());
  std::vector<int64_t> anc = tree.leaf_to_level(level);
  std::vector<int64_t> p = argmax_rows(scores), t = targets_of("level_accuracy", target, tree.num_leaves());
  if (p.empty()) return 0.0;
  int64_t hit = 0;
  for (size_t i = 0; i < p.size(); ++i) hit += anc[static_cast<size_t>(p[i])] == anc[static_cast<size_t>(t[i])];
  return static_cast<double>(hit) / static_cast<double>(p.size());
}

double level_accuracy_summed(const Tensor& probs, const Tensor& target, const hier::ClassTree& tree, int level) {
  check_batch("level_accuracy_summed", probs, target, tree.num_leaves());
  std::vector<int64_t> anc = tree.leaf_to_level(level);
  NoGradGuard ng;
  std::vector<int64_t> p = argmax_rows(hier::ancestor_sum(probs.detach(), tree, level));
  std::vector<int64_t> t = targets_of("level_accuracy_summed", target, tree.num_leaves());
  if (p.empty()) return 0.0;
  int64_t hit = 0;
  for (size_t i = 0; i < p.size(); ++i) hit += p[i] == anc[static_cast<size_t>(t[i])];
  return static_cast<double>(hit) / static_cast<double>(p.size());
}

double mistake_severity(const Tensor& scores, const Tensor& target, const Tensor& dist) {
  const int64_t n = scores.dim() == 2 ? scores.size(1) : 0;
  check_batch("mistake_severity", scores, target, n);
  std::vector<double> d = square("mistake_severity", dist, n);
  std::vector<int64_t> p = argmax_rows(scores), t = targets_of("mistake_severity", target, n);
  double total = 0;
  int64_t errors = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != t[i]) {
      total += d[static_cast<size_t>(t[i] * n + p[i])];
      ++errors;
    }
  return errors ? total / static_cast<double>(errors) : 0.0;
}

double mistake_severity(const Tensor& scores, const Tensor& target, const hier::ClassTree& tree) {
  check_batch("mistake_severity", scores, target, tree.num_leaves());
  return mistake_severity(scores, target, tree.lca_heights());
}

double hier_distance_at_k(const Tensor& scores, const Tensor& target, const Tensor& dist, int64_t k) {
  const int64_t n = scores.dim() == 2 ? scores.size(1) : 0;
  check_batch("hier_distance_at_k", scores, target, n);
  EMBER_CHECK(k >= 1 && k <= n, "hier_distance_at_k: k = ", k, " must be in [1, ", n, "]");
  std::vector<double> d = square("hier_distance_at_k", dist, n);
  std::vector<int64_t> t = targets_of("hier_distance_at_k", target, n);
  if (t.empty()) return 0.0;
  std::vector<int64_t> idx = topk(scores.detach(), k, 1).second.to_vector<int64_t>();  // [B, k]
  double total = 0;
  for (size_t i = 0; i < t.size(); ++i)
    for (int64_t j = 0; j < k; ++j) total += d[static_cast<size_t>(t[i] * n + idx[i * static_cast<size_t>(k) + static_cast<size_t>(j)])];
  return total / static_cast<double>(t.size() * static_cast<size_t>(k));
}

double hier_distance_at_k(const Tensor& scores, const Tensor& target, const hier::ClassTree& tree, int64_t k) {
  check_batch("hier_distance_at_k", scores, target, tree.num_leaves());
  return hier_distance_at_k(scores, target, tree.lca_heights(), k);
}

Tensor crm_scores(const Tensor& probs, const Tensor& cost) {
  EMBER_CHECK(probs.dim() == 2, "crm_scores: expected probabilities [B, N], got ", fmt(probs.shape()));
  const int64_t n = probs.size(1);
  EMBER_CHECK(cost.dim() == 2 && cost.size(0) == n && cost.size(1) == n, "crm_scores: expected an [", n, ", ", n,
              "] cost matrix for probabilities ", fmt(probs.shape()), ", got ", fmt(cost.shape()));
  NoGradGuard ng;
  return -probs.detach().matmul(cost.detach().to(probs.dtype()).to(probs.device()));
}

Tensor crm_predict(const Tensor& probs, const Tensor& cost) { return crm_scores(probs, cost).argmax(1); }

// ---------------------------------------------------------------------------
Metric level_accuracy_metric(const hier::ClassTree& tree, int level, std::string name, LevelRule rule) {
  auto t = std::make_shared<const hier::ClassTree>(tree);
  level = t->wrap_level(level);  // checks the level now, not at the first batch
  if (name.empty()) name = "accuracy_l" + std::to_string(level) + (rule == LevelRule::SummedProbs ? "_sum" : "");
  if (rule == LevelRule::SummedProbs)
    return {name, [t, level](const Tensor& p, const Tensor& y) { return level_accuracy_summed(probs_of(p), y, *t, level); }};
  return {name, [t, level](const Tensor& p, const Tensor& y) { return level_accuracy(p, y, *t, level); }};
}

Metric mistake_severity_metric(const hier::ClassTree& tree, bool crm, std::string name) {
  if (name.empty()) name = crm ? "mistake_severity_crm" : "mistake_severity";
  Tensor dist = tree.lca_heights();
  return {name,
          [dist, crm](const Tensor& p, const Tensor& y) {
            return mistake_severity(crm ? crm_scores(probs_of(p), dist) : p, y, dist);
          },
          /*accumulate=*/true};
}

Metric hier_distance_metric(const hier::ClassTree& tree, int64_t k, bool crm, std::string name) {
  EMBER_CHECK(k >= 1 && k <= tree.num_leaves(), "hier_distance_metric: k = ", k, " must be in [1, ", tree.num_leaves(), "]");
  if (name.empty()) name = "hd@" + std::to_string(k) + (crm ? "_crm" : "");
  Tensor dist = tree.lca_heights();
  return {name, [dist, k, crm](const Tensor& p, const Tensor& y) {
            return hier_distance_at_k(crm ? crm_scores(probs_of(p), dist) : p, y, dist, k);
          }};
}

}  // namespace learner
}  // namespace ember
