// tests/datasets/test_dataloader.cpp: datasets, batching, shuffling, conversion, the prefetch thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "ember/datasets/DataLoader.h"
#include "ember/datasets/Image.h"
#include "helpers.h"

using namespace ember;
using ember_test::expect_error;
using ember_test::pattern_u8;

namespace {
// x: u8 [n, 2, 3] where every pixel of item i is i % 256; y: i64 [n] = i.
std::shared_ptr<TensorDataset> numbered(int64_t n) {
  Tensor x = empty({n, 2, 3}, DType::u8);
  Tensor y = empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) x.data<uint8_t>()[i * 6 + k] = static_cast<uint8_t>(i % 256);
    y.data<int64_t>()[i] = i;
  }
  return std::make_shared<TensorDataset>(x, y);
}

std::vector<int64_t> labels_of(DataLoader& dl) {
  std::vector<int64_t> all;
  for (Batch& b : dl)
    for (int64_t v : b.y.to_vector<int64_t>()) all.push_back(v);
  return all;
}

// Counts get() calls, can sleep, and throws at one index.
class Probe : public Dataset {
 public:
  Probe(int64_t n, int64_t bad = -1, int sleep_ms = 0) : n_(n), bad_(bad), sleep_ms_(sleep_ms) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    ++calls;
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    EMBER_CHECK(i != bad_, "Probe: item ", i, " is broken");
    Tensor y = empty({}, DType::i64);
    *y.data<int64_t>() = i;
    return {full({2}, double(i)), y};
  }
  mutable std::atomic<int> calls{0};

 private:
  int64_t n_, bad_;
  int sleep_ms_;
};
}  // namespace

TEST(TensorDatasetTest, GetAndBatch) {
  auto ds = numbered(10);
  EXPECT_EQ(ds->size(), 10);
  Example e = ds->get(3);
  EXPECT_EQ(e.x.shape(), (Shape{2, 3}));
  EXPECT_EQ(e.y.item<int64_t>(), 3);
  Example b = ds->get_batch({7, 1});
  EXPECT_EQ(b.x.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(b.y.to_vector<int64_t>(), (std::vector<int64_t>{7, 1}));
  EXPECT_EQ(b.x.to_vector<uint8_t>()[0], 7);
  EXPECT_EQ(b.x.to_vector<uint8_t>()[6], 1);
  expect_error([&] { ds->get(10); }, {"TensorDataset: index 10 out of range for 10 items"});
  expect_error([&] { ds->get_batch({0, -1}); }, {"TensorDataset: index -1 out of range"});
  expect_error([] { TensorDataset(zeros({4, 2}), zeros({3})); },
               {"TensorDataset: x has 4 items [4, 2] but y has 3 [3]"});
}

TEST(TensorDatasetTest, DefaultGetBatchStacksAndChecksShapes) {
  Probe p(5);
  Example b = p.get_batch({4, 0, 2});
  EXPECT_EQ(b.x.shape(), (Shape{3, 2}));
  EXPECT_EQ(b.y.shape(), (Shape{3}));
  EXPECT_EQ(b.y.to_vector<int64_t>(), (std::vector<int64_t>{4, 0, 2}));
  std::vector<Example> mixed{{zeros({2, 2}), zeros({})}, {zeros({3, 2}), zeros({})}};
  expect_error([&] { stack_examples(mixed, "collate"); },
               {"collate: item 1 has x f32 [3, 2] but item 0 has f32 [2, 2]"});
}

TEST(SubsetTest, MapsIndices) {
  auto base = numbered(10);
  Subset s(base, {9, 4, 2});
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.get(1).y.item<int64_t>(), 4);
  EXPECT_EQ(s.get_batch({2, 0}).y.to_vector<int64_t>(), (std::vector<int64_t>{2, 9}));
  expect_error([&] { Subset(base, {10}); }, {"Subset: index 10 out of range for 10 items"});
}

