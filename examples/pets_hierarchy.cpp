// examples/pets_hierarchy.cpp: the Oxford-IIIT Pets hierarchical-loss sweep of seed 000
// ("Hierarchical Loss Function", ../shared/seeds/000_*), reproduced with Ember.
//
//   data:   the Pets images labelled by RegexLabeller(r'(.+)_\d+.jpg$'), 37 sorted breeds (12 cats
//           first), RandomSplitter(0.2, seed=42), Resize(460) + aug_transforms(min_scale=0.9,
//           size=56), bs 64 (datasets/Pets.h, datasets/Augment.h), decoded once into a cache
//   model:  cnn_learner(resnet18) (learner/Vision.h), torchvision weights from --weights, or
//           random init with --no-pretrained (no ImageNet weights exist offline)
//   loss:   w * CE(breed logits) + (1 - w) * NLL(log [sum p_cat, sum p_dog])   (nn/Hierarchy.h)
//   train:  fine_tune(3) per run; the sweep runs every w of --w, --runs times each
//   output: results.csv in the blog's layout (one row per unfrozen epoch per run: epoch,
//           train_loss, valid_loss, accuracy_breed, accuracy_species, w, id, plus severity and hd@5),
//           summary.csv (final-epoch mean and sd per w) and accuracy_vs_w.png (+ its CSV)
//
//   ./build/bin/pets_hierarchy --data ../shared/data/oxford-pets-subset --w 0,0.5,1 --runs 1
//   ./build/bin/pets_hierarchy --weights resnet18-5c106cde.pth --w 0:1:0.05 --runs 5   # the blog's sweep
//
// Robustness: results.csv is rewritten atomically (temp file + rename) after each run, so a killed
// sweep loses at most the run in progress; started again with the same --out, it skips every run
// whose rows are all there and resumes at the first unfinished one.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include "datasets/Augment.h"
#include "datasets/ImageCache.h"
#include "datasets/Pets.h"
#include "ember.h"
#include "learner/HierMetrics.h"
#include "nn/Hierarchy.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ember;

namespace {

// "0:1:0.05" (start:stop:step, stop included) or "0,0.5,1".
std::vector<double> parse_grid(const std::string& text) {
  std::vector<double> out;
  auto number = [&](const std::string& s) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    EMBER_CHECK(used == s.size() && !s.empty(), "--w: '", s, "' in '", text, "' is not a number");
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

struct Row {
  int epoch = 0;
  double train_loss = 0, valid_loss = 0, acc_breed = 0, acc_species = 0, w = 0;
  int64_t id = 0;
  double severity = 0, hd5 = 0;
};
const char* kHeader = "epoch,train_loss,valid_loss,accuracy_breed,accuracy_species,w,id,severity,hd@5";

std::vector<Row> read_results(const std::string& path) {
  std::vector<Row> rows;
  std::ifstream f(path);
  if (!f.good()) return rows;
  std::string line;
  std::getline(f, line);
  EMBER_CHECK(line == kHeader, path, " is not a results file of this program (header '", line,
              "'); use another --out");
  int n = 1;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    Row r;
    char tail = 0;
    long long id = 0;
    int got = std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf,%lld,%lf,%lf%c", &r.epoch, &r.train_loss, &r.valid_loss,
                          &r.acc_breed, &r.acc_species, &r.w, &id, &r.severity, &r.hd5, &tail);
    EMBER_CHECK(got == 9, path, " line ", n, " is malformed: '", line, "'");
    r.id = id;
    rows.push_back(r);
  }
  return rows;
}

void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    EMBER_CHECK(f.good(), "cannot write ", tmp);
    f << text;
    f.flush();
    EMBER_CHECK(f.good(), "writing ", tmp, " failed (disk full?)");
  }
  EMBER_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename ", tmp, " to ", path);
}

