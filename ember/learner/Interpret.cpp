// learner/Interpret.cpp: confusion matrix and most_confused.
#include "ember/learner/Interpret.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "ember/learner/Learner.h"
#include "ember/learner/Plot.h"

namespace ember {
namespace learner {

ClassificationInterpretation::ClassificationInterpretation(Tensor p, Tensor t, std::vector<std::string> v)
    : probs(std::move(p)), vocab(std::move(v)) {
  EMBER_CHECK(probs.dim() == 2, "ClassificationInterpretation: expected [N, C] probabilities, got ",
              fmt(probs.shape()));
  n_classes = std::max<int64_t>(probs.size(1), static_cast<int64_t>(vocab.size()));
  EMBER_CHECK(t.dim() >= 1 && t.size(0) == probs.size(0), "ClassificationInterpretation: ", probs.size(0),
              " predictions but targets have shape ", fmt(t.shape()));
  targets = t.dim() == 2 ? t.argmax(1).to_vector<int64_t>() : t.to_vector<int64_t>();
  decoded = probs.argmax(1).to_vector<int64_t>();
  for (int64_t a : targets)
    EMBER_CHECK(a >= 0 && a < n_classes, "ClassificationInterpretation: target class ", a, " out of range [0, ",
                n_classes, ")");
  if (vocab.empty())
    for (int64_t i = 0; i < n_classes; ++i) vocab.push_back(std::to_string(i));
}

ClassificationInterpretation ClassificationInterpretation::from_learner(Learner& learn, bool valid) {
  auto [p, t] = learn.get_preds(valid);
  return ClassificationInterpretation(p.cpu(), t.cpu(), learn.dls.vocab);
}

Tensor ClassificationInterpretation::confusion_matrix() const {
  std::vector<int64_t> cm(static_cast<size_t>(n_classes * n_classes), 0);
  for (size_t i = 0; i < targets.size(); ++i) ++cm[static_cast<size_t>(targets[i] * n_classes + decoded[i])];
  return from_vector(cm, {n_classes, n_classes});
}

std::vector<Confusion> ClassificationInterpretation::most_confused(int64_t min_val) const {
  std::vector<int64_t> cm = confusion_matrix().to_vector<int64_t>();
  struct Cell {
    int64_t a, p, n;
  };
  std::vector<Cell> cells;
  for (int64_t a = 0; a < n_classes; ++a)
    for (int64_t p = 0; p < n_classes; ++p) {
      int64_t n = cm[static_cast<size_t>(a * n_classes + p)];
      if (a != p && n >= min_val && n > 0) cells.push_back({a, p, n});
    }
  std::stable_sort(cells.begin(), cells.end(), [](const Cell& x, const Cell& y) { return x.n > y.n; });
  std::vector<Confusion> out;
  for (auto& c : cells)
    out.push_back({vocab[static_cast<size_t>(c.a)], vocab[static_cast<size_t>(c.p)], c.n});
  return out;
}

std::vector<ClassScores> ClassificationInterpretation::class_scores() const {
  std::vector<int64_t> cm = confusion_matrix().to_vector<int64_t>();
  auto at = [&](int64_t a, int64_t p) { return cm[static_cast<size_t>(a * n_classes + p)]; };
  std::vector<ClassScores> out;
  for (int64_t c = 0; c < n_classes; ++c) {
    int64_t tp = at(c, c), actual = 0, predicted = 0;
    for (int64_t k = 0; k < n_classes; ++k) actual += at(c, k), predicted += at(k, c);
    ClassScores s;
    s.name = vocab[static_cast<size_t>(c)];
    s.support = actual;
    s.precision = predicted ? static_cast<double>(tp) / static_cast<double>(predicted) : 0.0;
    s.recall = actual ? static_cast<double>(tp) / static_cast<double>(actual) : 0.0;
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    out.push_back(s);
  }
  return out;
}

std::string ClassificationInterpretation::classification_report(int digits) const {
  std::vector<ClassScores> cs = class_scores();
  size_t w = 12;  // width of the name column: at least "weighted avg"
  for (auto& c : cs) w = std::max(w, c.name.size());
  int cw = std::max(digits + 7, 9);
  auto row = [&](const std::string& name, double p, double r, double f, int64_t n, bool skip_pr) {
    char buf[256];
    if (skip_pr)
      std::snprintf(buf, sizeof buf, "%*s %*s %*s %*.*f %*lld\n", static_cast<int>(w), name.c_str(), cw, "", cw, "",
                    cw, digits, f, cw, static_cast<long long>(n));
    else
      std::snprintf(buf, sizeof buf, "%*s %*.*f %*.*f %*.*f %*lld\n", static_cast<int>(w), name.c_str(), cw, digits, p,
                    cw, digits, r, cw, digits, f, cw, static_cast<long long>(n));
    return std::string(buf);
  };
  char head[256];
  std::snprintf(head, sizeof head, "%*s %*s %*s %*s %*s\n\n", static_cast<int>(w), "", cw, "precision", cw, "recall", cw,
                "f1-score", cw, "support");
  std::string out = head;
  int64_t total = 0, correct = 0;
  double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;
  for (auto& c : cs) {
    out += row(c.name, c.precision, c.recall, c.f1, c.support, false);
    total += c.support;
    mp += c.precision, mr += c.recall, mf += c.f1;
    auto n = static_cast<double>(c.support);
    wp += c.precision * n, wr += c.recall * n, wf += c.f1 * n;
  }
  for (size_t i = 0; i < targets.size(); ++i) correct += targets[i] == decoded[i];
  auto k = static_cast<double>(std::max<size_t>(cs.size(), 1));
  auto t = static_cast<double>(std::max<int64_t>(total, 1));
  out += "\n";
  out += row("accuracy", 0, 0, static_cast<double>(correct) / t, total, true);
  out += row("macro avg", mp / k, mr / k, mf / k, total, false);
  out += row("weighted avg", wp / t, wr / t, wf / t, total, false);
  return out;
}

std::string ClassificationInterpretation::format_confusion_matrix() const {
  size_t longest = 0;
  for (const std::string& v : vocab) longest = std::max(longest, v.size());
  const int rw = static_cast<int>(std::max<size_t>(5, longest)), cw = static_cast<int>(std::max<size_t>(6, longest + 1));
  const std::vector<int64_t> cells = confusion_matrix().to_vector<int64_t>();
  std::ostringstream os;
  os << "Confusion matrix (rows: actual, columns: predicted)\n" << std::string(static_cast<size_t>(rw), ' ');
  for (int64_t c = 0; c < n_classes; ++c) os << std::setw(cw) << vocab[static_cast<size_t>(c)];
  os << "\n";
  for (int64_t r = 0; r < n_classes; ++r) {
    os << std::setw(rw) << vocab[static_cast<size_t>(r)];
    for (int64_t c = 0; c < n_classes; ++c) os << std::setw(cw) << cells[static_cast<size_t>(r * n_classes + c)];
    os << "\n";
  }
  return os.str();
}

std::string ClassificationInterpretation::format_most_confused(size_t top, int64_t min_val) const {
  std::ostringstream os;
  os << "Most confused:";
  const std::vector<Confusion> confused = most_confused(min_val);
  for (size_t i = 0; i < std::min(top, confused.size()); ++i)
    os << "  " << confused[i].actual << "->" << confused[i].predicted << " (" << confused[i].count << ")";
  return os.str();
}

bool ClassificationInterpretation::plot_confusion_matrix(const std::string& png_path) const {
  return learner::plot_confusion_matrix(confusion_matrix(), vocab, png_path);
}

}  // namespace learner
}  // namespace ember
