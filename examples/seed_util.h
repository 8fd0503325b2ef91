// examples/seed_util.h: small pieces shared by the seed-001 and seed-004 examples
// (examples/hier_resnet.cpp, examples/softmax_vs_sigmoid.cpp): atomic file writes, the --out
// folder, integer lists on the command line, and the Pets loaders over a list of cached items.
#pragma once

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "datasets/Augment.h"
#include "datasets/Files.h"
#include "ember.h"

namespace ember {
namespace seeds {


// Creates `dir` when missing; an error naming --out when it is not a folder afterwards.
inline void ensure_out_dir(const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  struct stat st {};
  EMBER_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "--out ", dir, " is not a folder (or cannot be created)");
}

// "1,5,10" -> {1, 5, 10}; every value in [lo, hi]. Errors name the flag and the bad item.
inline std::vector<int> parse_int_list(const std::string& flag, const std::string& text, int lo, int hi) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    EMBER_CHECK(!item.empty() && used == item.size(), flag, ": '", item, "' in '", text, "' is not an integer");
    EMBER_CHECK(v >= lo && v <= hi, flag, ": ", v, " is outside [", lo, ", ", hi, "]");
    out.push_back(static_cast<int>(v));
  }
  EMBER_CHECK(!out.empty(), flag, ": no values in '", text, "'");
  return out;
}

// A Learner source over cached Pets images `items` (training: augmented, shuffled, drop_last).
inline std::shared_ptr<learner::BatchSource> pets_source(const std::shared_ptr<const ImageCache>& cache,
                                                         std::vector<int64_t> items, bool train, int64_t bs,
                                                         int64_t size, uint64_t seed) {
  ImageLoaderOptions o;
  o.batch_size = bs, o.train = train, o.seed = seed, o.aug.size = static_cast<int>(size);
  return std::make_shared<learner::LoaderSource<ImageBatchLoader>>(
      std::make_shared<ImageBatchLoader>(cache, std::move(items), o));
}

}  // namespace seeds
}  // namespace ember
