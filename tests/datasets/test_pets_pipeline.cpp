// tests/datasets/test_pets_pipeline.cpp: the Pets image pipeline: decode cache (build, reuse,
// invalidation, corrupt inputs, damaged cache files), fastai-style augmentation (determinism,
// geometry), AugmentedImages through the DataLoader (same batches as its definition, any thread
// count), and the real Pets subset when $EMBER_DATA_DIR is set.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

#include "ember/datasets/Augment.h"
#include "ember/datasets/AugmentedImages.h"
#include "ember/datasets/Image.h"
#include "ember/datasets/ImageCache.h"
#include "ember/datasets/Pets.h"
#include "helpers.h"
#include "ember/learner/Data.h"

namespace fs = std::filesystem;
using namespace ember;
using ember_test::expect_error;
using ember_test::ScopedEnv;

namespace {

// u8 [h, w, 3] with pixel (y, x) = (x * 7 + seed, y * 5 + seed, x + y + seed) mod 256.
Tensor test_image(int h, int w, int seed) {
  Tensor t = empty({h, w, 3}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      p[(y * w + x) * 3 + 0] = static_cast<uint8_t>((x * 7 + seed) % 256);
      p[(y * w + x) * 3 + 1] = static_cast<uint8_t>((y * 5 + seed) % 256);
      p[(y * w + x) * 3 + 2] = static_cast<uint8_t>((x + y + seed) % 256);
    }
  return t;
}

// A Pets-like folder: Bengal_1..n (cats) and boxer_1..n (dogs) as PNG files named .jpg.
struct PetsFolder {
  TempDir dir{"ember-pets-"};
  TempDir cache_dir{"ember-petcache-"};
  std::string cache = cache_dir / "pets.bin";
  explicit PetsFolder(int per_class = 3) {
    for (int i = 1; i <= per_class; ++i) {
      write_png(dir / ("Bengal_" + std::to_string(i) + ".jpg"), test_image(30 + i, 40, i));
      write_png(dir / ("boxer_" + std::to_string(i) + ".jpg"), test_image(50, 24 + i, 100 + i));
    }
  }
  LabelledFiles files() const { return label_by_regex(list_files(dir.path()), kPetsPattern); }
};

ImageCacheOptions quiet(int presize = 16) {
  ImageCacheOptions o;
  o.presize = presize;
  o.log = nullptr;
  o.threads = 2;
  return o;
}

std::string read_text(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

// ImageCache::open with quiet() options and its log captured: the cache and what it said.
std::pair<std::shared_ptr<ImageCache>, std::string> open_logged(const std::string& path, const LabelledFiles& files) {
  std::FILE* log = std::tmpfile();
  ImageCacheOptions o = quiet();
  o.log = log;
  auto cache = ImageCache::open(path, files, o);
  std::string text = read_text(log);
  std::fclose(log);
  return {cache, text};
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::vector<float> values(const Tensor& t) { return t.contiguous().to_vector<float>(); }
}  // namespace

// ---------------------------------------------------------------------------
// Cache
TEST(ImageCache, BuildsThenReusesWithoutDecoding) {
  PetsFolder f;
  LabelledFiles files = f.files();
  int64_t before = ImageCache::decode_count();
  auto c1 = ImageCache::open(f.cache, files, quiet());
  EXPECT_TRUE(c1->built());
  EXPECT_EQ(ImageCache::decode_count() - before, 6);
  ASSERT_EQ(c1->size(), 6);
  EXPECT_EQ(c1->labels(), files.labels);
  for (int64_t i = 0; i < c1->size(); ++i) EXPECT_EQ(std::min(c1->height(i), c1->width(i)), 16) << i;
  // Bengal_1 is 31x40: short side 16, long side round(40 * 16 / 31) = 21.
  EXPECT_EQ(c1->height(0), 16);
  EXPECT_EQ(c1->width(0), 21);

  auto c2 = ImageCache::open(f.cache, files, quiet());
  EXPECT_FALSE(c2->built());
  EXPECT_EQ(ImageCache::decode_count() - before, 6) << "a valid cache must not decode again";
  ASSERT_EQ(c2->size(), c1->size());
  for (int64_t i = 0; i < c1->size(); ++i)
    EXPECT_EQ(c1->image(i).to_vector<uint8_t>(), c2->image(i).to_vector<uint8_t>()) << i;
}

TEST(ImageCache, FileListChangeRebuilds) {
  PetsFolder f;
  auto c1 = ImageCache::open(f.cache, f.files(), quiet());
  EXPECT_TRUE(c1->built());
  write_png(f.dir / "boxer_9.jpg", test_image(20, 20, 9));  // a new file
  auto c2 = ImageCache::open(f.cache, f.files(), quiet());
  EXPECT_TRUE(c2->built());
  EXPECT_EQ(c2->size(), 7);
  EXPECT_EQ(c1->size(), 6) << "the old mapping stays valid while it is held";
  // The same list with one file touched (new mtime) rebuilds too.
  fs::path p = f.dir / "boxer_9.jpg";
  fs::last_write_time(p, fs::last_write_time(p) + std::chrono::seconds(5));
  EXPECT_TRUE(ImageCache::open(f.cache, f.files(), quiet())->built());
  EXPECT_FALSE(ImageCache::open(f.cache, f.files(), quiet())->built());
}

TEST(ImageCache, PresizeChangeRebuilds) {
  PetsFolder f;
  EXPECT_TRUE(ImageCache::open(f.cache, f.files(), quiet(16))->built());
  auto c = ImageCache::open(f.cache, f.files(), quiet(12));
  EXPECT_TRUE(c->built());
  EXPECT_EQ(c->presize(), 12);
  EXPECT_EQ(std::min(c->height(3), c->width(3)), 12);
}

TEST(ImageCache, CorruptFileSkippedWithOneWarningOrStrictError) {
  PetsFolder f;
  ember_test::write_bytes(f.dir / "boxer_7.jpg", {0xff, 0xd8, 0xff, 0x00, 1, 2, 3});  // a cut JPEG
  ember_test::write_bytes(f.dir / "Bengal_8.jpg", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'g'});
  LabelledFiles files = f.files();
  ASSERT_EQ(files.size(), 8);

  ImageCacheOptions strict = quiet();
  strict.strict = true;
  expect_error([&] { ImageCache::open(f.cache, files, strict); },
               {"ImageCache::open", "strict", "boxer_7.jpg", "Bengal_8.jpg", "2 of 8"});
  EXPECT_FALSE(fs::exists(f.cache)) << "strict mode writes no cache";

  auto [c, text] = open_logged(f.cache, files);
  EXPECT_EQ(c->size(), 6);
  EXPECT_EQ(c->skipped().size(), 2u);
  EXPECT_EQ(count_of(text, "warning"), 1u) << text;
  EXPECT_NE(text.find("boxer_7.jpg"), std::string::npos) << text;
  EXPECT_NE(text.find("Bengal_8.jpg"), std::string::npos) << text;
  // Labels follow the cached items, not the input positions.
  for (int64_t i = 0; i < c->size(); ++i) EXPECT_EQ(c->label(i), files.labels[size_t(c->source_index(i))]);
  // Reopening keeps the skip list (and strict still refuses it).
  EXPECT_FALSE(ImageCache::open(f.cache, files, quiet())->built());
  expect_error([&] { ImageCache::open(f.cache, files, strict); }, {"strict", "boxer_7.jpg"});
}

// Size limits hold after resizing: a long thin image would blow up at the presize.
TEST(ImageCache, ExtremeAspectRatiosAndHugeOutputsAreRefusedByName) {
  PetsFolder f;
  write_png(f.dir / "boxer_8.jpg", test_image(1, 2000, 8));  // 2000:1, tiny as a file
  write_png(f.dir / "Bengal_9.jpg", test_image(20, 400, 9));  // 20:1, the limit: kept
  LabelledFiles files = f.files();
  ImageCacheOptions strict = quiet();
  strict.strict = true;
  expect_error([&] { ImageCache::open(f.cache, files, strict); },
               {"boxer_8.jpg", "2000x1 has an aspect ratio over the limit of 20:1", "1 of 8"});
  auto c = ImageCache::open(f.cache, files, quiet());
  EXPECT_EQ(c->size(), 7);
  ASSERT_EQ(c->skipped().size(), 1u);
  // Within the aspect limit but too many pixels once resized: refused by the pixel limit.
  const int64_t old_limit = max_image_pixels();
  set_max_image_pixels(10000);
  ImageCacheOptions big = strict;
  big.presize = 64;  // Bengal_9 would be 64 x 1280 = 81920 pixels
  expect_error([&] { ImageCache::open(f.cache_dir / "big.bin", f.files(), big); },
               {"Bengal_9.jpg", "resized to a short side of 64 it would have 81920 pixels, over the limit of 10000", "2 of 8"});
  set_max_image_pixels(old_limit);
}

TEST(ImageCache, DamagedCacheFilesAreRebuilt) {
  PetsFolder f;
  LabelledFiles files = f.files();
  ImageCache::open(f.cache, files, quiet());
  std::vector<uint8_t> bytes = ember_test::read_bytes(f.cache);
  std::vector<uint8_t> good = bytes;

  bytes.resize(bytes.size() / 2);  // truncated
  ember_test::write_bytes(f.cache, bytes);
  auto [c, text] = open_logged(f.cache, files);
  EXPECT_TRUE(c->built());
  EXPECT_EQ(c->size(), 6);
  EXPECT_NE(text.find("truncated"), std::string::npos) << text;
  EXPECT_NE(text.find("rebuilding"), std::string::npos) << text;

  bytes = good;
  bytes[0] = 'X';  // wrong magic
  ember_test::write_bytes(f.cache, bytes);
  EXPECT_TRUE(ImageCache::open(f.cache, files, quiet())->built());
  ember_test::write_bytes(f.cache, {1, 2, 3});  // far too short
  EXPECT_TRUE(ImageCache::open(f.cache, files, quiet())->built());
  ember_test::write_bytes(f.cache, {});  // empty
  EXPECT_TRUE(ImageCache::open(f.cache, files, quiet())->built());
  EXPECT_EQ(ember_test::read_bytes(f.cache), good) << "a rebuild writes the same bytes";

  // Fields of the first item (after the 64-byte header: offset u64, height u32, width u32,
  // channels u32, source u32, label i64), each damaged in turn: rebuilt with the file and the
  // field named, never trusted.
  struct Damage {
    size_t at;
    std::vector<uint8_t> bytes;
    const char* why;
  };
  for (const Damage& d : {Damage{88, {9}, "corrupt entry for item 0 (label)"},
                          Damage{72, {0, 0, 0, 0}, "corrupt entry for item 0 (size)"},
                          Damage{76, {0xff, 0xff, 0xff, 0x7f}, "corrupt entry for item 0 (pixels past the end)"},
                          Damage{64, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "corrupt entry for item 0 (pixels past the end)"},
                          Damage{84, {0xff}, "corrupt entry for item 0 (source file)"}}) {
    bytes = good;
    std::copy(d.bytes.begin(), d.bytes.end(), bytes.begin() + static_cast<std::ptrdiff_t>(d.at));
    ember_test::write_bytes(f.cache, bytes);
    auto [rebuilt, said] = open_logged(f.cache, files);
    EXPECT_TRUE(rebuilt->built()) << d.why;
    EXPECT_NE(said.find(f.cache + ": " + d.why), std::string::npos) << d.why << " / " << said;
    for (int64_t i = 0; i < rebuilt->size(); ++i)
      EXPECT_EQ(rebuilt->label(i), files.labels[size_t(rebuilt->source_index(i))]);
    EXPECT_EQ(ember_test::read_bytes(f.cache), good);
  }
}

TEST(ImageCache, ResizeAveragesWhenShrinking) {
  // A 2x2 checker of 0/200 shrunk to 1x1 is its mean; a constant image stays constant.
  std::vector<uint8_t> src{0, 0, 0, 200, 200, 200, 200, 200, 200, 0, 0, 0}, out(3);
  resize_image_u8(src.data(), 2, 2, 3, out.data(), 1, 1);
  EXPECT_EQ(out, (std::vector<uint8_t>{100, 100, 100}));
  std::vector<uint8_t> flat(37 * 23 * 3, 77), small(9 * 5 * 3);
  resize_image_u8(flat.data(), 37, 23, 3, small.data(), 9, 5);
  for (uint8_t v : small) EXPECT_EQ(v, 77);
}

// ---------------------------------------------------------------------------
// Augmentation
TEST(Augment, AllOffIsTheIdentity) {
  Tensor src = test_image(12, 12, 3);
  AugmentOptions o;
  o.size = 12;
  o.item_size = 12;
  std::vector<float> out(3 * 12 * 12);
  render_augmented(src.data<uint8_t>(), 12, 12, AugmentParams{}, o, out.data());
  const uint8_t* s = src.data<uint8_t>();
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 144; ++i) ASSERT_FLOAT_EQ(out[size_t(k * 144 + i)], s[i * 3 + k] / 255.f) << k << " " << i;

