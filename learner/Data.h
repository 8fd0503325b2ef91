// learner/Data.h: what a Learner trains on: a source of (x, y) batches per epoch.
//
// BatchSource is the whole interface the Learner needs; datasets/ plugs its
// DataLoader in through a small adapter. TensorBatches serves in-memory tensors:
//
//   auto train = std::make_shared<TensorBatches>(x_train, y_train, TensorBatches::Options{64, true});
//   DataLoaders dls{train, std::make_shared<TensorBatches>(x_valid, y_valid), {"cat", "dog"}};
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/Ops.h"
#include "tensor/Tensor.h"

namespace ember {
namespace learner {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual size_t size() const = 0;              // batches per epoch
  virtual void start_epoch(int epoch) = 0;      // rewinds (and reshuffles) for this epoch
  virtual bool next(Tensor& x, Tensor& y) = 0;  // false when the epoch is done
  virtual int64_t n_items() const = 0;          // items per epoch (after drop_last)
};

// Batches of rows of x [N, ...] and y [N, ...]. Unshuffled batches are views of x and y
// (no copy): a callback that writes into xb in place writes into the data set. With shuffle, the order of epoch e is
// a Fisher-Yates permutation driven by Philox(seed, e): it depends only on (seed, epoch),
// never on ember::manual_seed or on how many random numbers other code drew.
class TensorBatches : public BatchSource {
 public:
  struct Options {
    int64_t batch_size = 64;
    bool shuffle = false;
    bool drop_last = false;
    uint64_t seed = 0;
  };
  TensorBatches(Tensor x, Tensor y, Options opt);
  TensorBatches(Tensor x, Tensor y) : TensorBatches(std::move(x), std::move(y), Options{}) {}

  size_t size() const override;
  void start_epoch(int epoch) override;
  bool next(Tensor& x, Tensor& y) override;
  int64_t n_items() const override;

  const std::vector<int64_t>& order() const { return order_; }  // this epoch's item order
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }

 private:
  Tensor x_, y_;
  Options opt_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
};

// The permutation TensorBatches uses: [0, n) shuffled by Philox(seed, epoch).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t epoch);

struct DataLoaders {
  DataLoaders() = default;
  DataLoaders(std::shared_ptr<BatchSource> t, std::shared_ptr<BatchSource> v, std::vector<std::string> classes = {},
              std::function<Tensor(const Tensor&)> after = nullptr)
      : train(std::move(t)), valid(std::move(v)), vocab(std::move(classes)), after_batch(std::move(after)) {}
  std::shared_ptr<BatchSource> train, valid;
  std::vector<std::string> vocab;  // class names, index -> name (may be empty)
  // fastai's after_batch: applied to every input batch on the Learner's device (training,
  // get_preds, predict), e.g. ImageNet normalisation added by cnn_learner.
  std::function<Tensor(const Tensor&)> after_batch;
};

// Any loader with BatchSource's four methods (size, start_epoch, next, n_items), held by
// shared_ptr, as a BatchSource; learner/ stays independent of datasets/:
//   auto train = std::make_shared<LoaderSource<ImageBatchLoader>>(
//       std::make_shared<ImageBatchLoader>(cache, split.train, ImageLoaderOptions{}));
template <class L>
class LoaderSource : public BatchSource {
 public:
  explicit LoaderSource(std::shared_ptr<L> loader) : loader_(std::move(loader)) {}
  size_t size() const override { return loader_->size(); }
  void start_epoch(int epoch) override { loader_->start_epoch(epoch); }
  bool next(Tensor& x, Tensor& y) override { return loader_->next(x, y); }
  int64_t n_items() const override { return loader_->n_items(); }
  L& loader() const { return *loader_; }

 private:
  std::shared_ptr<L> loader_;
};

}  // namespace learner
}  // namespace ember
