// datasets/DataLoader.h: batches from a Dataset, shuffled per epoch, prepared ahead in a
// background thread.
//
//   DataLoaderOptions opt;
//   opt.batch_size = 64; opt.shuffle = true; opt.drop_last = true;
//   DataLoader train(mnist.images, mnist.labels, opt);
//   for (int epoch = 0; epoch < 3; ++epoch)
//     for (Batch& b : train) { ... b.x f32 [64, 28, 28] in [0, 1], b.y i64 [64] ... }
//
// Each begin() (or each next() after the last batch) starts a new epoch. Epoch e visits the
// items in the order permutation(n, seed, e * n) (ImageFolder.h) when shuffling, 0..n-1 when
// not: the same seed always gives the same batches. The prefetch thread fills a queue of at
// most `prefetch` batches; destroying the loader (or starting a new epoch) mid-epoch stops
// and joins it. A dataset error inside the thread is rethrown by next() / operator++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "datasets/Dataset.h"

namespace ember {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  bool drop_last = false;  // drop the last, smaller batch (usual for training)
  uint64_t seed = 0;
  bool to_float = true;         // u8 x -> f32 in [0, 1] (x / 255); other dtypes are left alone
  bool channels_first = false;  // x [B, H, W] -> [B, 1, H, W]; [B, H, W, C] -> [B, C, H, W]
  bool flatten = false;         // x [B, ...] -> [B, D], e.g. [B, 784] for an MLP on MNIST
  int prefetch = 2;             // batches built ahead by a background thread; 0: built in next()
};

struct Batch {
  Tensor x;
  Tensor y;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions opt = {});
  // Shorthand for a TensorDataset over x [N, ...], y [N, ...].
  DataLoader(Tensor x, Tensor y, DataLoaderOptions opt = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t size() const;  // batches per epoch
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return opt_; }
  int64_t epoch() const { return epoch_; }  // the running (or last) epoch; -1 before the first
  // The next epoch started will be `e` (resume training at epoch e with the same order).
  void set_epoch(int64_t e);
  // Item order of epoch e.
  std::vector<int64_t> epoch_order(int64_t e) const;

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
  Batch make_batch(const std::vector<int64_t>& order, int64_t b) const;  // batch b of an order

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
