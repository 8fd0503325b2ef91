// examples/example_util.h: the command-line glue the training examples share (namespace
// ember::examples), so that each example's .cpp holds only its own experiment. The generic parts
// live in the library: learner/Cli.h (set_threads, ensure_dir, parse_grid, parse_int_list) and
// learner/Sweep.h (the resumable loss-weight sweep, its results table and summary).
//
//   all of them:     add_device_flags (--threads, --device)
//   Pets examples:   PetsFlags (the flags they share), open_pets (the images, decoded once into a
//                    cache), pets_source (a DataLoader over cached images); used by
//                    pets_hierarchy, hier_resnet and softmax_vs_sigmoid
//
// A Pets example:
//   PetsFlags flags;                                 // --data --bs --size --weights --no-pretrained
//   flags.add_to(app);                               // --strict --threads --device
//   CLI11_PARSE(app, argc, argv);
//   learner::set_threads(flags.threads);
//   learner::ensure_dir(out);
//   auto [pets, cache] = open_pets(flags.data, flags.strict);
//   auto train = pets_source(cache, split.train, /*train=*/true, flags.bs, flags.size, seed);
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/datasets/AugmentedImages.h"
#include "ember/datasets/Files.h"
#include "ember/datasets/ImageCache.h"
#include "ember/datasets/Pets.h"
#include "ember/ember.h"
#include "ember/learner/Cli.h"

namespace ember {
namespace examples {

// ---------------------------------------------------------------------------
// Every example

// For every floating-point flag, beside its range: CLI11's PositiveNumber and Range let "nan"
// through (every comparison with NaN is false), and Range lets "inf" through an infinite bound.
inline const CLI::Validator kFinite(
    [](std::string& s) {
      double v = 0;
      return learner::parse_number(s, v) ? std::string() : "'" + s + "' is not a finite number";
    },
    "FINITE");

// The settings of this command that change what it trains, for Learner::config and
// SweepOptions::config: every flag as given (or its default), less those that only say where or
// how fast ("--out", "--threads", ...) and those named in `also_ignore` (a sweep's own --w, --runs,
// --seed and --epochs, which key each run already).
inline std::string run_config(const CLI::App& app, const std::vector<std::string>& also_ignore = {}) {
  static const std::vector<std::string> kWhereAndHowFast = {"--help",    "--out",     "--csv",    "--checkpoint",
                                                            "--resume",  "--threads", "--device", "--strict",
                                                            "--restart"};
  auto ignored = [&](const std::string& name) {
    return std::find(kWhereAndHowFast.begin(), kWhereAndHowFast.end(), name) != kWhereAndHowFast.end() ||
           std::find(also_ignore.begin(), also_ignore.end(), name) != also_ignore.end();
  };
  std::string out = app.get_name();
  for (const CLI::Option* o : app.get_options()) {
    const std::string name = o->get_name();
    if (name.empty() || ignored(name)) continue;
    std::string value = o->get_default_str();
    if (o->count() > 0) {
      value.clear();
      for (const std::string& r : o->results()) value += (value.empty() ? "" : ",") + r;
    }
    out += " " + name + "=" + value;
  }
  return out;
}

// --threads and --device.
inline void add_device_flags(CLI::App& app, int& threads, std::string& device) {
  app.add_option("--threads", threads, "CPU threads (0: OpenMP's default)")->check(CLI::Range(0, 1024));
  app.add_option("--device", device, "cpu or cuda[:N]")->capture_default_str();
}

// ---------------------------------------------------------------------------
// The Pets examples

// The flags all three have, with the same defaults.
struct PetsFlags {
  std::string data, weights, device = "cpu";
  int64_t bs = 64, size = 56;
  int threads = 0;
  bool no_pretrained = false, strict = false;

  void add_to(CLI::App& app) {
    app.add_option("--data", data, "Pets images folder (default: $EMBER_DATA_DIR/oxford-iiit-pet, then the subset, else download)");
    app.add_option("--bs", bs, "batch size")->check(CLI::Range(int64_t{2}, int64_t{4096}))->capture_default_str();
    app.add_option("--size", size, "image side after augmentation")->check(CLI::Range(int64_t{16}, int64_t{1024}))->capture_default_str();
    auto* wopt = app.add_option("--weights", weights, "torchvision resnet18 weights (.pth or .safetensors)")->check(CLI::ExistingFile);
    app.add_flag("--no-pretrained", no_pretrained, "random init (the default when --weights is not given)")->excludes(wopt);
    app.add_flag("--strict", strict, "an undecodable image is an error (default: skipped with a warning)");
    add_device_flags(app, threads, device);
  }
};

// The Pets images of --data (found as pets_dir() says), decoded once into the image cache that
// every run shares. With `strict`, an undecodable image is an error instead of a warning.
inline std::pair<PetsData, std::shared_ptr<const ImageCache>> open_pets(const std::string& data, bool strict) {
  PetsData pets = load_pets(pets_dir(data));
  ImageCacheOptions copt;
  copt.strict = strict;
  std::shared_ptr<const ImageCache> cache = ImageCache::open(default_cache_path(pets.images_dir), pets.items, copt);
  return {std::move(pets), cache};
}

// A DataLoader over cached Pets images `items` (training: augmented, shuffled, drop_last).
inline std::shared_ptr<DataLoader> pets_source(const std::shared_ptr<const ImageCache>& cache,
                                               std::vector<int64_t> items, bool train, int64_t bs, int64_t size,
                                               uint64_t seed) {
  ImageLoaderOptions o;
  o.batch_size = bs, o.train = train, o.seed = seed, o.aug.size = static_cast<int>(size);
  o.name = train ? "train" : "valid";
  return image_loader(cache, std::move(items), o);
}

}  // namespace examples
}  // namespace ember
