// tests/nn/test_hierarchy.cpp: ClassTree, the hierarchy losses (nn/Hierarchy.h) and metrics
// (learner/HierMetrics.h): hand-computed values on tiny trees, gradchecks in f64, bad inputs, and
// PyTorch golden values from tests/nn/make_hierarchy_fixture.py (compared in f64).
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "ember/autograd/gradcheck.h"
#include "ember/learner/HierMetrics.h"
#include "ember/nn/Hierarchy.h"

using namespace ember;
using json = nlohmann::json;
using hier::ClassTree;

namespace {

// Pets in miniature: 3 cats (capitalised), 2 dogs; the vocab is sorted as fastai's is.
const std::vector<std::string> kPets5 = {"Abyssinian", "Bengal", "Birman", "beagle", "boxer"};

ClassTree pets5() {
  return ClassTree::from_rule(kPets5, [](const std::string& c) {
    return std::isupper(static_cast<unsigned char>(c[0])) ? "cat" : "dog";
  });
}

// animal -> {mammal -> {cat -> {cat1, cat2}, dog -> {dog1}}, bird -> {sparrow, eagle}, trout}
const std::vector<std::string> kZoo6 = {"cat1", "cat2", "dog1", "sparrow", "eagle", "trout"};
ClassTree zoo6() {
  return ClassTree::from_parents({{"cat1", "cat"}, {"cat2", "cat"}, {"dog1", "dog"}, {"cat", "mammal"},
                                  {"dog", "mammal"}, {"sparrow", "bird"}, {"eagle", "bird"},
                                  {"mammal", "animal"}, {"bird", "animal"}, {"trout", "animal"}},
                                 kZoo6);
}

std::string temp_file(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / ("ember_hier_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p.string();
}

// The message of the ember::Error that f throws ("" if none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                                         \
  do {                                                                                      \
    std::string _msg = error_of([&] { stmt; });                                             \
    EXPECT_FALSE(_msg.empty()) << "no error from " #stmt;                                   \
    for (const char* _part : {__VA_ARGS__}) EXPECT_NE(_msg.find(_part), std::string::npos) \
        << "error '" << _msg << "' lacks '" << _part << "'";                                \
  } while (0)

Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s); }
Tensor labels(std::vector<int64_t> v) { return from_vector(v); }

void expect_close(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  std::vector<double> g = got.detach().to(DType::f64).contiguous().to_vector<double>();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << what << " [" << i << "]";
}

}  // namespace

// ---------------------------------------------------------------------------
// ClassTree