  // Draws with every probability 0 and min_scale 1 are the identity too.
  o.p_flip = o.p_affine = o.p_lighting = 0;
  o.min_scale = 1;
  o.random_square = false;
  AugmentParams p = draw_augment(o, 7, 3, 11);
  EXPECT_FALSE(p.flip);
  EXPECT_EQ(p.rotate_deg, 0.0);
  EXPECT_EQ(p.zoom, 1.0);
  EXPECT_EQ(p.warp_x, 0.0);
  EXPECT_EQ(p.brightness, 0.5);
  EXPECT_EQ(p.contrast, 1.0);
  EXPECT_EQ(p.crop_size, 12);
  std::vector<float> out2(out.size());
  render_augmented(src.data<uint8_t>(), 12, 12, p, o, out2.data());
  EXPECT_EQ(out, out2);
}

TEST(Augment, FlipMirrorsColumns) {
  Tensor src = test_image(10, 10, 1);
  AugmentOptions o;
  o.size = o.item_size = 10;
  AugmentParams p;
  p.flip = true;
  std::vector<float> out(300);
  render_augmented(src.data<uint8_t>(), 10, 10, p, o, out.data());
  const uint8_t* s = src.data<uint8_t>();
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x) ASSERT_FLOAT_EQ(out[size_t(y * 10 + x)], s[(y * 10 + 9 - x) * 3] / 255.f);
}

