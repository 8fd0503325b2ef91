// datasets/AugmentedImages.cpp: the epoch-aware image dataset and image_loader.
#include "ember/datasets/AugmentedImages.h"

#include <algorithm>
#include <thread>

namespace ember {

namespace {
int resolve_threads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(n, 1);
}
}  // namespace

AugmentedImages::AugmentedImages(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items,
                                 AugmentedImagesOptions opt)
    : cache_(std::move(cache)), items_(std::move(items)), opt_(opt), pool_(resolve_threads(opt.threads)) {
  EMBER_CHECK(cache_ != nullptr, "AugmentedImages: null cache");
  EMBER_CHECK(opt_.aug.size >= 1 && opt_.aug.item_size >= 2, "AugmentedImages: aug.size must be >= 1 and ",
              "aug.item_size >= 2, got ", opt_.aug.size, " and ", opt_.aug.item_size);
  EMBER_CHECK(opt_.aug.min_scale > 0 && opt_.aug.min_scale <= 1, "AugmentedImages: aug.min_scale must be in ",
              "(0, 1], got ", opt_.aug.min_scale);
  for (int64_t i : items_)
    EMBER_CHECK(i >= 0 && i < cache_->size(), "AugmentedImages: item ", i, " out of range for the cache ",
                cache_->path(), " (", cache_->size(), " images)");
}

Example AugmentedImages::get(int64_t i) const {
  Example e = get_epoch_batch({i}, 0);
  return {e.x.squeeze(0), e.y.squeeze(0)};
}

Example AugmentedImages::get_batch(const std::vector<int64_t>& indices) const { return get_epoch_batch(indices, 0); }

Example AugmentedImages::get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const {
  EMBER_CHECK(epoch >= 0, "AugmentedImages: epoch must be >= 0, got ", epoch);
  for (int64_t i : indices)
    EMBER_CHECK(i >= 0 && i < size(), "AugmentedImages: index ", i, " out of range for ", size(), " items");
  const int s = opt_.aug.size;
  const auto b = static_cast<int64_t>(indices.size());
  Tensor x = empty({b, 3, s, s}, DType::f32);
  Tensor y = empty({b}, DType::i64);
  float* xp = x.data<float>();
  int64_t* yp = y.data<int64_t>();
  const size_t per = static_cast<size_t>(3) * s * s;
  pool_.run(b, [&](int64_t k) {
    int64_t id = items_[static_cast<size_t>(indices[static_cast<size_t>(k)])];
    AugmentParams p;  // the identity: the centre square
    if (opt_.augment)
      p = draw_augment(opt_.aug, opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(id));
    render_augmented(cache_->pixels(id), cache_->height(id), cache_->width(id), p, opt_.aug,
                     xp + per * static_cast<size_t>(k));
    yp[k] = cache_->label(id);
  });
  return {x, y};
}

// ---------------------------------------------------------------------------
std::shared_ptr<DataLoader> image_loader(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items,
                                         ImageLoaderOptions opt) {
  AugmentedImagesOptions a;
  a.augment = opt.train;
  a.seed = opt.seed;
  a.threads = opt.threads;
  a.aug = opt.aug;
  DataLoaderOptions d;
  d.batch_size = opt.batch_size;
  d.shuffle = opt.train;
  d.drop_last = opt.train;
  d.seed = opt.seed;
  d.to_float = false;  // already f32
  d.prefetch = opt.prefetch;
  d.name = opt.name;
  return std::make_shared<DataLoader>(std::make_shared<AugmentedImages>(std::move(cache), std::move(items), a), d);
}

}  // namespace ember
