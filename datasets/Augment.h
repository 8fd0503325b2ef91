// datasets/Augment.h: fastai's Pets augmentation on cached images, and the batch loader a Learner
// trains on (through learner::LoaderSource, learner/Data.h).
//
//   auto cache = ImageCache::open(path, pets.items);
//   ImageBatchLoader train(cache, split.train, {});                  // augmented, shuffled, drop_last
//   ImageLoaderOptions v; v.train = false;
//   ImageBatchLoader valid(cache, split.valid, v);                   // centre crop, in order
//   train.start_epoch(0); while (train.next(x, y)) { x f32 [64, 3, 56, 56] in [0, 1], y i64 [64] }
//
// What one training image goes through (fastai: item_tfms=Resize(460), batch_tfms=
// aug_transforms(min_scale=0.9, size=56); fastai/vision/augment.py), all fused into ONE bilinear
// sampling of the cached image per output pixel, so there is a single interpolation:
//   Resize(460, method=crop)   a square of the image's short side at a random place (valid: centre),
//                              seen as an item_size x item_size (460) image
//   Flip(p=0.5)                x -> -x
//   Rotate(max_deg=10)         angle ~ U(-10, 10) degrees, with p_affine = 0.75 (else 0)
//   Zoom(max_zoom=1.1)         zoom ~ U(1, 1.1) with p_affine, centre ~ U(0, 1) in x and y
//   Warp(magnitude=0.2)        perspective moving the corners by U(-0.2, 0.2) in x and in y, each
//                              with p_affine; affine and warp are one coordinate map, padded by
//                              reflection (fastai's pad_mode='reflection') of the 460 square
//   RandomResizedCropGPU       area fraction ~ U(0.9, 1) of the 460 square, ratio (1, 1) (as
//                              aug_transforms passes it), at a random integer corner, resized to 56;
//                              fastai runs it after the affine step (same order 30, listed after)
//   Brightness, Contrast       in logit space, each with p_lighting = 0.75:
//                              y = sigmoid((logit(x) + logit(b)) * c), b ~ U(0.4, 0.6),
//                              c = exp(U(log 0.8, -log 0.8))
// Validation applies only Resize's centre square and the crop's resize: the centre square of the
// image resized to 56x56 (fastai's behaviour of the same pipeline on the valid set).
// Coordinates follow grid_sample with align_corners=True, as fastai.
//
// Differences from fastai, by design: each image draws its own parameters (fastai draws the
// Flip/affine gate once per batch because Flip passes p=0.5 to the merged transform); the square
// crop is taken from the presized cache image, not from a 460-px PIL resize.
//
// Determinism: every random number of item i in epoch e is Philox(seed, counter(e, i, k)), so a
// batch is the same for any number of threads and any batch composition. The epoch's item order
// is permutation(n, seed, e << 32), the same as learner::seeded_permutation (TensorBatches).
//
// Threads: a loader owns a pool of `threads` threads (the prefetch thread of its DataLoader plus
// threads - 1 helpers) that build whole items; the DataLoader queue keeps `prefetch` batches ready.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "datasets/Dataset.h"
#include "datasets/ImageCache.h"
#include "tensor/Tensor.h"

namespace ember {

// Defaults: the Pets experiment (aug_transforms(min_scale=0.9, size=56) after Resize(460)).
struct AugmentOptions {
  int size = 56;             // output side
  int item_size = 460;       // Resize(item_size): the square the batch transforms see
  double min_scale = 0.9;    // RandomResizedCropGPU area fraction (ratio fixed at (1, 1))
  double p_flip = 0.5;
  double max_rotate = 10.0;  // degrees
  double min_zoom = 1.0, max_zoom = 1.1;
  double max_warp = 0.2;
  double p_affine = 0.75;    // rotate, zoom and warp each
  double max_lighting = 0.2;
  double p_lighting = 0.75;  // brightness and contrast each
  bool random_square = true;  // Resize's square at a random place (false: centre)
};

// What was drawn for one image. The defaults are the identity (the validation transform).
struct AugmentParams {
  double square_x = 0.5, square_y = 0.5;  // Resize's square position along the long side, 0..1
  int crop_size = 0;                      // crop side in item_size pixels; 0: the whole square
  int crop_left = 0, crop_top = 0;        // its corner in item_size pixels
  bool flip = false;
  double rotate_deg = 0.0;
  double zoom = 1.0, zoom_x = 0.5, zoom_y = 0.5;  // zoom factor and its centre (0..1)
  double warp_x = 0.0, warp_y = 0.0;
  double brightness = 0.5;  // 0.5: unchanged
  double contrast = 1.0;    // 1: unchanged
};

// The parameters of item `item` in epoch `epoch`: a pure function of its arguments.
AugmentParams draw_augment(const AugmentOptions& opt, uint64_t seed, uint64_t epoch, uint64_t item);

// Renders u8 RGB [h, w, 3] into f32 [3, opt.size, opt.size] (channels first, in [0, 1]).
void render_augmented(const uint8_t* src, int h, int w, const AugmentParams& p, const AugmentOptions& opt,
                      float* dst);

// ---------------------------------------------------------------------------
struct ImageLoaderOptions {
  int64_t batch_size = 64;
  bool train = true;   // augment, shuffle and drop the last partial batch; false: centre crop, in order
  uint64_t seed = 42;
  int threads = 0;     // threads building items; 0: std::thread::hardware_concurrency()
  int prefetch = 2;    // batches built ahead of next()
  AugmentOptions aug;
};

// Batches x f32 [B, 3, size, size], y i64 [B] from cached images. Its methods are those of
// learner::BatchSource, so learner::LoaderSource<ImageBatchLoader> hands it to a Learner.
class ImageBatchLoader {
 public:
  // `items` are indices into `cache` (e.g. a RandomSplitter split of 0..cache->size()-1).
  ImageBatchLoader(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items,
                   ImageLoaderOptions opt = {});
  ~ImageBatchLoader();
  ImageBatchLoader(const ImageBatchLoader&) = delete;
  ImageBatchLoader& operator=(const ImageBatchLoader&) = delete;

  size_t size() const;              // batches per epoch
  void start_epoch(int epoch);      // stops a running epoch, starts prefetching this one
  bool next(Tensor& x, Tensor& y);  // false at the end of the epoch (until start_epoch)
  int64_t n_items() const;          // items per epoch (after drop_last)

  // Batch b of `epoch`, built now: the same tensors next() gives for it.
  Example batch(int epoch, int64_t b) const;
  // The cache indices of `epoch` in visiting order.
  std::vector<int64_t> epoch_order(int epoch) const;
  const ImageLoaderOptions& options() const;
  int threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember
