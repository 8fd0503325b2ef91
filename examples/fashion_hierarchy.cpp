// examples/fashion_hierarchy.cpp: the hierarchical-loss w-sweep of examples/pets_hierarchy.cpp on
// a second real data set, Fashion-MNIST, small enough to run on a CPU.
//
//   data:   Fashion-MNIST IDX files (gzipped or raw): the 60,000 training images train (or the
//           first --limit of them), the official 10,000 test images are the validation set
//           (there is no separate held-out test set); pixels scaled to [0, 1]
//   tree:   10 classes below 5 groups: tops (T-shirt/top, Pullover, Coat, Shirt), bottoms
//           (Trouser), dresses (Dress), footwear (Sandal, Sneaker, Ankle boot), bags (Bag)
//   model:  Conv(1,16,3,p1)-BN-ReLU-MaxPool2 -> Conv(16,32,3,p1)-BN-ReLU-MaxPool2 -> Flatten
//           -> Linear(32*7*7, 10)
//   loss:   w * CE(10 classes) + (1 - w) * NLL(log of the summed probabilities of the 5 groups)
//           (hier::MarginalHierarchyLoss, nn/Hierarchy.h)
//   train:  fit_one_cycle(--epochs, --lr) with fastai's Adam, bs 128; every w of --w, --runs
//           times each; run id k seeds the init and the batch order with --seed + k
//   output: results.csv (epoch,train_loss,valid_loss,accuracy_fine,accuracy_coarse,w,id,
//           severity,hd@5; accuracy_coarse is the blog's form: the group of the argmax class),
//           summary.csv (final-epoch mean and sd per w) and accuracy_vs_w.png (+ its CSV)
//
//   ./build/bin/fashion_hierarchy --w 0:1:0.25 --runs 3 --limit 20000 --threads 1   # docs/hierarchy.md
//   ./build/bin/fashion_hierarchy --w 0.5 --runs 1 --epochs 1 --limit 5000          # a quick look
//
// Where the data comes from: --data DIR (DIR or DIR/fashion-mnist), else the folder of Debian's
// dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist; scripts/setup installs it),
// else $EMBER_DATA_DIR/fashion-mnist. Nothing is downloaded.
//
// Severity is exact over the validation set: hd@1 / error rate (both average exactly over
// batches; docs/hierarchy.md "Averaging"), not the Recorder's batch-weighted approximation.
//
// Robustness as pets_hierarchy (learner/Sweep.h): results.csv is rewritten atomically after each
// run; started again with the same --out, the sweep skips the finished runs (--restart starts over).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "ember/datasets/Mnist.h"
#include "ember/ember.h"
#include "example_util.h"
#include "ember/learner/Cli.h"
#include "ember/learner/HierMetrics.h"
#include "ember/learner/Sweep.h"
#include "ember/nn/Hierarchy.h"

using namespace ember;
using namespace ember::examples;
namespace fs = std::filesystem;

namespace {

// results.csv: one row per epoch per run.
learner::ResultsTable results_table() {
  return learner::ResultsTable(
      {"epoch", "train_loss", "valid_loss", "accuracy_fine", "accuracy_coarse", "w", "id", "severity", "hd@5"},
      {"epoch", "id"});
}

// The label order of the IDX files (Zalando's README).
const std::vector<std::string> kClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

hier::ClassTree fashion_tree() {
  const std::vector<hier::ClassTree::Edge> parents = {
      {"T-shirt/top", "tops"}, {"Pullover", "tops"},    {"Coat", "tops"},         {"Shirt", "tops"},
      {"Trouser", "bottoms"},  {"Dress", "dresses"},    {"Sandal", "footwear"},   {"Sneaker", "footwear"},
      {"Ankle boot", "footwear"}, {"Bag", "bags"}};
  return hier::ClassTree::from_parents(parents, kClasses, "the Fashion-MNIST groups");
}

std::shared_ptr<nn::Sequential> fashion_cnn() {
  using nn::BatchNorm2d, nn::Conv2d, nn::MaxPool2d, nn::ReLU;
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<Conv2d>(1, 16, 3, 1, 1), std::make_shared<BatchNorm2d>(16), std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),  // [B, 16, 14, 14]
      std::make_shared<Conv2d>(16, 32, 3, 1, 1), std::make_shared<BatchNorm2d>(32), std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),  // [B, 32, 7, 7]
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(32 * 7 * 7, 10)});
}

const char* kSystemDir = "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist
const char* kHowTo =
    "Install it with `apt-get install dataset-fashion-mnist` (or scripts/setup), or put "
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz (gzipped or not) into a folder DIR and pass --data DIR, or into "
    "$EMBER_DATA_DIR/fashion-mnist.";

bool has_idx(const std::string& dir) { return detect_mnist_layout(dir) == MnistLayout::Idx; }

// The folder to read, in the order of the header comment. EMBER_FASHION_MNIST_SYSTEM_DIR replaces
// the Debian folder (the tests use it to see the message for "no data anywhere").
std::string fashion_dir(const std::string& flag) {
  if (!flag.empty()) {
    EMBER_CHECK(fs::exists(flag), "--data: folder ", flag, " does not exist. ", kHowTo);
    for (const std::string& d : {flag, flag + "/fashion-mnist"})
      if (has_idx(d)) return d;
    EMBER_FAIL("--data: no Fashion-MNIST IDX files in ", flag, " (nor in ", flag,
               "/fashion-mnist): expected train-images-idx3-ubyte[.gz] and the other three. ", kHowTo);
  }
  const char* sys_env = std::getenv("EMBER_FASHION_MNIST_SYSTEM_DIR");
  const std::string sys = sys_env ? sys_env : kSystemDir;
  if (has_idx(sys)) return sys;
  const char* data_env = std::getenv("EMBER_DATA_DIR");
  const std::string user = data_env && *data_env ? std::string(data_env) + "/fashion-mnist" : "";
  if (!user.empty() && has_idx(user)) return user;
  EMBER_FAIL("Fashion-MNIST not found: looked in ", sys, " and ",
             user.empty() ? "$EMBER_DATA_DIR/fashion-mnist (EMBER_DATA_DIR is not set)" : user, ". ", kHowTo);
}

