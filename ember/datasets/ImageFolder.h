// datasets/ImageFolder.h: files in a folder, labelled by folder name or by a regex on the
// file name, and a seeded train/valid splitter (fastai's get_image_files, parent_label,
// RegexLabeller and RandomSplitter, in C++).
//
//   LabelledFiles pets = label_by_regex(list_files(dir), R"(^(.*)_\d+\.jpg$)");
//   Split s = RandomSplitter(0.2, 42)(pets.size());   // s.train, s.valid: indices into pets
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/tensor/Tensor.h"

namespace ember {

// ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".psd", ".pnm", ".pgm", ".ppm", ".hdr".
const std::vector<std::string>& image_extensions();

// Files under `dir` whose extension (case-insensitive) is in `extensions` (all files when
// empty), sorted by path. Hidden files and folders (name starting with '.') are skipped.
// Throws naming `dir` when it is missing or not a folder.
std::vector<std::string> list_files(const std::string& dir,
                                    const std::vector<std::string>& extensions = image_extensions(),
                                    bool recursive = true);

// Files with integer labels into a sorted vocabulary of class names.
struct LabelledFiles {
  std::vector<std::string> files;
  std::vector<int64_t> labels;       // labels[i] indexes classes
  std::vector<std::string> classes;  // sorted, unique
  int64_t size() const { return static_cast<int64_t>(files.size()); }
};

// Label = name of the file's parent folder ("train/cat/1.jpg" -> "cat").
LabelledFiles label_by_folder(const std::vector<std::string>& files);
// Label = first capture group (or the whole match when the pattern has none) of
// std::regex_search(pattern) on the file name, e.g. R"(^(.*)_\d+\.jpg$)" for Oxford pets.
// A file whose name does not match throws, naming the file and the pattern.
LabelledFiles label_by_regex(const std::vector<std::string>& files, const std::string& pattern);
// label_by_folder(list_files(dir)); throws when the folder holds no image files.
LabelledFiles image_folder(const std::string& dir);

// ---------------------------------------------------------------------------
// Deterministic shuffles.
// ember::permutation(n, seed, offset) (tensor/Tensor.h) is the shuffle: with offset 0 it
// equals `manual_seed(seed); randperm(n)`, but it leaves the global generator alone.

struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> valid;
};

// fastai's RandomSplitter: shuffle 0..n-1 with `seed`; the first int(valid_pct * n) are
// validation, the rest training. The same seed always gives the same split.
class RandomSplitter {
 public:
  explicit RandomSplitter(double valid_pct = 0.2, uint64_t seed = 42);
  Split operator()(int64_t n) const;

 private:
  double valid_pct_;
  uint64_t seed_;
};

}  // namespace ember
