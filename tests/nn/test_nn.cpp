// tests/nn/test_nn.cpp: Module registry, state_dict, repr, layers, init statistics,
// optimizers against PyTorch's numbers, schedules.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/ember.h"

using namespace ember;
using namespace ember::nn;

namespace {
std::shared_ptr<Sequential> mnist_mlp() {
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Linear>(784, 100), std::make_shared<Sigmoid>(), std::make_shared<Linear>(100, 10),
      std::make_shared<Sigmoid>(), std::make_shared<Softmax>(1)});
}
}  // namespace

TEST(Module, StateDictKeysAndReprMatchPyTorch) {
  auto m = mnist_mlp();
  StateDict sd = m->state_dict();
  std::vector<std::string> keys;
  for (auto& kv : sd) keys.push_back(kv.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(m->repr(),
            "Sequential(\n"
            "  (0): Linear(in_features=784, out_features=100, bias=True)\n"
            "  (1): Sigmoid()\n"
            "  (2): Linear(in_features=100, out_features=10, bias=True)\n"
            "  (3): Sigmoid()\n"
            "  (4): Softmax(dim=1)\n"
            ")");
  EXPECT_EQ(m->parameters().size(), 4u);
}

TEST(Module, LoadStateDictCopiesValuesAndChecksKeys) {
  auto a = mnist_mlp(), b = mnist_mlp();
  b->load_state_dict(a->state_dict());
  EXPECT_EQ(a->state_dict()[0].second.to_vector<float>(), b->state_dict()[0].second.to_vector<float>());
  StateDict bad = a->state_dict();
  bad.erase(bad.begin());
  bad.emplace_back("3.weight", zeros({1}));
  try {
    b->load_state_dict(bad);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Missing keys (1): 0.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("Unexpected keys (1): 3.weight"), std::string::npos) << m;
  }
  StateDict wrong = a->state_dict();
  wrong[1].second = zeros({7});
  try {
    b->load_state_dict(wrong);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'0.bias' has shape [7]"), std::string::npos) << e.what();
  }
}

TEST(Module, NestedNamesTrainEvalAndZeroGrad) {
  struct Net : Module {
    std::shared_ptr<Sequential> body;
    std::shared_ptr<Linear> head;
    Net() : Module("Net") {
      body = register_module("body", std::make_shared<Sequential>(
                                         std::initializer_list<std::shared_ptr<Module>>{std::make_shared<Linear>(4, 3),
                                                                                        std::make_shared<Dropout>(0.5)}));
      head = register_module("head", std::make_shared<Linear>(3, 2, false));
    }
    Tensor forward(const Tensor& x) override { return head->forward(body->forward(x)); }
  };
  Net n;
  std::vector<std::string> keys;
  for (auto& kv : n.state_dict()) keys.push_back(kv.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"body.0.weight", "body.0.bias", "head.weight"}));
  n.eval();
  EXPECT_FALSE(n.body->operator[](1)->is_training());
  n.forward(ones({2, 4})).sum().backward();
  EXPECT_TRUE(n.head->weight.grad().defined());
  n.zero_grad();
  EXPECT_FALSE(n.head->weight.grad().defined());
}

TEST(Layers, LinearInitMatchesPyTorchBounds) {
  manual_seed(0);
  Linear l(784, 100);
  double bound = 1.0 / std::sqrt(784.0);
  std::vector<float> w = l.weight.to_vector<float>();
  double mx = 0, ss = 0;
  for (float v : w) {
    mx = std::max(mx, std::fabs(static_cast<double>(v)));
    ss += static_cast<double>(v) * v;
  }
  EXPECT_LE(mx, bound);
  EXPECT_NEAR(std::sqrt(ss / w.size()), bound / std::sqrt(3.0), 0.02 * bound);  // std of U(-b, b)
  std::vector<float> b = l.bias.to_vector<float>();
  for (float v : b) EXPECT_LE(std::fabs(v), bound);
}

