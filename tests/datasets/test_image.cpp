// tests/datasets/test_image.cpp: PNG round trips, decoding by content, corrupt files, grids.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ember/datasets/Files.h"
#include "ember/datasets/Image.h"
#include "helpers.h"

using namespace ember;
using ember_test::expect_error;
using ember_test::pattern_u8;
using ember_test::read_bytes;
using ember_test::write_bytes;

TEST(Image, PngRoundTripGreyAndRgb) {
  TempDir tmp;
  Tensor grey = pattern_u8({5, 7});
  write_png(tmp / "g.png", grey);
  Tensor g = read_image(tmp / "g.png");
  EXPECT_EQ(g.dtype(), DType::u8);
  EXPECT_EQ(g.shape(), (Shape{5, 7, 1}));
  EXPECT_EQ(g.to_vector<uint8_t>(), grey.to_vector<uint8_t>());

  Tensor rgb = pattern_u8({4, 3, 3}, 11, 2);
  write_png(tmp / "c.png", rgb);
  ImageInfo info = image_info(tmp / "c.png");
  EXPECT_EQ(info.height, 4);
  EXPECT_EQ(info.width, 3);
  EXPECT_EQ(info.channels, 3);
  EXPECT_EQ(read_image(tmp / "c.png").to_vector<uint8_t>(), rgb.to_vector<uint8_t>());
  // Channel conversion: grey -> RGB repeats the value.
  Tensor g3 = read_image(tmp / "g.png", 3);
  EXPECT_EQ(g3.shape(), (Shape{5, 7, 3}));
  EXPECT_EQ(g3.select(2, 1).contiguous().to_vector<uint8_t>(), grey.to_vector<uint8_t>());
}

TEST(Image, DecodesByContentNotExtension) {
  TempDir tmp;
  Tensor img = pattern_u8({3, 3});
  write_png(tmp / "really_a_png.jpg", img);
  write_png(tmp / "no_extension", img);
  EXPECT_EQ(read_image(tmp / "really_a_png.jpg").to_vector<uint8_t>(), img.to_vector<uint8_t>());
  EXPECT_EQ(read_image(tmp / "no_extension").to_vector<uint8_t>(), img.to_vector<uint8_t>());
}

TEST(Image, WritePngIsAtomicAndLeavesNoTempFiles) {
  TempDir tmp;
  write_png(tmp / "a.png", pattern_u8({2, 2}));
  write_png(tmp / "a.png", pattern_u8({3, 3}));  // overwrite
  EXPECT_EQ(read_image(tmp / "a.png").shape(), (Shape{3, 3, 1}));
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(tmp.path())) (void)e, ++n;
  EXPECT_EQ(n, 1);
}

TEST(ImageErrors, CorruptPng) {
  TempDir tmp;
  std::string p = tmp / "broken.png";
  write_png(p, pattern_u8({16, 16}));
  std::vector<uint8_t> b = read_bytes(p);
  b.resize(30);  // keep the signature, cut the rest
  write_bytes(p, b);
  expect_error([&] { read_image(p); }, {"image: " + p, "cannot decode (stb_image: ", "89 50 4e 47"});
}

TEST(ImageErrors, NotAnImage) {
  TempDir tmp;
  std::string p = tmp / "notes.png";
  std::ofstream(p) << "hello, I am text";
  expect_error([&] { read_image(p); }, {"image: " + p, "stb_image: unknown image type", "68 65 6c 6c"});
  expect_error([&] { image_info(p); }, {"image: " + p, "cannot decode"});
}

TEST(ImageErrors, EmptyAndMissing) {
  TempDir tmp;
  std::string p = tmp / "empty.png";
  write_bytes(p, {});
  expect_error([&] { read_image(p); }, {"image: " + p, "file is empty"});
  expect_error([&] { read_image(tmp / "missing.png"); }, {"image: " + (tmp / "missing.png"), "cannot open"});
  expect_error([&] { read_image(tmp / "x.png", 7); }, {"channels must be 0"});
}

TEST(ImageErrors, WritePngChecksInput) {
  TempDir tmp;
  expect_error([&] { write_png(tmp / "f.png", zeros({2, 2})); }, {"write_png", "needs a u8 image, got f32"});
  expect_error([&] { write_png(tmp / "f.png", pattern_u8({2, 2, 5})); }, {"write_png", "C in 1..4, got [2, 2, 5]"});
  expect_error([&] { write_png(tmp / "no/such/dir/f.png", pattern_u8({2, 2})); }, {"write_png", "cannot create"});
}

TEST(Grid, LayoutOfCells) {
  // 3 images 2x2 in rows of 2 with pad 1: 2 rows -> 2*(2+1)+1 = 7 high, 7 wide.
  Tensor imgs = zeros({3, 2, 2}, DType::u8);
  imgs.select(0, 0).fill_(10);
  imgs.select(0, 1).fill_(20);
  imgs.select(0, 2).fill_(30);
  Tensor g = make_grid(imgs, 2, 1);
  ASSERT_EQ(g.shape(), (Shape{7, 7, 1}));
  std::vector<uint8_t> v = g.to_vector<uint8_t>();
  auto at = [&](int y, int x) { return v[size_t(y * 7 + x)]; };
  EXPECT_EQ(at(0, 0), 0);   // padding
  EXPECT_EQ(at(1, 1), 10);  // image 0 at (1, 1)
  EXPECT_EQ(at(2, 2), 10);
  EXPECT_EQ(at(1, 4), 20);  // image 1 at (1, 4)
  EXPECT_EQ(at(4, 1), 30);  // image 2 at (4, 1)
  EXPECT_EQ(at(4, 4), 0);   // empty cell
}

TEST(Grid, AcceptsFloatFlatAndChannelsFirst) {
  Tensor f = full({2, 4}, 1.0);  // [B, 784]-style flattened 2x2 images, float in [0, 1]
  Tensor g = make_grid(f, 8, 0);
  EXPECT_EQ(g.shape(), (Shape{2, 4, 1}));
  for (uint8_t p : g.to_vector<uint8_t>()) EXPECT_EQ(p, 255);
  Tensor chw = zeros({1, 3, 2, 2});
  EXPECT_EQ(make_grid(chw, 8, 0).shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(make_grid(pattern_u8({1, 2, 2}), 1, 0, 3).shape(), (Shape{6, 6, 1}));
  expect_error([&] { make_grid(zeros({2, 5})); }, {"make_grid", "D to be a square", "[2, 5]"});
}

TEST(ShowBatch, WritesPngAndLabelCsv) {
  TempDir tmp;
  Tensor imgs = pattern_u8({3, 28, 28});
  Tensor labels = from_vector<int64_t>({5, 0, 4});
  ShowBatchOptions opt;
  opt.ncol = 2;
  opt.classes = {"zero", "one", "two", "three", "four", "five,5"};
  std::string csv = show_batch(tmp / "batch.png", imgs, labels, opt);
  EXPECT_EQ(csv, tmp / "batch.csv");
  Tensor png = read_image(tmp / "batch.png");
  EXPECT_EQ(png.shape(), (Shape{2 * (56 + 2) + 2, 2 * (56 + 2) + 2, 1}));
  std::ifstream in(csv);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "index,row,col,label,class\n0,0,0,5,\"five,5\"\n1,0,1,0,zero\n2,1,0,4,four\n");
  expect_error([&] { show_batch(tmp / "b.png", imgs, from_vector<int64_t>({1, 2})); },
               {"show_batch", "labels [2] do not match images [3, 28, 28]"});
}
