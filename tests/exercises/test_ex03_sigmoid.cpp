// Exercise 3: an elementwise op's forward and backward (Tensor::sigmoid in autograd/ops/elementwise.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex3_Sigmoid, ForwardMatchesTheFormula) {
  Tensor x = from_vector(std::vector<float>{-3, -1, 0, 0.5f, 2});
  std::vector<float> want;
  for (float v : ex::values(x)) want.push_back(1.0f / (1.0f + std::exp(-v)));
  EXPECT_TRUE(ex::all_close(x.sigmoid(), from_vector(want), 1e-6));
  EXPECT_EQ(x.sigmoid().shape(), x.shape());
}

TEST(Ex3_Sigmoid, LargeInputsGiveZeroOrOneNotNan) {
  Tensor y = from_vector(std::vector<float>{-1000, -100, 100, 1000}).sigmoid();
  EXPECT_TRUE(ex::all_close(y, from_vector(std::vector<float>{0, 0, 1, 1}), 1e-30, 0));
}

TEST(Ex3_Sigmoid, BackwardIsYTimesOneMinusY) {
  Tensor x = from_vector(std::vector<float>{-2, 0, 1}).requires_grad_();
  Tensor y = x.sigmoid();
  y.backward(from_vector(std::vector<float>{1, 2, 3}));
  std::vector<float> yv = ex::values(y.detach()), want;
  for (size_t i = 0; i < yv.size(); ++i) want.push_back(static_cast<float>(i + 1) * yv[i] * (1 - yv[i]));
  EXPECT_TRUE(ex::all_close(x.grad(), from_vector(want), 1e-6));
}

TEST(Ex3_Sigmoid, Gradcheck) {
  auto r = gradcheck([](const TensorList& in) { return in[0].sigmoid(); }, {randn({3, 4}) * 3.0});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Ex3_Sigmoid, NoHistoryWithoutGrad) {
  Tensor x = randn({3}).requires_grad_();
  Tensor y;
  {
    NoGradGuard ng;
    y = x.sigmoid();
  }
  EXPECT_FALSE(y.requires_grad()) << "record only when needs_grad({x})";
  EXPECT_TRUE(ex::throws_with([&] { from_vector(std::vector<int64_t>{1, 2}).sigmoid(); },
                              "sigmoid: needs a float tensor, got dtype i64"));
}
