// Exercise 8: the SGD and Adam steps (SGD::step, Adam::step in optim/Optimizer.cpp).
#include "ex_helpers.h"

using namespace ember;
using namespace ember::optim;

namespace {
// A parameter [2] with a fixed grad.
Tensor param_with_grad(std::vector<float> p, std::vector<float> g) {
  Tensor t = from_vector(p).requires_grad_();
  t.set_grad(from_vector(g));
  return t;
}
}  // namespace

TEST(Ex8_Optimizers, PlainSgd) {
  Tensor p = param_with_grad({1, 2}, {0.5f, -1});
  Hyper h;
  h.lr = 0.1;
  SGD opt({p}, h);
  opt.step();
  EXPECT_TRUE(ex::all_close(p, from_vector(std::vector<float>{0.95f, 2.1f}))) << "p -= lr * grad";
}

TEST(Ex8_Optimizers, SgdWithMomentumAndWeightDecay) {
  Tensor p = param_with_grad({1, 2}, {0.5f, -1});
  Hyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.weight_decay = 0.01;
  SGD opt({p}, h);
  // Step 1: d = g + wd p; buf = d; p -= lr buf.
  std::vector<double> pv{1, 2}, g{0.5, -1}, buf(2);
  for (int step = 0; step < 3; ++step) {
    opt.step();
    for (size_t i = 0; i < 2; ++i) {
      double d = g[i] + 0.01 * pv[i];
      buf[i] = step == 0 ? d : 0.9 * buf[i] + d;
      pv[i] -= 0.1 * buf[i];
    }
    EXPECT_TRUE(ex::all_close(p, from_vector(std::vector<float>{static_cast<float>(pv[0]), static_cast<float>(pv[1])}),
                              1e-6))
        << "step " << step;
  }
}

TEST(Ex8_Optimizers, AdamWithBiasCorrection) {
  Tensor p = param_with_grad({1, -2}, {0.5f, -1});
  Hyper h;
  h.lr = 0.01;
  h.momentum = 0.9;  // beta1
  h.beta2 = 0.999;
  h.eps = 1e-8;
  Adam opt({p}, h);
  std::vector<double> pv{1, -2}, g{0.5, -1}, m(2, 0), v(2, 0);
  for (int t = 1; t <= 3; ++t) {
    opt.step();
    for (size_t i = 0; i < 2; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      pv[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
    }
    EXPECT_TRUE(ex::all_close(p, from_vector(std::vector<float>{static_cast<float>(pv[0]), static_cast<float>(pv[1])}),
                              1e-6))
        << "step " << t;
  }
}

TEST(Ex8_Optimizers, AdamWDecouplesWeightDecay) {
  Tensor p = param_with_grad({1, -2}, {0, 0});
  Hyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.weight_decay = 0.5;
  h.decoupled_wd = true;
  Adam opt({p}, h);
  opt.step();
  // grad 0: only the decay moves p, by the factor 1 - lr wd.
  EXPECT_TRUE(ex::all_close(p, from_vector(std::vector<float>{0.95f, -1.9f}), 1e-6));
}

TEST(Ex8_Optimizers, ParamsWithoutGradAreSkipped) {
  Tensor p = from_vector(std::vector<float>{1, 2}).requires_grad_();
  Tensor q = param_with_grad({3, 4}, {1, 1});
  Hyper h;
  h.lr = 1;
  SGD opt({p, q}, h);
  opt.step();
  EXPECT_EQ(ex::values(p), (std::vector<float>{1, 2}));
  EXPECT_EQ(ex::values(q), (std::vector<float>{2, 3}));
}
