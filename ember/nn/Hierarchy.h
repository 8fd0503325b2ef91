// nn/Hierarchy.h: class hierarchies (ClassTree) and the hierarchy-aware losses.
// Everything here lives in namespace ember::hier. docs/hierarchy.md has the formulas and sources;
// the metrics (accuracy per level, mistake severity, hd@k, CRM) are in learner/HierMetrics.h.
// The code: nn/HierarchyTree.cpp (ClassTree and its parsers), nn/HierarchyLoss.cpp (the aggregation
// ops, the marginal hierarchy loss, HXE), nn/HierarchyCost.cpp (cost matrices, soft targets and
// labels), nn/HierarchyCascade.cpp (the conditional softmax).
//
//   // Oxford Pets: 37 breeds, a capitalised name is a cat (the vocab is sorted: 12 cats, then 25 dogs).
//   hier::ClassTree tree = hier::ClassTree::from_rule(dls.vocab, [](const std::string& c) {
//     return std::isupper(static_cast<unsigned char>(c[0])) ? "cat" : "dog"; });
//   auto loss = std::make_shared<hier::MarginalHierarchyLoss>(tree, /*w=*/0.3);   // loss->w = 0.5 changes it
//   std::vector<learner::Metric> metrics = {
//       learner::level_accuracy_metric(tree, tree.height(), "accuracy_breed"),
//       learner::level_accuracy_metric(tree, 1, "accuracy_species"),     // species of the argmax breed
//       learner::mistake_severity_metric(tree), learner::hier_distance_metric(tree, 5)};
//   learner::Learner learn(dls, model, loss, learner::fastai_adam(), metrics);
//   learn.activation = [](const Tensor& x) { return softmax(x, -1); };  // get_preds gives probabilities
//
// Levels. Level 0 is the root, level height() holds the leaves. Level l holds the nodes at depth
// l plus the leaves shallower than l (carried down unchanged), so every level partitions the
// leaves and summed probabilities at each level add up to 1. Within a level, nodes appear in the
// order in which the leaves (taken in vocab order) first reach them. For Pets, level 1 is
// [cat, dog] and level 2 is the 37 breeds in vocab order.
//
// Distances. height(node) = the longest way down from the node to a leaf (leaves: 0). The LCA
// height of two leaves is height(lowest common ancestor); it is 0 on the diagonal. For Pets it is
// 0 (same breed), 1 (same species), 2 (other species).
//
// Losses (each takes logits [B, N] in vocab order and i64 targets [B], except the cascade):
//   marginal_hierarchy_loss  w * CE(logits, y) + (1 - w) * NLL(log sum_{leaves of the level-1 node} p, anc(y))
//   hxe_loss         -sum over the path edges of lambda(C) * log p(C | parent(C)), lambda = e^{-alpha depth(C)}
//   soft_label_loss  CE against softmax(-beta * D[y] / max D)   (Bertinetto et al.'s soft labels)
//   soft_target_loss CE against rows of any [N, N] target matrix (e.g. soft_targets(load_cost_matrix(..)))
//   cascade_loss     NLL of the conditional (YOLO9000 WordTree) softmax; its logits are one per
//                    non-root node, see cascade_log_probs.
// Label smoothing and multi-label BCE already exist and are not repeated here: use
// nn::CrossEntropyLoss with CrossEntropyOptions::label_smoothing (fastai's LabelSmoothingCrossEntropy:
// (1-eps) NLL + eps mean_k(-log p_k)), and nn::BCEWithLogitsLoss / ember::bce_with_logits with
// k-hot [B, N] targets (e.g. a leaf and its ancestors, one column per node).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/nn/Loss.h"
#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace hier {

// ---------------------------------------------------------------------------
// ClassTree: a rooted tree whose leaves are the classes, in vocab order.
//
// Node ids: leaves are 0..N-1 (the vocab order); internal nodes follow, sorted by height (ties in
// the order the leaves first reach them); the root is the last id. Every builder checks its input
// and throws ember::Error naming the file and line (or the leaf) that is wrong.
class ClassTree {
 public:
  struct Edge {
    std::string child, parent;
    int line = 0;  // where it was declared, for errors (0: not from a file)
  };

