// nn/HierarchyLoss.cpp: the aggregation ops (ancestor_sum, node_log_probs, level_log_probs) and the
// losses on leaf logits: the marginal hierarchy loss and the hierarchical cross-entropy
// (nn/Hierarchy.h).
//
// Every loss is written with existing differentiable ops (log_softmax, index_select, cat,
// logsumexp, matmul, nll_loss), so each backward comes from those ops.
#include "ember/nn/Hierarchy.h"

#include <cmath>
#include <vector>

#include "ember/nn/HierarchyDetail.h"
#include "ember/tensor/Error.h"

namespace ember {
namespace hier {

using detail::check_inputs;
using detail::group_logsumexp;
using detail::like;
using detail::reduce;

// ---------------------------------------------------------------------------
// Aggregation ops

Tensor ancestor_sum(const Tensor& probs, const ClassTree& tree, int level) {
  EMBER_CHECK(probs.dim() == 2 && probs.size(1) == tree.num_leaves(), "ancestor_sum: expected probabilities [B, ",
              tree.num_leaves(), "], got ", fmt(probs.shape()));
  return probs.matmul(like(tree.level_matrix(level), probs));
}

Tensor node_log_probs(const Tensor& logits, const ClassTree& tree) {
  check_inputs("node_log_probs", logits, tree.num_leaves(), Tensor(), 0);
  Tensor table = log_softmax(logits, 1);  // columns: node ids 0 .. done-1
  int64_t done = tree.num_leaves();
  while (done < tree.num_nodes()) {  // internal nodes come sorted by height: one block per height
    const int h = tree.height(done);
    std::vector<std::vector<int64_t>> groups;
    for (; done < tree.num_nodes() && tree.height(done) == h; ++done) groups.push_back(tree.children(done));
    table = cat({table, group_logsumexp(table, groups)}, 1);
  }
  return table;
}

Tensor level_log_probs(const Tensor& logits, const ClassTree& tree, int level) {
  std::vector<int64_t> ids = tree.level_nodes(level);
  return index_select(node_log_probs(logits, tree), 1, from_vector(ids).to(logits.device()));
}

// ---------------------------------------------------------------------------
// Losses

Tensor marginal_hierarchy_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double w, int level,
                               Reduction r) {
  check_inputs("marginal_hierarchy_loss", logits, tree.num_leaves(), target, tree.num_leaves());
  Tensor table = node_log_probs(logits, tree);
  Tensor leaf_lp = table.narrow(1, 0, tree.num_leaves());
  Tensor level_lp = index_select(table, 1, from_vector(tree.level_nodes(level)).to(logits.device()));
  Tensor level_y = index_select(tree.level_index(level).to(target.device()), 0, target);
  Tensor per = nll_loss(leaf_lp, target, Reduction::None) * w + nll_loss(level_lp, level_y, Reduction::None) * (1.0 - w);
  return reduce(per, r);
}

Tensor hxe_coefficients(const ClassTree& tree, double alpha, bool normalize) {
  double z = 1.0;
  if (normalize) {
    z = 0.0;
    for (int64_t n = 0; n < tree.num_nodes(); ++n) z += std::exp(-alpha * tree.depth(n));
  }
  auto lambda = [&](int64_t node) { return std::exp(-alpha * tree.depth(node)) / z; };
  const int64_t N = tree.num_leaves(), K = tree.num_nodes();
  std::vector<double> c(static_cast<size_t>(N * K), 0.0);
  for (int64_t y = 0; y < N; ++y) {
    std::vector<int64_t> p = tree.path(y);  // p[0] = root
    double* row = c.data() + y * K;
    if (p.size() > 1) row[p[0]] -= lambda(p[1]);  // + lambda(C_1) log p(root)
    for (size_t h = 1; h < p.size(); ++h)
      row[p[h]] += lambda(p[h]) - (h + 1 < p.size() ? lambda(p[h + 1]) : 0.0);
  }
  return from_vector(c, {N, K});
}

Tensor hxe_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double alpha, bool normalize,
                Reduction r) {
  check_inputs("hxe_loss", logits, tree.num_leaves(), target, tree.num_leaves());
  Tensor coef = index_select(like(hxe_coefficients(tree, alpha, normalize), logits), 0, target.to(logits.device()));
  return reduce(-(coef * node_log_probs(logits, tree)).sum({1}), r);
}

}  // namespace hier
}  // namespace ember
