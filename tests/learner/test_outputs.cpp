// tests/learner/test_outputs.cpp: models with several outputs (nn::Module::forward_outputs): the
// Learner hands all of them to the loss, output k to a metric, and get_outputs returns each one.
#include <gtest/gtest.h>

#include <cstring>

#include "learner_test_util.h"

namespace ember {
namespace learner {
namespace {

using test::blobs;

// A shared layer and two heads: the class (3 logits) and "is it class 0?" (2 logits).
struct TwoHeads : nn::Module {
  std::shared_ptr<nn::Linear> body, head_a, head_b;
  bool packed;  // the old way: one [B, 5] output that the loss and the metrics cut again
  explicit TwoHeads(bool pack) : nn::Module("TwoHeads"), packed(pack) {
    body = register_module("body", std::make_shared<nn::Linear>(2, 16));
    head_a = register_module("head_a", std::make_shared<nn::Linear>(16, 3));
    head_b = register_module("head_b", std::make_shared<nn::Linear>(16, 2));
  }
  TensorList forward_outputs(const Tensor& x) override {
    Tensor f = (*body)(x).relu();
    TensorList out{(*head_a)(f), (*head_b)(f)};
    if (packed) return {cat(out, 1)};
    return out;
  }
};

Tensor is_zero(const Tensor& y) { return eq(y, zeros_like(y)).to(DType::i64); }

// CE(class) + CE(is class 0), from two outputs or from one packed [B, 5] output.
struct TwoHeadLoss : nn::Loss {
  TwoHeadLoss() : nn::Loss("TwoHeadLoss") {}
  Tensor forward_outputs(const TensorList& o, const Tensor& y) override {
    if (o.size() == 1) return cross_entropy(o[0].narrow(1, 0, 3), y) + cross_entropy(o[0].narrow(1, 3, 2), is_zero(y));
    return cross_entropy(o[0], y) + cross_entropy(o[1], is_zero(y));
  }
};

std::unique_ptr<Learner> two_head_learner(bool packed) {
  manual_seed(5);
  auto [xt, yt] = blobs(240);
  auto [xv, yv] = blobs(90);
  DataLoaders dls{std::make_shared<DataLoader>(xt, yt, DataLoaderOptions{32, true, false, 1}),
                  std::make_shared<DataLoader>(xv, yv, DataLoaderOptions{32}), {}};
  manual_seed(8);
  std::vector<Metric> ms;
  if (packed) {
    ms = {{"accuracy_class", [](const Tensor& p, const Tensor& y) { return accuracy(p.narrow(1, 0, 3), y); }},
          {"accuracy_zero",
           [](const Tensor& p, const Tensor& y) { return accuracy(p.narrow(1, 3, 2), is_zero(y)); }, true}};
  } else {
    ms = {{"accuracy_class", accuracy},
          {"accuracy_zero", [](const Tensor& p, const Tensor& y) { return accuracy(p, is_zero(y)); }, true, 1}};
  }
  auto l = std::make_unique<Learner>(dls, std::make_shared<TwoHeads>(packed), std::make_shared<TwoHeadLoss>(),
                                     fastai_adam(), ms);
  l->recorder->logging = false;
  return l;
}

TEST(Outputs, TwoHeadsTrainAsThePackedOutputDid) {
  auto two = two_head_learner(false), packed = two_head_learner(true);
  two->fit_one_cycle(3, 1e-2);
  packed->fit_one_cycle(3, 1e-2);
  // The same numbers, with no packing: the two outputs are what the packed one held.
  EXPECT_EQ(two->recorder->values, packed->recorder->values);
  EXPECT_EQ(two->recorder->losses, packed->recorder->losses);
  const std::vector<double>& last = two->recorder->values.back();  // train, valid, acc_class, acc_zero
  EXPECT_GT(last[2], 0.9);
  EXPECT_GT(last[3], 0.9);

  auto [outs, targets] = two->get_outputs();
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].shape(), (Shape{90, 3}));
  EXPECT_EQ(outs[1].shape(), (Shape{90, 2}));
  EXPECT_EQ(targets.shape(), (Shape{90}));
  const std::vector<double> v = two->validate();  // valid_loss, accuracy_class, accuracy_zero
  ASSERT_EQ(v.size(), 3u);
  EXPECT_DOUBLE_EQ(accuracy(outs[0], targets), v[1]);
  EXPECT_DOUBLE_EQ(accuracy(outs[1], is_zero(targets)), v[2]);
}

TEST(Outputs, OneOutputCallsSayWhatToUse) {
  auto l = two_head_learner(false);
  auto msg = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto has = [](const std::string& m, const char* part) { return m.find(part) != std::string::npos; };
  std::string m = msg([&] { l->get_preds(); });
  EXPECT_TRUE(has(m, "get_preds: the model has 2 outputs; get_outputs gives them all")) << m;
  m = msg([&] { l->predict(from_vector<float>({0, 1})); });
  EXPECT_TRUE(has(m, "predict: the model has 2 outputs")) << m;
  m = msg([&] { l->model->forward(from_vector<float>({0, 1}).reshape({1, 2})); });
  EXPECT_TRUE(has(m, "TwoHeads: forward(x) is not defined; a model with several outputs defines forward_outputs"))
      << m;
  // A one-output loss on a two-output model, and a metric past the last output.
  l->loss_func = std::make_shared<nn::CrossEntropyLoss>();
  m = msg([&] { l->fit(1); });
  EXPECT_TRUE(has(m, "CrossEntropyLoss: the model gave 2 outputs, but this loss takes one")) << m;
  l->loss_func = std::make_shared<TwoHeadLoss>();
  l->metrics = {{"accuracy_third", accuracy, false, 2}};
  m = msg([&] { l->fit(1); });
  EXPECT_TRUE(has(m, "metric 'accuracy_third' reads output 2 but the model gave 2 outputs")) << m;
  m = msg([&] { TwoHeadLoss().forward(Tensor(), Tensor()); });
  EXPECT_TRUE(has(m, "TwoHeadLoss: forward(input, target) is not defined")) << m;
}

}  // namespace
}  // namespace learner
}  // namespace ember
