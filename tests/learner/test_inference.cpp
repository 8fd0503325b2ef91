// tests/learner/test_inference.cpp: metrics, get_preds/predict, interpretation,
// lr_find, checkpoints and plots.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "ember/ember.h"
#include "learner_test_util.h"
#include "lib/temp_files.h"

using namespace ember;
using namespace ember::learner;

namespace {
// 4 items, 3 classes: argmax = 0, 2, 1, 2; second choice = 1, 1, 2, 1.
Tensor hand_preds() {
  return from_vector(std::vector<float>{0.7f, 0.2f, 0.1f,    //
                                        0.1f, 0.3f, 0.6f,    //
                                        0.1f, 0.5f, 0.4f,    //
                                        0.2f, 0.3f, 0.5f},
                     {4, 3});
}
Tensor hand_targets() { return from_vector(std::vector<int64_t>{0, 0, 2, 2}); }

bool file_exists(const std::string& p) { return std::ifstream(p).good(); }
std::string first_line(const std::string& p) {
  std::ifstream f(p);
  std::string l;
  std::getline(f, l);
  return l;
}
}  // namespace

// ---------------------------------------------------------------------------
// Metrics
TEST(Metrics, OnHandMadePredictions) {
  EXPECT_DOUBLE_EQ(accuracy(hand_preds(), hand_targets()), 0.5);     // items 0 and 3
  EXPECT_DOUBLE_EQ(error_rate(hand_preds(), hand_targets()), 0.5);
  EXPECT_DOUBLE_EQ(top_k_accuracy(hand_preds(), hand_targets(), 2), 0.75);  // + item 2
  EXPECT_DOUBLE_EQ(top_k_accuracy(hand_preds(), hand_targets(), 3), 1.0);
  Tensor onehot = one_hot(hand_targets(), 3);
  EXPECT_DOUBLE_EQ(batch_accuracy(hand_preds(), onehot), 0.5);
  EXPECT_EQ(accuracy_metric().name, "accuracy");
  EXPECT_EQ(error_rate_metric().name, "error_rate");
  EXPECT_DOUBLE_EQ(top_k_accuracy_metric(2).fn(hand_preds(), hand_targets()), 0.75);
  EXPECT_THROW(accuracy(hand_preds(), from_vector(std::vector<int64_t>{0, 1})), Error);
  EXPECT_THROW(top_k_accuracy(hand_preds(), hand_targets(), 4), Error);
}

TEST(Metrics, AveragedOverTheValidationSetWeightedByBatchSize) {
  // Valid set of 5 items in batches of 2, 2, 1: a metric that is 1 only on the last
  // (single-item) batch averages to 1/5, not 1/3.
  auto learn = test::tiny_learner(4, 5, 2, 2);
  learn->metrics.push_back({"last_batch", [](const Tensor& p, const Tensor&) { return p.size(0) == 1 ? 1.0 : 0.0; }});
  learn->fit(1, 0.0);
  EXPECT_NEAR(learn->recorder->values[0][2], 0.2, 1e-12);
}

// ---------------------------------------------------------------------------
// Inference
TEST(Inference, GetPredsAppliesSoftmaxAndKeepsTargets) {
  manual_seed(5);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  learn->fit(2, 0.1);
  auto [probs, targs] = learn->get_preds();
  EXPECT_EQ(probs.shape(), (Shape{150, 3}));
  EXPECT_EQ(targs.shape(), (Shape{150}));
  auto rows = probs.sum({1}).to_vector<float>();
  for (float r : rows) EXPECT_NEAR(r, 1.0, 1e-5);
  const auto* tb = dynamic_cast<const TensorDataset*>(&learn->dls.valid->dataset());
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(targs.to_vector<int64_t>(), tb->y().to_vector<int64_t>());
  EXPECT_NEAR(accuracy(probs, targs), learn->recorder->values.back()[2], 1e-9);
  EXPECT_FALSE(learn->model->is_training());  // left in eval mode by validation, as in fastai
  learn->model->train();
  learn->get_preds();
  EXPECT_TRUE(learn->model->is_training());  // get_preds restores the mode it found

  // Identity activation when configured so: raw model outputs.
  learn->activation = [](const Tensor& x) { return x; };
  auto [logits, t2] = learn->get_preds();
  Tensor direct;
  {
    NoGradGuard ng;
    learn->model->eval();
    direct = learn->model->forward(tb->x());
    learn->model->train();
  }
  auto a = logits.to_vector<float>(), b = direct.to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5);
}

