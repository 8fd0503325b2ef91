// datasets/DataLoader.h: batches from a Dataset, shuffled per epoch, prepared ahead in a
// background thread. It is what a learner::Learner trains on (learner/Data.h), as in PyTorch
// and fastai: in-memory tensors, MNIST and the augmented Pets images all go through it.
//
//   DataLoaderOptions opt;
//   opt.batch_size = 64; opt.shuffle = true; opt.drop_last = true; opt.seed = 42;
//   auto train = std::make_shared<DataLoader>(mnist.images, mnist.labels, opt);
//   for (int epoch = 0; epoch < 3; ++epoch)
//     for (Batch& b : *train) { ... b.x f32 [64, 28, 28] in [0, 1], b.y i64 [64] ... }
//
// Epochs: each begin() (or each next() after the last batch) starts the next epoch;
// start_epoch(e) starts epoch e (the Learner calls it, so a resumed Learner sees epoch e's
// order), start_epoch(e, k) at its batch k. Epoch e visits the items in epoch_order(n, seed, e, shuffle) (EpochOrder.h), and
// batch k of epoch e is dataset.get_epoch_batch(order[k*B .. k*B+B), e): the same seed
// always gives the same batches, and an epoch-aware dataset (AugmentedImages) knows which
// epoch a batch belongs to even when it is built ahead.
//
// Threads: the prefetch thread fills a queue of at most `prefetch` batches; destroying the
// loader (or starting a new epoch) mid-epoch stops and joins it. A dataset error inside the
// thread is rethrown by next() / operator++. A dataset may build a batch with threads of its
// own (AugmentedImages does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "ember/datasets/Dataset.h"
#include "ember/datasets/EpochOrder.h"

namespace ember {

// The first four fields follow PyTorch's DataLoader, so DataLoaderOptions{64, true, true, seed}
// reads batch_size, shuffle, drop_last, seed.
struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  bool drop_last = false;  // drop the last, smaller batch (usual for training)
  uint64_t seed = 0;
  bool to_float = true;         // u8 x -> f32 in [0, 1] (x / 255); other dtypes are left alone
  bool channels_first = false;  // x [B, H, W] -> [B, 1, H, W]; [B, H, W, C] -> [B, C, H, W]
  bool flatten = false;         // x [B, ...] -> [B, D], e.g. [B, 784] for an MLP on MNIST
  int prefetch = 2;             // batches built ahead by a background thread; 0: built in next()
  std::string name{};           // named in error messages ("train", "valid"); may be empty
};

struct Batch {
  Tensor x;
  Tensor y;
};

class DataLoader {
 public:
  // Checks the options against the dataset before any work: batch_size >= 1, prefetch >= 0,
  // and with drop_last at least one full batch.
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions opt = {});
  // Shorthand for a TensorDataset over x [N, ...], y [N, ...].
  DataLoader(Tensor x, Tensor y, DataLoaderOptions opt = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t size() const;     // batches per epoch
  int64_t n_items() const;  // items per epoch (after drop_last)
  const Dataset& dataset() const { return *dataset_; }
  std::shared_ptr<const Dataset> dataset_ptr() const { return dataset_; }
  const DataLoaderOptions& options() const { return opt_; }
  int64_t epoch() const { return epoch_; }  // the running (or last) epoch; -1 before the first
  // The next epoch started will be `e` (resume training at epoch e with the same order).
  void set_epoch(int64_t e);
  // Abandons the current epoch (if any) and starts epoch e at batch first_batch (in [0, size()]):
  // the batches before it are not built, and batch k is the same as in a whole epoch e (a resumed
  // Learner starts mid-epoch this way).
  void start_epoch(int64_t e, int64_t first_batch = 0);
  // Item order of epoch e: epoch_order(size of the dataset, seed, e, shuffle).
  std::vector<int64_t> epoch_order(int64_t e) const;
  // Batch b of epoch e, built now in the calling thread: the same tensors next() gives for it.
  Batch batch(int64_t e, int64_t b) const;

  // Abandons the current epoch (if any) and starts the next one.
  void reset();
  // The next batch of the current epoch (starting one if none runs); false at the end.
  bool next(Batch& out);

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;
    Iterator() = default;
    explicit Iterator(DataLoader* dl) : dl_(dl) { advance(); }
    Batch& operator*() { return batch_; }
    Batch* operator->() { return &batch_; }
    Iterator& operator++() {
      advance();
      return *this;
    }
    bool operator==(const Iterator& o) const { return dl_ == o.dl_; }
    bool operator!=(const Iterator& o) const { return dl_ != o.dl_; }

   private:
    void advance() {
      if (dl_ && !dl_->next(batch_)) dl_ = nullptr;
    }
    DataLoader* dl_ = nullptr;
    Batch batch_;
  };
  Iterator begin() {  // starts a new epoch
    reset();
    return Iterator(this);
  }
  Iterator end() { return Iterator(); }

 private:
  struct Prefetcher;  // the thread and its bounded queue (DataLoader.cpp)
  void open_epoch(int64_t first_batch);  // starts epoch next_epoch_ at batch first_batch
  // Batch b of `order` in epoch e.
  Batch make_batch(const std::vector<int64_t>& order, int64_t e, int64_t b) const;
  std::string who() const;  // "DataLoader" or "DataLoader 'name'", for errors

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions opt_;
  int64_t epoch_ = -1;
  int64_t next_epoch_ = 0;
  bool active_ = false;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;  // next batch to hand out when there is no prefetch thread
  std::unique_ptr<Prefetcher> prefetcher_;
};

}  // namespace ember
