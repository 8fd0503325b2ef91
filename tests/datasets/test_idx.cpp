// tests/datasets/test_idx.cpp: IDX round trips (raw and gzip) and every malformed file.
#include <gtest/gtest.h>

#include "ember/datasets/Files.h"
#include "ember/datasets/Idx.h"
#include "helpers.h"

using namespace ember;
using ember_test::expect_error;
using ember_test::pattern_u8;
using ember_test::read_bytes;
using ember_test::write_bytes;

namespace {
// Header bytes for magic 00 00 <type> <ndims> and dims.
std::vector<uint8_t> header(uint8_t type, std::vector<uint32_t> dims) {
  std::vector<uint8_t> h{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(d >> s));
  return h;
}
}  // namespace

TEST(Idx, RoundTripRawAndGzip) {
  TempDir tmp;
  Tensor images = pattern_u8({5, 4, 3});
  Tensor labels = pattern_u8({5}, 3, 1);
  for (bool gz : {false, true}) {
    std::string ip = tmp / (gz ? "img.gz" : "img"), lp = tmp / (gz ? "lab.gz" : "lab");
    write_idx(ip, images, gz);
    write_idx(lp, labels, gz);
    EXPECT_EQ(is_gzip_file(ip), gz);
    Tensor a = read_idx(ip), b = read_idx(lp);
    EXPECT_EQ(a.dtype(), DType::u8);
    EXPECT_EQ(a.shape(), (Shape{5, 4, 3}));
    EXPECT_EQ(b.shape(), (Shape{5}));
    EXPECT_EQ(a.to_vector<uint8_t>(), images.to_vector<uint8_t>());
    EXPECT_EQ(b.to_vector<uint8_t>(), labels.to_vector<uint8_t>());
  }
  // The raw file is exactly header + data, big-endian, magic 0x00000803.
  std::vector<uint8_t> raw = read_bytes(tmp / "img");
  ASSERT_EQ(raw.size(), 16u + 60u);
  EXPECT_EQ(std::vector<uint8_t>(raw.begin(), raw.begin() + 16), header(0x08, {5, 4, 3}));
}

TEST(Idx, GzipDetectedByContentNotName) {
  TempDir tmp;
  Tensor t = pattern_u8({2, 3});
  write_idx(tmp / "gzipped_but_no_suffix", t, true);
  write_idx(tmp / "raw_but_named.gz", t, false);
  EXPECT_EQ(read_idx(tmp / "gzipped_but_no_suffix").to_vector<uint8_t>(), t.to_vector<uint8_t>());
  EXPECT_EQ(read_idx(tmp / "raw_but_named.gz").to_vector<uint8_t>(), t.to_vector<uint8_t>());
}

TEST(Idx, EmptyFirstDimIsFine) {
  TempDir tmp;
  write_bytes(tmp / "e", header(0x08, {0, 28, 28}));
  EXPECT_EQ(read_idx(tmp / "e").shape(), (Shape{0, 28, 28}));
}

TEST(IdxErrors, MissingFile) {
  TempDir tmp;
  std::string p = tmp / "nope-idx3-ubyte.gz";
  expect_error([&] { read_idx(p); }, {"idx: ", p, "cannot open", "No such file"});
}

TEST(IdxErrors, FolderInsteadOfFile) {
  TempDir tmp;
  expect_error([&] { read_idx(tmp.path()); }, {"idx: ", tmp.path(), "is a folder"});
}

TEST(IdxErrors, TruncatedRaw) {
  TempDir tmp;
  std::vector<uint8_t> b = header(0x08, {60000, 28, 28});
  b.resize(b.size() + 1234, 7);
  std::string p = tmp / "train-images-idx3-ubyte";
  write_bytes(p, b);
  expect_error([&] { read_idx(p); },
               {"idx: " + p + ": truncated: header says 60000x28x28 = 47040000 bytes, file has 1234"});
}

TEST(IdxErrors, TruncatedGzipContent) {
  // A complete gzip stream whose content is shorter than the header claims.
  TempDir tmp;
  std::vector<uint8_t> b = header(0x08, {10, 2, 2});
  b.resize(b.size() + 30, 1);
  std::string p = tmp / "short.gz";
  write_gzip_file_atomic(p, b.data(), b.size());
  expect_error([&] { read_idx(p); }, {"idx: " + p, "truncated: header says 10x2x2 = 40 bytes, file has 30",
                                      "decompressed"});
}

TEST(IdxErrors, CutGzipStream) {
  // A .gz file cut in the middle (an interrupted download).
  TempDir tmp;
  std::string full = tmp / "full.gz", cut = tmp / "cut.gz";
  write_idx(full, pattern_u8({200, 28, 28}, 13, 5), true);
  std::vector<uint8_t> b = read_bytes(full);
  b.resize(b.size() / 2);
  write_bytes(cut, b);
  expect_error([&] { read_idx(cut); }, {"idx: " + cut, "truncated gzip data"});
}

