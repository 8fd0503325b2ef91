// tests/learner/test_vision.cpp: cnn_learner (fastai's model, groups, freezing, BN/bias
// weight-decay rules, normalisation) and fine_tune's schedule against fastai's formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "ember/ember.h"

using namespace ember;
using namespace ember::learner;

namespace {

// fastai's SchedCos and combined_cos (fastai/callback/schedule.py), written out again here so
// the test does not reuse optim::OneCycle's code.
double sched_cos(double start, double end, double pos) { return start + (1 + std::cos(M_PI * (1 - pos))) * (end - start) / 2; }
double one_cycle(double pct, double lo, double mid, double hi, double pct_start) {
  return pct < pct_start ? sched_cos(lo, mid, pct / pct_start) : sched_cos(mid, hi, (pct - pct_start) / (1 - pct_start));
}

// Records every group's lr and the momentum at each training batch.
struct HyperLog : Callback {
  HyperLog() : Callback("HyperLog", 100) {}
  void before_batch() override {
    if (learn().training) pct.push_back(learn().pct_train);  // the schedule's position for this batch
  }
  void after_batch() override {
    if (!learn().training) return;
    std::vector<double> lrs;
    for (auto& g : learn().opt->groups()) lrs.push_back(g.hyper.lr);
    lr.push_back(lrs);
    mom.push_back(learn().opt->groups()[0].hyper.momentum);
  }
  std::vector<std::vector<double>> lr;
  std::vector<double> mom, pct;
};

DataLoaders tiny_images(int64_t n = 16, int64_t size = 32, int64_t classes = 3) {
  manual_seed(5);
  Tensor x = rand({n, 3, size, size});
  Tensor y = randint(0, classes, {n});
  auto train = std::make_shared<DataLoader>(x, y, DataLoaderOptions{8, true, true, 1});
  auto valid = std::make_shared<DataLoader>(x.narrow(0, 0, 8), y.narrow(0, 0, 8), DataLoaderOptions{8});
  return DataLoaders{train, valid, {"a", "b", "c"}};
}

bool same(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>() == 0.0; }

}  // namespace

TEST(CreateHead, IsFastaisHeadForResNet18) {
  auto head = create_head(512, 37);
  const std::string r = head->repr();
  for (const char* want : {"(0): AdaptiveConcatPool2d", "(1): Flatten", "(2): BatchNorm1d(1024", "(3): Dropout(p=0.25",
                           "(4): Linear(in_features=1024, out_features=512, bias=False)", "(5): ReLU()",
                           "(6): BatchNorm1d(512", "(7): Dropout(p=0.5", "(8): Linear(in_features=512, out_features=37, bias=False)"})
    EXPECT_NE(r.find(want), std::string::npos) << want << "\n" << r;
  auto bn = std::dynamic_pointer_cast<nn::BatchNorm1d>((*head)[2]);
  ASSERT_TRUE(bn);
  EXPECT_NEAR(bn->bias.max().item<double>(), 1e-3, 1e-10);
  EXPECT_DOUBLE_EQ(bn->weight.min().item<double>(), 1.0);
  // kaiming_normal_ (fan_in, gain sqrt(2)): std sqrt(2 / 1024) over 512k weights.
  auto lin = std::dynamic_pointer_cast<nn::Linear>((*head)[4]);
  const double sd = (lin->weight * lin->weight).mean().sqrt().item<double>();
  EXPECT_NEAR(sd, std::sqrt(2.0 / 1024), 0.02 * std::sqrt(2.0 / 1024));
  Tensor out = head->forward(rand({4, 512, 2, 2}));
  EXPECT_EQ(out.shape(), (Shape{4, 37}));
}

TEST(CnnLearner, ModelKeysGroupsAndFreezing) {
  auto learn = cnn_learner(tiny_images(), nn::resnet18, 3);
  auto sd = learn->model->state_dict();
  EXPECT_EQ(sd.front().first, "0.0.weight");  // conv1 as fastai's body[0]
  std::set<std::string> keys;
  for (auto& kv : sd) keys.insert(kv.first);
  EXPECT_TRUE(keys.count("0.4.0.conv1.weight"));     // layer1.0.conv1
  EXPECT_TRUE(keys.count("0.7.1.bn2.running_var"));  // layer4.1.bn2
  EXPECT_TRUE(keys.count("1.8.weight"));             // the head's last Linear
  ASSERT_EQ(learn->opt->groups().size(), 3u);
  // Frozen: the head trains; in the body only BatchNorm parameters do.
  auto& groups = learn->opt->groups();
  int body_trainable = 0, body_total = 0;
  for (size_t g = 0; g < 2; ++g)
    for (auto& p : groups[g].params) {
      ++body_total;
      body_trainable += p.requires_grad();
    }
  EXPECT_EQ(body_total, 60);       // resnet18 without fc: 20 convs + 20 BatchNorms x 2
  EXPECT_EQ(body_trainable, 40);   // the 20 BatchNorm2d layers' weight and bias
  for (auto& p : groups[2].params) EXPECT_TRUE(p.requires_grad());
  learn->unfreeze();
  for (auto& g : groups)
    for (auto& p : g.params) EXPECT_TRUE(p.requires_grad());
  // No weight decay on BatchNorm parameters and biases (fastai's wd_bn_bias=False).
  int no_wd = 0;
  for (auto& g : groups)
    for (bool w : g.do_wd) no_wd += !w;
  EXPECT_EQ(no_wd, 40 + 4);  // body BN + head's two BatchNorm1d (the head Linears have no bias)
}