  // (a) child -> parent pairs. Leaves are the nodes that are nobody's parent. With a vocab, the
  // leaves must be exactly the vocab (and take its order); without, the order of first appearance.
  // Top nodes (those without a parent) hang below an implicit root, unless there is exactly one
  // top node: then it is the root. Errors: a cycle, a child with two parents, a vocab class that is
  // a parent (a leaf that is also a parent), a vocab class missing or a leaf not in the vocab.
  static ClassTree from_parents(const std::vector<Edge>& edges, const std::vector<std::string>& vocab = {},
                                const std::string& source = "parent list");
  // The same from a text file: one "child parent" per line (whitespace-separated; '#' starts a
  // comment; blank lines are skipped). Errors read "parents.txt:3: ...".
  static ClassTree from_file(const std::string& path, const std::vector<std::string>& vocab = {});
  // (b) a 2-level tree: leaf c hangs below parent_of(c).
  static ClassTree from_rule(const std::vector<std::string>& vocab,
                             const std::function<std::string(const std::string&)>& parent_of);
  // (c) N levels: levels[0] maps every vocab class to its parent, levels[k] maps every node named
  // in levels[k-1] to its parent. The nodes of the last map hang below the root.
  static ClassTree from_levels(const std::vector<std::string>& vocab,
                               const std::vector<std::map<std::string, std::string>>& levels);

  // --- nodes --------------------------------------------------------------------------
  int64_t num_leaves() const { return n_leaves_; }
  int64_t num_nodes() const { return static_cast<int64_t>(names_.size()); }
  int64_t root() const { return num_nodes() - 1; }
  std::vector<std::string> leaves() const;  // the vocab
  const std::string& name(int64_t node) const;
  int64_t id(const std::string& name) const;  // throws for an unknown name
  bool is_leaf(int64_t node) const { return node < n_leaves_; }
  int64_t parent(int64_t node) const;  // -1 for the root
  const std::vector<int64_t>& children(int64_t node) const;
  int depth(int64_t node) const;   // root: 0
  int height(int64_t node) const;  // leaves: 0
  int height() const { return height(root()); }  // = the deepest leaf's depth = the number of the leaf level

  // --- leaves and levels ----------------------------------------------------------------
  // Every `level` argument may be negative, counting from the leaves: -1 = height() (the leaves),
  // -2 = their parents' level, ... wrap_level turns it into 0..height() (or throws).
  int wrap_level(int level) const;
  std::vector<int64_t> path(int64_t leaf) const;       // node ids from the root down to the leaf
  int64_t ancestor(int64_t leaf, int level) const;      // the node of `leaf` at `level`
  std::vector<int64_t> level_nodes(int level) const;   // node ids of a level, in level order
  std::vector<std::string> level_names(int level) const;
  int64_t level_size(int level) const;
  std::vector<int64_t> leaf_to_level(int level) const;  // leaf -> its node's position in the level
  Tensor level_index(int level) const;                  // the same as an i64 tensor [N]
  Tensor level_matrix(int level) const;                 // f32 [N, M]: 1 where leaf n lies below node m

  // --- distances ------------------------------------------------------------------------
  int64_t lca(int64_t a, int64_t b) const;
  double lca_height(int64_t leaf_a, int64_t leaf_b) const;
  Tensor lca_heights() const;  // f32 [N, N]
  const std::vector<double>& lca_height_values() const { return lca_h_; }  // row-major N * N

  // --- the cascade (conditional softmax) layout ----------------------------------------------
  // One logit per non-root node: the nodes of depth 1, then depth 2, ... each depth in level order.
  // For Pets: [cat, dog, the 37 breeds in vocab order] = 39 logits.
  const std::vector<int64_t>& cascade_nodes() const { return cascade_; }
  std::vector<std::string> cascade_names() const;

  std::string str() const;  // an indented printout, one node per line

