// Exercise 2: broadcasting (sum_to in autograd/ops/elementwise.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex2_Broadcasting, SumToSumsTheBroadcastDims) {
  Tensor g = arange(24.0).reshape({2, 3, 4});
  EXPECT_TRUE(ex::all_close(sum_to(g, {2, 3, 4}), g)) << "same shape: nothing to sum";
  EXPECT_TRUE(ex::all_close(sum_to(g, {4}), g.to(DType::f64).sum({0, 1}).to(DType::f32)));
  EXPECT_TRUE(ex::all_close(sum_to(g, {3, 1}), from_vector(std::vector<float>{60, 92, 124}, {3, 1})));
  EXPECT_TRUE(ex::all_close(sum_to(g, {2, 1, 4}), g.sum({1}, true)));
  EXPECT_TRUE(ex::all_close(sum_to(g, {}), full({}, 276.0)));
  EXPECT_TRUE(ex::all_close(sum_to(g, {1, 1, 1}), full({1, 1, 1}, 276.0)));
}

TEST(Ex2_Broadcasting, SumToRejectsShapesThatDoNotBroadcast) {
  Tensor g = zeros({3, 4});
  EXPECT_TRUE(ex::throws_with([&] { sum_to(g, {2, 3, 4}); }, "sum_to: cannot sum [3, 4] to [2, 3, 4]"));
}

TEST(Ex2_Broadcasting, BroadcastInputsGetGradsOfTheirOwnShape) {
  Tensor a = randn({4, 1, 3}).requires_grad_();
  Tensor b = randn({2, 1}).requires_grad_();
  Tensor y = a * b;  // [4, 2, 3]
  ASSERT_EQ(y.shape(), (Shape{4, 2, 3}));
  y.backward(ones({4, 2, 3}));
  ASSERT_EQ(a.grad().shape(), (Shape{4, 1, 3}));
  ASSERT_EQ(b.grad().shape(), (Shape{2, 1}));
  // d(sum a*b)/da[i, 0, k] = sum_j b[j]; d/db[j] = sum over i, k of a.
  NoGradGuard ng;
  EXPECT_TRUE(ex::all_close(a.grad(), b.reshape({1, 2, 1}).expand({4, 2, 3}).contiguous().sum({1}, true), 1e-5));
  EXPECT_TRUE(ex::all_close(b.grad(), a.expand({4, 2, 3}).contiguous().sum({0, 2}).reshape({2, 1}), 1e-4));
}

TEST(Ex2_Broadcasting, GradcheckOfBroadcastingOps) {
  auto r = gradcheck([](const TensorList& in) { return in[0] * in[1] + in[2]; },
                     {randn({3, 1, 4}), randn({5, 1}), randn({4})});
  EXPECT_TRUE(r.ok) << r.message;
}