TEST(Augment, CropAndSquareGeometry) {
  // 10 high, 20 wide: the validation square is the centre 10 columns (5..14).
  Tensor src = test_image(10, 20, 0);
  const uint8_t* s = src.data<uint8_t>();
  AugmentOptions o;
  o.size = o.item_size = 10;
  std::vector<float> out(300);
  render_augmented(src.data<uint8_t>(), 10, 20, AugmentParams{}, o, out.data());
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x) ASSERT_FLOAT_EQ(out[size_t(y * 10 + x)], s[(y * 20 + x + 5) * 3] / 255.f);
  // Square at the far right, then a 5-px crop at (2, 3) of that square, sampled at 5 px: a
  // pixel-exact window.
  AugmentParams p;
  p.square_x = 1.0;
  p.crop_size = 5;
  p.crop_left = 2;
  p.crop_top = 3;
  o.size = 5;
  std::vector<float> win(75);
  render_augmented(src.data<uint8_t>(), 10, 20, p, o, win.data());
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x)
      ASSERT_FLOAT_EQ(win[size_t(y * 5 + x)], s[((y + 3) * 20 + x + 2 + 10) * 3] / 255.f) << y << " " << x;
}

TEST(Augment, RotationAndWarpStayInsideTheImage) {
  // Reflection padding: a constant image stays constant under any rotation, zoom and warp;
  // lighting keeps values in (0, 1).
  std::vector<uint8_t> flat(32 * 48 * 3, 128);
  AugmentOptions o;
  o.p_affine = 1;
  o.p_lighting = 0;
  std::vector<float> out(3 * 56 * 56);
  for (uint64_t item = 0; item < 20; ++item) {
    AugmentParams p = draw_augment(o, 1, 0, item);
    EXPECT_NE(p.rotate_deg, 0.0);
    render_augmented(flat.data(), 32, 48, p, o, out.data());
    for (float v : out) ASSERT_NEAR(v, 128 / 255.f, 1e-6);
  }
  o.p_lighting = 1;
  for (uint64_t item = 0; item < 20; ++item) {
    render_augmented(flat.data(), 32, 48, draw_augment(o, 1, 0, item), o, out.data());
    for (float v : out) ASSERT_TRUE(v > 0.f && v < 1.f);
  }
}