TEST(ClassTree, PetsRuleGivesTwoLevels) {
  ClassTree t = pets5();
  EXPECT_EQ(t.num_leaves(), 5);
  EXPECT_EQ(t.num_nodes(), 8);  // 5 leaves, cat, dog, root
  EXPECT_EQ(t.height(), 2);
  EXPECT_EQ(t.leaves(), kPets5);
  EXPECT_EQ(t.level_names(1), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(t.level_names(2), kPets5);
  EXPECT_EQ(t.level_size(0), 1);
  EXPECT_EQ(t.leaf_to_level(1), (std::vector<int64_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(t.level_index(1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(t.depth(0), 2);
  EXPECT_EQ(t.depth(t.id("dog")), 1);
  EXPECT_EQ(t.depth(t.root()), 0);
  EXPECT_EQ(t.name(t.ancestor(3, 1)), "dog");
  EXPECT_EQ(t.ancestor(3, 2), 3);
  EXPECT_EQ(t.path(1), (std::vector<int64_t>{t.root(), t.id("cat"), 1}));
  expect_close(t.lca_heights(), {0, 1, 1, 2, 2,  1, 0, 1, 2, 2,  1, 1, 0, 2, 2,  2, 2, 2, 0, 1,  2, 2, 2, 1, 0},
               0, "lca heights");
  expect_close(t.level_matrix(1), {1, 0, 1, 0, 1, 0, 0, 1, 0, 1}, 0, "level matrix");
  EXPECT_EQ(t.cascade_names(), (std::vector<std::string>{"cat", "dog", "Abyssinian", "Bengal", "Birman", "beagle", "boxer"}));
}

TEST(ClassTree, UnbalancedTreeLevelsCarryShallowLeavesDown) {
  ClassTree t = zoo6();
  EXPECT_EQ(t.name(t.root()), "animal");  // the single top node is the root
  EXPECT_EQ(t.height(), 3);
  EXPECT_EQ(t.level_names(1), (std::vector<std::string>{"mammal", "bird", "trout"}));
  EXPECT_EQ(t.level_names(2), (std::vector<std::string>{"cat", "dog", "sparrow", "eagle", "trout"}));
  EXPECT_EQ(t.level_names(3), kZoo6);
  EXPECT_EQ(t.depth(t.id("trout")), 1);
  EXPECT_EQ(t.height(t.id("mammal")), 2);
  EXPECT_EQ(t.height(t.id("bird")), 1);
  EXPECT_EQ(t.lca_height(0, 1), 1);  // cat1, cat2: cat
  EXPECT_EQ(t.lca_height(0, 2), 2);  // cat1, dog1: mammal
  EXPECT_EQ(t.lca_height(3, 4), 1);  // sparrow, eagle: bird
  EXPECT_EQ(t.lca_height(5, 0), 3);  // trout: the root
  EXPECT_EQ(t.cascade_names(), (std::vector<std::string>{"mammal", "bird", "trout", "cat", "dog", "sparrow", "eagle",
                                                         "cat1", "cat2", "dog1"}));
}

TEST(ClassTree, FromLevelsAndFromFileAgree) {
  ClassTree a = ClassTree::from_levels(
      kZoo6, {{{"cat1", "cat"}, {"cat2", "cat"}, {"dog1", "dog"}, {"sparrow", "bird"}, {"eagle", "bird"}, {"trout", "fish"}},
              {{"cat", "mammal"}, {"dog", "mammal"}, {"bird", "aves"}, {"fish", "pisces"}}});
  EXPECT_EQ(a.height(), 3);  // three top nodes -> an implicit root
  EXPECT_EQ(a.level_names(1), (std::vector<std::string>{"mammal", "aves", "pisces"}));
  EXPECT_EQ(a.lca_height(0, 2), 2);
  EXPECT_EQ(a.lca_height(0, 5), 3);
  std::string path = temp_file("zoo.txt",
                               "# zoo: class parent\n"
                               "cat1 cat\ncat2 cat\n\ndog1   dog   # a comment\n"
                               "cat mammal\ndog mammal\nsparrow bird\neagle bird\nmammal animal\nbird animal\ntrout animal\n");
  ClassTree b = ClassTree::from_file(path, kZoo6);
  EXPECT_EQ(b.level_names(2), zoo6().level_names(2));
  ClassTree c = ClassTree::from_file(path);  // leaves in order of appearance
  EXPECT_EQ(c.leaves(), (std::vector<std::string>{"cat1", "cat2", "dog1", "sparrow", "eagle", "trout"}));
  std::filesystem::remove(path);
}

TEST(ClassTree, BadInputsNameTheFileAndLine) {
  std::string cyc = temp_file("cycle.txt", "a x\nx y\ny x\n");
  EXPECT_ERROR_HAS(ClassTree::from_file(cyc), cyc.c_str(), ":3:", "cycle", "x -> y -> x");
  std::string bad = temp_file("malformed.txt", "a cat\nb\n");
  EXPECT_ERROR_HAS(ClassTree::from_file(bad), ":2:", "expected 'class parent'");
  std::string dup = temp_file("dup.txt", "a cat\nb cat\na dog\n");
  EXPECT_ERROR_HAS(ClassTree::from_file(dup), ":3:", "duplicate child", "'a' already has parent 'cat' (line 1)");
  std::string ok = temp_file("ok.txt", "a cat\nb cat\nc dog\n");
  EXPECT_ERROR_HAS(ClassTree::from_file(ok, {"a", "b", "z"}), "unknown leaf", "'z'");
  EXPECT_ERROR_HAS(ClassTree::from_file(ok, {"a", "b"}), ":3:", "unknown leaf", "'c'");
  EXPECT_ERROR_HAS(ClassTree::from_file(ok, {"a", "b", "c", "cat"}), ":1:", "leaf 'cat'", "also a parent");
  EXPECT_ERROR_HAS(ClassTree::from_file("/nonexistent/parents.txt"), "cannot open", "/nonexistent/parents.txt");
  EXPECT_ERROR_HAS(ClassTree::from_rule({"a", "b"}, [](const std::string& s) { return s == "a" ? "b" : "x"; }),
                   "leaf 'b'", "also a parent");
  EXPECT_ERROR_HAS(ClassTree::from_levels({"a", "b"}, {{{"a", "p"}}}), "level 0 has no parent for 'b'");
  EXPECT_ERROR_HAS(ClassTree::from_levels({"a"}, {{{"a", "p"}}, {{"q", "r"}}}), "level 1 maps 'q'", "unknown node");
  EXPECT_ERROR_HAS(pets5().level_nodes(3), "level 3 out of range [0, 2]");
  EXPECT_ERROR_HAS(pets5().level_nodes(-4), "level -4 out of range [0, 2]");
  EXPECT_EQ(pets5().level_names(-1), kPets5);  // negative levels count from the leaves
  EXPECT_EQ(pets5().level_names(-2), (std::vector<std::string>{"cat", "dog"}));
  for (auto& p : {cyc, bad, dup, ok}) std::filesystem::remove(p);
}

// ---------------------------------------------------------------------------
// The aggregation ops

TEST(Hierarchy, AncestorSumAddsLeafProbabilities) {
  ClassTree t = pets5();
  Tensor p = f64({0.1, 0.2, 0.3, 0.15, 0.25, 0.5, 0.0, 0.0, 0.25, 0.25}, {2, 5});
  expect_close(hier::ancestor_sum(p, t, 1), {0.6, 0.4, 0.5, 0.5}, 1e-12, "species");
  expect_close(hier::ancestor_sum(p, t, 0), {1.0, 1.0}, 1e-12, "root");
  expect_close(hier::ancestor_sum(p, t, 2), p.to_vector<double>(), 1e-12, "leaves");
  Tensor x = f64({0.3, -1, 2, 0.5, 0, 1, 1, -2, 0.1, 0.7}, {2, 5});
  expect_close(hier::level_log_probs(x, t, 1), hier::ancestor_sum(softmax(x, 1), t, 1).log().to_vector<double>(),
               1e-12, "level log probs");
  EXPECT_ERROR_HAS(hier::ancestor_sum(f64({1, 2, 3}, {1, 3}), t, 1), "ancestor_sum", "[B, 5]", "[1, 3]");
}

TEST(Hierarchy, LevelLogProbsStayFiniteForExtremeLogits) {
  ClassTree t = pets5();
  Tensor x = f64({-800, -800, -800, 800, 700}, {1, 5});  // the cats' summed probability underflows to 0
  Tensor lp = hier::level_log_probs(x, t, 1);
  std::vector<double> v = lp.to_vector<double>();
  EXPECT_NEAR(v[0], -1600 + std::log(3.0), 1e-9);
  EXPECT_NEAR(v[1], 0, 1e-9);
}

TEST(Hierarchy, Gradchecks) {
  ClassTree pets = pets5(), zoo = zoo6();
  manual_seed(7);
  Tensor x5 = randn({3, 5}, DType::f64), x6 = randn({3, 6}, DType::f64), x10 = randn({3, 10}, DType::f64);
  Tensor p5 = softmax(randn({3, 5}, DType::f64), 1);
  Tensor y5 = labels({0, 4, 2}), y6 = labels({5, 1, 3});
  std::map<std::string, std::pair<std::function<Tensor(const TensorList&)>, TensorList>> cases = {
      {"ancestor_sum", {[&](const TensorList& in) { return hier::ancestor_sum(in[0], pets, 1); }, {p5}}},
      {"node_log_probs", {[&](const TensorList& in) { return hier::node_log_probs(in[0], zoo); }, {x6}}},
      {"marginal", {[&](const TensorList& in) { return hier::marginal_hierarchy_loss(in[0], in[1], pets, 0.3); }, {x5, y5}}},
      {"hxe", {[&](const TensorList& in) { return hier::hxe_loss(in[0], in[1], zoo, 0.6); }, {x6, y6}}},
      {"soft", {[&](const TensorList& in) { return hier::soft_label_loss(in[0], in[1], zoo, 4.0); }, {x6, y6}}},
      {"cascade_probs", {[&](const TensorList& in) { return hier::cascade_softmax(in[0], zoo); }, {x10}}},
      {"cascade", {[&](const TensorList& in) { return hier::cascade_loss(in[0], in[1], zoo); }, {x10, y6}}},
  };
  for (auto& [name, c] : cases) {
    auto r = gradcheck(c.first, c.second);
    EXPECT_TRUE(r.ok) << name << ": " << r.message;
  }
}

// ---------------------------------------------------------------------------
// Losses, by hand

TEST(HierLoss, MarginalLossEndpoints) {
  ClassTree t = pets5();
  Tensor x = f64({0.3, -1, 2, 0.5, 0, 1, 1, -2, 0.1, 0.7, 0, 0, 0, 0, 3}, {3, 5});
  Tensor y = labels({2, 4, 3});
  EXPECT_NEAR(hier::marginal_hierarchy_loss(x, y, t, 1.0).item(), cross_entropy(x, y).item(), 1e-12);
  // w = 0: the species NLL, by hand.
  std::vector<double> xv = x.to_vector<double>();
  double want = 0;
  std::vector<int> species = {0, 1, 1};
  for (int b = 0; b < 3; ++b) {
    double z = 0, cat = 0;
    for (int j = 0; j < 5; ++j) z += std::exp(xv[b * 5 + j]);
    for (int j = 0; j < 3; ++j) cat += std::exp(xv[b * 5 + j]) / z;
    want += -std::log(species[b] == 0 ? cat : 1 - cat) / 3;
  }
  EXPECT_NEAR(hier::marginal_hierarchy_loss(x, y, t, 0.0).item(), want, 1e-12);
  // In between: linear in w.
  EXPECT_NEAR(hier::marginal_hierarchy_loss(x, y, t, 0.25).item(), 0.25 * cross_entropy(x, y).item() + 0.75 * want, 1e-12);
  // The module, with a settable w; f32 logits work too.
  auto loss = std::make_shared<hier::MarginalHierarchyLoss>(std::make_shared<const ClassTree>(t), 0.0);
  EXPECT_NEAR((*loss)(x.to(DType::f32), y).item(), want, 1e-5);
  loss->set_w(1.0);
  EXPECT_NEAR((*loss)(x, y).item(), cross_entropy(x, y).item(), 1e-12);
  EXPECT_EQ(loss->name(), "MarginalHierarchyLoss");
  EXPECT_ERROR_HAS(hier::marginal_hierarchy_loss(x, labels({0, 5, 1}), t, 0.5), "marginal_hierarchy_loss", "[0, 5)");
  EXPECT_ERROR_HAS(hier::marginal_hierarchy_loss(x.narrow(1, 0, 4), y, t, 0.5), "marginal_hierarchy_loss", "gives 4 scores per item (logits [3, 4])", "expects 5");
}

// HXE on a 2-level tree is the marginal hierarchy loss M with w = e^{-alpha}, scaled by lambda(species) = e^{-alpha} / Z:
//   HXE = lambda_1 (-log p_s) + lambda_2 (-log p(b|s)),  lambda_d = e^{-alpha d} / Z
//       = (e^{-alpha} / Z) * (-log p_s - e^{-alpha} log p(b|s)) = (e^{-alpha} / Z) * M(w = e^{-alpha}),
// since M(w) = w (-log p_s - log p(b|s)) + (1 - w)(-log p_s) = -log p_s - w log p(b|s).
// Z = sum over all nodes of e^{-alpha depth} = 1 + 2 e^{-alpha} + 5 e^{-2 alpha} here (1 without normalisation).
TEST(HierLoss, HxeOnTwoLevelsIsTheMarginalLossScaled) {
  ClassTree t = pets5();
  manual_seed(3);
  Tensor x = randn({6, 5}, DType::f64);
  Tensor y = labels({0, 1, 2, 3, 4, 2});
  for (double alpha : {0.0, 0.1, 0.6, 1.5, 3.0}) {
    const double w = std::exp(-alpha);
    const double z = 1 + 2 * w + 5 * w * w;
    const double marginal = hier::marginal_hierarchy_loss(x, y, t, w).item();
    EXPECT_NEAR(hier::hxe_loss(x, y, t, alpha, /*normalize=*/false).item(), w * marginal, 1e-12) << alpha;
    EXPECT_NEAR(hier::hxe_loss(x, y, t, alpha, /*normalize=*/true).item(), w / z * marginal, 1e-12) << alpha;
  }
}

TEST(HierLoss, HxeTelescopesToCrossEntropyAtAlphaZero) {
  // lambda = 1 on every edge: the log-ratios telescope to -log p(leaf), on any tree.
  ClassTree t = zoo6();
  Tensor x = f64({0.3, -1, 2, 0.5, 0, 1, 1, -2, 0.1, 0.7, 0, 0.2}, {2, 6});
  Tensor y = labels({5, 0});
  EXPECT_NEAR(hier::hxe_loss(x, y, t, 0.0, false).item(), cross_entropy(x, y).item(), 1e-12);
  // The coefficient table for cat1 (path animal, mammal, cat, cat1) at alpha = ln 2, unnormalised:
  // lambda = 1/2, 1/4, 1/8 on the three edges -> root -1/2, mammal 1/4, cat 1/8, cat1 1/8.
  Tensor c = hier::hxe_coefficients(t, std::log(2.0), false);
  std::vector<double> row = c.select(0, 0).to_vector<double>();
  EXPECT_NEAR(row[static_cast<size_t>(t.root())], -0.5, 1e-15);
  EXPECT_NEAR(row[static_cast<size_t>(t.id("mammal"))], 0.25, 1e-15);
  EXPECT_NEAR(row[static_cast<size_t>(t.id("cat"))], 0.125, 1e-15);
  EXPECT_NEAR(row[0], 0.125, 1e-15);
  EXPECT_NEAR(row[1], 0.0, 1e-15);
}

TEST(HierLoss, SoftLabelTargetsByHand) {
  ClassTree t = pets5();
  const double beta = 4;
  // Row of Abyssinian: distances [0, 1, 1, 2, 2] / 2 -> weights e^0, e^-2, e^-2, e^-4, e^-4.
  Tensor T = hier::soft_targets(t.lca_heights(), beta, true);
  double a = 1, b = std::exp(-2.0), c = std::exp(-4.0), s = a + 2 * b + 2 * c;
  expect_close(T.select(0, 0), {a / s, b / s, b / s, c / s, c / s}, 1e-12, "soft targets");
  Tensor x = f64({0.3, -1, 2, 0.5, 0}, {1, 5});
  std::vector<double> lp = log_softmax(x, 1).to_vector<double>();
  double want = -(a * lp[0] + b * lp[1] + b * lp[2] + c * lp[3] + c * lp[4]) / s;
  EXPECT_NEAR(hier::soft_label_loss(x, labels({0}), t, beta).item(), want, 1e-12);
  hier::SoftLabelLoss m(t, beta);
  EXPECT_NEAR(m(x, labels({0})).item(), want, 1e-6);
  // Very large beta: the one-hot target, plain cross-entropy.
  EXPECT_NEAR(hier::soft_label_loss(x, labels({3}), t, 200).item(), cross_entropy(x, labels({3})).item(), 1e-9);
}

TEST(HierLoss, CostMatrixFiles) {
  std::string good = temp_file("cost.csv",
                               "# rows: true class\nA, B, c\n0, 1, 2\n1, 0, 2\n\n2 ,2, 0  # comment\n");
  Tensor cost = hier::load_cost_matrix(good, std::vector<std::string>{"A", "B", "c"});
  expect_close(cost, {0, 1, 2, 1, 0, 2, 2, 2, 0}, 0, "cost");
  std::string spaces = temp_file("cost.txt", "0 1 2\n1 0 2\n2 2 0\n");
  expect_close(hier::load_cost_matrix(spaces, 3), {0, 1, 2, 1, 0, 2, 2, 2, 0}, 0, "whitespace");
  Tensor T = hier::soft_targets(cost, 1.0);
  const double s = 1 + std::exp(-1.0) + std::exp(-2.0);
  expect_close(T.select(0, 0), {1 / s, std::exp(-1.0) / s, std::exp(-2.0) / s}, 1e-12, "cost soft targets");
  auto loss = hier::SoftTargetLoss(T);
  Tensor x = f64({0.2, 0.1, -0.3}, {1, 3});
  std::vector<double> lp = log_softmax(x, 1).to_vector<double>();
  EXPECT_NEAR(loss(x, labels({0})).item(), -(lp[0] + std::exp(-1.0) * lp[1] + std::exp(-2.0) * lp[2]) / s, 1e-12);

  std::string short_row = temp_file("short.csv", "0,1,2\n1,0\n2,2,0\n");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(short_row, 3), short_row.c_str(), ":2:", "2 values, expected 3");
  std::string nan = temp_file("word.csv", "0,1,2\n1,zero,2\n2,2,0\n");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(nan, 3), ":2:", "'zero' is not a (finite) number");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(spaces, 4), ":1:", "3 values, expected 4");
  std::string two_rows = temp_file("two.txt", "0 1 2\n1 0 2\n");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(two_rows, 3), "2 rows, expected 3");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(spaces, 2), ":1:", "3 values, expected 2");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(good, std::vector<std::string>{"A", "c", "B"}), ":2:",
                   "header column 2 is 'B'", "vocab class 1 is 'c'");
  std::string empty_field = temp_file("empty.csv", "0,,2\n");
  EXPECT_ERROR_HAS(hier::load_cost_matrix(empty_field, 3), ":1:", "empty field");
  for (auto& p : {good, spaces, two_rows, short_row, nan, empty_field}) std::filesystem::remove(p);
}

