// tests/mnist/test_mnist_golden.cpp: the MNIST L1 example's training replayed against
// PyTorch. The fixture (tests/mnist/make_mnist_golden.py) holds 256 MNIST images,
// PyTorch's initial weights, the batch order and PyTorch's loss at each of 40 SGD steps
// (lr 1, bs 64) plus its final weights. The same steps run here through Learner::fit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "ember/ember.h"

using namespace ember;

namespace {

// Reads the fixture format written by make_mnist_golden.py.
std::map<std::string, Tensor> read_fixture(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), "mnist golden: cannot open ", path);
  char magic[8];
  f.read(magic, 8);
  EMBER_CHECK(f && std::memcmp(magic, "EMBRGLD1", 8) == 0, "mnist golden: ", path, ": bad magic");
  auto u32 = [&] { uint32_t v = 0; f.read(reinterpret_cast<char*>(&v), 4); return v; };
  std::map<std::string, Tensor> out;
  for (uint32_t n = u32(), i = 0; i < n; ++i) {
    std::string name(u32(), '\0');
    f.read(name.data(), static_cast<std::streamsize>(name.size()));
    uint8_t code = 0;
    f.read(reinterpret_cast<char*>(&code), 1);
    Shape shape(u32());
    f.read(reinterpret_cast<char*>(shape.data()), static_cast<std::streamsize>(8 * shape.size()));
    const DType types[] = {DType::f32, DType::i64, DType::u8, DType::f64};
    EMBER_CHECK(code < 4, "mnist golden: ", path, ": bad dtype code ", int(code));
    Tensor t = empty(shape, types[code]);
    f.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.numel() * dtype_size(t.dtype())));
    EMBER_CHECK(f.good(), "mnist golden: ", path, ": truncated at '", name, "'");
    out[name] = t;
  }
  return out;
}

// The fixture's items in its order: position i of epoch e is item order[e][i]. An epoch-aware
// dataset, read in order by the DataLoader in batches of 64.
class FixedOrder : public Dataset {
 public:
  FixedOrder(Tensor x, Tensor y, Tensor order) : x_(x), y_(y), order_(order) {}
  int64_t size() const override { return 256; }
  Example get(int64_t i) const override {
    Example e = get_epoch_batch({i}, 0);
    return {e.x.squeeze(0), e.y.squeeze(0)};
  }
  Example get_epoch_batch(const std::vector<int64_t>& positions, int64_t epoch) const override {
    std::vector<int64_t> items = order_.select(0, epoch).to_vector<int64_t>();
    std::vector<int64_t> ids;
    for (int64_t p : positions) ids.push_back(items[static_cast<size_t>(p)]);
    Tensor idx = from_vector(ids);
    return {index_select(x_, 0, idx), index_select(y_, 0, idx)};
  }

 private:
  Tensor x_, y_, order_;
};

// loss = |pred - onehot| summed over classes, averaged over the batch (examples/mnist_l1.cpp)
class MnistL1 : public nn::Loss {
 public:
  MnistL1() : Loss("mnist_loss") {}
  Tensor forward(const Tensor& p, const Tensor& t) override { return (p - t).abs().sum({1}).mean(); }
};

// Records the loss of every training step.
struct StepLosses : learner::Callback {
  std::vector<double> losses;
  void after_loss() override {
    if (learn().training) losses.push_back(learn().loss.item());
  }
};

}  // namespace

TEST(MnistGolden, FortyStepsMatchPyTorch) {
  auto fx = read_fixture(std::string(EMBER_SOURCE_DIR) + "/tests/mnist/fixtures/mnist_l1_golden.bin");
  Tensor x = fx["images"].reshape({256, 784}).to(DType::f32) / 255.0;
  Tensor y = one_hot(fx["labels"], 10);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(784, 100), std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Linear>(100, 10),
      std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Softmax>(1)});
  nn::StateDict init;
  for (auto& [k, t] : model->state_dict()) init.emplace_back(k, fx.at("init." + k));
  model->load_state_dict(init);

  DataLoaderOptions in_order;
  in_order.batch_size = 64;
  in_order.prefetch = 0;  // the batches use tensor ops: built in the Learner's thread
  auto train = std::make_shared<DataLoader>(std::make_shared<FixedOrder>(x, y, fx["order"]), in_order);
  learner::DataLoaders dls{train, train, {}};
  learner::Learner learn(dls, model, std::make_shared<MnistL1>(), learner::sgd(), {});
  auto steps = std::make_shared<StepLosses>();
  learn.fit(10, 1.0, {steps});

  std::vector<double> want = fx["losses"].to_vector<double>();
  ASSERT_EQ(steps->losses.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(steps->losses[i], want[i], 1e-5 * std::fabs(want[i])) << "step " << i;
  for (auto& [k, t] : model->state_dict()) {
    std::vector<float> got = t.to_vector<float>(), ref = fx.at("final." + k).to_vector<float>();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - ref[i]));
    EXPECT_LE(worst, 1e-5) << k << ": largest weight difference " << worst;
  }
}