 private:
  ClassTree() = default;
  static ClassTree build(const std::vector<std::string>& leaf_names, const std::vector<std::string>& parent_names,
                         const std::string& root_name);
  int check_level(int level, const char* who) const;  // the wrapped level
  size_t at(int64_t node) const;  // checked index

  int64_t n_leaves_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, int64_t> ids_;
  std::vector<int64_t> parent_;
  std::vector<std::vector<int64_t>> children_;
  std::vector<int> depth_, height_;
  std::vector<std::vector<int64_t>> levels_;  // per level: node ids
  std::vector<double> lca_h_;
  std::vector<int64_t> cascade_;
};

// ---------------------------------------------------------------------------
// The differentiable aggregation ops.

// Leaf probabilities summed into their nodes at `level`: probs [B, N] -> [B, M],
//   out[b, m] = sum_{n below m} probs[b, n]   (= probs @ level_matrix(level); backward from matmul).
Tensor ancestor_sum(const Tensor& probs, const ClassTree& tree, int level);

// log p(node) for every node, from logits [B, N]: [B, num_nodes] in node-id order, with
// p = softmax(logits). Leaves: log_softmax; an internal node: logsumexp of its children's columns
// (stable: no probability is summed outside a logsumexp). The root's column is ~0.
Tensor node_log_probs(const Tensor& logits, const ClassTree& tree);
// log of ancestor_sum(softmax(logits), level), computed stably: [B, M].
Tensor level_log_probs(const Tensor& logits, const ClassTree& tree, int level);

// ---------------------------------------------------------------------------
// Losses. `target` holds leaf indices (i64 [B]); the result is reduced as `r` says.

// The leaf cross-entropy mixed with the cross-entropy of the marginal (summed) probabilities of
// the nodes at `level`:
//   w * CE_N(logits, y) + (1 - w) * NLL(log[sum of p over each node of `level`], ancestor(y))
// For Pets (level 1 = [cat, dog]) that is w*CE_37 + (1-w)*NLL(log[sum p_cat, sum p_dog]).
// (docs/hierarchy.md: the blog post "Hierarchical Loss Function" ran this loss.)
Tensor marginal_hierarchy_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double w,
                      int level = 1, Reduction r = Reduction::Mean);

// Hierarchical cross-entropy, Bertinetto et al. 2020 ("Making Better Mistakes"), any depth:
//   HXE(y) = -sum_{h=1..depth(y)} lambda(C_h) log( p(C_h) / p(C_{h-1}) ),  C_0 = root, C_depth = y,
//   lambda(C) = exp(-alpha * depth(C)) / Z,  Z = sum over all nodes (root included) of exp(-alpha depth)
// (the released code's weighting; normalize = false gives Z = 1). p(C) sums the leaf softmax over C.
// On a 2-level tree, with w = e^{-alpha}:  hxe_loss = (e^{-alpha} / Z) * marginal_hierarchy_loss(w).
Tensor hxe_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double alpha,
                bool normalize = true, Reduction r = Reduction::Mean);
// The per-leaf coefficients behind hxe_loss: HXE(y) = -sum_k coef[y, k] * log p(node k), f64
// [N, num_nodes]: lambda(C_h) - lambda(C_{h+1}) on the path (lambda past the leaf = 0), -lambda(C_1)
// at the root (log p(root) = 0 up to rounding), 0 elsewhere.
Tensor hxe_coefficients(const ClassTree& tree, double alpha, bool normalize = true);

// Soft targets from an [N, N] cost matrix (row = true class): T[t] = softmax(-beta * cost[t] / s),
// s = max(cost) when divide_by_max (and max > 0), else 1. f64 [N, N].
Tensor soft_targets(const Tensor& cost, double beta, bool divide_by_max = false);
// CE with probability targets rows_of_targets[y]: -sum_j T[y, j] log softmax(logits)_j.
Tensor soft_target_loss(const Tensor& logits, const Tensor& target, const Tensor& targets_matrix,
                        Reduction r = Reduction::Mean);
