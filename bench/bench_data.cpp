// bench/bench_data.cpp: throughput of the Pets image pipeline (a plain timing program, not Google
// Benchmark: building the cache is a one-shot job of seconds).
//
//   cmake --build <build> --target bench_data && EMBER_DATA_DIR=../shared/data <build>/bin/bench_data
//   options: --data DIR (Pets images; default pets_dir("")), --threads 1,2, --epochs 3,
//            --step-ms 300 (the simulated training step), --show PNG (writes one augmented batch)
//
// Prints a markdown report: images/s decoding the cache (a fresh cache per thread count), the time
// to reopen it (mmap), augmented training batches/s (bs 64, 56 px) and validation batches/s per
// thread count, and the time next() waits for data while a consumer spins one core for --step-ms
// per batch, as a training step would.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ember/datasets/Augment.h"
#include "ember/datasets/AugmentedImages.h"
#include "ember/datasets/Files.h"
#include "ember/datasets/Image.h"
#include "ember/datasets/ImageCache.h"
#include "ember/datasets/Pets.h"

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::atoi(item.c_str()));
  return out;
}

// Busy work on the calling thread for `ms` milliseconds (a stand-in for a training step).
void spin(double ms) {
  auto t0 = Clock::now();
  volatile double x = 0;
  while (since(t0) * 1000.0 < ms) x = x + 1.0;
}
}  // namespace

int main(int argc, char** argv) {
  std::string data, show;
  std::vector<int> threads{1, 2};
  int epochs = 3;
  double step_ms = 300;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_data: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") data = value();
    else if (a == "--threads") threads = parse_list(value());
    else if (a == "--epochs") epochs = std::atoi(value().c_str());
    else if (a == "--step-ms") step_ms = std::atof(value().c_str());
    else if (a == "--show") show = value();
    else {
      std::fprintf(stderr, "bench_data: unknown option %s (see bench/bench_data.cpp)\n", a.c_str());
      return 2;
    }
  }
  try {
    PetsData pets = load_pets(pets_dir(data));
    const int64_t n = pets.items.size();
    Split split = RandomSplitter(0.2, 42)(n);
    std::printf("Pets images: %s (%lld files, %zu classes); hardware threads: %u\n\n", pets.images_dir.c_str(),
                static_cast<long long>(n), pets.items.classes.size(), std::thread::hardware_concurrency());

    std::printf("| threads | decode + resize to 64 (images/s) | reopen (mmap, ms) |\n|---:|---:|---:|\n");
    TempDir tmp("ember-bench-data-");
    std::shared_ptr<ImageCache> cache;
    for (int t : threads) {
      std::string path = tmp / ("pets-" + std::to_string(t) + ".bin");
      ImageCacheOptions o;
      o.threads = t;
      o.log = nullptr;
      auto t0 = Clock::now();
      cache = ImageCache::open(path, pets.items, o);
      double build = since(t0);
      t0 = Clock::now();
      auto again = ImageCache::open(path, pets.items, o);
      double reopen = since(t0);
      std::printf("| %d | %.0f (%.2f s for %lld) | %.1f |\n", t, static_cast<double>(n) / build, build,
                  static_cast<long long>(n), reopen * 1e3);
      std::fflush(stdout);
    }

    std::printf("\n| threads | train batches/s (bs 64, 56 px, augmented) | valid batches/s | wait in next() per %.0f ms step |\n",
                step_ms);
    std::printf("|---:|---:|---:|---:|\n");
    for (int t : threads) {
      ImageLoaderOptions o;
      o.threads = t;
      std::shared_ptr<DataLoader> train = image_loader(cache, split.train, o);
      ImageLoaderOptions vo = o;
      vo.train = false;
      std::shared_ptr<DataLoader> valid = image_loader(cache, split.valid, vo);
      Batch b;
      train->start_epoch(0);  // warm-up epoch (pages of the mapping, thread start)
      while (train->next(b)) {
      }
      int64_t batches = 0;
      auto t0 = Clock::now();
      for (int e = 1; e <= epochs; ++e) {
        train->start_epoch(e);
        while (train->next(b)) ++batches;
      }
      double train_rate = static_cast<double>(batches) / since(t0);
      int64_t vb = 0;
      t0 = Clock::now();
      for (int e = 0; e < epochs; ++e) {
        valid->start_epoch(e);
        while (valid->next(b)) ++vb;
      }
      double valid_rate = static_cast<double>(vb) / since(t0);
      // A busy consumer: how long does next() block once the queue is primed?
      train->start_epoch(epochs + 1);
      double waited = 0;
      int64_t steps = 0;
      train->next(b);
      for (;;) {
        spin(step_ms);
        auto w0 = Clock::now();
        bool got = train->next(b);
        if (!got) break;
        waited += since(w0);
        ++steps;
      }
      std::printf("| %d | %.1f | %.1f | %.1f ms (mean over %lld steps) |\n", t, train_rate, valid_rate,
                  steps ? waited * 1e3 / static_cast<double>(steps) : 0.0, static_cast<long long>(steps));
      std::fflush(stdout);
    }

    if (!show.empty()) {
      Batch b = image_loader(cache, split.train)->batch(0, 0);
      ShowBatchOptions so;
      so.classes = pets.items.classes;
      so.scale = 2;
      std::string csv = show_batch(show, b.x, b.y, so);
      std::printf("\nshow_batch: %s (labels in %s)\n", show.c_str(), csv.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data: %s\n", e.what());
    return 1;
  }
  return 0;
}