TEST(Layers, LinearErrorNamesTheModule) {
  Linear l(784, 10);
  try {
    l.forward(ones({2, 512}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Linear(784->10): input [2, 512] has 512 features"), std::string::npos) << e.what();
  }
}

TEST(Layers, LinearGradCheck) {
  auto r = gradcheck([](const TensorList& in) { return linear(in[0], in[1], in[2]).sigmoid(); },
                     {randn({3, 5}), randn({2, 5}), randn({2})});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Layers, DropoutScalesInTrainingAndIsIdentityInEval) {
  manual_seed(1);
  Dropout d(0.25);
  Tensor x = ones({10000});
  Tensor y = d.forward(x);
  std::vector<float> v = y.to_vector<float>();
  int zeros_count = 0;
  for (float f : v) {
    if (f == 0) ++zeros_count;
    else EXPECT_FLOAT_EQ(f, 1 / 0.75f);
  }
  EXPECT_NEAR(zeros_count / 10000.0, 0.25, 0.02);
  d.eval();
  EXPECT_TRUE(d.forward(x).is_same(x));
}

TEST(Layers, FlattenIdentitySoftmax) {
  EXPECT_EQ(Flatten().forward(zeros({2, 3, 4})).shape(), (Shape{2, 12}));
  EXPECT_EQ(Identity().forward(ones({3})).to_vector<float>(), std::vector<float>(3, 1));
  EXPECT_NEAR(Softmax(1).forward(randn({2, 5})).sum({1}).to_vector<float>()[1], 1, 1e-6);
  EXPECT_NEAR(LogSoftmax(1).forward(zeros({1, 4})).to_vector<float>()[0], -std::log(4.0), 1e-6);
}

TEST(Losses, ModulesWrapFunctions) {
  Tensor x = from_vector<float>({0.2f, 0.8f}, {1, 2}), t = from_vector<float>({0, 1}, {1, 2});
  EXPECT_NEAR(L1Loss()(x, t).item(), 0.2, 1e-6);
  EXPECT_NEAR(MSELoss()(x, t).item(), 0.04, 1e-6);
  EXPECT_NEAR(CrossEntropyLoss()(x, from_vector<int64_t>({1})).item(), cross_entropy(x, from_vector<int64_t>({1})).item(), 0);
}

// --- optimizers: three steps with fixed grads; expected values from PyTorch 1.13 ------------
namespace {
std::vector<double> run_opt(const std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>& make) {
  Tensor p = from_vector<double>({0.5, -1.0, 2.0}).requires_grad_();
  auto opt = make({p});
  std::vector<std::vector<double>> grads{{0.1, -0.2, 0.3}, {-0.4, 0.5, 0.05}, {0.2, 0.2, -0.1}};
  for (auto& g : grads) {
    p.set_grad(from_vector<double>(g));
    opt->step();
  }
  return p.to_vector<double>();
}
void expect_close(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-10) << "element " << i;
}
}  // namespace

TEST(Optim, SGDMomentumDampeningWeightDecayMatchesPyTorch) {
  auto h = optim::sgd_defaults(0.1, 0.9, 0.01);
  h.dampening = 0.1;
  expect_close(run_opt([&](std::vector<Tensor> ps) { return std::make_unique<optim::SGD>(ps, h); }),
               {0.520643906495, -1.04401211299, 1.90862508408});
}

TEST(Optim, SGDNesterovMatchesPyTorch) {
  auto h = optim::sgd_defaults(0.1, 0.9, 0, true);
  expect_close(run_opt([&](std::vector<Tensor> ps) { return std::make_unique<optim::SGD>(ps, h); }),
               {0.53601, -1.10472, 1.90228});
}

TEST(Optim, AdamL2MatchesPyTorch) {
  auto h = optim::adam_defaults(0.01);
  h.weight_decay = 0.1;
  expect_close(run_opt([&](std::vector<Tensor> ps) { return std::make_unique<optim::Adam>(ps, h); }),
               {0.493440077733, -0.994683576948, 1.97248587809});
}

TEST(Optim, FastaiAdamIsAdamWWithFastaiDefaultsAndMatchesPyTorch) {
  auto h = optim::fastai_adam_defaults(0.01);
  EXPECT_EQ(h.momentum, 0.9);
  EXPECT_EQ(h.beta2, 0.99);
  EXPECT_EQ(h.eps, 1e-5);
  EXPECT_EQ(h.weight_decay, 0.01);
  EXPECT_TRUE(h.decoupled_wd);
  expect_close(run_opt([&](std::vector<Tensor> ps) { return std::make_unique<optim::Adam>(ps, h); }),
               {0.496537164571, -0.999546224523, 1.977785796578});
}

TEST(Optim, NoWeightDecayWhereDoWdIsOff) {
  Tensor a = ones({1}).requires_grad_(), b = ones({1}).requires_grad_();
  auto h = optim::sgd_defaults(0.1, 0, 0.5);
  optim::SGD opt({optim::ParamGroup{{a, b}, h, {true, false}}});
  a.set_grad(zeros({1}));
  b.set_grad(zeros({1}));
  opt.step();
  EXPECT_FLOAT_EQ(a.item<float>(), 1 - 0.1f * 0.5f);
  EXPECT_FLOAT_EQ(b.item<float>(), 1);
}

TEST(Optim, StateDictRoundTripContinuesIdentically) {
  auto h = optim::adam_defaults(0.01);
  Tensor p1 = from_vector<double>({1, 2}).requires_grad_();
  optim::Adam o1({p1}, h);
  p1.set_grad(from_vector<double>({0.3, -0.1}));
  o1.step();
  Tensor p2 = p1.detach().clone().requires_grad_();
  optim::Adam o2({p2}, h);
  o2.load_state_dict(o1.state_dict());
  for (auto* p : {&p1, &p2}) p->set_grad(from_vector<double>({-0.2, 0.4}));
  o1.step();
  o2.step();
  EXPECT_EQ(p1.to_vector<double>(), p2.to_vector<double>());
  EXPECT_THROW(o2.load_state_dict({{"state.0.5.buf1", zeros({2})}}), Error);
}

TEST(Schedule, OneCycleEndpointsAndMomentum) {
  optim::OneCycle s({1e-2}, 25, 1e5, 0.25);
  EXPECT_NEAR(s.lr_at(0, 0.0), 1e-2 / 25, 1e-12);
  EXPECT_NEAR(s.lr_at(0, 0.25), 1e-2, 1e-12);
  EXPECT_NEAR(s.lr_at(0, 1.0), 1e-2 / 1e5, 1e-12);
  EXPECT_NEAR(s.lr_at(0, 0.125), (1e-2 / 25 + 1e-2) / 2, 1e-12);  // cosine midpoint
  EXPECT_NEAR(s.mom_at(0.0), 0.95, 1e-12);
  EXPECT_NEAR(s.mom_at(0.25), 0.85, 1e-12);
  EXPECT_NEAR(s.mom_at(1.0), 0.95, 1e-12);
  Tensor p = ones({1}).requires_grad_();
  optim::SGD opt({optim::ParamGroup{{p}, {}, {}}, optim::ParamGroup{{}, {}, {}}});
  optim::OneCycle per_group({1e-3, 1e-2});
  per_group.apply(opt, 0.25);
  EXPECT_NEAR(opt.groups()[0].hyper.lr, 1e-3, 1e-12);
  EXPECT_NEAR(opt.groups()[1].hyper.lr, 1e-2, 1e-12);
}

TEST(Schedule, CosineAndStep) {
  Tensor p = ones({1}).requires_grad_();
  optim::SGD opt({p}, optim::sgd_defaults(1));
  optim::CosineLR c({1.0}, 0.0);
  c.apply(opt, 0.5);
  EXPECT_NEAR(opt.groups()[0].hyper.lr, 0.5, 1e-12);
  optim::StepLR s({1.0}, 0.3, 0.1);
  s.apply(opt, 0.65);
  EXPECT_NEAR(opt.groups()[0].hyper.lr, 0.01, 1e-12);
}

TEST(NnNorm, LayerNormIsTheFunctionalOpWithLearnableAffine) {
  manual_seed(3);
  nn::LayerNorm ln({3, 4});
  EXPECT_EQ(ln.repr(), "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True)");
  EXPECT_EQ(nn::LayerNorm({5}).repr(), "LayerNorm((5,), eps=1e-05, elementwise_affine=True)");
  auto sd = ln.state_dict();
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "weight");
  EXPECT_EQ(sd[1].first, "bias");
  EXPECT_EQ(sd[0].second.shape(), (Shape{3, 4}));
  Tensor x = randn({2, 3, 4});
  Tensor y = ln.forward(x);
  // Each sample: mean 0 and (biased) variance 1 over its 12 values, up to eps.
  Tensor m = y.mean({1, 2});
  Tensor v = ((y - m.reshape({2, 1, 1})) * (y - m.reshape({2, 1, 1}))).mean({1, 2});
  for (double mv : m.to_vector<double>()) EXPECT_NEAR(mv, 0.0, 1e-6);
  for (double vv : v.to_vector<double>()) EXPECT_NEAR(vv, 1.0, 1e-3);
  ln.eval();
  EXPECT_TRUE(ln.forward(x).to_vector<float>() == y.to_vector<float>()) << "eval normalises the same way";
  y.sum().backward();
  EXPECT_TRUE(ln.weight.grad().defined());
  EXPECT_TRUE(ln.bias.grad().defined());
  EXPECT_THROW(ln.forward(randn({2, 4, 3})), Error);
  try {
    ln.forward(randn({2, 4, 3}));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer_norm: normalized_shape [3, 4] is not the trailing shape of input [2, 4, 3]"),
              std::string::npos) << e.what();
  }
}