// Bertinetto et al.'s soft labels: soft_targets(lca_heights, beta, divide_by_max = true), as in
// better_mistakes/model/labels.py (distances divided by the largest one).
Tensor soft_label_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double beta,
                       Reduction r = Reduction::Mean);

// A cost matrix from a text file: N rows of N numbers separated by commas and/or whitespace; '#'
// starts a comment; blank lines are skipped; an optional first row of class names, which must then
// equal `vocab`. Row i = true class i. Errors name the file and line: a non-number, a row of the
// wrong length, the wrong number of rows, a header that differs from the vocab. f64 [N, N].
Tensor load_cost_matrix(const std::string& path, int64_t n_classes);
Tensor load_cost_matrix(const std::string& path, const std::vector<std::string>& vocab);

// The conditional (cascade, YOLO9000 WordTree) softmax. logits [B, K], K = cascade_nodes().size(),
// one logit per non-root node in cascade order. Every group of siblings gets its own softmax:
//   p(C | parent(C)) = softmax over the children of parent(C) of their logits,
//   p(leaf) = prod over the path of p(C_h | C_{h-1})        (= p(parent) * p(leaf | parent)).
// Returns log p(leaf), [B, N] in vocab order (it sums to 1 over the leaves).
Tensor cascade_log_probs(const Tensor& logits, const ClassTree& tree);
Tensor cascade_softmax(const Tensor& logits, const ClassTree& tree);  // exp of the above
// -log p(y) under the cascade = sum over the path of the CE of each sibling softmax.
Tensor cascade_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree,
                    Reduction r = Reduction::Mean);

// ---------------------------------------------------------------------------
// Loss modules for the Learner. Members are public and may be changed between fits.

// marginal_hierarchy_loss as a module.
class MarginalHierarchyLoss : public nn::Loss {
 public:
  MarginalHierarchyLoss(ClassTree t, double w_, int level_ = 1)
      : nn::Loss("MarginalHierarchyLoss"), tree(std::move(t)), w(w_), level(level_) {}
  MarginalHierarchyLoss(const std::shared_ptr<const ClassTree>& t, double w_, int level_ = 1)
      : MarginalHierarchyLoss(*t, w_, level_) {}
  Tensor forward(const Tensor& logits, const Tensor& y) override {
    return marginal_hierarchy_loss(logits, y, tree, w, level);
  }
  void set_w(double v) { w = v; }
  ClassTree tree;
  double w;
  int level;
};

class HXELoss : public nn::Loss {
 public:
  HXELoss(ClassTree t, double alpha_, bool normalize_ = true)
      : nn::Loss("HXELoss"), tree(std::move(t)), alpha(alpha_), normalize(normalize_) {}
  Tensor forward(const Tensor& logits, const Tensor& y) override { return hxe_loss(logits, y, tree, alpha, normalize); }
  ClassTree tree;
  double alpha;
  bool normalize;
};

// CE against fixed soft targets per true class (rows of an [N, N] matrix).
class SoftTargetLoss : public nn::Loss {
 public:
  explicit SoftTargetLoss(Tensor targets_matrix, std::string name = "SoftTargetLoss")
      : nn::Loss(std::move(name)), targets(std::move(targets_matrix)) {}
  Tensor forward(const Tensor& logits, const Tensor& y) override { return soft_target_loss(logits, y, targets); }
  Tensor targets;  // [N, N]
};

// Bertinetto et al.'s soft labels (beta).
class SoftLabelLoss : public SoftTargetLoss {
 public:
  SoftLabelLoss(const ClassTree& tree, double beta)
      : SoftTargetLoss(soft_targets(tree.lca_heights(), beta, true), "SoftLabelLoss") {}
};

class CascadeLoss : public nn::Loss {
 public:
  explicit CascadeLoss(ClassTree t) : nn::Loss("CascadeLoss"), tree(std::move(t)) {}
  Tensor forward(const Tensor& logits, const Tensor& y) override { return cascade_loss(logits, y, tree); }
  ClassTree tree;
};

}  // namespace hier
}  // namespace ember