TEST(DataLoaderTest, SequentialBatchesAndLastPartialBatch) {
  DataLoaderOptions opt;
  opt.batch_size = 4;
  DataLoader dl(numbered(10), opt);
  EXPECT_EQ(dl.size(), 3);
  std::vector<int64_t> sizes;
  for (Batch& b : dl) sizes.push_back(b.x.size(0));
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(labels_of(dl), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  opt.drop_last = true;
  DataLoader dl2(numbered(10), opt);
  EXPECT_EQ(dl2.size(), 2);
  EXPECT_EQ(labels_of(dl2).size(), 8u);
}

TEST(DataLoaderTest, ConvertsU8ToUnitFloatAndFlattens) {
  DataLoaderOptions opt;
  opt.batch_size = 3;
  DataLoader dl(numbered(6), opt);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.x.dtype(), DType::f32);
  EXPECT_EQ(b.x.shape(), (Shape{3, 2, 3}));
  EXPECT_FLOAT_EQ(b.x.to_vector<float>()[6], 1.0f / 255.0f);
  EXPECT_EQ(b.y.dtype(), DType::i64);

  opt.flatten = true;
  DataLoader flat(numbered(6), opt);
  ASSERT_TRUE(flat.next(b));
  EXPECT_EQ(b.x.shape(), (Shape{3, 6}));

  opt.flatten = false;
  opt.to_float = false;
  opt.channels_first = true;
  DataLoader raw(numbered(6), opt);
  ASSERT_TRUE(raw.next(b));
  EXPECT_EQ(b.x.dtype(), DType::u8);
  EXPECT_EQ(b.x.shape(), (Shape{3, 1, 2, 3}));
}

TEST(DataLoaderTest, ChannelsFirstTransposesHwc) {
  // One 2x2 RGB image with pixel (y, x, c) = 100*c + 10*y + x.
  Tensor x = empty({1, 2, 2, 3}, DType::u8);
  for (int y = 0; y < 2; ++y)
    for (int xx = 0; xx < 2; ++xx)
      for (int c = 0; c < 3; ++c) x.data<uint8_t>()[(y * 2 + xx) * 3 + c] = uint8_t(100 * c + 10 * y + xx);
  DataLoaderOptions opt;
  opt.channels_first = true;
  opt.to_float = false;
  DataLoader dl(x, zeros({1}, DType::i64), opt);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.x.shape(), (Shape{1, 3, 2, 2}));
  EXPECT_EQ(b.x.to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 1, 10, 11, 100, 101, 110, 111, 200, 201, 210, 211}));
}

TEST(DataLoaderTest, ShuffleIsSeededPerEpochAndCoversEveryItem) {
  DataLoaderOptions opt;
  opt.batch_size = 7;
  opt.shuffle = true;
  opt.seed = 5;
  DataLoader a(numbered(50), opt), b(numbered(50), opt);
  std::vector<int64_t> a0 = labels_of(a), a1 = labels_of(a);
  std::vector<int64_t> b0 = labels_of(b), b1 = labels_of(b);
  EXPECT_EQ(a0, b0);  // same seed, same batches
  EXPECT_EQ(a1, b1);
  EXPECT_NE(a0, a1);  // a new order each epoch
  EXPECT_EQ(std::set<int64_t>(a0.begin(), a0.end()).size(), 50u);
  EXPECT_EQ(a0, a.epoch_order(0));
  EXPECT_EQ(a1, epoch_order(50, 5, 1, true));  // the one order function
  EXPECT_EQ(a1, permutation(50, 5, uint64_t{1} << 32));  // documented: permutation(n, seed, e << 32)
  EXPECT_EQ(a.epoch(), 1);
  // Resume: set_epoch replays an epoch's order.
  a.set_epoch(0);
  EXPECT_EQ(labels_of(a), a0);
  opt.seed = 6;
  DataLoader c(numbered(50), opt);
  EXPECT_NE(labels_of(c), a0);
}

TEST(DataLoaderTest, PrefetchAndSynchronousGiveIdenticalBatches) {
  DataLoaderOptions opt;
  opt.batch_size = 8;
  opt.shuffle = true;
  opt.seed = 9;
  std::vector<std::vector<float>> with, without;
  DataLoader p(numbered(40), opt);
  for (Batch& b : p) with.push_back(b.x.to_vector<float>());
  opt.prefetch = 0;
  DataLoader s(numbered(40), opt);
  for (Batch& b : s) without.push_back(b.x.to_vector<float>());
  EXPECT_EQ(with, without);
}

TEST(DataLoaderTest, NextReturnsFalseAtEndThenStartsNextEpoch) {
  DataLoaderOptions opt;
  opt.batch_size = 5;
  DataLoader dl(numbered(10), opt);
  Batch b;
  int n = 0;
  while (dl.next(b)) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_EQ(dl.epoch(), 0);
  while (dl.next(b)) ++n;
  EXPECT_EQ(n, 4);
  EXPECT_EQ(dl.epoch(), 1);
}

