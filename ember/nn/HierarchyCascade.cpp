// nn/HierarchyCascade.cpp: the conditional (cascade, YOLO9000 WordTree) softmax and its loss
// (nn/Hierarchy.h).
#include "ember/nn/Hierarchy.h"

#include <vector>

#include "ember/nn/HierarchyDetail.h"
#include "ember/tensor/Error.h"

namespace ember {
namespace hier {

using detail::check_inputs;
using detail::group_logsumexp;
using detail::like;

// ---------------------------------------------------------------------------
// The cascade

Tensor cascade_log_probs(const Tensor& logits, const ClassTree& tree) {
  const std::vector<int64_t>& nodes = tree.cascade_nodes();
  const int64_t K = static_cast<int64_t>(nodes.size()), N = tree.num_leaves();
  check_inputs("cascade_log_probs", logits, K, Tensor(), 0);
  std::vector<int64_t> pos(static_cast<size_t>(tree.num_nodes()), -1);
  for (int64_t k = 0; k < K; ++k) pos[static_cast<size_t>(nodes[static_cast<size_t>(k)])] = k;
  // Sibling groups: the children of every internal node, as logit positions.
  std::vector<std::vector<int64_t>> groups;
  std::vector<int64_t> group_of(static_cast<size_t>(K), -1);
  for (int64_t g = N; g < tree.num_nodes(); ++g) {
    std::vector<int64_t> members;
    for (int64_t c : tree.children(g)) {
      members.push_back(pos[static_cast<size_t>(c)]);
      group_of[static_cast<size_t>(pos[static_cast<size_t>(c)])] = static_cast<int64_t>(groups.size());
    }
    groups.push_back(members);
  }
  Tensor lse = group_logsumexp(logits, groups);                                           // [B, G]
  Tensor cond = logits - index_select(lse, 1, from_vector(group_of).to(logits.device()));  // log p(C | parent)
  // log p(leaf) = sum of cond over the leaf's path (root excluded): cond @ P, P [K, N] 0/1.
  std::vector<float> p(static_cast<size_t>(K * N), 0.f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t a : tree.path(n))
      if (a != tree.root()) p[static_cast<size_t>(pos[static_cast<size_t>(a)] * N + n)] = 1.f;
  return cond.matmul(like(from_vector(p, {K, N}), logits));
}

Tensor cascade_softmax(const Tensor& logits, const ClassTree& tree) { return cascade_log_probs(logits, tree).exp(); }

Tensor cascade_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, Reduction r) {
  check_inputs("cascade_loss", logits, static_cast<int64_t>(tree.cascade_nodes().size()), target, tree.num_leaves());
  return nll_loss(cascade_log_probs(logits, tree), target, r);
}

}  // namespace hier
}  // namespace ember
