// tests/learner/learner_test_util.h: small learners on synthetic data for the tests.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "ember/ember.h"

namespace ember {
namespace learner {
namespace test {

// Three Gaussian blobs in 2-D (centres on a circle of radius 2, sd 0.5): x [n, 2] f32, y [n] i64.
inline std::pair<Tensor, Tensor> blobs(int64_t n) {
  std::vector<int64_t> ys(static_cast<size_t>(n));
  for (size_t i = 0; i < ys.size(); ++i) ys[i] = static_cast<int64_t>(i % 3);
  Tensor y = from_vector(ys);
  Tensor centres = from_vector(std::vector<float>{2.0f, 0.0f, -1.0f, 1.732f, -1.0f, -1.732f}, {3, 2});
  Tensor x = index_select(centres, 0, y) + randn({n, 2}) * 0.5;
  return {x, y};
}

inline std::shared_ptr<nn::Module> mlp(int64_t n_in = 2, int64_t hidden = 16, int64_t n_out = 3) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(n_in, hidden), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(hidden, n_out)});
}

// 300 training and 150 validation blobs, batches of 32 (shuffled), accuracy metric.
inline std::unique_ptr<Learner> blob_learner(OptFactory opt) {
  auto [xt, yt] = blobs(300);
  auto [xv, yv] = blobs(150);
  DataLoaders dls{std::make_shared<DataLoader>(xt, yt, DataLoaderOptions{32, true, false, 1}),
                  std::make_shared<DataLoader>(xv, yv, DataLoaderOptions{64}), {"a", "b", "c"}};
  return std::make_unique<Learner>(dls, mlp(), std::make_shared<nn::CrossEntropyLoss>(), std::move(opt),
                                   std::vector<Metric>{accuracy_metric()});
}

// n_train / n_valid blob items in batches of bs (unshuffled), SGD, no metrics, table off.
inline std::unique_ptr<Learner> tiny_learner(int64_t n_train, int64_t n_valid, int64_t bs_train, int64_t bs_valid,
                                             std::shared_ptr<nn::Loss> loss = nullptr) {
  manual_seed(11);
  auto [xt, yt] = blobs(n_train);
  auto [xv, yv] = blobs(n_valid);
  DataLoaders dls{std::make_shared<DataLoader>(xt, yt, DataLoaderOptions{bs_train}),
                  std::make_shared<DataLoader>(xv, yv, DataLoaderOptions{bs_valid}), {}};
  if (!loss) loss = std::make_shared<nn::CrossEntropyLoss>();
  auto l = std::make_unique<Learner>(dls, mlp(), loss, sgd());
  l->recorder->logging = false;
  return l;
}

inline std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/ember_learner_" + std::to_string(getpid()) + "_" + name;
}

}  // namespace test
}  // namespace learner
}  // namespace ember
