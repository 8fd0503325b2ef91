// datasets/Image.h: decode images (stb_image) and write PNGs (stb_image_write).
//
// Decoding goes by the file's content, never its extension: a ".jpg" that is really a
// PNG or GIF decodes fine. Formats: PNG, JPEG, BMP, GIF (first frame), TGA, PSD, PNM, HDR.
// Decoded images are u8 [H, W, C] (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
// Every error names the file and, for decode errors, stb_image's reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ember/tensor/Tensor.h"

namespace ember {

struct ImageInfo {
  int height = 0;
  int width = 0;
  int channels = 0;  // as stored in the file
};

// Reads only the header.
ImageInfo image_info(const std::string& path);

// decode_image / read_image refuse an image whose header claims more than this many pixels
// (height x width), before stb_image allocates anything: a 100-byte GIF or PNG can claim
// 65535 x 65535. The default, 2^25 (e.g. 5792 x 5792), keeps stb's buffers (up to 16 bytes a
// pixel for HDR) under 1 GiB. Process-wide; set_max_image_pixels changes it (> 0).
constexpr int64_t kDefaultMaxImagePixels = int64_t(1) << 25;
void set_max_image_pixels(int64_t n);
int64_t max_image_pixels();

// u8 [H, W, C]. channels = 0 keeps the file's channel count; 1, 2, 3 or 4 converts
// (e.g. 3 turns grey or RGBA into RGB).
Tensor read_image(const std::string& path, int channels = 0);
// Same, from bytes in memory; `name` stands in for the file name in errors.
Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int channels = 0);

// Writes u8 [H, W] or [H, W, C] (C in 1..4) as PNG; atomic (temp file + rename).
void write_png(const std::string& path, const Tensor& image);

// Tiles a batch into one image with `pad` pixels of black between cells.
// images: [B, H, W], [B, H, W, C] (C 1, 3 or 4), [B, C, H, W] (C 1 or 3), or [B, D] with D a
// square (flattened greyscale); u8, or f32/f64 in [0, 1] (scaled by 255 and clamped).
// Returns u8 [rows*(H+pad)+pad, ncol*(W+pad)+pad, C]; `scale` repeats each pixel scale x scale.
Tensor make_grid(const Tensor& images, int64_t ncol = 8, int64_t pad = 2, int64_t scale = 1);

struct ShowBatchOptions {
  int64_t ncol = 8;  // cells per row
  int64_t pad = 2;   // pixels between cells
  int64_t scale = 2;  // each pixel drawn scale x scale (28x28 digits are tiny)
  int64_t max_images = 64;  // at most this many images from the front of the batch
  std::vector<std::string> classes;  // optional: label i is written as classes[i]
};
// Writes the grid as a PNG at `png_path` and, next to it, a CSV with one row per cell
// (same name, extension .csv): "index,row,col,label[,class]". Labels: 1-D integer tensor
// (i64 or u8) of the batch size, or undefined for none. Returns the CSV's path.
std::string show_batch(const std::string& png_path, const Tensor& images, const Tensor& labels,
                       const ShowBatchOptions& opt = {});

}  // namespace ember