std::string format_rows(const std::vector<Row>& rows) {
  std::ostringstream os;
  os << kHeader << "\n" << std::setprecision(10);
  for (const Row& r : rows)
    os << r.epoch << "," << r.train_loss << "," << r.valid_loss << "," << r.acc_breed << "," << r.acc_species << ","
       << r.w << "," << r.id << "," << r.severity << "," << r.hd5 << "\n";
  return os.str();
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}
double sd(const std::vector<double>& v) {  // sample standard deviation, as pandas' std()
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: the Oxford-IIIT Pets hierarchical-loss sweep of seed 000"};
  std::string data, w_text = "0:1:0.05", weights, out = "pets_hierarchy_out", device = "cpu";
  int runs = 5, epochs = 3, freeze_epochs = 1, threads = 0;
  int64_t bs = 64, size = 56;
  uint64_t seed = 1;
  bool no_pretrained = false, strict = false, restart = false;
  double base_lr = 2e-3;
  app.add_option("--data", data, "Pets images folder (default: $EMBER_DATA_DIR/oxford-iiit-pet, then the subset, else download)");
  app.add_option("--w", w_text, "loss weights: start:stop:step or a comma list")->capture_default_str();
  app.add_option("--runs", runs, "runs per w")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--epochs", epochs, "fine_tune epochs (after the frozen ones)")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--freeze-epochs", freeze_epochs, "frozen epochs of fine_tune")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--base-lr", base_lr, "fine_tune's base_lr")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--bs", bs, "batch size")->check(CLI::Range(int64_t{2}, int64_t{4096}))->capture_default_str();
  app.add_option("--size", size, "image side after augmentation")->check(CLI::Range(int64_t{16}, int64_t{1024}))->capture_default_str();
  auto* wopt = app.add_option("--weights", weights, "torchvision resnet18 weights (.pth or .safetensors)")->check(CLI::ExistingFile);
  app.add_flag("--no-pretrained", no_pretrained, "random init (the default when --weights is not given)")->excludes(wopt);
  app.add_option("--seed", seed, "base seed: run id k uses seed + k for init and batch order")->capture_default_str();
  app.add_option("--out", out, "folder for results.csv, summary.csv and the plot")->capture_default_str();
  app.add_flag("--restart", restart, "ignore (and replace) the results already in --out");
  app.add_flag("--strict", strict, "an undecodable image is an error (default: skipped with a warning)");
  app.add_option("--threads", threads, "CPU threads (0: OpenMP's default)")->check(CLI::Range(0, 1024));
  app.add_option("--device", device, "cpu or cuda[:N]")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const Device dev = Device::parse(device);
    const std::vector<double> grid = parse_grid(w_text);
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    ::mkdir(out.c_str(), 0755);
    struct stat st {};
    EMBER_CHECK(::stat(out.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "--out ", out, " is not a folder");
    const std::string results_path = out + "/results.csv";

    // --- data: decoded once into a cache shared by every run ---------------------------------
    PetsData pets = load_pets(pets_dir(data));
    ImageCacheOptions copt;
    copt.strict = strict;
    auto cache = ImageCache::open(default_cache_path(pets.images_dir), pets.items, copt);
    Split split = RandomSplitter(0.2, 42)(cache->size());
    std::cout << "Pets from " << pets.images_dir << ": " << cache->size() << " images, " << pets.items.classes.size()
              << " breeds (" << pets.n_cat_classes() << " cats); " << split.train.size() << " training, "
              << split.valid.size() << " validation\n";
    if (weights.empty())
      std::cout << "No --weights: ResNet-18 starts from random init (the blog used ImageNet weights)\n";
    const hier::ClassTree tree = hier::ClassTree::from_rule(
        pets.items.classes, [](const std::string& c) { return pets_species(c) == 0 ? "cat" : "dog"; });

    // --- resume ---------------------------------------------------------------------------------
    std::vector<Row> rows = restart ? std::vector<Row>{} : read_results(results_path);
    std::map<int64_t, int> rows_of_id;
    for (const Row& r : rows) rows_of_id[r.id]++;
    std::vector<Row> kept;  // drop the rows of an unfinished run (a run is written whole, so normally none)
    for (const Row& r : rows)
      if (rows_of_id[r.id] == epochs) kept.push_back(r);
    rows = kept;

    const auto t_sweep = std::chrono::steady_clock::now();
    int done_now = 0, skipped = 0;
    for (size_t wi = 0; wi < grid.size(); ++wi)
      for (int run = 0; run < runs; ++run) {
        const double w = grid[wi];
        const int64_t id = static_cast<int64_t>(wi) * runs + run + 1;  // the blog's running id
        if (rows_of_id.count(id) && rows_of_id[id] == epochs) {
          ++skipped;
          continue;
        }
        std::cout << "\n=== w = " << w << ", run " << run + 1 << "/" << runs << " (id " << id << ") ===\n";
        manual_seed(seed + static_cast<uint64_t>(id));
        ImageLoaderOptions tl;
        tl.batch_size = bs, tl.seed = seed + static_cast<uint64_t>(id), tl.aug.size = static_cast<int>(size);
        ImageLoaderOptions vl = tl;
        vl.train = false;
        auto train = std::make_shared<learner::LoaderSource<ImageBatchLoader>>(std::make_shared<ImageBatchLoader>(cache, split.train, tl));
        auto valid = std::make_shared<learner::LoaderSource<ImageBatchLoader>>(std::make_shared<ImageBatchLoader>(cache, split.valid, vl));
        learner::CnnOptions co;
        co.weights = weights;
        co.loss = std::make_shared<hier::BlogHierLoss>(tree, w);
        // The blog's metrics: breed accuracy, and species accuracy as the species of the argmax breed.
        co.metrics = {learner::level_accuracy_metric(tree, tree.height(), "accuracy_breed"),
                      learner::level_accuracy_metric(tree, 1, "accuracy_species"), learner::mistake_severity_metric(tree),
                      learner::hier_distance_metric(tree, 5)};
        auto learn = learner::cnn_learner({train, valid, pets.items.classes}, nn::resnet18, 37, co);
        if (dev != Device::cpu()) learn->to(dev);
        learn->fine_tune(epochs, base_lr, freeze_epochs);
        // As the blog: only the unfrozen epochs (the Recorder holds the last fit).
        const auto& values = learn->recorder->values;
        for (size_t e = 0; e < values.size(); ++e) {
          const std::vector<double>& v = values[e];
          Row r;
          r.epoch = static_cast<int>(e), r.w = w, r.id = id;
          r.train_loss = v.at(0), r.valid_loss = v.at(1), r.acc_breed = v.at(2), r.acc_species = v.at(3);
          r.severity = v.at(4), r.hd5 = v.at(5);
          rows.push_back(r);
        }
        rows_of_id[id] = static_cast<int>(values.size());
        write_atomic(results_path, format_rows(rows));
        ++done_now;
      }
    const double sweep_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_sweep).count();

    // --- summary: final-epoch mean +- sd per w --------------------------------------------------
    std::map<double, std::vector<const Row*>> last;  // the last epoch row of every run, by w
    std::map<int64_t, const Row*> final_row;
    for (const Row& r : rows)
      if (!final_row.count(r.id) || final_row[r.id]->epoch < r.epoch) final_row[r.id] = &r;
    for (auto& [id, r] : final_row) last[r->w].push_back(r);
    std::ostringstream summary;
    summary << "w,runs,breed_mean,breed_sd,species_mean,species_sd,severity_mean,hd5_mean\n";
    std::cout << "\nFinal epoch, mean +- sd over runs\n     w  runs   accuracy_breed  accuracy_species  severity   hd@5\n";
    std::vector<double> xs;
    learner::Series sb{"breed", {}, {}}, ss{"species", {}, {}};
    for (auto& [w, rs] : last) {
      std::vector<double> b, s, sev, hd;
      for (const Row* r : rs) b.push_back(r->acc_breed), s.push_back(r->acc_species), sev.push_back(r->severity), hd.push_back(r->hd5);
      summary << w << "," << rs.size() << "," << mean(b) << "," << sd(b) << "," << mean(s) << "," << sd(s) << ","
              << mean(sev) << "," << mean(hd) << "\n";
      std::cout << std::fixed << std::setprecision(2) << std::setw(6) << w << std::setw(6) << rs.size()
                << std::setprecision(3) << "   " << mean(b) << " +- " << sd(b) << "    " << mean(s) << " +- " << sd(s)
                << "   " << std::setw(7) << mean(sev) << "  " << std::setw(5) << mean(hd) << "\n";
      xs.push_back(w);
      sb.mean.push_back(mean(b)), sb.sd.push_back(sd(b)), ss.mean.push_back(mean(s)), ss.sd.push_back(sd(s));
    }
    write_atomic(out + "/summary.csv", summary.str());
    const bool plotted = learner::plot_errorbars(xs, {sb, ss}, "w (weight of the breed cross-entropy)", "validation accuracy",
                                                 out + "/accuracy_vs_w.png");
    std::cout << std::defaultfloat << "\n" << done_now << " runs trained in " << std::setprecision(4) << sweep_s << " s, "
              << skipped << " already done; results in " << results_path << ", summary.csv"
              << (plotted ? " and accuracy_vs_w.png" : " (plot as CSV only)") << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "pets_hierarchy: " << e.what() << "\n";
    return 1;
  }
}
