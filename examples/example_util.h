// examples/example_util.h: the pieces the training examples share (namespace ember::examples), so
// that each example's .cpp holds only its own experiment.
//
//   all of them:     add_device_flags (--threads, --device), set_threads, ensure_out_dir (--out),
//                    parse_number, parse_int_list ("1,5,10" on the command line)
//   Pets examples:   PetsFlags (the flags they share), open_pets (the images, decoded once into a
//                    cache), pets_source (a DataLoader over cached images); used by
//                    pets_hierarchy, hier_resnet and softmax_vs_sigmoid
//   sweep::          the loss-weight sweeps of issue 6 (pets_hierarchy, fashion_hierarchy): the
//                    --w grid, results.csv, resume, summary + plot
//
// A Pets example:
//   PetsFlags flags;                                 // --data --bs --size --weights --no-pretrained
//   flags.add_to(app);                               // --strict --threads --device
//   CLI11_PARSE(app, argc, argv);
//   set_threads(flags.threads);
//   ensure_out_dir(out);
//   auto [pets, cache] = open_pets(flags.data, flags.strict);
//   auto train = pets_source(cache, split.train, /*train=*/true, flags.bs, flags.size, seed);
//
// A sweep:
//   std::vector<double> grid = sweep::parse_grid("0:1:0.25");          // or "0,0.5,1"
//   sweep::Table t{"epoch,train_loss,valid_loss,accuracy_fine,accuracy_coarse,w,id,severity,hd@5"};
//   std::vector<sweep::Row> rows = sweep::read_results(path, t);     // resume: what is there
//   std::map<int64_t, int> done = sweep::keep_finished(rows, epochs); // drops half-written runs
//   ... train run `id`, push its rows ...
//   write_text_atomic(path, sweep::format_rows(rows, t));           // after every run
//   sweep::summarize(rows, out_dir, {"fine", "coarse", "w (...)"});   // summary.csv + plot
//
// Every sweep writes the same nine columns: epoch, train_loss, valid_loss, the fine and the
// coarse accuracy, w, the run id, mistake severity and hd@5. Only the two accuracy names
// differ (the blog's accuracy_breed / accuracy_species for Pets), so a Table is its header.
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <type_traits>
#include <utility>
#include <vector>