TEST(Inference, PredictDecodesWithTheVocab) {
  manual_seed(6);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  learn->fit(2, 0.1);
  Prediction p = learn->predict(from_vector(std::vector<float>{-1.0f, -1.732f}));  // class 2's centre
  EXPECT_EQ(p.index, 2);
  EXPECT_EQ(p.label, "c");
  EXPECT_EQ(p.probs.shape(), (Shape{3}));
  EXPECT_NEAR(p.probs.sum().item(), 1.0, 1e-5);
  EXPECT_GT(p.probs.to_vector<float>()[2], 0.5f);
  learn->dls.vocab.clear();
  EXPECT_EQ(learn->predict(from_vector(std::vector<float>{2.0f, 0.0f})).label, "0");
}

// ---------------------------------------------------------------------------
// Interpretation
TEST(Interpretation, ConfusionMatrixAndMostConfused) {
  // targets 0 0 2 2 1 1 1, predicted 0 2 1 2 0 0 2
  Tensor preds = cat({hand_preds(), from_vector(std::vector<float>{0.9f, 0.05f, 0.05f,  //
                                                                  0.8f, 0.1f, 0.1f,    //
                                                                  0.1f, 0.1f, 0.8f},
                                                              {3, 3})});
  Tensor targs = from_vector(std::vector<int64_t>{0, 0, 2, 2, 1, 1, 1});
  ClassificationInterpretation interp(preds, targs, {"cat", "dog", "owl"});
  Tensor cm = interp.confusion_matrix();
  EXPECT_EQ(cm.dtype(), DType::i64);
  EXPECT_EQ(cm.shape(), (Shape{3, 3}));
  EXPECT_EQ(cm.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1,  //
                                                           2, 0, 1,  //
                                                           0, 1, 1}));
  auto mc = interp.most_confused();
  EXPECT_EQ(mc, (std::vector<Confusion>{{"dog", "cat", 2}, {"cat", "owl", 1}, {"dog", "owl", 1}, {"owl", "dog", 1}}));
  EXPECT_EQ(interp.most_confused(2), (std::vector<Confusion>{{"dog", "cat", 2}}));
  // cat: tp 1, predicted 3, actual 2; dog: tp 0; owl: tp 1, predicted 3, actual 2.
  auto cs = interp.class_scores();
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_NEAR(cs[0].precision, 1.0 / 3, 1e-12);
  EXPECT_NEAR(cs[0].recall, 0.5, 1e-12);
  EXPECT_NEAR(cs[0].f1, 0.4, 1e-12);
  EXPECT_EQ(cs[1].support, 3);
  EXPECT_EQ(cs[1].f1, 0.0);
  std::string rep = interp.classification_report();
  EXPECT_NE(rep.find("precision    recall  f1-score   support"), std::string::npos) << rep;
  EXPECT_NE(rep.find("         cat      0.33      0.50      0.40         2"), std::string::npos) << rep;
  EXPECT_NE(rep.find("    accuracy                          0.29         7"), std::string::npos) << rep;
  // One-hot targets give the same matrix.
  ClassificationInterpretation oh(preds, one_hot(targs, 3), {"cat", "dog", "owl"});
  EXPECT_EQ(oh.confusion_matrix().to_vector<int64_t>(), cm.to_vector<int64_t>());
}

TEST(Interpretation, FromLearner) {
  manual_seed(7);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  learn->fit(2, 0.1);
  auto interp = ClassificationInterpretation::from_learner(*learn);
  auto cm = interp.confusion_matrix().to_vector<int64_t>();
  int64_t total = 0, diag = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) total += cm[static_cast<size_t>(i * 3 + j)], diag += i == j ? cm[static_cast<size_t>(i * 3 + j)] : 0;
  EXPECT_EQ(total, 150);
  EXPECT_NEAR(static_cast<double>(diag) / 150.0, learn->recorder->values.back()[2], 1e-9);
  EXPECT_EQ(interp.vocab, (std::vector<std::string>{"a", "b", "c"}));
}

// ---------------------------------------------------------------------------
// lr_find
TEST(LRFind, ValleyRuleOnAKnownCurve) {
  // Flat, then a decreasing run over indices 2..11, then divergence.
  std::vector<double> l{5, 5, 4.9, 4.5, 4.0, 3.5, 3.0, 2.5, 2.0, 1.6, 1.3, 1.2, 1.5, 3.0, 9.0};
  // Longest strictly decreasing subsequence: 5 (index 0) then 4.9 .. 1.2 (index 11): span 0..11,
  // third = 3, suggestion 0 + 3 + 1 = 4.
  EXPECT_EQ(valley_index(l), 4u);
  EXPECT_EQ(valley_index({3.0}), 0u);
  EXPECT_EQ(valley_index({1.0, 2.0, 3.0}), 0u);
}

