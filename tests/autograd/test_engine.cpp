// tests/autograd/test_engine.cpp: the engine itself: accumulation, graph reuse,
// no-grad mode, detach, in-place detection, deep chains, error messages.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/ember.h"

using namespace ember;

TEST(Engine, ScalarBackwardOfSquare) {
  Tensor x = from_vector<float>({1, 2, 3}).requires_grad_();
  (x * x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST(Engine, GradsAccumulateAcrossBackwardCalls) {
  Tensor x = from_vector<float>({1, 2}).requires_grad_();
  (x * 3.0).sum().backward();
  (x * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{6, 6}));
}

TEST(Engine, SharedSubexpressionSumsBothPaths) {
  Tensor x = from_vector<float>({2}).requires_grad_();
  Tensor y = x * x;
  (y + y * x).sum().backward();  // d/dx (x^2 + x^3) = 2x + 3x^2 = 16
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 16.f);
}

TEST(Engine, NonScalarNeedsExplicitGrad) {
  Tensor x = ones({2, 3}).requires_grad_();
  Tensor y = x * 2.0;
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
  y.backward(ones({2, 3}));
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(6, 2.f));
}

TEST(Engine, SecondBackwardNeedsRetainGraph) {
  Tensor x = from_vector<float>({1, 2}).requires_grad_();
  Tensor loss = (x.exp()).sum();
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  EXPECT_NEAR(x.grad().to_vector<float>()[0], 2 * std::exp(1.f), 1e-5);
  try {
    loss.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Engine, NoGradGuardRecordsNothing) {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard g;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Engine, DetachCutsHistoryButSharesStorage) {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), y.raw_data());
}

TEST(Engine, InPlaceChangeOfSavedTensorIsAnError) {
  Tensor x = from_vector<float>({1, 2}).requires_grad_();
  Tensor y = x.exp();   // saves y
  Tensor z = y.sum();
  y.detach().add_(ones({2}));  // modifies y's storage behind autograd's back
  try {
    z.backward();  // exp's backward reads the saved y; it must notice the change
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("exp"), std::string::npos) << m;
    EXPECT_NE(m.find("modified in place"), std::string::npos) << m;
  }
}

TEST(Engine, InPlaceOnLeafRequiringGradIsRefused) {
  Tensor x = ones({2}).requires_grad_();
  EXPECT_THROW(x.add_(ones({2})), Error);
  NoGradGuard g;
  x.add_(ones({2}));  // optimizers do this under NoGradGuard
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{2, 2}));
}

TEST(Engine, DeepChainOf100kNodesDoesNotOverflowTheStack) {
  Tensor x = from_vector<float>({1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 0.0;
  y.sum().backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 1.f);
  // Building and dropping an unconsumed chain must not recurse either.
  Tensor z = x;
  for (int i = 0; i < 100000; ++i) z = z * 1.0;
  z = Tensor();
  SUCCEED();
}

TEST(Engine, OnlyFloatTensorsCanRequireGrad) {
  Tensor i = zeros({2}, DType::i64);
  try {
    i.requires_grad_();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("i64"), std::string::npos);
  }
}

TEST(Engine, BackwardWithoutGraphIsAClearError) {
  Tensor x = ones({1});
  EXPECT_THROW(x.backward(), Error);
}

TEST(Engine, GradOfUnusedInputStaysUndefined) {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}).requires_grad_();
  (a * 2.0).sum().backward();
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Gradcheck, ReportsInputElementAndValues) {
  // A deliberately wrong "op": forward x^2 but backward says 3x.
  auto wrong = [](const TensorList& in) {
    Tensor x = in[0];
    Tensor y = (x * x).detach();
    if (needs_grad({x}))
      record("wrong_square", {x}, y, [sx = save("wrong_square", x)](const Tensor& g) {
        return TensorList{g * sx.get() * 3.0};
      });
    return y;
  };
  GradcheckResult r = gradcheck(wrong, {from_vector<double>({1.0, 2.0})});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("input 0"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("element [0]"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("analytic"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("numeric"), std::string::npos) << r.message;
}

// A result of a recorded op prints its grad_fn as PyTorch does, named after the op.
TEST(Engine, PrintedResultNamesItsGradFn) {
  Tensor x = from_vector<float>({1, 2}).requires_grad_();
  EXPECT_EQ(x.log().str(), "tensor([0.0000, 0.6931], grad_fn=<LogBackward>)");
  EXPECT_NE(x.sum().str().find("grad_fn=<SumBackward>"), std::string::npos) << x.sum().str();
  Tensor logits = from_vector<float>({1, 2, 3, 4}).reshape({2, 2}).requires_grad_();
  std::string s = cross_entropy(logits, from_vector<int64_t>({0, 1})).str();
  EXPECT_NE(s.find("Backward>)"), std::string::npos) << s;
  EXPECT_EQ(s.rfind('_'), s.find("grad_fn") + 4) << s;  // no '_' in the CamelCase name
}
