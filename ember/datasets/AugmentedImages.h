// datasets/AugmentedImages.h: cached images as a Dataset, augmented per epoch (Augment.h), and
// the DataLoader over them that a Learner trains on.
//
//   auto cache = ImageCache::open(path, pets.items);
//   auto train = image_loader(cache, split.train);                  // augmented, shuffled, drop_last
//   ImageLoaderOptions v; v.train = false;
//   auto valid = image_loader(cache, split.valid, v);               // centre crop, in order
//   learner::DataLoaders dls{train, valid, pets.classes};
//   for (Batch& b : *train) { b.x f32 [64, 3, 56, 56] in [0, 1], b.y i64 [64] }
//
// AugmentedImages is epoch-aware: item i of epoch e is rendered with draw_augment(aug, seed, e,
// items[i]) (a pure function), so a batch is the same whichever thread builds it, however many
// threads there are, and whether it is built ahead by the DataLoader or again later. The
// DataLoader tells it the epoch through Dataset::get_epoch_batch.
//
// Threads: the dataset owns a WorkerPool of `threads` threads (the thread asking for the batch,
// normally the DataLoader's prefetch thread, plus threads - 1 helpers) that render a batch's
// items in parallel; the DataLoader's queue keeps `prefetch` batches ready.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/datasets/Augment.h"
#include "ember/datasets/DataLoader.h"
#include "ember/datasets/Dataset.h"
#include "ember/datasets/ImageCache.h"
#include "ember/datasets/WorkerPool.h"

namespace ember {

struct AugmentedImagesOptions {
  bool augment = true;  // random augmentation (training); false: the centre square (validation)
  uint64_t seed = 42;   // seed of the augmentation draws
  int threads = 0;      // threads rendering a batch's items; 0: std::thread::hardware_concurrency()
  AugmentOptions aug;
};

// Items x f32 [3, size, size] in [0, 1], y i64 (the cache's label).
class AugmentedImages : public Dataset {
 public:
  // `items` are indices into `cache` (e.g. a RandomSplitter split of 0..cache->size()-1).
  AugmentedImages(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items,
                  AugmentedImagesOptions opt = {});
  int64_t size() const override { return static_cast<int64_t>(items_.size()); }
  Example get(int64_t i) const override;                                       // as in epoch 0
  Example get_batch(const std::vector<int64_t>& indices) const override;      // as in epoch 0
  Example get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const override;

  const std::vector<int64_t>& items() const { return items_; }  // cache indices
  const AugmentedImagesOptions& options() const { return opt_; }
  int threads() const { return pool_.threads(); }

 private:
  std::shared_ptr<const ImageCache> cache_;
  std::vector<int64_t> items_;
  AugmentedImagesOptions opt_;
  mutable WorkerPool pool_;
};

// ---------------------------------------------------------------------------
struct ImageLoaderOptions {
  int64_t batch_size = 64;
  bool train = true;   // augment, shuffle and drop the last partial batch; false: centre crop, in order
  uint64_t seed = 42;  // the shuffle's and the augmentation's
  int threads = 0;     // threads rendering items; 0: std::thread::hardware_concurrency()
  int prefetch = 2;    // batches built ahead of next()
  AugmentOptions aug;
  std::string name;    // the loader's name in error messages
};

// A DataLoader over AugmentedImages(cache, items): x f32 [B, 3, size, size], y i64 [B].
std::shared_ptr<DataLoader> image_loader(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items,
                                         ImageLoaderOptions opt = {});

}  // namespace ember