TEST(LRFind, ExponentialScheduleStopsAndRestoresModelAndOptimizer) {
  manual_seed(8);
  auto learn = test::blob_learner(sgd(0.9));
  std::ostringstream table;
  learn->recorder->out = &table;
  learn->fit(1, 0.05);  // optimizer has momentum state now
  nn::StateDict before;
  for (auto& [k, t] : learn->model->state_dict()) before.emplace_back(k, t.clone());
  std::vector<std::pair<std::string, std::vector<float>>> opt_before;
  for (auto& [k, t] : learn->opt->state_dict()) opt_before.emplace_back(k, t.to_vector<float>());
  size_t rows_before = table.str().size();
  std::vector<std::vector<double>> values_before = learn->recorder->values;
  std::vector<double> losses_before = learn->recorder->losses;

  LRFindResult r = learn->lr_find(1e-5, 10, 30);
  ASSERT_GE(r.lrs.size(), 2u);
  ASSERT_LE(r.lrs.size(), 30u);
  EXPECT_NEAR(r.lrs[0], 1e-5, 1e-18);
  for (size_t i = 0; i < r.lrs.size(); ++i) EXPECT_NEAR(r.lrs[i], 1e-5 * std::pow(1e6, i / 30.0), 1e-9 * r.lrs[i]);
  EXPECT_EQ(r.losses.size(), r.lrs.size());
  EXPECT_LT(r.valley_index, r.lrs.size());
  EXPECT_DOUBLE_EQ(r.valley_lr, r.lrs[r.valley_index]);
  EXPECT_EQ(table.str().size(), rows_before);  // nothing printed
  EXPECT_EQ(learn->recorder->values, values_before);  // the history of the earlier fit is kept
  EXPECT_EQ(learn->recorder->losses, losses_before);

  auto after = learn->model->state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_EQ(after[i].second.to_vector<float>(), before[i].second.to_vector<float>()) << after[i].first;
  auto opt_after = learn->opt->state_dict();
  ASSERT_EQ(opt_after.size(), opt_before.size());
  for (size_t i = 0; i < opt_after.size(); ++i) {
    EXPECT_EQ(opt_after[i].first, opt_before[i].first);
    EXPECT_EQ(opt_after[i].second.to_vector<float>(), opt_before[i].second) << opt_after[i].first;
  }
  // Training still works afterwards.
  learn->fit(1, 0.05);
  EXPECT_GT(learn->recorder->values.back()[2], 0.8);
}

TEST(LRFind, StopsWhenTheLossDiverges) {
  manual_seed(9);
  auto learn = test::blob_learner(sgd());
  LRFindResult r = learn->lr_find(1e-3, 1e6, 100);
  EXPECT_LT(r.lrs.size(), 100u);  // 1e6 blows the loss up well before the end
  double best = *std::min_element(r.losses.begin(), r.losses.end());
  EXPECT_TRUE(r.losses.back() > 4 * best || std::isnan(r.losses.back()));
}

// ---------------------------------------------------------------------------
// Checkpoints
TEST(Checkpoint, SaveLoadRoundTripsModelAndOptimizer) {
  manual_seed(10);
  auto a = test::blob_learner(fastai_adam());
  a->recorder->logging = false;
  a->fit(1, 1e-2);
  std::string path = test::temp_path("ck.bin");
  a->save(path);
  EXPECT_TRUE(ember_test::temp_leftovers(path).empty());

  manual_seed(99);  // other initial weights
  Learner b_learn(a->dls, test::mlp(), std::make_shared<nn::CrossEntropyLoss>(), fastai_adam(), {accuracy_metric()});
  Learner* b = &b_learn;
  b->recorder->logging = false;
  EXPECT_NE(a->model->state_dict()[0].second.to_vector<float>(), b->model->state_dict()[0].second.to_vector<float>());
  b->load(path);
  auto sa = a->model->state_dict(), sb = b->model->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i].second.to_vector<float>(), sb[i].second.to_vector<float>());
  auto oa = a->opt->state_dict(), ob = b->opt->state_dict();
  ASSERT_EQ(oa.size(), ob.size());
  for (size_t i = 0; i < oa.size(); ++i) {
    EXPECT_EQ(oa[i].first, ob[i].first);
    EXPECT_EQ(oa[i].second.to_vector<double>(), ob[i].second.to_vector<double>()) << oa[i].first;
  }
  // Same state, same next step.
  a->fit(1, 1e-2);
  b->fit(1, 1e-2);
  EXPECT_EQ(a->model->state_dict()[0].second.to_vector<float>(), b->model->state_dict()[0].second.to_vector<float>());
  std::remove(path.c_str());
}