TEST(HierLoss, CascadeByHand) {
  ClassTree t = pets5();  // logits: [cat, dog, 5 breeds]
  Tensor x = f64({0.5, -0.5, 1, 2, 3, 0, 1}, {1, 7});
  const double pcat = 1 / (1 + std::exp(-1.0)), z3 = std::exp(1) + std::exp(2) + std::exp(3), z2 = 1 + std::exp(1);
  expect_close(hier::cascade_softmax(x, t),
               {pcat * std::exp(1) / z3, pcat * std::exp(2) / z3, pcat * std::exp(3) / z3, (1 - pcat) / z2,
                (1 - pcat) * std::exp(1) / z2},
               1e-12, "cascade");
  EXPECT_NEAR(hier::cascade_loss(x, labels({4}), t).item(), -std::log((1 - pcat) * std::exp(1) / z2), 1e-12);
  EXPECT_ERROR_HAS(hier::cascade_loss(x.narrow(1, 0, 5), labels({4}), t), "cascade_loss", "expects 7");
}

// ---------------------------------------------------------------------------
// PyTorch golden values (tests/nn/make_hierarchy_fixture.py), in f64.

TEST(HierLoss, MatchesPyTorchGolden) {
  std::ifstream f(std::string(EMBER_SOURCE_DIR) + "/tests/nn/fixtures/hierarchy_golden.json");
  ASSERT_TRUE(f.good()) << "missing fixture: run /usr/bin/python3 tests/nn/make_hierarchy_fixture.py";
  json j = json::parse(f);
  std::map<std::string, ClassTree> trees;
  for (auto& [name, spec] : j["trees"].items()) {
    std::vector<ClassTree::Edge> edges;
    for (auto& e : spec["edges"]) edges.push_back({e[0].get<std::string>(), e[1].get<std::string>(), 0});
    trees.emplace(name, ClassTree::from_parents(edges, spec["vocab"].get<std::vector<std::string>>()));
    expect_close(trees.at(name).lca_heights(), j["lca_heights"][name].get<std::vector<double>>(), 0, name + " lca");
    if (spec.contains("cascade")) {
      EXPECT_EQ(trees.at(name).cascade_names(), spec["cascade"].get<std::vector<std::string>>());
    }
  }
  int n = 0;
  for (auto& c : j["cases"]) {
    const std::string name = c["name"];
    const ClassTree& t = trees.at(c["tree"].get<std::string>());
    Tensor x = from_vector(c["logits"].get<std::vector<double>>(), c["shape"].get<Shape>()).requires_grad_();
    Tensor y = from_vector(c["target"].get<std::vector<int64_t>>());
    const std::string loss = c["loss"];
    const json& p = c["params"];
    Tensor out;
    if (loss == "marginal") out = hier::marginal_hierarchy_loss(x, y, t, p["w"].get<double>());
    else if (loss == "hxe") out = hier::hxe_loss(x, y, t, p["alpha"].get<double>(), p["normalize"].get<bool>());
    else if (loss == "soft") out = hier::soft_label_loss(x, y, t, p["beta"].get<double>());
    else if (loss == "cascade") out = hier::cascade_loss(x, y, t);
    else FAIL() << "unknown loss " << loss;
    EXPECT_NEAR(out.item(), c["value"].get<double>(), 1e-10 * (1 + std::fabs(c["value"].get<double>()))) << name;
    out.backward();
    expect_close(x.grad(), c["grad"].get<std::vector<double>>(), 1e-9, name + " grad");
    ++n;
  }
  EXPECT_EQ(n, 14);
  const json& cp = j["cascade_probs"];
  Tensor x = from_vector(cp["logits"].get<std::vector<double>>(), cp["shape"].get<Shape>());
  expect_close(hier::cascade_softmax(x, trees.at("zoo6")), cp["probs"].get<std::vector<double>>(), 1e-12, "cascade probs");
  // f32 agrees to rtol 1e-4.
  expect_close(hier::cascade_softmax(x.to(DType::f32), trees.at("zoo6")), cp["probs"].get<std::vector<double>>(), 1e-4,
               "cascade probs f32");
}

