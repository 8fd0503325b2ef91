// tests/learner/test_reports.cpp: macro F1 (learner/Metrics.h) and the confusion matrix as text
// (learner/Interpret.h), against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ember/ember.h"
#include "ember/learner/Interpret.h"
#include "ember/learner/Metrics.h"

using namespace ember;
using namespace ember::learner;

namespace {
// targets 0 0 2 2 1 1 1, predicted 0 2 1 2 0 0 2
const std::vector<int64_t> kTarget = {0, 0, 2, 2, 1, 1, 1};
const std::vector<int64_t> kPred = {0, 2, 1, 2, 0, 0, 2};

Tensor one_hot_scores(const std::vector<int64_t>& pred, int64_t n) {
  std::vector<float> v(pred.size() * static_cast<size_t>(n), 0.0f);
  for (size_t i = 0; i < pred.size(); ++i) v[i * static_cast<size_t>(n) + static_cast<size_t>(pred[i])] = 1.0f;
  return from_vector(v, {static_cast<int64_t>(pred.size()), n});
}
}  // namespace

TEST(MacroF1, HandComputed) {
  // class 0: tp 1, fp 2, fn 1 -> 2/5; class 1: tp 0 -> 0; class 2: tp 1, fp 2, fn 1 -> 2/5
  EXPECT_NEAR(macro_f1(kPred, kTarget), 0.8 / 3, 1e-15);
  // "No label" (-1) answers are misses and no class: class 0: tp 1, fp 1, fn 1 -> 1/2; class 1: 0;
  // class 2: tp 1, fp 1, fn 1 -> 1/2.
  EXPECT_NEAR(macro_f1({0, -1, 1, 2, -1, 0, 2}, kTarget), 1.0 / 3, 1e-15);
  // A class only among the predictions counts (sklearn's labels = targets union predictions).
  EXPECT_EQ(macro_f1({3}, {0}), 0.0);
  EXPECT_EQ(macro_f1({1, 1}, {1, 1}), 1.0);
  EXPECT_TRUE(std::isnan(macro_f1(std::vector<int64_t>{}, std::vector<int64_t>{})));
  EXPECT_THROW(macro_f1({0, 1}, {0}), Error);
}

TEST(MacroF1, TensorFormAndMetric) {
  Tensor scores = one_hot_scores(kPred, 3);
  Tensor target = from_vector(kTarget);
  EXPECT_NEAR(macro_f1(scores, target), 0.8 / 3, 1e-15);
  Metric m = macro_f1_metric();
  EXPECT_EQ(m.name, "f1_score");
  EXPECT_TRUE(m.accumulate);  // F1 is no mean over batches
  EXPECT_NEAR(m.fn(scores, target), 0.8 / 3, 1e-15);
}

TEST(InterpretText, ConfusionMatrixAndMostConfused) {
  ClassificationInterpretation interp(one_hot_scores(kPred, 3), from_vector(kTarget), {"cat", "dog", "owl"});
  EXPECT_EQ(interp.format_confusion_matrix(),
            "Confusion matrix (rows: actual, columns: predicted)\n"
            "        cat   dog   owl\n"
            "  cat     1     0     1\n"
            "  dog     2     0     1\n"
            "  owl     0     1     1\n");
  EXPECT_EQ(interp.format_most_confused(), "Most confused:  dog->cat (2)  cat->owl (1)  dog->owl (1)  owl->dog (1)");
  EXPECT_EQ(interp.format_most_confused(2), "Most confused:  dog->cat (2)  cat->owl (1)");
  EXPECT_EQ(interp.format_most_confused(5, 2), "Most confused:  dog->cat (2)");
}

TEST(InterpretText, LongNamesWidenTheColumns) {
  ClassificationInterpretation interp(one_hot_scores({0, 1, 1}, 2), from_vector(std::vector<int64_t>{0, 1, 0}),
                                      {"a", "longname"});
  EXPECT_EQ(interp.format_confusion_matrix(),
            "Confusion matrix (rows: actual, columns: predicted)\n"
            "                a longname\n"
            "       a        1        1\n"
            "longname        0        1\n");
}

TEST(InterpretText, DigitsAsMnistPrintsThem) {
  // vocab "0".."9": row names in 5 characters, cells in 6.
  std::vector<int64_t> t(10), p(10);
  std::vector<std::string> vocab;
  for (int i = 0; i < 10; ++i) t[static_cast<size_t>(i)] = i, p[static_cast<size_t>(i)] = i, vocab.push_back(std::to_string(i));
  ClassificationInterpretation interp(one_hot_scores(p, 10), from_vector(t), vocab);
  const std::string text = interp.format_confusion_matrix();
  EXPECT_NE(text.find("\n          0     1     2     3     4     5     6     7     8     9\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n    0     1     0     0     0     0     0     0     0     0     0\n"), std::string::npos) << text;
  EXPECT_EQ(interp.format_most_confused(), "Most confused:");
}
