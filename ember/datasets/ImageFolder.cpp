// datasets/ImageFolder.cpp: listing, labelling and splitting files.
#include "ember/datasets/ImageFolder.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <regex>

#include "ember/tensor/Error.h"
#include "ember/tensor/Random.h"

namespace fs = std::filesystem;

namespace ember {

const std::vector<std::string>& image_extensions() {
  static const std::vector<std::string> exts{".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga",
                                             ".psd", ".pnm", ".pgm", ".ppm", ".hdr"};
  return exts;
}

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool hidden(const fs::path& p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

// Turns per-file class names into sorted classes + label indices.
LabelledFiles with_vocab(const std::vector<std::string>& files, const std::vector<std::string>& names) {
  LabelledFiles out;
  out.files = files;
  out.classes = names;
  std::sort(out.classes.begin(), out.classes.end());
  out.classes.erase(std::unique(out.classes.begin(), out.classes.end()), out.classes.end());
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < out.classes.size(); ++i) index[out.classes[i]] = static_cast<int64_t>(i);
  out.labels.reserve(names.size());
  for (const std::string& n : names) out.labels.push_back(index[n]);
  return out;
}
}  // namespace

std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& extensions,
                                    bool recursive) {
  std::error_code ec;
  EMBER_CHECK(fs::exists(dir, ec), "list_files: folder ", dir, " does not exist");
  EMBER_CHECK(fs::is_directory(dir, ec), "list_files: ", dir, " is not a folder");
  std::vector<std::string> exts;
  for (const std::string& e : extensions) exts.push_back(lower(e));
  auto wanted = [&](const fs::path& p) {
    if (hidden(p)) return false;
    if (exts.empty()) return true;
    return std::find(exts.begin(), exts.end(), lower(p.extension().string())) != exts.end();
  };
  std::vector<std::string> files;
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
    EMBER_CHECK(!ec, "list_files: cannot read folder ", dir, " (", ec.message(), ")");
    for (; it != end; it.increment(ec)) {
      EMBER_CHECK(!ec, "list_files: cannot read under ", dir, " (", ec.message(), ")");
      if (hidden(it->path())) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && wanted(it->path())) files.push_back(it->path().string());
    }
  } else {
    for (fs::directory_iterator it(dir, ec), end; it != end; it.increment(ec)) {
      EMBER_CHECK(!ec, "list_files: cannot read folder ", dir, " (", ec.message(), ")");
      if (it->is_regular_file(ec) && wanted(it->path())) files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

LabelledFiles label_by_folder(const std::vector<std::string>& files) {
  std::vector<std::string> names;
  names.reserve(files.size());
  for (const std::string& f : files) {
    std::string parent = fs::path(f).parent_path().filename().string();
    EMBER_CHECK(!parent.empty(), "label_by_folder: ", f, " has no parent folder to take a label from");
    names.push_back(parent);
  }
  return with_vocab(files, names);
}

LabelledFiles label_by_regex(const std::vector<std::string>& files, const std::string& pattern) {
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error& e) {
    EMBER_FAIL("label_by_regex: bad pattern '", pattern, "': ", e.what());
  }
  std::vector<std::string> names;
  names.reserve(files.size());
  for (const std::string& f : files) {
    std::string name = fs::path(f).filename().string();
    std::smatch m;
    EMBER_CHECK(std::regex_search(name, m, re), "label_by_regex: pattern '", pattern,
                "' does not match file name '", name, "' (", f, ")");
    std::string label = m.size() > 1 ? m[1].str() : m[0].str();
    EMBER_CHECK(!label.empty(), "label_by_regex: pattern '", pattern, "' gives an empty label for '",
                name, "' (", f, ")");
    names.push_back(label);
  }
  return with_vocab(files, names);
}

LabelledFiles image_folder(const std::string& dir) {
  std::vector<std::string> files = list_files(dir);
  EMBER_CHECK(!files.empty(), "image_folder: no image files under ", dir, " (looked for .png, .jpg, ",
              ".jpeg, .bmp, .gif, ... in <dir>/<class>/)");
  return label_by_folder(files);
}

// ---------------------------------------------------------------------------
RandomSplitter::RandomSplitter(double valid_pct, uint64_t seed) : valid_pct_(valid_pct), seed_(seed) {
  EMBER_CHECK(valid_pct >= 0.0 && valid_pct <= 1.0, "RandomSplitter: valid_pct must be in [0, 1], got ",
              valid_pct);
}

Split RandomSplitter::operator()(int64_t n) const {
  std::vector<int64_t> perm = permutation(n, seed_);
  auto cut = static_cast<size_t>(valid_pct_ * static_cast<double>(n));  // int() truncates, as in fastai
  Split s;
  s.valid.assign(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(cut));
  s.train.assign(perm.begin() + static_cast<std::ptrdiff_t>(cut), perm.end());
  return s;
}

}  // namespace ember