TEST(IdxErrors, CorruptGzipStream) {
  TempDir tmp;
  std::string full = tmp / "x.gz";
  write_idx(full, pattern_u8({50, 28, 28}, 13, 5), true);
  std::vector<uint8_t> b = read_bytes(full);
  for (size_t i = 20; i < 60 && i < b.size(); ++i) b[i] ^= 0xA5;  // scramble deflate data
  write_bytes(full, b);
  expect_error([&] { read_idx(full); }, {"idx: " + full, "gzip"});
}

TEST(IdxErrors, WrongMagic) {
  TempDir tmp;
  std::string p = tmp / "bad";
  write_bytes(p, {0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 9});
  expect_error([&] { read_idx(p); }, {"idx: " + p, "bad magic number 0x12340801", "not an IDX file",
                                      "0x00000803"});
  // A PNG or text file handed over by mistake.
  write_bytes(p, {0x89, 'P', 'N', 'G', 13, 10, 26, 10});
  expect_error([&] { read_idx(p); }, {"bad magic number 0x89504e47"});
}

TEST(IdxErrors, UnsupportedElementType) {
  TempDir tmp;
  std::string p = tmp / "floats";
  std::vector<uint8_t> b = header(0x0D, {2});
  b.resize(b.size() + 8, 0);
  write_bytes(p, b);
  expect_error([&] { read_idx(p); }, {"idx: " + p, "0x00000d01", "element type 0xd (float32)",
                                      "only 0x08 (unsigned byte)"});
}

TEST(IdxErrors, BadDimCount) {
  TempDir tmp;
  std::string p = tmp / "zero-dims";
  write_bytes(p, {0, 0, 8, 0});
  expect_error([&] { read_idx(p); }, {"idx: " + p, "says 0 dims"});
  write_bytes(p, {0, 0, 8, 40});
  expect_error([&] { read_idx(p); }, {"says 40 dims; expected 1 to 16"});
}

TEST(IdxErrors, TruncatedHeader) {
  TempDir tmp;
  std::string p = tmp / "h";
  write_bytes(p, {0, 0});
  expect_error([&] { read_idx(p); }, {"idx: " + p, "too short for an IDX header (2 bytes"});
  write_bytes(p, {0, 0, 8, 3, 0, 0, 0, 5, 0, 0});
  expect_error([&] { read_idx(p); }, {"idx: " + p, "truncated header", "announces 3 dims (12 bytes) but only 6"});
}

TEST(IdxErrors, HugeHeaderRefusedBeforeAllocating) {
  TempDir tmp;
  std::string p = tmp / "huge";
  // 2^32-1 images of 28x28 with no data: must fail on the header, not on a 3 TB allocation.
  write_bytes(p, header(0x08, {0xffffffffu, 28, 28}));
  expect_error([&] { read_idx(p); }, {"idx: " + p, "header claims 4294967295x28x28 = 3367254359280 bytes",
                                      "limit of 2147483648 bytes", "refusing to allocate"});
  // Overflowing 64 bits is caught too; also through gzip.
  std::vector<uint8_t> h = header(0x08, {0xffffffffu, 0xffffffffu, 0xffffffffu});
  write_gzip_file_atomic(p + ".gz", h.data(), h.size());
  expect_error([&] { read_idx(p + ".gz"); }, {"more than 2^64"});
  // The limit is configurable.
  std::string small = tmp / "small";
  write_idx(small, pattern_u8({10, 10}));
  IdxOptions opt;
  opt.max_bytes = 99;
  expect_error([&] { read_idx(small, opt); }, {"header claims 10x10 = 100 bytes, over the limit of 99"});
  opt.max_bytes = 100;
  EXPECT_EQ(read_idx(small, opt).numel(), 100);
}

TEST(IdxErrors, TrailingGarbage) {
  TempDir tmp;
  for (bool gz : {false, true}) {
    std::string p = tmp / (gz ? "t.gz" : "t");
    std::vector<uint8_t> b = header(0x08, {3, 2, 2});
    b.resize(b.size() + 12 + 5, 1);
    if (gz) write_gzip_file_atomic(p, b.data(), b.size());
    else write_bytes(p, b);
    expect_error([&] { read_idx(p); }, {"idx: " + p, "trailing garbage: header says 3x2x2 = 12 bytes, but 5 more"});
  }
}

TEST(IdxErrors, WriteNeedsU8) {
  TempDir tmp;
  expect_error([&] { write_idx(tmp / "f", zeros({2, 2})); }, {"write_idx", "needs a u8 tensor, got f32 [2, 2]"});
}