TEST(Checkpoint, TruncatedAndForeignFilesGiveClearErrors) {
  auto learn = test::tiny_learner(4, 2, 2, 2);
  std::string path = test::temp_path("bad.bin");
  learn->save(path);
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 10));
  }
  try {
    learn->load(path);
    FAIL() << "no error for a truncated file";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  }
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "PK\x03\x04 this is a zip, not a checkpoint";
  }
  try {
    learn->load(path);
    FAIL() << "no error for a foreign file";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("not an Ember checkpoint"), std::string::npos) << m;
  }
  std::remove(path.c_str());
  try {
    learn->load(path);
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

TEST(Checkpoint, WrongModelNamesTheFileAndKeys) {
  auto learn = test::tiny_learner(4, 2, 2, 2);
  std::string path = test::temp_path("other.bin");
  save_tensors(path, {{"model.fc.weight", zeros({2, 2})}});
  try {
    learn->load(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("fc.weight"), std::string::npos) << m;
  }
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Plots
TEST(Plots, CsvAlwaysAndPngWhenGnuplotIsThere) {
  manual_seed(12);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  learn->fit(2, 0.1);
  std::string png = test::temp_path("loss.png");
  bool drew = plot_loss(*learn->recorder, png);
  EXPECT_EQ(first_line(sibling_path(png, ".csv")), "iteration,train_loss,raw_loss,lr");
  EXPECT_EQ(first_line(sibling_path(png, "_valid.csv")), "epoch,iteration,valid_loss");
  EXPECT_EQ(drew, gnuplot_available());
  if (drew) {
    EXPECT_TRUE(file_exists(png));
  }

  auto interp = ClassificationInterpretation::from_learner(*learn);
  std::string cm_png = test::temp_path("cm.png");
  drew = interp.plot_confusion_matrix(cm_png);
  EXPECT_EQ(first_line(sibling_path(cm_png, ".csv")), "actual\\predicted,a,b,c");
  if (drew) {
    EXPECT_TRUE(file_exists(cm_png));
  }

  std::string sched_png = test::temp_path("sched.png");
  drew = plot_sched(*learn->recorder, sched_png);
  EXPECT_EQ(first_line(sibling_path(sched_png, ".csv")), "iteration,lr,mom");
  if (drew) {
    EXPECT_TRUE(file_exists(sched_png));
  }
  LRFindResult r = learn->lr_find(1e-4, 1, 20);
  std::string lr_png = test::temp_path("lr.png");
  drew = plot_lr_find(r, lr_png);
  EXPECT_EQ(first_line(sibling_path(lr_png, ".csv")), "lr,loss");
  if (drew) {
    EXPECT_TRUE(file_exists(lr_png));
  }
  for (auto& p : {png, cm_png, lr_png, sched_png}) {
    std::remove(p.c_str());
    std::remove(sibling_path(p, ".csv").c_str());
    std::remove(sibling_path(p, ".gp").c_str());
  }
  std::remove(sibling_path(png, "_valid.csv").c_str());
}

TEST(Plots, WithoutGnuplotOnlyTheCsvIsWritten) {
  set_gnuplot_binary("/nonexistent/gnuplot");
  EXPECT_FALSE(gnuplot_available());
  LRFindResult r;
  r.lrs = {1e-3, 1e-2};
  r.losses = {2.0, 1.0};
  std::string png = test::temp_path("nognuplot.png");
  testing::internal::CaptureStderr();
  EXPECT_FALSE(plot_lr_find(r, png));
  EXPECT_FALSE(plot_lr_find(r, png));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gnuplot not found"), std::string::npos);
  EXPECT_EQ(err.find("gnuplot not found"), err.rfind("gnuplot not found"));  // one notice
  EXPECT_EQ(first_line(sibling_path(png, ".csv")), "lr,loss");
  EXPECT_FALSE(file_exists(png));
  set_gnuplot_binary("gnuplot");
  std::remove(sibling_path(png, ".csv").c_str());
  std::remove(sibling_path(png, ".gp").c_str());
}
