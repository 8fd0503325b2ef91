// learner/Data.h: what a Learner trains on: a training and a validation DataLoader
// (datasets/DataLoader.h), as fastai's DataLoaders.
//
//   DataLoaderOptions topt{64, /*shuffle=*/true, /*drop_last=*/true, /*seed=*/42};
//   auto train = std::make_shared<DataLoader>(x_train, y_train, topt);
//   auto valid = std::make_shared<DataLoader>(x_valid, y_valid, DataLoaderOptions{64});
//   learner::DataLoaders dls{train, valid, {"cat", "dog"}};
//
// Any Dataset goes in through a DataLoader: tensors (TensorDataset), image files, the augmented
// Pets images (image_loader, datasets/AugmentedImages.h). The Learner starts epoch e of the
// training loader with start_epoch(e), so its order is epoch_order(n, seed, e, shuffle)
// (datasets/EpochOrder.h), also when training resumes from a checkpoint.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/datasets/DataLoader.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

struct DataLoaders {
  DataLoaders() = default;
  DataLoaders(std::shared_ptr<DataLoader> t, std::shared_ptr<DataLoader> v, std::vector<std::string> classes = {},
              std::function<Tensor(const Tensor&)> after = nullptr)
      : train(std::move(t)), valid(std::move(v)), vocab(std::move(classes)), after_batch(std::move(after)) {}
  std::shared_ptr<DataLoader> train, valid;  // valid may be null (no validation phase)
  std::vector<std::string> vocab;  // class names, index -> name (may be empty)
  // fastai's after_batch: applied to every input batch on the Learner's device (training,
  // get_preds, predict), e.g. ImageNet normalisation added by cnn_learner.
  std::function<Tensor(const Tensor&)> after_batch;
};

}  // namespace learner
}  // namespace ember
