// Exercise 10: a Learner callback (EarlyStoppingCallback::after_epoch in learner/Callbacks.cpp).
//
// The learner here trains nothing: a callback cancels every batch, and another writes a
// scripted valid_loss into the Recorder after each epoch, before EarlyStopping reads it.
#include <sstream>

#include "../learner/learner_test_util.h"
#include "ex_helpers.h"

using namespace ember;
using namespace ember::learner;

namespace {
struct SkipBatches : Callback {
  SkipBatches() : Callback("SkipBatches", 0) {}
  void before_batch() override { throw CancelBatchException(); }
};

// After the Recorder (order 50), before EarlyStopping (order 60).
struct ScriptedValidLoss : Callback {
  explicit ScriptedValidLoss(std::vector<double> v) : Callback("ScriptedValidLoss", 55), losses(std::move(v)) {}
  void after_epoch() override {
    Recorder& r = *learn().recorder;
    r.values.back()[1] = losses.at(static_cast<size_t>(learn().epoch));  // {train_loss, valid_loss, ...}
  }
  std::vector<double> losses;
};

// Epochs fit runs with these valid losses (out of losses.size()), and the log.
std::pair<size_t, std::string> run(std::vector<double> losses, int patience, double min_delta = 0.0) {
  auto learn = test::tiny_learner(4, 4, 2, 2);
  std::ostringstream out;
  learn->recorder->logging = true;
  learn->recorder->out = &out;
  const int epochs = static_cast<int>(losses.size());
  learn->fit(epochs, 0.0,
             {std::make_shared<SkipBatches>(), std::make_shared<ScriptedValidLoss>(std::move(losses)),
              std::make_shared<EarlyStoppingCallback>("valid_loss", min_delta, patience)});
  return {learn->recorder->values.size(), out.str()};
}
}  // namespace

TEST(Ex10_EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  auto [epochs, log] = run({1.0, 0.9, 0.95, 0.93, 0.8, 0.7}, 2);
  EXPECT_EQ(epochs, 4u) << log;  // best 0.9 at epoch 1; epochs 2 and 3 no better
  EXPECT_NE(log.find("No improvement since epoch 1: early stopping"), std::string::npos) << log;
}

TEST(Ex10_EarlyStopping, RunsEveryEpochWhileImproving) {
  auto [epochs, log] = run({1.0, 0.9, 0.8, 0.7}, 1);
  EXPECT_EQ(epochs, 4u) << log;
  EXPECT_EQ(log.find("early stopping"), std::string::npos) << log;
}

TEST(Ex10_EarlyStopping, AnImprovementResetsTheCount) {
  auto [epochs, log] = run({1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.9, 0.7}, 2);
  EXPECT_EQ(epochs, 7u) << log;  // bests at 0, 2, 4; epochs 5 and 6 fail
  EXPECT_NE(log.find("No improvement since epoch 4: early stopping"), std::string::npos) << log;
}

TEST(Ex10_EarlyStopping, MinDeltaCountsSmallGainsAsNone) {
  auto [epochs, log] = run({1.0, 0.99, 0.98, 0.5}, 2, 0.05);
  EXPECT_EQ(epochs, 3u) << log;
  EXPECT_NE(log.find("No improvement since epoch 0: early stopping"), std::string::npos) << log;
}
