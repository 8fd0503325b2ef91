// datasets/Augment.h: fastai's Pets augmentation of one cached image: the random draws and the
// renderer. AugmentedImages (AugmentedImages.h) applies it to a dataset of cached images.
//
//   AugmentParams p = draw_augment(opt, seed, epoch, item);   // what item `item` gets in `epoch`
//   render_augmented(pixels, h, w, p, opt, out);              // out f32 [3, 56, 56] in [0, 1]
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
// batch is the same for any number of threads and any batch composition.
#pragma once

#include <cstdint>

#include "ember/tensor/Tensor.h"

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

}  // namespace ember
