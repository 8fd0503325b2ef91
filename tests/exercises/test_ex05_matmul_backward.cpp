// Exercise 5: matmul backward (the backward lambda of matmul in autograd/ops/linalg.cpp).
#include "ex_helpers.h"

using namespace ember;

TEST(Ex5_MatmulBackward, TwoByTwoByHand) {
  Tensor a = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor b = from_vector(std::vector<float>{5, 6, 7, 8}, {2, 2}).requires_grad_();
  matmul(a, b).backward(ones({2, 2}));
  // dA = 1 @ B^T: row sums of B; dB = A^T @ 1: column sums of A, repeated.
  EXPECT_EQ(ex::values(a.grad()), (std::vector<float>{11, 15, 11, 15}));
  EXPECT_EQ(ex::values(b.grad()), (std::vector<float>{4, 4, 6, 6}));
}

TEST(Ex5_MatmulBackward, GradcheckMatrixTimesMatrix) {
  auto r = gradcheck([](const TensorList& in) { return matmul(in[0], in[1]); }, {randn({3, 4}), randn({4, 5})});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Ex5_MatmulBackward, GradcheckBatched) {
  auto r = gradcheck([](const TensorList& in) { return matmul(in[0], in[1]); },
                     {randn({2, 3, 4}), randn({2, 4, 2})});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Ex5_MatmulBackward, GradcheckBroadcastBatch) {
  // b has no batch dim: its grad sums the batch (sum_to, exercise 2).
  auto r = gradcheck([](const TensorList& in) { return matmul(in[0], in[1]); },
                     {randn({3, 2, 4}), randn({4, 2})});
  EXPECT_TRUE(r.ok) << r.message;
  auto r2 = gradcheck([](const TensorList& in) { return matmul(in[0], in[1]); },
                      {randn({2, 1, 2, 3}), randn({3, 3, 2})});
  EXPECT_TRUE(r2.ok) << r2.message;
}
