// datasets/ImageCache.h: every image of a labelled file list decoded and resized once, kept in
// one binary file that later runs map into memory instead of decoding again.
//
//   LabelledFiles pets = load_pets(pets_dir("")).items;
//   auto cache = ImageCache::open(default_cache_path(dir), pets);   // decodes only the first time
//   const uint8_t* rgb = cache->pixels(i);   // u8 [height(i), width(i), 3]
//
// Presize. fastai's Pets pipeline is item_tfms=Resize(460) (a square crop of the image, at a
// random place on train and at the centre on valid, resized to 460x460), then
// batch_tfms=aug_transforms(min_scale=0.9, size=56), which samples 56x56 from that square.
// Keeping 460-px squares would cost 635 KB an image for a 56-px output, and would fix the square's
// place once for all epochs. The cache instead keeps the whole image, aspect ratio intact, with its
// SHORT side resized to `presize` (default 64: the smallest crop the augmentation takes, 0.95 of the
// side zoomed by 1.1, is still ~55 px, so sampling 56 px from it never magnifies); the square crop
// of Resize(460) is chosen per epoch by the augmentation (datasets/Augment.h). The resize is
// PIL's antialiased bilinear (a triangle filter widened by the shrink factor), as fastai's Resize.
//
// The file (little-endian, native layout; version 1):
//   header   magic "EMBIMGC1", version, presize, item count, input file count, a 64-bit FNV-1a
//            hash of the sorted input list (path, byte size, mtime and label of every file),
//            skipped count, offset of the pixel data, total file size
//   items    per cached image: pixel offset, height, width, channels (3), input index, label
//   skipped  input indices of the files that could not be decoded
//   pixels   u8 RGB, row-major [H, W, 3] per item, 64-byte aligned
// It is written to a temporary sibling and renamed, so a reader never sees half a file.
// open() rebuilds it when it is missing, unreadable, truncated, of another version, for another
// presize or for another file list (added, removed, resized or touched files, changed labels).
//
// Decoding runs on `threads` threads (all cores by default), with a progress bar on a terminal and
// a one-line summary otherwise. A file that cannot be decoded is skipped with one warning listing
// every skipped file, or is an error when `strict`.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ember/datasets/ImageFolder.h"
#include "ember/tensor/Tensor.h"

namespace ember {

struct ImageCacheOptions {
  int presize = 64;              // short side of every cached image, in pixels
  int threads = 0;               // decoding threads; 0: std::thread::hardware_concurrency()
  bool strict = false;           // an undecodable file is an error instead of a warning
  std::FILE* log = stderr;       // progress, summary and warnings; nullptr: silent
  int force_tty = -1;            // 1/0: draw / do not draw the progress bar; -1: isatty(log)
  // An image whose long side is more than max_aspect times its short side is refused (named, like
  // an undecodable file): resized to the presize, a 177-byte 100000x1 PNG would become 1.2 GB.
  // The resized image must also stay within max_image_pixels() (datasets/Image.h).
  int max_aspect = 20;
};

class ImageCache {
 public:
  // Maps `path` when it is a valid cache for (files, presize), else decodes `files` into it.
  // Files are identified by path, size and mtime; items keep the order of `files`, less skipped ones.
  static std::shared_ptr<ImageCache> open(const std::string& path, const LabelledFiles& files,
                                          const ImageCacheOptions& opt = {});
  ~ImageCache();
  ImageCache(const ImageCache&) = delete;
  ImageCache& operator=(const ImageCache&) = delete;

  int64_t size() const { return static_cast<int64_t>(items_.size()); }  // cached images
  int presize() const { return presize_; }
  const std::string& path() const { return path_; }
  bool built() const { return built_; }  // this open() decoded (false: mapped an existing file)

  int height(int64_t i) const { return static_cast<int>(item(i).height); }
  int width(int64_t i) const { return static_cast<int>(item(i).width); }
  int64_t label(int64_t i) const { return item(i).label; }
  int64_t source_index(int64_t i) const { return item(i).source; }  // index into the input list
  const uint8_t* pixels(int64_t i) const;   // u8 [height(i), width(i), 3], valid while this lives
  Tensor image(int64_t i) const;            // a copy as u8 [H, W, 3]
  std::vector<int64_t> labels() const;      // label(i) for every item
  const std::vector<int64_t>& skipped() const { return skipped_; }  // input indices not cached

  // Images decoded by ImageCache in this process (a reopened cache adds nothing).
  static int64_t decode_count();

 private:
  struct Item {
    uint64_t offset;  // from the start of the pixel data
    uint32_t height, width, channels, source;
    int64_t label;
  };
  ImageCache() = default;
  const Item& item(int64_t i) const;
  // Maps and validates `path`; "" on success, else why it cannot be used.
  std::string map(const std::string& path, int presize, uint64_t hash, const LabelledFiles& files);

  std::string path_;
  int presize_ = 0;
  bool built_ = false;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // pixel data
  std::vector<Item> items_;
  std::vector<int64_t> skipped_;
};

// Where a folder's cache goes: $EMBER_CACHE_DIR, else ~/.cache/ember, then
// "images-<hash of the folder's absolute path>.bin".
std::string default_cache_path(const std::string& image_dir);

// Resizes u8 [h, w, c] to [out_h, out_w, c] with PIL's antialiased bilinear filter.
void resize_image_u8(const uint8_t* src, int h, int w, int c, uint8_t* dst, int out_h, int out_w);

}  // namespace ember
