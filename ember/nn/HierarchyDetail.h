// nn/HierarchyDetail.h: helpers shared by the nn/Hierarchy*.cpp files (not part of the public
// API; include nn/Hierarchy.h instead): text trimming for the file parsers, input checks and the
// grouped logsumexp of the losses.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "ember/nn/Hierarchy.h"
#include "ember/tensor/Backend.h"
#include "ember/tensor/Error.h"

namespace ember {
namespace hier {
namespace detail {

inline std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

inline std::string strip_comment(const std::string& s) {
  size_t h = s.find('#');
  return h == std::string::npos ? s : s.substr(0, h);
}

inline Tensor reduce(const Tensor& per_sample, Reduction r) {
  switch (r) {
    case Reduction::None: return per_sample;
    case Reduction::Sum: return per_sample.sum();
    case Reduction::Mean: return per_sample.mean();
  }
  return per_sample;
}

// logits [B, n] and targets i64 [B] with values in [0, n_classes).
inline void check_inputs(const char* op, const Tensor& logits, int64_t width, const Tensor& target, int64_t n_classes) {
  EMBER_CHECK(logits.dim() == 2, op, ": expected logits [B, ", width, "] (one score per class of the loss's ",
              "hierarchy), got ", fmt(logits.shape()));
  EMBER_CHECK(logits.size(1) == width, op, ": the model gives ", logits.size(1), " scores per item (logits ",
              fmt(logits.shape()), ") but the loss expects ", width, " (from its class hierarchy): the model's last ",
              "layer and the loss's classes disagree");
  EMBER_CHECK(is_floating(logits.dtype()), op, ": logits must be float, got dtype ", dtype_name(logits.dtype()));
  if (!target.defined()) return;
  EMBER_CHECK(target.dtype() == DType::i64, op, ": targets must be class indices (i64), got dtype ",
              dtype_name(target.dtype()));
  EMBER_CHECK(target.dim() == 1 && target.size(0) == logits.size(0), op, ": expected targets [",
              logits.size(0), "], got ", fmt(target.shape()));
  // On a GPU checked on the device and reported at the next read from it (Backend::check_range).
  backend_for(target.device())
      .check_range(kview(target), 0, n_classes,
                   std::string(op) + ": target {} is out of range: target values must be in [0, " +
                       std::to_string(n_classes) + ") (the classes of the loss's hierarchy)");
}

inline Tensor like(const Tensor& host, const Tensor& ref) { return host.to(ref.dtype()).to(ref.device()); }

// out[b, g] = logsumexp_{j in groups[g]} x[b, j]; groups padded to the largest with a -inf column.
inline Tensor group_logsumexp(const Tensor& x, const std::vector<std::vector<int64_t>>& groups) {
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

}  // namespace detail
}  // namespace hier
}  // namespace ember