TEST(Augment, DrawsFollowFastaiRanges) {
  AugmentOptions o;
  int n = 4000, flips = 0, rot = 0, zoom = 0, wx = 0, bright = 0, con = 0;
  int min_crop = static_cast<int>(std::lround(std::sqrt(0.9) * 460));
  for (int i = 0; i < n; ++i) {
    AugmentParams p = draw_augment(o, 42, 1, uint64_t(i));
    flips += p.flip;
    rot += p.rotate_deg != 0;
    zoom += p.zoom != 1;
    wx += p.warp_x != 0;
    bright += p.brightness != 0.5;
    con += p.contrast != 1;
    ASSERT_LE(std::fabs(p.rotate_deg), 10.0);
    ASSERT_TRUE(p.zoom >= 1.0 && p.zoom <= 1.1);
    ASSERT_LE(std::fabs(p.warp_x), 0.2);
    ASSERT_LE(std::fabs(p.warp_y), 0.2);
    ASSERT_TRUE(p.brightness >= 0.4 && p.brightness <= 0.6);
    ASSERT_TRUE(p.contrast >= 0.8 - 1e-12 && p.contrast <= 1.25 + 1e-12);
    ASSERT_TRUE(p.crop_size >= min_crop && p.crop_size <= 460) << p.crop_size;
    ASSERT_TRUE(p.crop_left >= 0 && p.crop_left + p.crop_size <= 460);
    ASSERT_TRUE(p.square_x >= 0 && p.square_x < 1);
  }
  EXPECT_NEAR(flips / double(n), 0.5, 0.03);
  for (int c : {rot, zoom, wx, bright, con}) EXPECT_NEAR(c / double(n), 0.75, 0.03);
  // A pure function of (seed, epoch, item).
  AugmentParams a = draw_augment(o, 42, 1, 5), b = draw_augment(o, 42, 1, 5), c = draw_augment(o, 42, 2, 5);
  EXPECT_EQ(a.rotate_deg, b.rotate_deg);
  EXPECT_EQ(a.crop_left, b.crop_left);
  EXPECT_NE(a.square_x, c.square_x);
}

