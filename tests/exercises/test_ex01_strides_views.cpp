// Exercise 1: strides and views (Tensor::permute, Tensor::slice in autograd/ops/shape.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex1_StridesViews, PermuteSwapsShapeAndStridesWithoutCopying) {
  Tensor x = arange(24.0).reshape({2, 3, 4});  // strides [12, 4, 1]
  Tensor y = x.permute({2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(y.strides(), (Shape{1, 12, 4}));
  EXPECT_EQ(y.offset(), x.offset());
  EXPECT_EQ(y.raw_data(), x.raw_data()) << "a view shares the storage: no copy";
  // y[i, j, k] = x[j, k, i]: element [3, 1, 2] sits at offset 3*1 + 1*12 + 2*4 = 23.
  EXPECT_EQ(ex::values(y)[static_cast<size_t>(3 * 6 + 1 * 3 + 2)], 23.0f);
  EXPECT_EQ(x.permute({-1, 0, 1}).shape(), (Shape{4, 2, 3})) << "negative dims count from the end";
}

TEST(Ex1_StridesViews, PermuteRejectsBadOrders) {
  Tensor x = zeros({2, 3});
  EXPECT_TRUE(ex::throws_with([&] { x.permute({0, 0}); }, "permute: dim 0 repeats in [0, 0]"));
  EXPECT_TRUE(ex::throws_with([&] { x.permute({0, 5}); }, "permute: dim 5 out of range for a 2-d tensor"));
}

TEST(Ex1_StridesViews, SliceMovesTheOffsetAndMultipliesTheStride) {
  Tensor x = arange(20.0).reshape({4, 5});  // strides [5, 1]
  Tensor y = x.slice(1, 1, 5, 2);           // columns 1 and 3
  EXPECT_EQ(y.shape(), (Shape{4, 2}));
  EXPECT_EQ(y.strides(), (Shape{5, 2}));
  EXPECT_EQ(y.offset(), 1);
  EXPECT_EQ(ex::values(y), (std::vector<float>{1, 3, 6, 8, 11, 13, 16, 18}));
  Tensor r = x.slice(0, -2, 100);  // negative start, end clamped
  EXPECT_EQ(r.shape(), (Shape{2, 5}));
  EXPECT_EQ(r.offset(), 10);
  EXPECT_EQ(x.slice(0, 3, 1).shape(), (Shape{0, 5})) << "end before start gives an empty slice";
  EXPECT_EQ(x.slice(1, 0, 5, 3).shape(), (Shape{4, 2})) << "ceil((5 - 0) / 3) = 2 columns";
}

TEST(Ex1_StridesViews, WritingThroughAViewChangesTheBase) {
  Tensor x = zeros({3, 4});
  x.slice(0, 1, 2).permute({1, 0}).fill_(7.0);
  EXPECT_EQ(ex::values(x), (std::vector<float>{0, 0, 0, 0, 7, 7, 7, 7, 0, 0, 0, 0}));
}

TEST(Ex1_StridesViews, GradientsFlowBackThroughViews) {
  Tensor x = arange(12.0).reshape({3, 4}).requires_grad_();
  Tensor y = x.permute({1, 0}).slice(0, 1, 4, 2);  // [2, 3]: columns 1 and 3 of x, transposed
  y.backward(from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(ex::values(x.grad()), (std::vector<float>{0, 1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6}));
  auto r = gradcheck([](const TensorList& in) { return in[0].permute({2, 0, 1}).slice(1, 1, 3); },
                     {randn({2, 3, 4})});
  EXPECT_TRUE(r.ok) << r.message;
}
