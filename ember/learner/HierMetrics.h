// learner/HierMetrics.h: hierarchy-aware metrics and the CRM decision rule.
// Formulas and sources: docs/hierarchy.md. The tree and the losses: nn/Hierarchy.h.
//
//   auto tree = hier::ClassTree::from_rule(vocab, [](const std::string& c) {
//     return std::isupper(static_cast<unsigned char>(c[0])) ? "cat" : "dog"; });
//   std::vector<learner::Metric> metrics = {
//       learner::level_accuracy_metric(tree, tree.height(), "accuracy_breed"),  // = accuracy
//       learner::level_accuracy_metric(tree, 1, "accuracy_species"),  // the blog's: species of the argmax breed
//       learner::level_accuracy_metric(tree, 1, "accuracy_species_sum", learner::LevelRule::SummedProbs),
//       learner::mistake_severity_metric(tree),   // "mistake_severity"
//       learner::hier_distance_metric(tree, 5),   // "hd@5"
//       learner::hier_distance_metric(tree, 1, /*crm=*/true)};  // "hd@1_crm"
//   auto [probs, y] = learn.get_preds();  // with learn.activation = softmax
//   Tensor decisions = learner::crm_predict(probs, tree.lca_heights());
//
// Conventions. A Metric receives the model's raw outputs (logits [B, N], vocab order) and the
// targets (leaf indices [B]); metrics that need probabilities apply softmax themselves. The plain
// functions below say what they take: `scores` may be logits or probabilities (only their order
// matters), `probs` must be probabilities. `dist` is an [N, N] matrix of mistake costs
// (tree.lca_heights() for the LCA height, or any cost matrix, e.g. hier::load_cost_matrix).
//
// Averaging. The Recorder averages a metric over batches weighted by batch size. That is exact for
// accuracies and hd@k, but mistake severity is a mean over the *errors*, so its Metric form is a
// batch-size-weighted mean of per-batch severities (batches without errors count as 0). For the
// exact value over a data set either call mistake_severity() on get_preds(), or use
// severity = hd@1 / error_rate (both columns average exactly).
#pragma once

#include <string>

#include "ember/learner/Metrics.h"
#include "ember/nn/Hierarchy.h"
#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

// --- plain functions on one batch (or a whole get_preds result) -----------------------------

// Accuracy at a level, the blog's form: the level-`level` ancestor of argmax(scores) equals the
// ancestor of the target. At the leaf level (tree.height()) this is plain accuracy.
double level_accuracy(const Tensor& scores, const Tensor& target, const hier::ClassTree& tree, int level);
// Accuracy at a level from summed probabilities: argmax over the level's nodes of
// ancestor_sum(probs) equals the target's ancestor.
double level_accuracy_summed(const Tensor& probs, const Tensor& target, const hier::ClassTree& tree, int level);
// Top-k accuracy: learner::top_k_accuracy (learner/Metrics.h).

// Mistake severity (Bertinetto et al. 2020): mean of dist[target, argmax] over the samples whose
// argmax is wrong; 0 when there are none.
double mistake_severity(const Tensor& scores, const Tensor& target, const Tensor& dist);
double mistake_severity(const Tensor& scores, const Tensor& target, const hier::ClassTree& tree);
// Average hierarchical distance@k: mean over samples and over the k highest scores of
// dist[target, class] (correct predictions count 0). hd@1 = error_rate * severity.
double hier_distance_at_k(const Tensor& scores, const Tensor& target, const Tensor& dist, int64_t k);
double hier_distance_at_k(const Tensor& scores, const Tensor& target, const hier::ClassTree& tree, int64_t k);

// --- CRM (Karthik et al., ICLR 2021): the post-hoc decision with the least expected cost ---------
// crm_scores = -(probs @ cost), [B, N]: expected cost of answering j is sum_i p_i cost[i][j], so
// argmax of crm_scores is CRM's decision and top-k its ranking; feed it to any metric above.
Tensor crm_scores(const Tensor& probs, const Tensor& cost);
// argmin_j sum_i p_i cost[i][j]: i64 [B] (ties: the lowest index).
Tensor crm_predict(const Tensor& probs, const Tensor& cost);

// --- Metrics for the Learner (pred = logits) ---------------------------------------------------
enum class LevelRule {
  ArgmaxLeaf,   // the ancestor of the argmax leaf (the blog's accuracy_species)
  SummedProbs,  // argmax of the summed softmax probabilities at the level
};
// level -1 = the leaves (plain accuracy). name "" gives "accuracy_l<level>" ("_sum" for SummedProbs).
Metric level_accuracy_metric(const hier::ClassTree& tree, int level, std::string name = "",
                             LevelRule rule = LevelRule::ArgmaxLeaf);
// crm: decide with crm_predict(softmax(pred), lca heights) instead of argmax. Names
// "mistake_severity" / "hd@<k>", with "_crm" appended when crm (name "" = default).
// mistake_severity_metric accumulates (Metric::accumulate): a mean over the mistakes only is not
// a batch-size-weighted mean of per-batch values, so it is computed once on the whole validation set.
Metric mistake_severity_metric(const hier::ClassTree& tree, bool crm = false, std::string name = "");
Metric hier_distance_metric(const hier::ClassTree& tree, int64_t k, bool crm = false, std::string name = "");

}  // namespace learner
}  // namespace ember
