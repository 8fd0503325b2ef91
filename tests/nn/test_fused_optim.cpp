// tests/nn/test_fused_optim.cpp: the fused optimizer steps (Backend::adam_step / sgd_step,
// tensor/OptimMath.h) give what the tensor-op steps of optim/Optimizer.cpp give, for every
// option (momentum, dampening, nesterov, weight decay coupled and decoupled, do_wd off), over
// several steps, for f32 and f64.
#include <gtest/gtest.h>

#include <functional>

#include "ember/ember.h"

using namespace ember;

namespace {

// Three steps of `make` (with fused off, then on) on the same parameters and gradients.
void compare(const std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroup>)>& make, DType dt,
             const char* what) {
  auto run = [&](bool fused) {
    manual_seed(3);
    Tensor a = randn({5, 7}, dt).requires_grad_(true), b = randn({7}, dt).requires_grad_(true);
    optim::ParamGroup g0{{a}, {}, {}}, g1{{b}, {}, {false}};  // b: no weight decay
    auto opt = make({g0, g1});
    opt->fused = fused;
    for (int step = 0; step < 3; ++step) {
      a.set_grad(randn({5, 7}, dt));
      b.set_grad(randn({7}, dt).expand({2, 7}).select(0, 1));  // a non-contiguous view is fine too
      opt->step();
    }
    return TensorList{a.detach().clone(), b.detach().clone()};
  };
  TensorList ref = run(false), got = run(true);
  const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double diff = (ref[i] - got[i]).abs().max().item<double>();
    EXPECT_LE(diff, tol) << what << " (" << dtype_name(dt) << "): parameter " << i << " differs by " << diff;
  }
}

optim::Hyper hyper(double lr, double mom, double wd) {
  optim::Hyper h;
  h.lr = lr, h.momentum = mom, h.weight_decay = wd;
  return h;
}

}  // namespace

TEST(FusedOptim, SgdMatchesTensorOps) {
  for (DType dt : {DType::f32, DType::f64}) {
    compare([](std::vector<optim::ParamGroup> gs) {
      for (auto& g : gs) g.hyper = hyper(0.1, 0, 0);
      return std::make_unique<optim::SGD>(std::move(gs));
    }, dt, "plain SGD");
    compare([](std::vector<optim::ParamGroup> gs) {
      for (auto& g : gs) g.hyper = hyper(0.1, 0.9, 0.01), g.hyper.dampening = 0.2;
      return std::make_unique<optim::SGD>(std::move(gs));
    }, dt, "SGD momentum + dampening + wd");
    compare([](std::vector<optim::ParamGroup> gs) {
      for (auto& g : gs) g.hyper = hyper(0.05, 0.8, 0.1), g.hyper.nesterov = true;
      return std::make_unique<optim::SGD>(std::move(gs));
    }, dt, "SGD nesterov");
  }
}

TEST(FusedOptim, AdamMatchesTensorOps) {
  for (DType dt : {DType::f32, DType::f64}) {
    compare([](std::vector<optim::ParamGroup> gs) {
      for (auto& g : gs) g.hyper = optim::adam_defaults(1e-2), g.hyper.weight_decay = 0.1;
      return std::make_unique<optim::Adam>(std::move(gs));
    }, dt, "Adam with L2 weight decay");
    compare([](std::vector<optim::ParamGroup> gs) {
      for (auto& g : gs) g.hyper = optim::fastai_adam_defaults(3e-3), g.hyper.weight_decay = 0.01;
      return std::make_unique<optim::Adam>(std::move(gs));
    }, dt, "fastai's AdamW");
  }
}

TEST(FusedOptim, LearnerFactoriesFuse) {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  std::vector<optim::ParamGroup> groups{{lin->parameters(), {}, {}}};
  EXPECT_TRUE(learner::fastai_adam()(groups)->fused);
  EXPECT_TRUE(learner::sgd(0.9)(groups)->fused);
  EXPECT_FALSE(optim::SGD(lin->parameters(), optim::Hyper{}).fused);  // the exercise's steps by default
}
