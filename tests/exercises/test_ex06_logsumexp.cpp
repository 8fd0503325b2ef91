// Exercise 6: a numerically stable logsumexp / log_softmax (Tensor::logsumexp in autograd/ops/reduce.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex6_LogSumExp, SmallValuesMatchTheFormula) {
  Tensor x = from_vector(std::vector<float>{0, 1, 2, -1, 0.5f, 3}, {2, 3});
  std::vector<float> v = ex::values(x);
  std::vector<float> want;
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int c = 0; c < 3; ++c) s += std::exp(static_cast<double>(v[static_cast<size_t>(r * 3 + c)]));
    want.push_back(static_cast<float>(std::log(s)));
  }
  EXPECT_TRUE(ex::all_close(x.logsumexp({1}), from_vector(want), 1e-6));
  EXPECT_EQ(x.logsumexp({1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(x.logsumexp({0, 1}).shape(), (Shape{}));
}

TEST(Ex6_LogSumExp, LargeValuesDoNotOverflow) {
  // exp(1000) is inf in f32 and f64: subtract the max first.
  Tensor x = from_vector(std::vector<float>{1000, 1000, -1000, -1000}, {2, 2});
  EXPECT_TRUE(ex::all_close(x.logsumexp({1}), from_vector(std::vector<float>{1000 + std::log(2.0f), -1000 + std::log(2.0f)}),
                            1e-3));
}

TEST(Ex6_LogSumExp, RowsOfMinusInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = from_vector(std::vector<float>{-inf, -inf, 0, -inf}, {2, 2});
  std::vector<float> y = ex::values(x.logsumexp({1}));
  EXPECT_EQ(y[0], -inf) << "log(0) = -inf, not nan";
  EXPECT_EQ(y[1], 0.0f);
}

TEST(Ex6_LogSumExp, GradientIsTheSoftmax) {
  Tensor x = (randn({3, 5}) * 10.0).requires_grad_();
  x.logsumexp({1}).backward(ones({3}));
  EXPECT_TRUE(ex::all_close(x.grad(), x.detach().softmax(1), 1e-5));
  auto r = gradcheck([](const TensorList& in) { return in[0].logsumexp({0, 2}); }, {randn({2, 3, 4})});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Ex6_LogSumExp, StableLogSoftmax) {
  // log_softmax(x) = x - logsumexp(x): the fused kernel of log_softmax computes this row by row.
  Tensor x = randn({4, 10}) * 50.0;
  EXPECT_TRUE(ex::all_close(x - x.logsumexp({1}, true), x.log_softmax(1), 1e-4));
}
