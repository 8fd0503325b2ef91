// tests/nn/test_resnet.cpp: ResNet-18 against torchvision 0.14, and cnn_learner's model.
//
// tests/nn/make_resnet_fixture.py wrote tests/nn/fixtures/resnet18_parity.json from
// torchvision with weights filled by an integer formula that formula_fill() repeats here, so
// both frameworks hold bit-identical weights without a 46 MB file in the repository.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "ember/ember.h"

using namespace ember;
using json = nlohmann::json;

namespace {

json load_fixture() {
  std::ifstream f(std::string(EMBER_SOURCE_DIR) + "/tests/nn/fixtures/resnet18_parity.json");
  EXPECT_TRUE(f.good()) << "missing fixture: run /usr/bin/python3 tests/nn/make_resnet_fixture.py";
  return json::parse(f);
}

// mix32() of make_resnet_fixture.py: a 32-bit multiply-xorshift hash of the element index.
uint64_t mix32(uint64_t i, uint64_t salt) {
  uint32_t z = static_cast<uint32_t>(i + salt * 0x9E3779B9ull);
  z = (z ^ (z >> 16)) * 0x45D9F3Bu;
  z = (z ^ (z >> 16)) * 0x45D9F3Bu;
  return z ^ (z >> 16);
}

// The same values as formula_values() in make_resnet_fixture.py (t: index of the key in sorted order).
Tensor formula_values(int64_t t, const Shape& shape, const std::string& key) {
  const int64_t n = numel_of(shape);
  std::vector<float> v(static_cast<size_t>(n));
  auto ends = [&](const char* s) { return key.size() >= std::strlen(s) && key.compare(key.size() - std::strlen(s), std::string::npos, s) == 0; };
  int64_t fan_in = 1;
  for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  for (int64_t i = 0; i < n; ++i) {
    const double u = static_cast<double>(static_cast<int64_t>(mix32(static_cast<uint64_t>(i), static_cast<uint64_t>(t + 1)) % 2003) - 1001) / 1001.0;
    double x;
    if (ends("running_var")) x = 1.0 + 0.5 * std::fabs(u);
    else if (ends("running_mean")) x = 0.1 * u;
    else if (shape.size() == 1 && ends("weight")) x = 1.0 + 0.1 * u;
    else if (shape.size() == 1) x = 0.1 * u;
    else x = u * std::sqrt(3.0 / static_cast<double>(fan_in));
    v[static_cast<size_t>(i)] = static_cast<float>(x);
  }
  return from_vector(v, shape);
}

void formula_fill(nn::Module& m) {
  nn::StateDict sd = m.state_dict();
  std::map<std::string, Tensor> sorted(sd.begin(), sd.end());
  nn::StateDict filled;
  int64_t t = 0;
  for (auto& [k, v] : sorted) {
    filled.emplace_back(k, v.dtype() == DType::f32 ? formula_values(t, v.shape(), k) : zeros_like(v));
    ++t;
  }
  m.load_state_dict(filled);
}

Tensor input_batch() {
  std::vector<float> v(2 * 3 * 56 * 56);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<double>(mix32(i, 1000) % 255) / 255.0);
  return from_vector(v, {2, 3, 56, 56});
}

// |got - want| <= rtol * max(|want|, scale) element-wise, where scale is the largest |want|.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::fabs(got[i] - want[i]) > rtol * scale && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: " << got[i] << " vs torchvision " << want[i] << " (scale " << scale << ")";
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements differ by more than " << rtol << " x " << scale;
}

}  // namespace

TEST(ResNet, StateDictKeysAndShapesMatchTorchvision) {
  json fx = load_fixture();
  auto net = nn::resnet18();
  std::map<std::string, Shape> ours;
  for (auto& [k, v] : net->state_dict()) ours[k] = v.shape();
  ASSERT_EQ(ours.size(), fx["keys"].size());
  for (auto& kv : fx["keys"]) {
    const std::string key = kv[0];
    ASSERT_TRUE(ours.count(key)) << "torchvision key missing in Ember: " << key;
    EXPECT_EQ(ours[key], kv[1].get<Shape>()) << key;
  }
  EXPECT_EQ(nn::resnet34()->state_dict().size(), 218u);  // torchvision resnet34: 218 entries
}