// ---------------------------------------------------------------------------
// AugmentedImages through the DataLoader
TEST(ImageLoader, ShapesLabelsDropLastAndLearnerReady) {
  PetsFolder f(5);
  auto cache = ImageCache::open(f.cache, f.files(), quiet());
  ASSERT_EQ(cache->size(), 10);
  std::vector<int64_t> items{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  ImageLoaderOptions o;
  o.batch_size = 4;
  o.threads = 2;
  o.aug.size = 8;
  std::shared_ptr<DataLoader> train = image_loader(cache, items, o);
  EXPECT_EQ(train->size(), 2);
  EXPECT_EQ(train->n_items(), 8);

  learner::DataLoaders dls{train, nullptr, f.files().classes};  // what a Learner takes, no adapter
  DataLoader& dl = *dls.train;
  for (int epoch = 0; epoch < 2; ++epoch) {
    dl.start_epoch(epoch);
    std::vector<int64_t> order = dl.epoch_order(epoch);
    std::set<int64_t> seen(order.begin(), order.end());
    EXPECT_EQ(seen.size(), 10u);
    Batch batch;
    int64_t b = 0;
    for (; dl.next(batch); ++b) {
      const Tensor &x = batch.x, &y = batch.y;
      ASSERT_EQ(x.shape(), (Shape{4, 3, 8, 8}));
      EXPECT_EQ(x.dtype(), DType::f32);
      ASSERT_EQ(y.shape(), (Shape{4}));
      EXPECT_EQ(y.dtype(), DType::i64);
      for (float v : values(x)) ASSERT_TRUE(v >= 0.f && v <= 1.f);
      std::vector<int64_t> labels = y.to_vector<int64_t>();
      for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(labels[size_t(k)], cache->label(order[size_t(b * 4 + k)]));
    }
    EXPECT_EQ(b, 2);
  }
  EXPECT_NE(dl.epoch_order(0), dl.epoch_order(1));

  ImageLoaderOptions v = o;
  v.train = false;
  std::shared_ptr<DataLoader> valid = image_loader(cache, {9, 2, 4}, v);
  EXPECT_EQ(valid->size(), 1);
  EXPECT_EQ(valid->n_items(), 3);
  valid->start_epoch(0);
  Batch batch;
  ASSERT_TRUE(valid->next(batch));
  EXPECT_EQ(batch.x.shape(), (Shape{3, 3, 8, 8}));
  EXPECT_EQ(batch.y.to_vector<int64_t>(),
            (std::vector<int64_t>{cache->label(9), cache->label(2), cache->label(4)}));
  EXPECT_FALSE(valid->next(batch));
  expect_error([&] { image_loader(cache, {10}, o); }, {"AugmentedImages", "item 10", "10 images"});
  o.batch_size = 11;
  o.name = "train";
  expect_error([&] { image_loader(cache, items, o); }, {"DataLoader 'train'", "batch_size 11", "10 items"});
}

// The batches the Pets pipeline has always given for a fixed seed: epoch e visits the items in
// permutation(n, seed, e << 32), and item `id` is rendered with draw_augment(aug, seed, e, id).
// Built here by hand, one item at a time, and compared bit for bit with the DataLoader's.
TEST(ImageLoader, SameBatchesAsTheDefinitionForAFixedSeed) {
  PetsFolder f(6);
  auto cache = ImageCache::open(f.cache, f.files(), quiet());
  std::vector<int64_t> items{11, 3, 7, 0, 5, 9, 1, 8, 2, 10, 4};  // a split: any cache indices
  ImageLoaderOptions o;
  o.batch_size = 4;
  o.seed = 42;
  o.threads = 3;
  o.aug.size = 10;
  std::shared_ptr<DataLoader> dl = image_loader(cache, items, o);
  const size_t per = 3 * 10 * 10;
  for (int64_t epoch : {0, 1, 4}) {
    std::vector<int64_t> perm = permutation(int64_t(items.size()), 42, uint64_t(epoch) << 32);
    dl->start_epoch(epoch);
    Batch batch;
    int64_t b = 0;
    for (; dl->next(batch); ++b) {
      std::vector<float> got = values(batch.x);
      ASSERT_EQ(got.size(), 4 * per);
      for (int64_t k = 0; k < 4; ++k) {
        int64_t id = items[size_t(perm[size_t(b * 4 + k)])];
        std::vector<float> want(per);
        render_augmented(cache->pixels(id), cache->height(id), cache->width(id),
                         draw_augment(o.aug, 42, uint64_t(epoch), uint64_t(id)), o.aug, want.data());
        EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin() + long(per * size_t(k))))
            << "epoch " << epoch << " batch " << b << " item " << k;
        EXPECT_EQ(batch.y.to_vector<int64_t>()[size_t(k)], cache->label(id));
      }
    }
    EXPECT_EQ(b, 2);  // 11 items, drop_last
  }
  // Validation: the centre square (identity parameters), in the split's order.
  ImageLoaderOptions v = o;
  v.train = false;
  Example first = image_loader(cache, items, v)->dataset().get(0);
  std::vector<float> want(per);
  render_augmented(cache->pixels(11), cache->height(11), cache->width(11), AugmentParams{}, o.aug, want.data());
  EXPECT_EQ(values(first.x), want);
}