TEST(DataLoaderTest, DestroyMidEpochStopsThePrefetchThread) {
  auto probe = std::make_shared<Probe>(1000, -1, 1);
  {
    DataLoaderOptions opt;
    opt.batch_size = 10;
    opt.prefetch = 2;
    DataLoader dl(probe, opt);
    Batch b;
    ASSERT_TRUE(dl.next(b));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // must join promptly, not build the remaining 99 batches
  int calls = probe->calls.load();
  EXPECT_LE(calls, 10 * (1 + 2 + 1));  // the taken batch, a full queue, one in flight
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(probe->calls.load(), calls);  // nothing runs after the destructor
}

TEST(DataLoaderTest, RestartingMidEpochAbandonsTheOldEpoch) {
  DataLoaderOptions opt;
  opt.batch_size = 2;
  DataLoader dl(numbered(10), opt);
  for (Batch& b : dl) {
    (void)b;
    break;
  }
  EXPECT_EQ(labels_of(dl).size(), 10u);  // the new epoch is complete
}

TEST(DataLoaderTest, DatasetErrorsReachTheCaller) {
  for (int prefetch : {0, 2}) {
    DataLoaderOptions opt;
    opt.batch_size = 4;
    opt.prefetch = prefetch;
    DataLoader dl(std::make_shared<Probe>(20, 9), opt);
    Batch b;
    EXPECT_TRUE(dl.next(b));
    EXPECT_TRUE(dl.next(b));
    expect_error([&] { dl.next(b); }, {"Probe: item 9 is broken"});
    // The loader is usable again: a new epoch starts (and fails at the same item).
    EXPECT_TRUE(dl.next(b));
  }
}

TEST(DataLoaderTest, OptionErrors) {
  DataLoaderOptions opt;
  opt.batch_size = 0;
  expect_error([&] { DataLoader(numbered(3), opt); }, {"DataLoader: batch_size must be >= 1, got 0"});
  opt.batch_size = 1;
  opt.prefetch = -1;
  expect_error([&] { DataLoader(numbered(3), opt); }, {"DataLoader: prefetch must be >= 0, got -1"});
  expect_error([&] { DataLoader(nullptr); }, {"DataLoader: null dataset"});
}

TEST(DataLoaderTest, DropLastWithABatchLargerThanTheDataIsAnErrorUpFront) {
  DataLoaderOptions opt;
  opt.batch_size = 8;
  opt.drop_last = true;
  opt.name = "valid";
  expect_error([&] { DataLoader(numbered(5), opt); },
               {"DataLoader 'valid'", "batch_size 8", "5 items", "drop_last"});
  opt.drop_last = false;  // one partial batch
  DataLoader dl(numbered(5), opt);
  EXPECT_EQ(dl.size(), 1);
}

TEST(EpochOrder, OneFunctionForEveryShuffle) {
  // Without shuffle: 0..n-1 for every epoch and seed.
  EXPECT_EQ(epoch_order(4, 9, 3, false), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(epoch_order(0, 9, 0, true).empty());
  // With shuffle: permutation(n, seed, epoch << 32), a pure function of (n, seed, epoch).
  for (int64_t e : {0, 1, 7}) {
    std::vector<int64_t> o = epoch_order(100, 42, e, true);
    EXPECT_EQ(o, permutation(100, 42, static_cast<uint64_t>(e) << 32)) << "epoch " << e;
    manual_seed(123);  // the global generator does not matter
    EXPECT_EQ(epoch_order(100, 42, e, true), o);
    std::vector<int64_t> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  }
  EXPECT_NE(epoch_order(100, 42, 0, true), epoch_order(100, 42, 1, true));
  EXPECT_NE(epoch_order(100, 42, 0, true), epoch_order(100, 43, 0, true));
  expect_error([] { epoch_order(5, 0, -1, true); }, {"epoch_order", "epoch must be >= 0, got -1"});
}

namespace {
// Item i of epoch e is the number 1000 e + i: shows which epoch each batch was built for.
struct EpochStamped : Dataset {
  int64_t size() const override { return 12; }
  Example get(int64_t i) const override { return get_epoch_batch({i}, 0); }
  Example get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const override {
    std::vector<float> v;
    for (int64_t i : indices) v.push_back(static_cast<float>(1000 * epoch + i));
    return {from_vector(v), from_vector(indices)};
  }
};
}  // namespace

TEST(DataLoaderTest, EpochAwareDatasetSeesTheEpochOfEachBatch) {
  for (int prefetch : {0, 3}) {
    DataLoaderOptions opt;
    opt.batch_size = 5;
    opt.shuffle = true;
    opt.seed = 4;
    opt.prefetch = prefetch;
    DataLoader dl(std::make_shared<EpochStamped>(), opt);
    for (int64_t e : {0, 1, 5}) {
      dl.start_epoch(e);
      std::vector<int64_t> order = dl.epoch_order(e);
      Batch b;
      size_t k = 0;
      for (int64_t nb = 0; dl.next(b); ++nb) {
        std::vector<float> xs = b.x.to_vector<float>();
        EXPECT_EQ(xs, dl.batch(e, nb).x.to_vector<float>());  // batch(e, b) is what next() gives
        for (float v : xs) EXPECT_EQ(v, static_cast<float>(1000 * e + order[k++])) << "prefetch " << prefetch;
      }
      EXPECT_EQ(k, 12u);
    }
  }
  // A Subset passes the epoch on.
  auto sub = std::make_shared<Subset>(std::make_shared<EpochStamped>(), std::vector<int64_t>{3, 7});
  EXPECT_EQ(sub->get_epoch_batch({1, 0}, 2).x.to_vector<float>(), (std::vector<float>{2007, 2003}));
}

TEST(DataLoaderTest, StartEpochAtABatchBuildsOnlyTheRest) {
  for (int prefetch : {0, 2}) {
    DataLoaderOptions opt;
    opt.batch_size = 1;  // 12 items: 12 batches
    opt.shuffle = true;
    opt.seed = 9;
    opt.prefetch = prefetch;
    DataLoader dl(std::make_shared<EpochStamped>(), opt);
    for (int64_t first : {0, 7, 11, 12}) {
      dl.start_epoch(3, first);
      EXPECT_EQ(dl.epoch(), 3);
      Batch b;
      int64_t k = first;
      for (; dl.next(b); ++k) EXPECT_EQ(b.x.to_vector<float>(), dl.batch(3, k).x.to_vector<float>()) << k;
      EXPECT_EQ(k, 12) << "prefetch " << prefetch << ", first " << first;
    }
    try {
      dl.start_epoch(0, 13);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("first_batch 13 out of range (12 batches per epoch)"), std::string::npos)
          << e.what();
    }
  }
}

TEST(DataLoaderTest, EmptyDataset) {
  DataLoader dl(numbered(0));
  EXPECT_EQ(dl.size(), 0);
  EXPECT_TRUE(labels_of(dl).empty());
}

TEST(ImageFileDatasetTest, DecodesFilesThroughTheLoader) {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "b");
  std::filesystem::create_directories(tmp / "a");
  write_png(tmp / "b/1.png", pattern_u8({4, 4, 3}));
  write_png(tmp / "a/2.png", pattern_u8({4, 4}));  // grey: converted to RGB
  write_png(tmp / "a/3.png", pattern_u8({4, 4, 3}, 5));
  auto ds = std::make_shared<ImageFileDataset>(image_folder(tmp.path()), 3);
  EXPECT_EQ(ds->classes(), (std::vector<std::string>{"a", "b"}));
  DataLoaderOptions opt;
  opt.batch_size = 3;
  opt.channels_first = true;
  DataLoader dl(ds, opt);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.x.shape(), (Shape{3, 3, 4, 4}));
  EXPECT_EQ(b.x.dtype(), DType::f32);
  EXPECT_EQ(b.y.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1}));
  // A corrupt file: the error from the prefetch thread names it.
  std::ofstream(tmp / "a/2.png") << "garbage";
  DataLoader bad(ds, opt);
  expect_error([&] { bad.next(b); }, {"image: " + (tmp / "a/2.png"), "cannot decode"});
  // Mixed sizes cannot be stacked.
  write_png(tmp / "a/2.png", pattern_u8({5, 4}));
  DataLoader mixed(ds, opt);
  expect_error([&] { mixed.next(b); }, {"item 1 has x u8 [4, 4, 3] but item 0 has u8 [5, 4, 3]"});
}
