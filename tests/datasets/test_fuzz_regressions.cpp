// tests/datasets/test_fuzz_regressions.cpp: inputs found by the fuzzers (fuzz/, docs/security.md)
// and hostile headers, each refused with a clear ember::Error; the hostile ones also under an
// address-space cap (as `ulimit -v`), which shows they are refused before any large allocation.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <regex>

#include "ember/datasets/Files.h"
#include "ember/datasets/Idx.h"
#include "ember/datasets/Image.h"
#include "helpers.h"
#include "lib/address_cap.h"

using namespace ember;
using ember_test::expect_error;
using ember_test::write_bytes;
namespace fs = std::filesystem;

namespace {
const std::string kFixtures = std::string(EMBER_SOURCE_DIR) + "/tests/datasets/fixtures/fuzz";

// The committed inputs whose name starts with `prefix` ("idx-", "image-").
std::vector<std::string> fuzz_inputs(const std::string& prefix) {
  std::vector<std::string> out;
  if (fs::is_directory(kFixtures))
    for (auto& e : fs::directory_iterator(kFixtures))
      if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint8_t> idx_header(std::vector<uint32_t> dims) {
  std::vector<uint8_t> h{0, 0, 8, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(d >> s));
  return h;
}

std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& raw) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, raw.size()) + 64);
  z.next_in = const_cast<uint8_t*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

TEST(FuzzRegressions, IdxInputsAreRefused) {
  for (const std::string& p : fuzz_inputs("idx-")) {
    SCOPED_TRACE(p);
    expect_error([&] { read_idx(p); }, {"idx: ", p});
  }
}

TEST(FuzzRegressions, ImageInputsAreRefused) {
  // Each file's first byte is the channel count the fuzzer asked for (fuzz/fuzz_image.cpp).
  for (const std::string& p : fuzz_inputs("image-")) {
    SCOPED_TRACE(p);
    std::vector<uint8_t> b = ember_test::read_bytes(p);
    ASSERT_FALSE(b.empty());
    expect_error([&] { decode_image(b.data() + 1, b.size() - 1, p, b[0] % 5); }, {"image: ", p});
  }
}

// --- hostile headers ---------------------------------------------------------------------
TEST(HostileHeaders, IdxClaiming2To32ImagesIsRefused) {
  TempDir tmp;
  std::string raw = tmp / "huge.idx", gz = tmp / "huge.idx.gz";
  std::vector<uint8_t> h = idx_header({0xffffffffu, 28, 28});
  h.resize(h.size() + 784, 7);  // one image of data
  write_bytes(raw, h);
  write_bytes(gz, gzip_bytes(h));
  for (const std::string& p : {raw, gz}) {
    expect_error([&] { read_idx(p); }, {p, "4294967295x28x28", "over the limit", "IdxOptions::max_bytes"});
    if (!ember_test::asan_build()) EXPECT_REFUSED_UNDER_CAP(512, [&] { read_idx(p); }, "over the limit");
  }
}

TEST(HostileHeaders, GzipIdxOverAraisedLimitFailsAsTruncatedWithoutAllocatingTheClaim) {
  // 2^32 one-byte labels claimed (4 GiB) with the limit raised to allow it: a gzip file's size says
  // nothing about what it inflates to, so the reader must grow with the data, not trust the header.
  TempDir tmp;
  std::string gz = tmp / "labels.idx.gz";
  std::vector<uint8_t> h = idx_header({0xffffffffu});
  h.resize(h.size() + 1000, 1);
  write_bytes(gz, gzip_bytes(h));
  IdxOptions big;
  big.max_bytes = uint64_t(1) << 40;
  expect_error([&] { read_idx(gz, big); }, {gz, "truncated", "4294967295 bytes", "file has 1000"});
  if (!ember_test::asan_build()) EXPECT_REFUSED_UNDER_CAP(512, [&] { read_idx(gz, big); }, "truncated");
}