TEST(ImageLoader, DeterministicForAnyThreadCount) {
  PetsFolder f(6);
  auto cache = ImageCache::open(f.cache, f.files(), quiet());
  std::vector<int64_t> items(static_cast<size_t>(cache->size()));
  for (size_t i = 0; i < items.size(); ++i) items[i] = int64_t(i);
  auto run = [&](int threads, int prefetch) {
    ImageLoaderOptions o;
    o.batch_size = 5;
    o.threads = threads;
    o.prefetch = prefetch;
    o.aug.size = 12;
    std::shared_ptr<DataLoader> l = image_loader(cache, items, o);
    std::vector<float> all;
    for (int epoch : {0, 1}) {
      l->start_epoch(epoch);
      Batch b;
      while (l->next(b)) {
        std::vector<float> v = values(b.x);
        all.insert(all.end(), v.begin(), v.end());
      }
    }
    return all;
  };
  std::vector<float> one = run(1, 0);
  ASSERT_EQ(one.size(), size_t(2 * 2 * 5 * 3 * 12 * 12));
  EXPECT_EQ(one, run(2, 2));
  EXPECT_EQ(one, run(3, 1));
  // batch() builds the same tensors synchronously; another seed differs.
  ImageLoaderOptions o;
  o.batch_size = 5;
  o.aug.size = 12;
  std::shared_ptr<DataLoader> l = image_loader(cache, items, o);
  std::vector<float> b1 = values(l->batch(1, 0).x);
  EXPECT_TRUE(std::equal(b1.begin(), b1.end(), one.begin() + long(b1.size() * 2)));
  o.seed = 43;
  EXPECT_NE(values(image_loader(cache, items, o)->batch(1, 0).x), b1);
}

