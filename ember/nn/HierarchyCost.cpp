// nn/HierarchyCost.cpp: cost matrices and soft labels: soft targets from a cost matrix, the CE
// against them, Bertinetto et al.'s soft labels, and the cost-matrix file parser (nn/Hierarchy.h).
#include "ember/nn/Hierarchy.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "ember/nn/HierarchyDetail.h"
#include "ember/tensor/Error.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace hier {

using detail::check_inputs;
using detail::like;
using detail::strip_comment;
using detail::trim;

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
  check_input_file(path, "load_cost_matrix");
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

}  // namespace hier
}  // namespace ember
