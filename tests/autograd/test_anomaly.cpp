// tests/autograd/test_anomaly.cpp: anomaly mode (autograd/Node.h): NaN/Inf in a forward
// output or a backward grad is reported with the op, its input shapes and the module.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "ember/autograd/Node.h"
#include "ember/nn/Layers.h"
#include "ember/nn/Module.h"
#include "ember/nn/models/ResNet.h"

using namespace ember;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A module whose forward takes the log of its input: NaN for negative inputs.
struct LogLayer : nn::Module {
  LogLayer() : Module("LogLayer") {}
  Tensor forward(const Tensor& x) override { return x.log(); }
};

}  // namespace

TEST(Anomaly, OffByDefault) {
  if (std::getenv("EMBER_DETECT_ANOMALY") == nullptr) {
    EXPECT_FALSE(anomaly_enabled());
  }
  DetectAnomalyGuard off(false);
  Tensor x = from_vector<float>({-1.0f, 2.0f}).requires_grad_(true);
  Tensor y;
  EXPECT_NO_THROW(y = x.log());  // NaN flows on unchecked, as without anomaly mode
  EXPECT_TRUE(std::isnan(y.cpu().data<float>()[0]));
  EXPECT_NO_THROW(y.sum().backward());
}

TEST(Anomaly, GuardRestoresPreviousState) {
  bool before = anomaly_enabled();
  {
    DetectAnomalyGuard on;
    EXPECT_TRUE(anomaly_enabled());
    {
      DetectAnomalyGuard off(false);
      EXPECT_FALSE(anomaly_enabled());
    }
    EXPECT_TRUE(anomaly_enabled());
  }
  EXPECT_EQ(anomaly_enabled(), before);
}

TEST(Anomaly, ForwardNaNNamesOpAndShapes) {
  DetectAnomalyGuard on;
  Tensor x = from_vector<float>({1.0f, -1.0f, 2.0f, 3.0f}).reshape({2, 2}).requires_grad_(true);
  std::string msg = error_of([&] { (x * 2.0).log(); });
  EXPECT_NE(msg.find("anomaly: forward of 'log'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 NaN of 4 elements"), std::string::npos) << msg;
  EXPECT_NE(msg.find("inputs [2, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the inputs were finite"), std::string::npos) << msg;
}

TEST(Anomaly, ForwardInfIsCaughtToo) {
  DetectAnomalyGuard on;
  Tensor x = from_vector<float>({0.0f, 1.0f}).requires_grad_(true);
  std::string msg = error_of([&] { x.log(); });  // log(0) = -inf
  EXPECT_NE(msg.find("1 Inf"), std::string::npos) << msg;
}

TEST(Anomaly, ForwardNamesTheModule) {
  DetectAnomalyGuard on;
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                              std::make_shared<nn::Identity>(), std::make_shared<LogLayer>()})});
  // Make the Linear output negative somewhere: weight -1, bias 0, positive inputs.
  for (auto& [name, p] : net->named_parameters()) {
    NoGradGuard ng;
    p.fill_(name == "0.weight" ? -1.0 : 0.0);
  }
  Tensor x = ones({2, 3});
  std::string msg = error_of([&] { (*net)(x); });
  EXPECT_NE(msg.find("forward of 'log'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("in 1.1 (LogLayer)"), std::string::npos) << msg;
  // Outside anomaly mode the call operator is plain forward.
  DetectAnomalyGuard off(false);
  EXPECT_NO_THROW((*net)(x));
}

TEST(Anomaly, BackwardOnlyNaNNamesOp) {
  DetectAnomalyGuard on;
  auto net = std::make_shared<nn::Linear>(2, 2);
  {
    NoGradGuard ng;
    net->weight.fill_(0.0);
    net->bias.fill_(0.0);
  }
  Tensor y;
  struct SqrtOf : nn::Module {
    std::shared_ptr<nn::Linear> fc;
    explicit SqrtOf(std::shared_ptr<nn::Linear> l) : Module("SqrtOf") { fc = register_module("fc", l); }
    Tensor forward(const Tensor& x) override { return (*fc)(x).sqrt(); }  // sqrt(0) = 0: fine forward
  };
  SqrtOf m(net);
  ASSERT_NO_THROW(y = m(ones({3, 2})));  // forward is finite
  std::string msg = error_of([&] { y.sum().backward(); });  // d sqrt / dx at 0 = Inf
  EXPECT_NE(msg.find("anomaly: backward of 'sqrt'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Inf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("input shapes [3, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("its forward ran in SqrtOf"), std::string::npos) << msg;
}

TEST(Anomaly, BadInputIsReportedAsAlreadyBad) {
  DetectAnomalyGuard on;
  Tensor w = from_vector<float>({1.0f, 2.0f}).requires_grad_(true);
  Tensor x = from_vector<float>({std::numeric_limits<float>::quiet_NaN(), 1.0f});
  std::string msg = error_of([&] { w * x; });
  EXPECT_NE(msg.find("input 1 already held NaN/Inf"), std::string::npos) << msg;
}

TEST(Anomaly, ResNetNamesTheNestedLayer) {
  DetectAnomalyGuard on;
  manual_seed(0);
  auto net = nn::resnet18(10);
  for (auto& [name, p] : net->named_parameters())
    if (name == "layer4.1.bn2.weight") {
      NoGradGuard ng;
      p.fill_(std::numeric_limits<double>::infinity());  // inf * 0-mean activations somewhere -> NaN/Inf
    }
  std::string msg = error_of([&] { (*net)(randn({2, 3, 32, 32})); });
  EXPECT_NE(msg.find("in layer4.1.bn2 (BatchNorm2d)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("already held NaN/Inf"), std::string::npos) << msg;  // the weight itself
}

// relu keeps NaN (as PyTorch does), so a NaN input cannot vanish inside a network where anomaly
// mode would never see it; -0.0 and negatives give 0, and the gradient at a NaN is 0.
TEST(Anomaly, ReluKeepsNaNSoItIsReported) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = from_vector<float>({nan, -1.0f, 2.0f, -0.0f}).requires_grad_(true);
  Tensor y = x.relu();
  std::vector<float> v = y.to_vector<float>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_EQ(v[2], 2.0f);
  EXPECT_EQ(v[3], 0.0f);
  EXPECT_FALSE(std::signbit(v[3]));
  y.sum().backward();
  std::vector<float> g = x.grad().to_vector<float>();
  EXPECT_EQ(g, (std::vector<float>{1.0f, 0.0f, 1.0f, 0.0f})) << "a NaN input passes its grad, as in PyTorch";

  DetectAnomalyGuard on;
  std::string msg = error_of([&] { x.relu(); });
  EXPECT_NE(msg.find("anomaly: forward of 'relu'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("already held NaN/Inf"), std::string::npos) << msg;
}