// ---------------------------------------------------------------------------
// Metrics, by hand

TEST(HierMetrics, PetsBatchByHand) {
  ClassTree t = pets5();
  // 4 samples: right breed; wrong breed, right species; wrong species; wrong species but the
  // summed species probability is right (two dog scores lose to one cat score).
  Tensor s = f64({5, 1, 1, 0, 0,    // y=0 pred 0
                  1, 1, 5, 0, 0,    // y=1 pred 2 (same species)
                  0, 0, 0, 1, 5,    // y=2 pred 4 (a dog)
                  0.1, 0, 0, 1, 1.2},  // y=3 pred 4 (same species)
                 {4, 5});
  Tensor y = labels({0, 1, 2, 3});
  EXPECT_DOUBLE_EQ(learner::level_accuracy(s, y, t, 2), 0.25);
  EXPECT_DOUBLE_EQ(learner::level_accuracy(s, y, t, 1), 0.75);  // samples 0, 1, 3
  EXPECT_DOUBLE_EQ(learner::level_accuracy(s, y, t, 0), 1.0);
  // Severity over the 3 errors: 1 (Bengal->Birman), 2 (Birman->boxer), 1 (beagle->boxer).
  EXPECT_DOUBLE_EQ(learner::mistake_severity(s, y, t), 4.0 / 3);
  // hd@1 = (0 + 1 + 2 + 1) / 4 = severity * error rate.
  EXPECT_DOUBLE_EQ(learner::hier_distance_at_k(s, y, t, 1), 1.0);
  // hd@k with untied scores:
  Tensor s2 = f64({5, 2, 1, 0, 0,  1, 2, 5, 0, 0,  0, 0, 0, 1, 5,  0.1, 0, 0, 1, 1.2}, {4, 5});
  // top-2: {0,1} -> 0+1; {2,1} -> 1+0; {4,3} -> 2+2; {4,3} -> 1+0  => 7 / 8
  EXPECT_DOUBLE_EQ(learner::hier_distance_at_k(s2, y, t, 2), 7.0 / 8);
  EXPECT_DOUBLE_EQ(learner::hier_distance_at_k(s2, y, t, 5), (6.0 + 6 + 6 + 7) / 20);  // every class once
  // Summed probabilities: sample 2 goes to dog (e + e^5 > 3), sample 3 to dog (e + e^1.2 > e^0.1 + 2).
  Tensor p = softmax(s, 1);
  EXPECT_DOUBLE_EQ(learner::level_accuracy_summed(p, y, t, 1), 0.75);
  // A case where the two forms differ: argmax is a cat, but the dogs together win.
  Tensor q = f64({0.4, 0.0, 0.0, 0.3, 0.3}, {1, 5});
  EXPECT_DOUBLE_EQ(learner::level_accuracy(q, labels({3}), t, 1), 0.0);
  EXPECT_DOUBLE_EQ(learner::level_accuracy_summed(q, labels({3}), t, 1), 1.0);
  EXPECT_DOUBLE_EQ(learner::top_k_accuracy(s2, y, 2), 0.75);  // reused from learner/Metrics.h
}