TEST(ImageLoader, ShowBatchWritesAGrid) {
  PetsFolder f(2);
  auto cache = ImageCache::open(f.cache, f.files(), quiet());
  ImageLoaderOptions o;
  o.batch_size = 4;
  o.aug.size = 10;
  Batch b = image_loader(cache, {0, 1, 2, 3}, o)->batch(0, 0);
  ShowBatchOptions so;
  so.ncol = 2;
  so.scale = 1;
  so.classes = f.files().classes;
  std::string png = f.cache_dir / "batch.png";
  std::string csv = show_batch(png, b.x, b.y, so);
  ImageInfo info = image_info(png);
  EXPECT_EQ(info.width, 2 * 12 + 2);
  EXPECT_EQ(info.height, 2 * 12 + 2);
  EXPECT_EQ(info.channels, 3);
  EXPECT_TRUE(fs::exists(csv));
}

// ---------------------------------------------------------------------------
// Pets
TEST(Pets, LabelsAndSpeciesOnAFakeFolder) {
  PetsFolder f(2);
  PetsData p = load_pets(f.dir.path());
  EXPECT_EQ(p.items.size(), 4);
  EXPECT_EQ(p.items.classes, (std::vector<std::string>{"Bengal", "boxer"}));
  EXPECT_EQ(p.species_of, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(p.n_cat_classes(), 1);
  EXPECT_EQ(pets_dir(f.dir.path()), f.dir.path());
}

TEST(Pets, MissingOrEmptyFolderErrorsNameIt) {
  TempDir empty_dir("ember-nopets-");
  expect_error([&] { load_pets("/no/such/pets"); }, {"load_pets", "/no/such/pets", "not a folder"});
  expect_error([&] { load_pets(empty_dir.path()); }, {"load_pets", empty_dir.path(), "matches"});
  expect_error([&] { pets_dir("/no/such/pets"); }, {"pets_dir", "/no/such/pets", "does not exist"});
  expect_error([&] { pets_dir(empty_dir.path()); }, {"pets_dir", empty_dir.path(), "images.tar.gz"});
  ScopedEnv data("EMBER_DATA_DIR", empty_dir.path().c_str());
  ScopedEnv home("HOME", empty_dir.path().c_str());
  ScopedEnv no_dl("EMBER_NO_DOWNLOAD", "1");
  expect_error([&] { pets_dir(""); },
               {"pets_dir", empty_dir / "oxford-iiit-pet", empty_dir / "oxford-pets-subset", "EMBER_NO_DOWNLOAD"});
}

// A folder that cannot be read says so, not "no Pets images ... download 790 MB". As root the
// permission bits do not stop reads, so the check runs in a child that drops to user nobody.
TEST(Pets, UnreadableFolderSaysPermissionDenied) {
  PetsFolder f(1);
  TempDir outer("ember-lockedpets-");
  const fs::path locked = outer / "pets";
  fs::rename(f.dir.path(), locked);
  fs::permissions(locked, fs::perms::none);
  fs::permissions(outer.path(), fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(2);
    std::string msg = "no error";
    try {
      pets_dir(locked.string());
    } catch (const std::exception& e) {
      msg = e.what();
    }
    if (write(fds[1], msg.data(), msg.size()) < 0) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  fs::permissions(locked, fs::perms::owner_all);
  fs::rename(locked, f.dir.path());  // PetsFolder cleans up its own folder
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop to user nobody here";
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_NE(got.find(locked.string()), std::string::npos) << got;
  EXPECT_NE(got.find("Permission denied"), std::string::npos) << got;
  EXPECT_EQ(got.find("790 MB"), std::string::npos) << got;
}

TEST(Pets, RealSubsetCachesEveryImage) {
  const char* data = std::getenv("EMBER_DATA_DIR");
  if (!data || !*data) GTEST_SKIP() << "EMBER_DATA_DIR is not set (the scripts point it at ../shared/data)";
  std::string dir;
  try {
    ScopedEnv no_dl("EMBER_NO_DOWNLOAD", "1");
    dir = pets_dir("");
  } catch (const Error& e) {
    GTEST_SKIP() << "no Pets images under EMBER_DATA_DIR=" << data << ": " << e.what();
  }
  PetsData pets = load_pets(dir);
  ASSERT_EQ(pets.items.classes.size(), 37u);
  EXPECT_EQ(pets.n_cat_classes(), 12);
  for (size_t c = 0; c < 37; ++c) EXPECT_EQ(pets.species_of[c], c < 12 ? 0 : 1) << pets.items.classes[c];
  EXPECT_EQ(pets.items.classes[0], "Abyssinian");
  bool subset = dir.find("oxford-pets-subset") != std::string::npos;
  if (subset) {
    EXPECT_EQ(pets.items.size(), 940);
  }

  TempDir tmp("ember-petsreal-");
  ImageCacheOptions o;
  o.log = nullptr;
  o.strict = true;  // every file, the GIF (Abyssinian_34) and the PNG (Abyssinian_5) included, decodes
  auto cache = ImageCache::open(tmp / "pets.bin", pets.items, o);
  EXPECT_EQ(cache->size(), pets.items.size());
  EXPECT_TRUE(cache->skipped().empty());
  for (int64_t i = 0; i < cache->size(); ++i) ASSERT_EQ(std::min(cache->height(i), cache->width(i)), 64);

  Split split = RandomSplitter(0.2, 42)(pets.items.size());
  std::shared_ptr<DataLoader> train = image_loader(cache, split.train);
  EXPECT_EQ(train->size(), int64_t(split.train.size() / 64));
  Batch b = train->batch(0, 0);
  EXPECT_EQ(b.x.shape(), (Shape{64, 3, 56, 56}));
  ShowBatchOptions so;
  so.classes = pets.items.classes;
  show_batch(tmp / "pets_batch.png", b.x, b.y, so);
  EXPECT_EQ(image_info(tmp / "pets_batch.png").channels, 3);
}