// images u8 [N, 28, 28] -> f32 [n, 1, 28, 28] in [0, 1]; labels [n]; n = min(limit, N) (0: all).
std::pair<Tensor, Tensor> as_tensors(const Mnist& m, int64_t limit) {
  const int64_t n = limit > 0 ? std::min(limit, m.size()) : m.size();
  Tensor x = m.images.narrow(0, 0, n).contiguous().reshape({n, 1, 28, 28}).to(DType::f32) / 255.0;
  return {x, m.labels.narrow(0, 0, n).contiguous()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: the hierarchical-loss w-sweep on Fashion-MNIST (10 classes in 5 groups)"};
  std::string data, w_text = "0:1:0.25", out = "fashion_hierarchy_out", device = "cpu";
  int runs = 3, epochs = 2, threads = 0;
  int64_t bs = 128, limit = 0;
  uint64_t seed = 1;
  double lr = 5e-3;
  bool restart = false;
  app.add_option("--data", data, "folder of the Fashion-MNIST IDX files (default: " + std::string(kSystemDir) +
                                      ", then $EMBER_DATA_DIR/fashion-mnist)");
  app.add_option("--w", w_text, "loss weights: start:stop:step or a comma list")->capture_default_str();
  app.add_option("--runs", runs, "runs per w")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--epochs", epochs, "fit_one_cycle epochs per run")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--lr", lr, "fit_one_cycle's lr_max")->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--bs", bs, "batch size")->check(CLI::Range(int64_t{2}, int64_t{4096}))->capture_default_str();
  app.add_option("--limit", limit,
                 "train on the first N training images only (0: all 60,000); validation always uses all 10,000")
      ->check(CLI::Range(int64_t{0}, int64_t{60000}))->capture_default_str();
  app.add_option("--seed", seed, "base seed: run id k uses seed + k for init and batch order")->capture_default_str();
  app.add_option("--out", out, "folder for results.csv, summary.csv and the plot")->capture_default_str();
  app.add_flag("--restart", restart, "ignore (and replace) the results already in --out");
  add_device_flags(app, threads, device);
  CLI11_PARSE(app, argc, argv);

  try {
    const Device dev = Device::parse(device);
    const std::vector<double> grid = learner::parse_grid(w_text);
    learner::set_threads(threads);
    // --- data: the training set trains, the official test set validates ---------------------
    const std::string dir = fashion_dir(data);
    const Mnist train_set = load_mnist(dir, /*train=*/true), test_set = load_mnist(dir, /*train=*/false);
    auto [xt, yt] = as_tensors(train_set, limit);
    auto [xv, yv] = as_tensors(test_set, 0);
    std::cout << "Fashion-MNIST from " << dir << ": " << xt.size(0) << " training images, " << xv.size(0)
              << " validation images (the official test set)\n";
    const hier::ClassTree tree = fashion_tree();
    std::cout << tree.str();

    learner::ensure_dir(out);

    // --- the sweep: every w of the grid, --runs times; the runs already in --out are skipped ----
    // Every other flag is part of each run's id, so that another command into the same --out never
    // takes these rows (or checkpoints) for its own.
    const std::string config = run_config(app, {"--w", "--runs", "--seed", "--epochs"});
    learner::Sweep sweep(results_table(), {grid, runs, epochs, seed, restart, out, config});
    sweep.run([&](const learner::SweepRun& r) {
      const uint64_t run_seed = r.seed;
      manual_seed(run_seed);
      auto train = std::make_shared<DataLoader>(xt, yt, DataLoaderOptions{bs, true, true, run_seed});
      auto valid = std::make_shared<DataLoader>(xv, yv, DataLoaderOptions{bs});
      std::vector<learner::Metric> metrics = {
          learner::level_accuracy_metric(tree, -1, "accuracy_fine"),
          learner::level_accuracy_metric(tree, 1, "accuracy_coarse"),  // the group of the argmax class
          learner::mistake_severity_metric(tree),                      // over the whole validation set
          learner::hier_distance_metric(tree, 5)};
      auto loss = std::make_shared<hier::MarginalHierarchyLoss>(tree, r.w);
      learner::Learner learn({train, valid, kClasses}, fashion_cnn(), loss, learner::fastai_adam(), metrics);
      if (dev != Device::cpu()) learn.to(dev);
      // The run in progress is checkpointed every epoch and resumed after a kill or Ctrl-C.
      learn.config = config + " w=" + std::to_string(r.w) + " seed=" + std::to_string(r.seed);
      if (learn.checkpoint_to(r.checkpoint, !restart))
        std::cout << "resuming run " << r.id << " from " << r.checkpoint << "\n";
      learn.fit_one_cycle(epochs, lr);
      return learn.recorder->values;  // {train_loss, valid_loss, fine, coarse, severity, hd@5}
    });

    // --- summary: final-epoch mean +- sd per w --------------------------------------------------
    const bool plotted =
        learner::summarize_sweep(sweep.results(), out, {"fine", "coarse", "w (weight of the 10-class cross-entropy)"});
    std::cout << "\n" << sweep.trained() << " runs trained in " << std::setprecision(4) << sweep.seconds() << " s, "
              << sweep.skipped() << " already done; results in " << sweep.results_path() << ", summary.csv"
              << (plotted ? " and accuracy_vs_w.png" : " (plot as CSV only)") << "\n";
    return 0;
  } catch (const learner::TrainingInterrupted& e) {
    std::cerr << "fashion_hierarchy: " << e.what() << "\n(start the same command again to resume)\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "fashion_hierarchy: " << e.what() << "\n";
    return 1;
  }
}