#include "datasets/AugmentedImages.h"
#include "datasets/Files.h"
#include "datasets/ImageCache.h"
#include "datasets/Pets.h"
#include "ember.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {
namespace examples {

// ---------------------------------------------------------------------------
// Every example

// --threads and --device.
inline void add_device_flags(CLI::App& app, int& threads, std::string& device) {
  app.add_option("--threads", threads, "CPU threads (0: OpenMP's default)")->check(CLI::Range(0, 1024));
  app.add_option("--device", device, "cpu or cuda[:N]")->capture_default_str();
}

// --threads: `threads` OpenMP threads; 0 keeps OpenMP's default.
inline void set_threads(int threads) {
#ifdef _OPENMP
  if (threads > 0) omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

// Creates `dir` when missing; an error naming --out when it is not a folder afterwards.
inline void ensure_out_dir(const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  struct stat st {};
  EMBER_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "--out ", dir, " is not a folder (or cannot be created)");
}

// Reads all of `s` into `v` (a long: std::stol, a double: std::stod); false when `s` is empty, no
// number, or has more after the number ("5x").
template <typename T>
bool parse_number(const std::string& s, T& v) {
  size_t used = 0;
  try {
    if constexpr (std::is_integral_v<T>) v = std::stol(s, &used);
    else v = std::stod(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  return !s.empty() && used == s.size();
}

// "1,5,10" -> {1, 5, 10}; every value in [lo, hi]. Errors name the flag and the bad item.
inline std::vector<int> parse_int_list(const std::string& flag, const std::string& text, int lo, int hi) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    long v = 0;
    EMBER_CHECK(parse_number(item, v), flag, ": '", item, "' in '", text, "' is not an integer");
    EMBER_CHECK(v >= lo && v <= hi, flag, ": ", v, " is outside [", lo, ", ", hi, "]");
    out.push_back(static_cast<int>(v));
  }
  EMBER_CHECK(!out.empty(), flag, ": no values in '", text, "'");
  return out;
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

// ---------------------------------------------------------------------------
// The loss-weight sweeps
namespace sweep {

// "0:1:0.05" (start:stop:step, stop included) or "0,0.5,1"; every value in [0, 1].
inline std::vector<double> parse_grid(const std::string& text) {
  std::vector<double> out;
  auto number = [&](const std::string& s) {
    double v = 0;
    EMBER_CHECK(parse_number(s, v), "--w: '", s, "' in '", text, "' is not a number");
    return v;
  };
  if (text.find(':') != std::string::npos) {
    std::stringstream ss(text);
    std::string a, b, c;
    std::getline(ss, a, ':'), std::getline(ss, b, ':'), std::getline(ss, c, ':');
    const double lo = number(a), hi = number(b), step = number(c);
    EMBER_CHECK(step > 0 && hi >= lo, "--w: '", text, "' must be start:stop:step with step > 0 and stop >= start");
    const int64_t n = static_cast<int64_t>(std::floor((hi - lo) / step + 1e-9));
    EMBER_CHECK(n < 100000, "--w: '", text, "' gives too many values");
    for (int64_t i = 0; i <= n; ++i) out.push_back(std::round((lo + static_cast<double>(i) * step) * 1e9) / 1e9);
  } else {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(number(item));
  }
  EMBER_CHECK(!out.empty(), "--w: no values in '", text, "'");
  for (double w : out) EMBER_CHECK(w >= 0 && w <= 1, "--w: ", w, " is outside [0, 1]");
  return out;
}

// One epoch of one run: a line of results.csv.
struct Row {
  int epoch = 0;
  double train_loss = 0, valid_loss = 0, acc_fine = 0, acc_coarse = 0, w = 0;
  int64_t id = 0;
  double severity = 0, hd5 = 0;
};

struct Table {
  std::string header;  // the nine column names, comma-separated
};

// The rows of `path` ({} when it does not exist). A file with another header is refused (it is
// someone else's results), and so is a malformed line; errors name the file and line.
inline std::vector<Row> read_results(const std::string& path, const Table& t) {
  std::vector<Row> rows;
  std::ifstream f(path);
  if (!f.good()) return rows;
  std::string line;
  std::getline(f, line);
  EMBER_CHECK(line == t.header, path, " is not a results file of this program (header '", line,
              "'); use another --out");
  int n = 1;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    Row r;
    char tail = 0;
    long long id = 0;
    int got = std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf,%lld,%lf,%lf%c", &r.epoch, &r.train_loss, &r.valid_loss,
                          &r.acc_fine, &r.acc_coarse, &r.w, &id, &r.severity, &r.hd5, &tail);
    EMBER_CHECK(got == 9, path, " line ", n, " is malformed: '", line, "'");
    r.id = id;
    rows.push_back(r);
  }
  return rows;
}

inline std::string format_rows(const std::vector<Row>& rows, const Table& t) {
  std::ostringstream os;
  os << t.header << "\n" << std::setprecision(10);
  for (const Row& r : rows)
    os << r.epoch << "," << r.train_loss << "," << r.valid_loss << "," << r.acc_fine << "," << r.acc_coarse << ","
       << r.w << "," << r.id << "," << r.severity << "," << r.hd5 << "\n";
  return os.str();
}

// Resume: keeps the rows of the runs that have all `epochs` rows (a run is written whole, so
// normally every run) and returns the number of rows per kept id.
inline std::map<int64_t, int> keep_finished(std::vector<Row>& rows, int epochs) {
  std::map<int64_t, int> count;
  for (const Row& r : rows) count[r.id]++;
  std::vector<Row> kept;
  std::map<int64_t, int> done;
  for (const Row& r : rows)
    if (count[r.id] == epochs) kept.push_back(r), done[r.id]++;
  rows = kept;
  return done;
}

inline double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}
inline double sd(const std::vector<double>& v) {  // sample standard deviation, as pandas' std()
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

struct SummaryNames {
  std::string fine, coarse;  // short names: summary columns <fine>_mean, ..., plot series
  std::string xlabel;        // the plot's x axis
};

// The final epoch of every run, averaged per w: prints a table, writes <out>/summary.csv
// (w,runs,<fine>_mean,<fine>_sd,<coarse>_mean,<coarse>_sd,severity_mean,hd5_mean,severity_sd,hd5_sd)
// and <out>/accuracy_vs_w.png with error bars (+ its CSV). Returns whether the PNG was drawn.
inline bool summarize(const std::vector<Row>& rows, const std::string& out, const SummaryNames& names) {
  std::map<int64_t, const Row*> final_row;
  for (const Row& r : rows)
    if (!final_row.count(r.id) || final_row[r.id]->epoch < r.epoch) final_row[r.id] = &r;
  std::map<double, std::vector<const Row*>> last;  // by w
  for (auto& [id, r] : final_row) last[r->w].push_back(r);
  std::ostringstream summary;
  summary << "w,runs," << names.fine << "_mean," << names.fine << "_sd," << names.coarse << "_mean," << names.coarse
          << "_sd,severity_mean,hd5_mean,severity_sd,hd5_sd\n";
  std::cout << "\nFinal epoch, mean +- sd over runs\n     w  runs   accuracy_" << names.fine << "   accuracy_"
            << names.coarse << "   severity          hd@5\n";
  std::vector<double> xs;
  learner::Series sf{names.fine, {}, {}}, sc{names.coarse, {}, {}};
  for (auto& [w, rs] : last) {
    std::vector<double> f, c, sev, hd;
    for (const Row* r : rs) f.push_back(r->acc_fine), c.push_back(r->acc_coarse), sev.push_back(r->severity), hd.push_back(r->hd5);
    summary << w << "," << rs.size() << "," << mean(f) << "," << sd(f) << "," << mean(c) << "," << sd(c) << ","
            << mean(sev) << "," << mean(hd) << "," << sd(sev) << "," << sd(hd) << "\n";
    std::cout << std::fixed << std::setprecision(2) << std::setw(6) << w << std::setw(6) << rs.size()
              << std::setprecision(4) << "   " << mean(f) << " +- " << sd(f) << "   " << mean(c) << " +- " << sd(c)
              << "   " << mean(sev) << " +- " << sd(sev) << "   " << mean(hd) << " +- " << sd(hd) << "\n";
    xs.push_back(w);
    sf.mean.push_back(mean(f)), sf.sd.push_back(sd(f)), sc.mean.push_back(mean(c)), sc.sd.push_back(sd(c));
  }
  std::cout << std::defaultfloat;
  write_text_atomic(out + "/summary.csv", summary.str());
  return learner::plot_errorbars(xs, {sf, sc}, names.xlabel, "validation accuracy", out + "/accuracy_vs_w.png");
}

}  // namespace sweep
}  // namespace examples
}  // namespace ember
