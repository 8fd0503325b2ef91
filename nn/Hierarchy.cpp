// nn/Hierarchy.cpp: ClassTree (builders, levels, LCA heights) and the hierarchy-aware losses.
//
// Every loss is written with existing differentiable ops (log_softmax, index_select, cat,
// logsumexp, matmul, nll_loss, cross_entropy), so each backward comes from those ops.
#include "nn/Hierarchy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "tensor/Error.h"

namespace ember {
namespace hier {

namespace {

const char* kImplicitRoot = "<root>";

std::string where(const std::string& source, int line) {
  return line > 0 ? source + ":" + std::to_string(line) + ": " : source + ": ";
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::string strip_comment(const std::string& s) {
  size_t h = s.find('#');
  return h == std::string::npos ? s : s.substr(0, h);
}

Tensor reduce(const Tensor& per_sample, Reduction r) {
  switch (r) {
    case Reduction::None: return per_sample;
    case Reduction::Sum: return per_sample.sum();
    case Reduction::Mean: return per_sample.mean();
  }
  return per_sample;
}

// logits [B, n] and targets i64 [B] with values in [0, n_classes).
void check_inputs(const char* op, const Tensor& logits, int64_t width, const Tensor& target, int64_t n_classes) {
  EMBER_CHECK(logits.dim() == 2 && logits.size(1) == width, op, ": expected logits [B, ", width, "], got ",
              fmt(logits.shape()));
  EMBER_CHECK(is_floating(logits.dtype()), op, ": logits must be float, got dtype ", dtype_name(logits.dtype()));
  if (!target.defined()) return;
  EMBER_CHECK(target.dtype() == DType::i64, op, ": targets must be class indices (i64), got dtype ",
              dtype_name(target.dtype()));
  EMBER_CHECK(target.dim() == 1 && target.size(0) == logits.size(0), op, ": expected targets [",
              logits.size(0), "], got ", fmt(target.shape()));
  if (target.numel()) {
    std::vector<int64_t> t = target.to_vector<int64_t>();
    auto [lo, hi] = std::minmax_element(t.begin(), t.end());
    EMBER_CHECK(*lo >= 0 && *hi < n_classes, op, ": target values must be in [0, ", n_classes, "), got values in [",
                *lo, ", ", *hi, "]");
  }
}

Tensor like(const Tensor& host, const Tensor& ref) { return host.to(ref.dtype()).to(ref.device()); }

// out[b, g] = logsumexp_{j in groups[g]} x[b, j]; groups padded to the largest with a -inf column.
Tensor group_logsumexp(const Tensor& x, const std::vector<std::vector<int64_t>>& groups) {
  const int64_t B = x.size(0), W = x.size(1);
  size_t kmax = 1;
  for (auto& g : groups) kmax = std::max(kmax, g.size());
  std::vector<int64_t> idx;
  idx.reserve(groups.size() * kmax);
  for (auto& g : groups)
    for (size_t j = 0; j < kmax; ++j) idx.push_back(j < g.size() ? g[j] : W);
  Tensor ext = cat({x, full({B, 1}, -INFINITY, TensorOptions(x.dtype(), x.device()))}, 1);
  Tensor picked = index_select(ext, 1, from_vector(idx).to(x.device()));
  return picked.reshape({B, static_cast<int64_t>(groups.size()), static_cast<int64_t>(kmax)}).logsumexp({2});
}

}  // namespace

// ---------------------------------------------------------------------------
// Builders

ClassTree ClassTree::from_parents(const std::vector<Edge>& edges, const std::vector<std::string>& vocab,
                                  const std::string& source) {
  std::map<std::string, std::pair<std::string, int>> parent_of;  // child -> (parent, line)
  std::map<std::string, int> parent_line;                        // a parent -> first line naming it
  std::vector<std::string> seen;                                 // names in order of appearance
  std::set<std::string> seen_set;
  auto note = [&](const std::string& s) {
    if (seen_set.insert(s).second) seen.push_back(s);
  };
  for (const Edge& e : edges) {
    EMBER_CHECK(!e.child.empty() && !e.parent.empty(), where(source, e.line), "empty class name");
    EMBER_CHECK(e.child != kImplicitRoot && e.parent != kImplicitRoot, where(source, e.line), "the name '",
                kImplicitRoot, "' is reserved");
    EMBER_CHECK(e.child != e.parent, where(source, e.line), "cycle: '", e.child, "' is its own parent");
    auto it = parent_of.find(e.child);
    if (it != parent_of.end())
      EMBER_FAIL(where(source, e.line), "duplicate child: '", e.child, "' already has parent '", it->second.first,
                 "'", it->second.second > 0 ? " (line " + std::to_string(it->second.second) + ")" : "",
                 ", now '", e.parent, "'");
    parent_of[e.child] = {e.parent, e.line};
    parent_line.emplace(e.parent, e.line);
    note(e.child);
    note(e.parent);
  }
  EMBER_CHECK(!edges.empty() || !vocab.empty(), source, ": no classes");

  // Cycles: walk up from every node; colours 1 = on the current walk, 2 = known to reach a top node.
  std::map<std::string, int> colour;
  for (const std::string& start : seen) {
    std::vector<std::string> walk;
    std::string n = start;
    while (colour[n] == 0) {
      colour[n] = 1;
      walk.push_back(n);
      auto it = parent_of.find(n);
      if (it == parent_of.end()) break;
      n = it->second.first;
      if (colour[n] == 1) {  // back on this walk: a cycle from n to n
        auto at = std::find(walk.begin(), walk.end(), n);
        std::string chain, lines;
        int last_line = 0;
        for (auto c = at; c != walk.end(); ++c) {
          chain += *c + " -> ";
          int l = parent_of[*c].second;
          last_line = std::max(last_line, l);
          if (l > 0) lines += (lines.empty() ? "" : ", ") + std::to_string(l);
        }
        EMBER_FAIL(where(source, last_line), "cycle: ", chain, n, lines.empty() ? "" : " (lines " + lines + ")");
      }
    }
    for (auto& w : walk) colour[w] = 2;
  }

  // Leaves: the names that are nobody's parent.
  std::vector<std::string> leaves;
  if (vocab.empty()) {
    for (auto& s : seen)
      if (!parent_line.count(s)) leaves.push_back(s);
  } else {
    std::set<std::string> vset;
    for (auto& c : vocab) {
      EMBER_CHECK(vset.insert(c).second, source, ": the vocab lists '", c, "' twice");
      auto pl = parent_line.find(c);
      if (pl != parent_line.end())
        EMBER_FAIL(where(source, pl->second), "leaf '", c, "' (a vocab class) is also a parent");
      EMBER_CHECK(parent_of.count(c), source, ": unknown leaf: vocab class '", c, "' has no parent in ", source);
    }
    for (auto& s : seen)
      if (!parent_line.count(s) && !vset.count(s))
        EMBER_FAIL(where(source, parent_of[s].second), "unknown leaf: '", s,
                   "' is nobody's parent, so it is a leaf, but it is not in the vocab (", vocab.size(), " classes)");
    leaves = vocab;
  }
  EMBER_CHECK(!leaves.empty(), source, ": no leaves");

  std::vector<std::string> tops;
  for (auto& s : seen)
    if (!parent_of.count(s)) tops.push_back(s);
  std::map<std::string, std::string> parents;
  for (auto& [c, p] : parent_of) parents[c] = p.first;
  std::string root = tops.size() == 1 ? tops[0] : kImplicitRoot;
  if (tops.size() != 1)
    for (auto& t : tops) parents[t] = root;
  ClassTree tree;
  tree.n_leaves_ = static_cast<int64_t>(leaves.size());
  // Names in id order: leaves, then internal nodes by height (ties: first reached from the leaves), root.
  std::vector<std::string> order = leaves;
  std::set<std::string> placed(leaves.begin(), leaves.end());
  EMBER_CHECK(placed.size() == leaves.size(), source, ": a leaf name appears twice");
  std::vector<std::string> internal;
  for (auto& l : leaves)
    for (std::string n = l; n != root;) {
      n = parents.at(n);
      if (n != root && placed.insert(n).second) internal.push_back(n);
    }
  // Heights of internal nodes (longest way down to a leaf).
  std::map<std::string, int> h;
  for (auto& l : leaves) {
    int d = 0;
    for (std::string n = l; n != root;) {
      n = parents.at(n);
      ++d;
      int& hn = h[n];
      hn = std::max(hn, d);
    }
  }
  std::stable_sort(internal.begin(), internal.end(), [&](const std::string& a, const std::string& b) { return h[a] < h[b]; });
  order.insert(order.end(), internal.begin(), internal.end());
  order.push_back(root);

  const int64_t n = static_cast<int64_t>(order.size());
  tree.names_ = order;
  for (int64_t i = 0; i < n; ++i) tree.ids_[order[static_cast<size_t>(i)]] = i;
  tree.parent_.assign(static_cast<size_t>(n), -1);
  tree.children_.assign(static_cast<size_t>(n), {});
  tree.height_.assign(static_cast<size_t>(n), 0);
  tree.depth_.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const std::string& nm = order[static_cast<size_t>(i)];
    if (i < tree.n_leaves_) tree.height_[static_cast<size_t>(i)] = 0;
    else tree.height_[static_cast<size_t>(i)] = h[nm];
    if (nm == root) continue;
    int64_t p = tree.ids_.at(parents.at(nm));
    tree.parent_[static_cast<size_t>(i)] = p;
  }
  // Children in id order (so leaves come in vocab order below their parent).
  for (int64_t i = 0; i < n; ++i)
    if (tree.parent_[static_cast<size_t>(i)] >= 0) tree.children_[static_cast<size_t>(tree.parent_[static_cast<size_t>(i)])].push_back(i);
  // Nodes that no leaf reaches (declared but with no leaves below) are not allowed.
  for (auto& s : seen)
    EMBER_CHECK(tree.ids_.count(s), where(source, parent_line.count(s) ? parent_line[s] : 0), "node '", s,
                "' has no leaf below it");
  // A parent is higher than its children, so it has a larger id: going down the ids visits parents first.
  for (int64_t i = n - 1; i >= 0; --i) {
    int64_t p = tree.parent_[static_cast<size_t>(i)];
    if (p >= 0) tree.depth_[static_cast<size_t>(i)] = tree.depth_[static_cast<size_t>(p)] + 1;
  }
  // Levels.
  const int H = tree.height();
  tree.levels_.assign(static_cast<size_t>(H + 1), {});
  for (int l = 0; l <= H; ++l) {
    std::set<int64_t> in;
    for (int64_t leaf = 0; leaf < tree.n_leaves_; ++leaf) {
      int64_t a = tree.ancestor(leaf, l);
      if (in.insert(a).second) tree.levels_[static_cast<size_t>(l)].push_back(a);
    }
  }
  // LCA heights.
  const int64_t N = tree.n_leaves_;
  tree.lca_h_.assign(static_cast<size_t>(N * N), 0.0);
  for (int64_t a = 0; a < N; ++a)
    for (int64_t b = a + 1; b < N; ++b) {
      double v = tree.height_[static_cast<size_t>(tree.lca(a, b))];
      tree.lca_h_[static_cast<size_t>(a * N + b)] = tree.lca_h_[static_cast<size_t>(b * N + a)] = v;
    }
  // Cascade layout: depth 1, 2, ... in level order.
  for (int d = 1; d <= H; ++d)
    for (int64_t node : tree.levels_[static_cast<size_t>(d)])
      if (tree.depth_[static_cast<size_t>(node)] == d) tree.cascade_.push_back(node);
  return tree;
}

ClassTree ClassTree::from_file(const std::string& path, const std::vector<std::string>& vocab) {
  std::ifstream f(path);
  EMBER_CHECK(f.good(), "ClassTree::from_file: cannot open '", path, "'");
  std::vector<Edge> edges;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    std::string body = trim(strip_comment(line));
    if (body.empty()) continue;
    std::istringstream is(body);
    std::vector<std::string> tok;
    for (std::string t; is >> t;) tok.push_back(t);
    EMBER_CHECK(tok.size() == 2, path, ":", ln, ": expected 'class parent' (two names), got ", tok.size(),
                " field", tok.size() == 1 ? "" : "s", ": '", body, "'");
    edges.push_back({tok[0], tok[1], ln});
  }
  EMBER_CHECK(!edges.empty(), path, ": no 'class parent' lines");
  return from_parents(edges, vocab, path);
}

ClassTree ClassTree::from_rule(const std::vector<std::string>& vocab,
                               const std::function<std::string(const std::string&)>& parent_of) {
  EMBER_CHECK(!vocab.empty(), "ClassTree::from_rule: empty vocab");
  std::vector<Edge> edges;
  for (auto& c : vocab) {
    std::string p = parent_of(c);
    EMBER_CHECK(!p.empty(), "ClassTree::from_rule: the rule gives an empty parent for '", c, "'");
    edges.push_back({c, p, 0});
  }
  return from_parents(edges, vocab, "ClassTree::from_rule");
}

ClassTree ClassTree::from_levels(const std::vector<std::string>& vocab,
                                 const std::vector<std::map<std::string, std::string>>& levels) {
  EMBER_CHECK(!levels.empty(), "ClassTree::from_levels: no levels");
  std::vector<Edge> edges;
  std::vector<std::string> below = vocab;  // the nodes the current map must place
  for (size_t k = 0; k < levels.size(); ++k) {
    const auto& m = levels[k];
    std::set<std::string> want(below.begin(), below.end());
    for (auto& [c, p] : m)
      EMBER_CHECK(want.count(c), "ClassTree::from_levels: level ", k, " maps '", c, "', which is not ",
                  k == 0 ? "a vocab class" : "a node of the level below (unknown node)");
    std::vector<std::string> next;
    std::set<std::string> next_set;
    for (auto& c : below) {
      auto it = m.find(c);
      EMBER_CHECK(it != m.end(), "ClassTree::from_levels: level ", k, " has no parent for '", c, "'");
      edges.push_back({c, it->second, 0});
      if (next_set.insert(it->second).second) next.push_back(it->second);
    }
    below = next;
  }
  return from_parents(edges, vocab, "ClassTree::from_levels");
}

// ---------------------------------------------------------------------------
// Queries

std::vector<std::string> ClassTree::leaves() const {
  return std::vector<std::string>(names_.begin(), names_.begin() + n_leaves_);
}

size_t ClassTree::at(int64_t node) const {
  EMBER_CHECK(node >= 0 && node < num_nodes(), "ClassTree: node ", node, " out of range [0, ", num_nodes(), ")");
  return static_cast<size_t>(node);
}

const std::string& ClassTree::name(int64_t node) const { return names_[at(node)]; }

int64_t ClassTree::id(const std::string& nm) const {
  auto it = ids_.find(nm);
  EMBER_CHECK(it != ids_.end(), "ClassTree: no node named '", nm, "'");
  return it->second;
}

int64_t ClassTree::parent(int64_t node) const { return parent_[at(node)]; }
const std::vector<int64_t>& ClassTree::children(int64_t node) const { return children_[at(node)]; }
int ClassTree::depth(int64_t node) const { return depth_[at(node)]; }
int ClassTree::height(int64_t node) const { return height_[at(node)]; }

std::vector<int64_t> ClassTree::path(int64_t leaf) const {
  EMBER_CHECK(leaf >= 0 && leaf < n_leaves_, "ClassTree::path: leaf ", leaf, " out of range [0, ", n_leaves_, ")");
  std::vector<int64_t> p;
  for (int64_t a = leaf; a >= 0; a = parent_[static_cast<size_t>(a)]) p.push_back(a);
  std::reverse(p.begin(), p.end());
  return p;
}

int ClassTree::check_level(int level, const char* who) const {
  const int h = height();
  EMBER_CHECK(level >= -(h + 1) && level <= h, who, ": level ", level, " out of range [0, ", h, "] (0 is the root, ",
              h, " or -1 the leaves)");
  return level < 0 ? level + h + 1 : level;
}

int ClassTree::wrap_level(int level) const { return check_level(level, "ClassTree::wrap_level"); }

int64_t ClassTree::ancestor(int64_t leaf, int level) const {
  level = check_level(level, "ClassTree::ancestor");
  std::vector<int64_t> p = path(leaf);
  return static_cast<size_t>(level) < p.size() ? p[static_cast<size_t>(level)] : leaf;
}

std::vector<int64_t> ClassTree::level_nodes(int level) const {
  level = check_level(level, "ClassTree::level_nodes");
  return levels_[static_cast<size_t>(level)];
}

std::vector<std::string> ClassTree::level_names(int level) const {
  std::vector<std::string> out;
  for (int64_t n : level_nodes(level)) out.push_back(names_[static_cast<size_t>(n)]);
  return out;
}

int64_t ClassTree::level_size(int level) const { return static_cast<int64_t>(level_nodes(level).size()); }

std::vector<int64_t> ClassTree::leaf_to_level(int level) const {
  const std::vector<int64_t>& nodes = level_nodes(level);
  std::map<int64_t, int64_t> pos;
  for (size_t i = 0; i < nodes.size(); ++i) pos[nodes[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> out(static_cast<size_t>(n_leaves_));
  for (int64_t leaf = 0; leaf < n_leaves_; ++leaf) out[static_cast<size_t>(leaf)] = pos.at(ancestor(leaf, level));
  return out;
}

Tensor ClassTree::level_index(int level) const { return from_vector(leaf_to_level(level)); }

Tensor ClassTree::level_matrix(int level) const {
  std::vector<int64_t> idx = leaf_to_level(level);
  const int64_t M = level_size(level);
  std::vector<float> a(static_cast<size_t>(n_leaves_ * M), 0.f);
  for (int64_t n = 0; n < n_leaves_; ++n) a[static_cast<size_t>(n * M + idx[static_cast<size_t>(n)])] = 1.f;
  return from_vector(a, {n_leaves_, M});
}

int64_t ClassTree::lca(int64_t a, int64_t b) const {
  (void)at(a);
  (void)at(b);
  while (depth_[static_cast<size_t>(a)] > depth_[static_cast<size_t>(b)]) a = parent_[static_cast<size_t>(a)];
  while (depth_[static_cast<size_t>(b)] > depth_[static_cast<size_t>(a)]) b = parent_[static_cast<size_t>(b)];
  while (a != b) a = parent_[static_cast<size_t>(a)], b = parent_[static_cast<size_t>(b)];
  return a;
}

double ClassTree::lca_height(int64_t a, int64_t b) const {
  EMBER_CHECK(a >= 0 && a < n_leaves_ && b >= 0 && b < n_leaves_, "ClassTree::lca_height: leaves ", a, ", ", b,
              " out of range [0, ", n_leaves_, ")");
  return lca_h_[static_cast<size_t>(a * n_leaves_ + b)];
}

Tensor ClassTree::lca_heights() const {
  std::vector<float> v(lca_h_.begin(), lca_h_.end());
  return from_vector(v, {n_leaves_, n_leaves_});
}

std::vector<std::string> ClassTree::cascade_names() const {
  std::vector<std::string> out;
  for (int64_t n : cascade_) out.push_back(names_[static_cast<size_t>(n)]);
  return out;
}

std::string ClassTree::str() const {
  std::ostringstream os;
  std::vector<std::pair<int64_t, int>> stack{{root(), 0}};
  while (!stack.empty()) {
    auto [n, ind] = stack.back();
    stack.pop_back();
    os << std::string(static_cast<size_t>(2 * ind), ' ') << names_[static_cast<size_t>(n)] << "\n";
    const auto& ch = children_[static_cast<size_t>(n)];
    for (auto it = ch.rbegin(); it != ch.rend(); ++it) stack.push_back({*it, ind + 1});
  }
  return os.str();
}

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

Tensor blog_hier_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double w, int level,
                      Reduction r) {
  check_inputs("blog_hier_loss", logits, tree.num_leaves(), target, tree.num_leaves());
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

Tensor soft_targets(const Tensor& cost, double beta, bool divide_by_max) {
  EMBER_CHECK(cost.dim() == 2 && cost.size(0) == cost.size(1), "soft_targets: expected a square [N, N] cost matrix, got ",
              fmt(cost.shape()));
  Tensor c = cost.detach().to(DType::f64).cpu();
  if (divide_by_max && c.numel()) {
    double m = c.max().item();
    if (m > 0) c = c / m;
  }
  return softmax(c * (-beta), 1);
}

Tensor soft_target_loss(const Tensor& logits, const Tensor& target, const Tensor& targets_matrix, Reduction r) {
  const int64_t N = targets_matrix.dim() == 2 ? targets_matrix.size(1) : -1;
  EMBER_CHECK(targets_matrix.dim() == 2 && targets_matrix.size(0) == N, "soft_target_loss: expected an [N, N] target matrix, got ",
              fmt(targets_matrix.shape()));
  check_inputs("soft_target_loss", logits, N, target, N);
  Tensor t = index_select(like(targets_matrix.detach(), logits), 0, target.to(logits.device()));
  CrossEntropyOptions o;
  o.reduction = r;
  return cross_entropy(logits, t, o);
}

Tensor soft_label_loss(const Tensor& logits, const Tensor& target, const ClassTree& tree, double beta, Reduction r) {
  return soft_target_loss(logits, target, soft_targets(tree.lca_heights(), beta, true), r);
}

// ---------------------------------------------------------------------------
// Cost-matrix files

namespace {
bool parse_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(v);
}

std::vector<std::string> split_fields(const std::string& body, bool& empty_field) {
  std::vector<std::string> out;
  empty_field = false;
  if (body.find(',') != std::string::npos) {
    std::stringstream ss(body);
    for (std::string f; std::getline(ss, f, ',');) {
      f = trim(f);
      if (f.empty()) empty_field = true;
      out.push_back(f);
    }
    if (!body.empty() && body.back() == ',') empty_field = true;
  } else {
    std::istringstream is(body);
    for (std::string t; is >> t;) out.push_back(t);
  }
  return out;
}

Tensor load_costs(const std::string& path, int64_t n, const std::vector<std::string>* vocab) {
  std::ifstream f(path);
  EMBER_CHECK(f.good(), "load_cost_matrix: cannot open '", path, "'");
  EMBER_CHECK(n > 0, "load_cost_matrix: '", path, "': the number of classes must be positive, got ", n);
  std::vector<double> vals;
  int64_t rows = 0;
  bool first = true;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    std::string body = trim(strip_comment(line));
    if (body.empty()) continue;
    bool empty_field = false;
    std::vector<std::string> fields = split_fields(body, empty_field);
    EMBER_CHECK(!empty_field, path, ":", ln, ": empty field (two separators in a row or a trailing comma)");
    double v = 0;
    bool numeric = std::all_of(fields.begin(), fields.end(), [&](const std::string& s) { return parse_number(s, v); });
    if (first && !numeric && std::none_of(fields.begin(), fields.end(), [&](const std::string& s) { return parse_number(s, v); })) {
      first = false;  // a header of class names
      EMBER_CHECK(static_cast<int64_t>(fields.size()) == n, path, ":", ln, ": the header names ", fields.size(),
                  " classes, expected ", n);
      if (vocab)
        for (size_t i = 0; i < fields.size(); ++i)
          EMBER_CHECK(fields[i] == (*vocab)[i], path, ":", ln, ": header column ", i + 1, " is '", fields[i],
                      "' but vocab class ", i, " is '", (*vocab)[i], "' (the columns must follow the vocab order)");
      continue;
    }
    first = false;
    for (size_t i = 0; i < fields.size(); ++i)
      EMBER_CHECK(parse_number(fields[i], v), path, ":", ln, ": field ", i + 1, " '", fields[i],
                  "' is not a (finite) number");
    EMBER_CHECK(static_cast<int64_t>(fields.size()) == n, path, ":", ln, ": row has ", fields.size(),
                " values, expected ", n, " (one per class)");
    ++rows;
    EMBER_CHECK(rows <= n, path, ":", ln, ": more than ", n, " rows (expected an ", n, " x ", n, " matrix)");
    for (auto& s : fields) {
      parse_number(s, v);
      vals.push_back(v);
    }
  }
  EMBER_CHECK(rows == n, path, ": ", rows, " rows, expected ", n, " (an ", n, " x ", n, " matrix, one row per true class)");
  return from_vector(vals, {n, n});
}
}  // namespace

Tensor load_cost_matrix(const std::string& path, int64_t n_classes) { return load_costs(path, n_classes, nullptr); }
Tensor load_cost_matrix(const std::string& path, const std::vector<std::string>& vocab) {
  return load_costs(path, static_cast<int64_t>(vocab.size()), &vocab);
}

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
