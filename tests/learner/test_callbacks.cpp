// tests/learner/test_callbacks.cpp: EarlyStopping, SaveModel, CSVLogger, freeze / fine_tune.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "ember/ember.h"
#include "learner_test_util.h"

using namespace ember;
using namespace ember::learner;

namespace {
std::vector<std::string> read_lines(const std::string& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}
}  // namespace

TEST(EarlyStopping, StopsWhenTheMonitoredValueStopsImproving) {
  auto learn = test::tiny_learner(8, 4, 2, 4);
  std::ostringstream out;
  learn->recorder->logging = true;
  learn->recorder->out = &out;
  // lr 0: the valid loss never changes, so epoch 1 is no better than epoch 0.
  learn->fit(5, 0.0, {std::make_shared<EarlyStoppingCallback>("valid_loss", 0.0, 1)});
  EXPECT_EQ(learn->recorder->values.size(), 2u);
  EXPECT_NE(out.str().find("No improvement since epoch 0: early stopping"), std::string::npos) << out.str();
  // Unknown columns are reported.
  EXPECT_THROW(learn->fit(1, 0.0, {std::make_shared<EarlyStoppingCallback>("accuracy")}), Error);
}

TEST(EarlyStopping, KeepsGoingWhileImproving) {
  manual_seed(21);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  learn->fit(3, 0.05, {std::make_shared<EarlyStoppingCallback>("accuracy", 0.0, 5)});
  EXPECT_EQ(learn->recorder->values.size(), 3u);
}

TEST(SaveModel, SavesTheBestAndLoadsItAtTheEnd) {
  manual_seed(22);
  auto learn = test::blob_learner(sgd(0.9));
  std::ostringstream out;
  learn->recorder->out = &out;
  std::string path = test::temp_path("best.bin");
  auto cb = std::make_shared<SaveModelCallback>(path);
  learn->fit(3, 0.05, {cb});
  EXPECT_NE(out.str().find("Better model found at epoch 0 with valid_loss value:"), std::string::npos) << out.str();
  // The model now holds exactly what the file holds.
  NamedTensors saved = load_tensors(path);
  auto sd = learn->model->state_dict();
  ASSERT_EQ(saved.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(saved[i].first, "model." + sd[i].first);
    EXPECT_EQ(saved[i].second.to_vector<float>(), sd[i].second.to_vector<float>());
  }
  // The best epoch's valid loss is reproduced by validate().
  double best = cb->best;
  EXPECT_NEAR(learn->validate()[0], best, 1e-6);
  std::remove(path.c_str());
}

TEST(CSVLogger, WritesARowPerEpochAndAppends) {
  manual_seed(23);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  std::string path = test::temp_path("log.csv");
  learn->fit(2, 0.05, {std::make_shared<CSVLogger>(path)});
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "epoch,train_loss,valid_loss,accuracy,time");
  EXPECT_EQ(lines[1].substr(0, 2), "0,");
  EXPECT_EQ(lines[2].substr(0, 2), "1,");
  learn->fit(1, 0.05, {std::make_shared<CSVLogger>(path, true)});
  lines = read_lines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3].substr(0, 2), "2,");
  std::remove(path.c_str());
}

TEST(Freeze, FrozenGroupsDoNotTrainAndFineTuneRuns) {
  manual_seed(24);
  auto learn = test::blob_learner(fastai_adam());
  learn->recorder->logging = false;
  learn->splitter = [](nn::Module& m) {
    auto ps = m.parameters();
    return std::vector<std::vector<Tensor>>{{ps[0], ps[1]}, {ps[2], ps[3]}};
  };
  learn->freeze();
  auto before = learn->model->state_dict();
  std::vector<std::vector<float>> v0;
  for (auto& kv : before) v0.push_back(kv.second.to_vector<float>());
  learn->fit(1, 1e-2);
  auto after = learn->model->state_dict();
  EXPECT_EQ(after[0].second.to_vector<float>(), v0[0]);  // body frozen
  EXPECT_EQ(after[1].second.to_vector<float>(), v0[1]);
  EXPECT_NE(after[2].second.to_vector<float>(), v0[2]);  // head trains
  learn->unfreeze();
  for (auto& p : learn->model->parameters()) EXPECT_TRUE(p.requires_grad());

  learn->fine_tune(2, 1e-2);
  ASSERT_EQ(learn->recorder->values.size(), 2u);  // the last fit_one_cycle's epochs
  // Phase 2 peaks at even_mults(base_lr / 2 / 100, base_lr / 2) with div 5: first lr = peak / 5.
  EXPECT_NEAR(learn->recorder->lrs.front(), 5e-3 / 5.0, 1e-12);
  EXPECT_GT(learn->recorder->values.back()[2], 0.9);
  auto s = lr_slice(1e-2, 3);
  EXPECT_EQ(s, (std::vector<double>{1e-3, 1e-3, 1e-2}));
}
