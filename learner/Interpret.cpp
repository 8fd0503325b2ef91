// learner/Interpret.cpp: confusion matrix and most_confused.
#include "learner/Interpret.h"

#include <algorithm>

#include "learner/Learner.h"
#include "learner/Plot.h"

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

bool ClassificationInterpretation::plot_confusion_matrix(const std::string& png_path) const {
  return learner::plot_confusion_matrix(confusion_matrix(), vocab, png_path);
}

}  // namespace learner
}  // namespace ember
