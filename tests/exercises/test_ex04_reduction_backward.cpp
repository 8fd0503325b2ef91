// Exercise 4: a reduction's backward (the backward of Tensor::sum in autograd/ops/reduce.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex4_ReductionBackward, SumOverOneDimBroadcastsTheGradBack) {
  Tensor x = randn({2, 3, 4}).requires_grad_();
  Tensor y = x.sum({1});  // [2, 4]
  Tensor g = arange(8.0).reshape({2, 4});
  y.backward(g);
  ASSERT_EQ(x.grad().shape(), (Shape{2, 3, 4}));
  // grad_x[i, j, k] = g[i, k] for every j.
  std::vector<float> gx = ex::values(x.grad());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(gx[static_cast<size_t>(i * 12 + j * 4 + k)], static_cast<float>(i * 4 + k));
}

TEST(Ex4_ReductionBackward, KeepdimAndSeveralDims) {
  Tensor x = randn({2, 3, 4}).requires_grad_();
  x.sum({0, 2}, true).backward(from_vector(std::vector<float>{1, 2, 3}, {1, 3, 1}));
  std::vector<float> gx = ex::values(x.grad());
  for (size_t n = 0; n < gx.size(); ++n) EXPECT_EQ(gx[n], static_cast<float>((n / 4) % 3 + 1));
}

TEST(Ex4_ReductionBackward, SumOfEverything) {
  Tensor x = randn({3, 2}).requires_grad_();
  x.sum().backward(full({}, 2.5));
  EXPECT_TRUE(ex::all_close(x.grad(), full({3, 2}, 2.5)));
}

TEST(Ex4_ReductionBackward, Gradcheck) {
  for (Dims dims : {Dims{0}, Dims{1}, Dims{-1}, Dims{0, 2}, Dims{}}) {
    auto r = gradcheck([dims](const TensorList& in) { return in[0].sum(dims); }, {randn({2, 3, 4})});
    EXPECT_TRUE(r.ok) << "dims " << fmt(dims) << ": " << r.message;
  }
}
