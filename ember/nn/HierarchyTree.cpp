// nn/HierarchyTree.cpp: ClassTree: the builders and parsers (parent list, parent file, rule,
// levels), levels, paths and LCA heights (nn/Hierarchy.h).
#include "ember/nn/Hierarchy.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "ember/nn/HierarchyDetail.h"
#include "ember/tensor/Error.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace hier {

namespace {

const char* kImplicitRoot = "<root>";

std::string where(const std::string& source, int line) {
  return line > 0 ? source + ":" + std::to_string(line) + ": " : source + ": ";
}

}  // namespace

using detail::strip_comment;
using detail::trim;

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
  check_input_file(path, "ClassTree::from_file");
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

}  // namespace hier
}  // namespace ember
