// datasets/Dataset.h: the Dataset interface and the datasets Ember ships.
//
//   Dataset           size() items; get(i) -> {x, y}; get_batch(indices) -> {x [B, ...], y [B, ...]};
//                     get_epoch_batch(indices, epoch) for datasets whose items change per epoch
//   TensorDataset     rows of two cpu tensors (MNIST: x u8 [N, 28, 28], y i64 [N])
//   Subset            a list of indices into another dataset (train/valid splits)
//   ImageFileDataset  image files decoded on demand (u8 [H, W, C]) with i64 labels
//
// A DataLoader calls get_epoch_batch from its prefetch thread, so get / get_batch /
// get_epoch_batch must be safe to call from another thread while the dataset is not being
// changed (the ones here are: const and stateless). AugmentedImages (Augment.h) is an
// epoch-aware dataset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/datasets/ImageFolder.h"
#include "ember/tensor/Tensor.h"

namespace ember {

struct Example {
  Tensor x;
  Tensor y;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t i) const = 0;
  // Stacks get(i) for each index into x [B, ...], y [B, ...]; every item must have the same
  // shape and dtype (the error names the first item that differs). Override for a faster path.
  virtual Example get_batch(const std::vector<int64_t>& indices) const;
  // The batch of `indices` as seen in `epoch`: what the DataLoader calls. A dataset whose items
  // depend on the epoch (random augmentation) overrides this and must return the same batch
  // for the same (indices, epoch), however often and from whichever thread it is called.
  // Default: get_batch(indices).
  virtual Example get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const {
    return get_batch(indices);
  }
};

// Stacks examples as Dataset::get_batch does; `who` prefixes errors.
Example stack_examples(const std::vector<Example>& items, const char* who = "stack_examples");

class TensorDataset : public Dataset {
 public:
  // x [N, ...], y [N, ...] with the same N; both are kept as contiguous cpu tensors.
  TensorDataset(Tensor x, Tensor y);
  int64_t size() const override;
  Example get(int64_t i) const override;  // views of row i
  Example get_batch(const std::vector<int64_t>& indices) const override;  // row copies
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }

 private:
  Tensor x_, y_;
};

class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Example get(int64_t i) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;
  Example get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const override;
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::vector<int64_t> map(const std::vector<int64_t>& indices) const;  // -> indices into base
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

class ImageFileDataset : public Dataset {
 public:
  // channels: 0 keeps each file's own, 1/3/4 converts (use 3 for mixed grey/RGB folders).
  explicit ImageFileDataset(LabelledFiles files, int channels = 3);
  int64_t size() const override { return files_.size(); }
  Example get(int64_t i) const override;  // x u8 [H, W, C], y i64 scalar
  const LabelledFiles& files() const { return files_; }
  const std::vector<std::string>& classes() const { return files_.classes; }

 private:
  LabelledFiles files_;
  int channels_;
};

}  // namespace ember