TEST(ResNet, EvalLogitsMatchTorchvision) {
  json fx = load_fixture();
  auto net = nn::resnet18();
  formula_fill(*net);
  net->eval();
  NoGradGuard ng;
  Tensor logits = net->forward(input_batch());
  ASSERT_EQ(logits.shape(), (Shape{2, 1000}));
  expect_close(logits.to_vector<double>(), fx["eval_logits"].get<std::vector<double>>(), 1e-4, "eval logits");
}

TEST(ResNet, TrainStepMatchesTorchvision) {
  json fx = load_fixture();
  auto net = nn::resnet18();
  formula_fill(*net);
  net->train();
  Tensor logits = net->forward(input_batch());
  expect_close(logits.to_vector<double>(), fx["train_logits"].get<std::vector<double>>(), 1e-4, "train logits");
  Tensor loss = cross_entropy(logits, from_vector<int64_t>(fx["target"].get<std::vector<int64_t>>()));
  EXPECT_NEAR(loss.item<double>(), fx["train_loss"].get<double>(), 1e-4 * fx["train_loss"].get<double>());
  expect_close(net->bn1->running_mean.to_vector<double>(), fx["bn1_running_mean"].get<std::vector<double>>(), 1e-4, "bn1.running_mean");
  expect_close(net->bn1->running_var.to_vector<double>(), fx["bn1_running_var"].get<std::vector<double>>(), 1e-4, "bn1.running_var");
  EXPECT_EQ(net->bn1->num_batches_tracked.item<int64_t>(), 1);
  loss.backward();
  std::map<std::string, Tensor> params;
  for (auto& [k, p] : net->named_parameters()) params[k] = p;
  for (auto& [name, g] : fx["grads"].items()) {
    ASSERT_TRUE(params.count(name)) << name;
    Tensor grad = params[name].grad().to(DType::f64);
    const double abs_sum = g["abs_sum"].get<double>();
    EXPECT_NEAR(grad.abs().sum().item<double>(), abs_sum, 1e-3 * abs_sum) << name << " sum |grad|";
    EXPECT_NEAR(grad.sum().item<double>(), g["sum"].get<double>(), 1e-3 * abs_sum) << name << " sum grad";
    std::vector<double> first = grad.flatten().narrow(0, 0, 8).to_vector<double>();
    const std::vector<double> want = g["first"].get<std::vector<double>>();
    double scale = abs_sum / static_cast<double>(grad.numel());
    for (size_t i = 0; i < 8; ++i)
      EXPECT_NEAR(first[i], want[i], 1e-3 * std::max(std::fabs(want[i]), scale)) << name << " grad[" << i << "]";
  }
}

TEST(ResNet, ReprNamesTorchvisionModules) {
  auto net = nn::resnet18(10);
  const std::string r = net->repr();
  EXPECT_NE(r.find("(conv1): Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)"), std::string::npos) << r;
  EXPECT_NE(r.find("(maxpool): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"), std::string::npos) << r;
  EXPECT_NE(r.find("(bn1): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"), std::string::npos) << r;
  EXPECT_NE(r.find("(fc): Linear(in_features=512, out_features=10, bias=True)"), std::string::npos) << r;
}

TEST(ResNet, WrongInputShapeNamesTheLayer) {
  auto net = nn::resnet18(10);
  try {
    net->forward(zeros({2, 1, 56, 56}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Conv2d(3, 64): input [2, 1, 56, 56] must be [N, 3, H, W]"), std::string::npos) << e.what();
  }
}

// The formula weights written by torch.save (zip and legacy .pth) and converted to safetensors by
// ember-convert, loaded through nn::load_weights: the eval logits still match torchvision's.
// tests/nn/resnet_pth.sh makes the files (it needs Debian's python3-torch + torchvision) and
// runs this test with EMBER_RESNET_PTH_DIR set; without it the test is skipped.
TEST(ResNetFiles, TorchSavedWeightsLoadAndMatch) {
  const char* dir = std::getenv("EMBER_RESNET_PTH_DIR");
  if (!dir) GTEST_SKIP() << "EMBER_RESNET_PTH_DIR not set (tests/nn/resnet_pth.sh sets it after writing the files)";
  json fx = load_fixture();
  for (const char* name : {"resnet18_formula_zip.pth", "resnet18_formula_legacy.pth", "resnet18_formula.safetensors"}) {
    auto net = nn::resnet18();
    nn::load_weights(*net, std::string(dir) + "/" + name);
    net->eval();
    NoGradGuard ng;
    Tensor logits = net->forward(input_batch());
    expect_close(logits.to_vector<double>(), fx["eval_logits"].get<std::vector<double>>(), 1e-4, name);
  }
}
