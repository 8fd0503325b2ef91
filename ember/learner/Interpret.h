// learner/Interpret.h: ClassificationInterpretation (fastai's interpret.py):
// the confusion matrix and the most confused class pairs of a classifier.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

class Learner;

struct Confusion {
  std::string actual, predicted;
  int64_t count = 0;
  bool operator==(const Confusion& o) const {
    return actual == o.actual && predicted == o.predicted && count == o.count;
  }
};

// Per-class scores from the confusion matrix (0 where undefined, as sklearn's zero_division=0).
struct ClassScores {
  std::string name;
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // items of this class
};

class ClassificationInterpretation {
 public:
  // probs [N, C]; targets [N] class indices or [N, C] one-hot. vocab may be empty (names "0", "1", ...).
  ClassificationInterpretation(Tensor probs, Tensor targets, std::vector<std::string> vocab = {});
  // Runs get_preds on the validation (or training) source.
  static ClassificationInterpretation from_learner(Learner& learn, bool valid = true);

  // i64 [C, C]: rows are actual classes, columns predicted.
  Tensor confusion_matrix() const;
  // Off-diagonal cells with count >= min_val, largest first (ties: actual, then predicted index).
  std::vector<Confusion> most_confused(int64_t min_val = 1) const;
  std::vector<ClassScores> class_scores() const;
  // sklearn's classification_report layout: per class precision, recall, f1-score, support,
  // then accuracy, macro avg and weighted avg (fastai's print_classification_report).
  std::string classification_report(int digits = 2) const;
  // The matrix as text: a title line, then one line of predicted class names and one line per
  // actual class. Row names are right-aligned in max(5, longest name) characters, each cell in
  // max(6, longest name + 1):
  //   Confusion matrix (rows: actual, columns: predicted)
  //            0     1 ...
  //       0  1160     0 ...
  std::string format_confusion_matrix() const;
  // "Most confused:  3->5 (12)  9->4 (10)": the first `top` pairs of most_confused(min_val).
  std::string format_most_confused(size_t top = 5, int64_t min_val = 1) const;
  // Heatmap PNG via gnuplot, plus the matrix as CSV next to it. False when gnuplot is absent.
  bool plot_confusion_matrix(const std::string& png_path) const;

  Tensor probs;                    // [N, C]
  std::vector<int64_t> targets;    // [N] actual class
  std::vector<int64_t> decoded;    // [N] argmax of probs
  std::vector<std::string> vocab;  // [C]
  int64_t n_classes = 0;
};

}  // namespace learner
}  // namespace ember