TEST(HostileHeaders, ImageClaimingHugeDimensionsIsRefused) {
  // A 13-byte-header GIF claiming 65535 x 65535 (stb_image would allocate 3 x 16 GiB-capped buffers).
  std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
                              ',', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, ';'};
  expect_error([&] { decode_image(gif.data(), gif.size(), "huge.gif"); },
               {"huge.gif", "65535x65535", "set_max_image_pixels"});
  if (!ember_test::asan_build())
    EXPECT_REFUSED_UNDER_CAP(512, [&] { decode_image(gif.data(), gif.size(), "huge.gif"); }, "pixels");
  // The limit is configurable.
  EXPECT_EQ(max_image_pixels(), kDefaultMaxImagePixels);
  set_max_image_pixels(4);
  std::vector<uint8_t> png = ember_test::read_bytes(std::string(EMBER_SOURCE_DIR) + "/fuzz/corpus/image/rgba_2x2.png");
  EXPECT_NO_THROW(decode_image(png.data() + 1, png.size() - 1, "2x2.png"));
  set_max_image_pixels(3);
  expect_error([&] { decode_image(png.data() + 1, png.size() - 1, "2x2.png"); }, {"2x2 = 4 pixels", "limit of 3"});
  set_max_image_pixels(kDefaultMaxImagePixels);
  expect_error([] { set_max_image_pixels(0); }, {"positive"});
}

// A side over 2^24 is one stb_image refuses itself, but it then reports "unknown image type" (it
// tries every other format): the pixel limit names the real cause first.
TEST(HostileHeaders, HugePngOrBmpNamesThePixelLimitNotUnknownType) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                              0x02, 0x00, 0x00, 0x00, 0, 0, 0, 2, 8, 2, 0, 0, 0, 0, 0, 0, 0};  // 2^25 x 2
  expect_error([&] { decode_image(png.data(), png.size(), "wide.png"); },
               {"wide.png", "PNG header claims 33554432x2 = 67108864 pixels, over the limit"});
  std::vector<uint8_t> bmp(54, 0);
  bmp[0] = 'B', bmp[1] = 'M', bmp[14] = 40;
  bmp[21] = 0x02;                                   // width 2^25 (little-endian at 18)
  bmp[22] = 0xfe, bmp[23] = bmp[24] = bmp[25] = 0xff;  // height -2: top-down rows
  bmp[26] = 1, bmp[28] = 24;
  expect_error([&] { decode_image(bmp.data(), bmp.size(), "wide.bmp"); },
               {"wide.bmp", "BMP header claims 33554432x2", "over the limit"});
  const std::string path = ::testing::TempDir() + "wide.png";
  ember_test::write_bytes(path, png);
  expect_error([&] { image_info(path); }, {"wide.png", "PNG header claims", "over the limit"});
}

TEST(FuzzRegressions, ImageSeedsStillDecode) {
  // The hand-made fuzz seeds (fuzz/corpus/image: PNG, JPEG, GIF, BMP, PGM, PPM, TGA, HDR) are valid
  // files: the checks added for the findings (JPEG Huffman tables, PNM header, pixel limit) must
  // let them through. (The PBM seed is there for the fuzzer: stb_image reads P5 and P6 only.) The
  // inputs the fuzzer grew, named by their SHA-1, are mostly corrupt and are not checked here.
  std::string dir = std::string(EMBER_SOURCE_DIR) + "/fuzz/corpus/image";
  const std::regex grown("[0-9a-f]{40}");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find("pbm") != std::string::npos || std::regex_match(name, grown)) continue;
    SCOPED_TRACE(e.path().string());
    std::vector<uint8_t> b = ember_test::read_bytes(e.path().string());
    Tensor t = decode_image(b.data() + 1, b.size() - 1, e.path().string(), b[0] % 5);
    EXPECT_GT(t.numel(), 0);
    ++n;
  }
  EXPECT_GE(n, 10);
}