TEST(HierMetrics, CrmPicksTheLeastExpectedCost) {
  ClassTree t = pets5();
  Tensor D = t.lca_heights();
  // Expected cost of answering j: cat j: 1 + P(dog) - p_j; dog j: 1 + P(cat) - p_j.
  // p = [.4, 0, 0, .35, .25]: Abyssinian 1.6 - .4 = 1.2, beagle 1.4 - .35 = 1.05 -> CRM answers beagle
  // although the argmax is Abyssinian.
  Tensor p = f64({0.4, 0, 0, 0.35, 0.25, 0.1, 0.6, 0.1, 0.1, 0.1}, {2, 5});
  EXPECT_EQ(learner::crm_predict(p, D).to_vector<int64_t>(), (std::vector<int64_t>{3, 1}));
  expect_close(learner::crm_scores(p, D), {-1.2, -1.6, -1.6, -1.05, -1.15, -1.1, -0.6, -1.1, -1.7, -1.7}, 1e-12, "crm");
  EXPECT_ERROR_HAS(learner::crm_predict(p, D.narrow(0, 0, 4)), "crm_scores", "[5, 5]", "[4, 5]");
  // With a 0/1 cost matrix CRM is the argmax.
  Tensor flat = ones({5, 5}, DType::f64) - from_vector(std::vector<double>{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0,
                                                                           0, 0, 0, 1, 0, 0, 0, 0, 0, 1}, {5, 5});
  EXPECT_EQ(learner::crm_predict(p, flat).to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
}

TEST(HierMetrics, LearnerMetricsTakeLogits) {
  ClassTree t = pets5();
  Tensor logits = f64({5, 1, 1, 0, 0,  1, 1, 5, 0, 0,  0, 0, 0, 1, 5,  0.1, 0, 0, 1, 1.2}, {4, 5}).to(DType::f32);
  Tensor y = labels({0, 1, 2, 3});
  auto breed = learner::level_accuracy_metric(t, t.height(), "accuracy_breed");
  auto species = learner::level_accuracy_metric(t, 1, "accuracy_species");
  auto summed = learner::level_accuracy_metric(t, 1, "", learner::LevelRule::SummedProbs);
  auto sev = learner::mistake_severity_metric(t);
  auto hd5 = learner::hier_distance_metric(t, 5);
  auto hd1c = learner::hier_distance_metric(t, 1, true);
  EXPECT_EQ(breed.name, "accuracy_breed");
  EXPECT_EQ(summed.name, "accuracy_l1_sum");
  EXPECT_EQ(sev.name, "mistake_severity");
  EXPECT_EQ(hd5.name, "hd@5");
  EXPECT_EQ(hd1c.name, "hd@1_crm");
  EXPECT_DOUBLE_EQ(breed.fn(logits, y), learner::accuracy(logits, y));
  EXPECT_DOUBLE_EQ(species.fn(logits, y), 0.75);
  EXPECT_DOUBLE_EQ(summed.fn(logits, y), 0.75);
  EXPECT_NEAR(sev.fn(logits, y), 4.0 / 3, 1e-12);
  EXPECT_NEAR(hd5.fn(logits, y), 25.0 / 20, 1e-12);
  EXPECT_NEAR(hd1c.fn(logits, y), learner::hier_distance_at_k(learner::crm_scores(softmax(logits, 1), t.lca_heights()), y, t, 1), 1e-12);
  EXPECT_ERROR_HAS(learner::level_accuracy_metric(t, 5), "level 5 out of range");
  EXPECT_ERROR_HAS(species.fn(logits.narrow(1, 0, 4), y), "level_accuracy", "4 classes", "hierarchy has 5");
}