TEST(CnnLearner, FrozenEpochTrainsBatchNormNotConvs) {
  auto learn = cnn_learner(tiny_images(), nn::resnet18, 3);
  auto body = std::dynamic_pointer_cast<nn::Sequential>(learn->model->named_children()[0].second);
  auto conv1 = std::dynamic_pointer_cast<nn::Conv2d>((*body)[0]);
  auto bn1 = std::dynamic_pointer_cast<nn::BatchNorm2d>((*body)[1]);
  Tensor w0 = conv1->weight.clone(), g0 = bn1->weight.clone();
  learn->fit_one_cycle(1, 1e-2);
  EXPECT_TRUE(same(conv1->weight, w0)) << "a frozen conv weight changed";
  EXPECT_FALSE(same(bn1->weight, g0)) << "BatchNorm in a frozen group did not train (train_bn)";
}

TEST(CnnLearner, PretrainedAddsImagenetNormalisation) {
  auto net = nn::resnet18();
  const std::string path = ::testing::TempDir() + "/ember_r18.safetensors";
  nn::save_weights(*net, path);
  auto learn = cnn_learner(tiny_images(), nn::resnet18, 3, [&] {
    CnnOptions o;
    o.weights = path;
    return o;
  }());
  ASSERT_TRUE(static_cast<bool>(learn->dls.after_batch));
  Tensor x = full({1, 3, 2, 2}, 0.485);
  Tensor n = learn->dls.after_batch(x);
  EXPECT_NEAR(n.select(1, 0).abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(n.select(1, 1).max().item<double>(), (0.485 - 0.456) / 0.224, 1e-5);
  // The body holds the file's weights.
  auto body = std::dynamic_pointer_cast<nn::Sequential>(learn->model->named_children()[0].second);
  EXPECT_TRUE(same(std::dynamic_pointer_cast<nn::Conv2d>((*body)[0])->weight, net->conv1->weight));
  std::remove(path.c_str());
  EXPECT_FALSE(static_cast<bool>(cnn_learner(tiny_images(), nn::resnet18, 3)->dls.after_batch));
}

// fine_tune(3) step by step: 1 frozen epoch (pct_start 0.99, div 25, lr slice(2e-3)), then 3
// unfrozen epochs (pct_start 0.3, div 5, lrs even_mults(1e-5, 1e-3, 3)), moms 0.95-0.85-0.95.
TEST(FineTune, ScheduleMatchesFastaiFormulas) {
  auto learn = cnn_learner(tiny_images(16, 32), nn::resnet18, 3);
  auto log = std::make_shared<HyperLog>();
  learn->add_cb(log);
  learn->fine_tune(3);
  const size_t per_epoch = 2;  // 16 items, bs 8, drop_last
  ASSERT_EQ(log->lr.size(), per_epoch * 4);
  const std::vector<double> peak1 = {2e-4, 2e-4, 2e-3}, peak2 = {1e-5, 1e-4, 1e-3};
  for (size_t i = 0; i < log->lr.size(); ++i) {
    const bool frozen = i < per_epoch;
    const double pct = frozen ? static_cast<double>(i) / per_epoch : static_cast<double>(i - per_epoch) / (3 * per_epoch);
    EXPECT_NEAR(log->pct[i], pct, 1e-12) << "batch " << i;
    for (size_t g = 0; g < 3; ++g) {
      const double lr_max = frozen ? peak1[g] : peak2[g];
      const double want = frozen ? one_cycle(pct, lr_max / 25, lr_max, lr_max / 1e5, 0.99)
                                 : one_cycle(pct, lr_max / 5, lr_max, lr_max / 1e5, 0.3);
      EXPECT_NEAR(log->lr[i][g], want, 1e-12 * lr_max + 1e-18) << "batch " << i << " group " << g;
    }
    const double mom = one_cycle(pct, 0.95, 0.85, 0.95, frozen ? 0.99 : 0.3);
    EXPECT_NEAR(log->mom[i], mom, 1e-12) << "batch " << i;
  }
  // As in fastai, the Recorder holds the last fit only: the 3 unfrozen epochs.
  EXPECT_EQ(learn->recorder->values.size(), 3u);
}
