// Exercise 7: the L1 loss of the MNIST example (l1_loss in autograd/ops/loss.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex7_L1Loss, Reductions) {
  Tensor p = from_vector(std::vector<float>{0.5f, -1, 2, 0}, {2, 2});
  Tensor t = from_vector(std::vector<float>{0, 1, 2, -3}, {2, 2});
  EXPECT_NEAR(l1_loss(p, t).item(), (0.5 + 2 + 0 + 3) / 4.0, 1e-6);
  EXPECT_NEAR(l1_loss(p, t, Reduction::Sum).item(), 5.5, 1e-6);
  EXPECT_TRUE(ex::all_close(l1_loss(p, t, Reduction::None), from_vector(std::vector<float>{0.5f, 2, 0, 3}, {2, 2})));
}

TEST(Ex7_L1Loss, GradientIsTheSignOverN) {
  Tensor p = from_vector(std::vector<float>{0.5f, -1, 2, 0}, {2, 2}).requires_grad_();
  Tensor t = from_vector(std::vector<float>{0, 1, 2, -3}, {2, 2});
  l1_loss(p, t).backward();
  EXPECT_TRUE(ex::all_close(p.grad(), from_vector(std::vector<float>{0.25f, -0.25f, 0, 0.25f}, {2, 2})))
      << "d/dp mean|p - t| = sign(p - t) / n, and 0 where p == t";
  auto r = gradcheck([](const TensorList& in) { return l1_loss(in[0], in[1], Reduction::Sum); },
                     {randn({3, 4}), randn({3, 4})});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Ex7_L1Loss, TheMnistLossOnSoftmaxAndOneHot) {
  // The MNIST example's loss: mean |softmax(logits) - onehot(label)|.
  Tensor logits = from_vector(std::vector<float>{2, 0, 0, 0, 0, 2}, {2, 3});
  Tensor onehot = from_vector(std::vector<float>{1, 0, 0, 0, 1, 0}, {2, 3});
  Tensor p = logits.softmax(1);
  std::vector<float> pv = ex::values(p), ov = ex::values(onehot);
  double want = 0;
  for (size_t i = 0; i < pv.size(); ++i) want += std::abs(pv[i] - ov[i]);
  EXPECT_NEAR(l1_loss(p, onehot).item(), want / 6.0, 1e-6);
}

TEST(Ex7_L1Loss, ShapesMustMatch) {
  EXPECT_TRUE(ex::throws_with([] { l1_loss(zeros({2, 3}), zeros({3})); }, "l1_loss"));
  // Matching shapes must not throw.
  EXPECT_NO_THROW(l1_loss(zeros({2, 3}), zeros({2, 3})));
}
