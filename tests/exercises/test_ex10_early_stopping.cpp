// Exercise 10: a Learner callback (EarlyStoppingCallback::after_epoch in learner/Callbacks.cpp).
//
// The learner here trains nothing: a callback cancels every batch, and another writes a
// scripted valid_loss into the Recorder after each epoch, before EarlyStopping reads it.
// The batches come from a dataset that hands out the same two tensors (no slicing), so in a
// fresh workspace these tests reach exercise 10's stub before any other.
#include <sstream>

#include "../learner/learner_test_util.h"
#include "ex_helpers.h"

using namespace ember;
using namespace ember::learner;

namespace {
// One batch per epoch, always the same tensors.
struct OneBatch : Dataset {
  Tensor x = zeros({2, 2}), y = zeros({2}, DType::i64);
  int64_t size() const override { return 2; }
  Example get(int64_t) const override { return {x.select(0, 0), y.select(0, 0)}; }
  Example get_batch(const std::vector<int64_t>&) const override { return {x, y}; }
};

std::shared_ptr<DataLoader> one_batch() {
  DataLoaderOptions o;
  o.batch_size = 2;
  o.prefetch = 0;
  return std::make_shared<DataLoader>(std::make_shared<OneBatch>(), o);
}

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
  DataLoaders dls{one_batch(), one_batch(), {}};
  auto learn = std::make_unique<Learner>(dls, test::mlp(), std::make_shared<nn::CrossEntropyLoss>(), sgd());
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
