// examples/softmax_vs_sigmoid.cpp: a reproduction of "Comparing the loss functions of label and
// classification models" on Oxford-IIIT Pets, with Ember.
//
// The same net is trained twice from the same init: cnn_learner(resnet18, 37) (learner/Vision.h),
// frozen as fastai leaves it, learn.fit(--epochs, --lr) as the blog post's learn.fit(5):
//   softmax: CrossEntropyLoss, probabilities softmax(logits) (they sum to 1)
//   sigmoid: bce_with_logits(logits, one_hot(y)) (a label model: every class its own yes/no),
//            probabilities sigmoid(logits) (independent, need not sum to 1)
// Then, on in-domain images (the Pets validation split) and on out-of-domain images, it reports:
//   - the distribution of the top probability max_c p_c (--bins equal bins over [0, 1]),
//   - how often each model says "no label": sigmoid: no class above --threshold (fastai's 0.5);
//     softmax: the top probability below --threshold,
//   - accuracy and macro F1 on the in-domain validation set (learner::macro_f1: sklearn's macro
//     average over the classes in the targets or the predictions), with the argmax as the
//     prediction, and again with "no label" answers counted as misses ("macro_f1_abstain").
//
// Out-of-domain images (--ood): MNIST test digits (default) turned into 3-channel --size px images
// (resized with the antialiased bilinear filter of the image cache, grey copied into R, G, B):
// real photographs of something that is no pet, offline in shared/data, so neither model has any
// right answer for them; or uniform noise (--ood noise), which needs no data at all.
//
//   ./build/bin/softmax_vs_sigmoid --data ../shared/data/oxford-pets-subset --epochs 5 --out svs
//
// Outputs in --out, each written atomically: summary.csv (one row per model and domain),
// top_prob_hist.csv + top_prob_hist.png (learner::plot_histogram; the CSV even without gnuplot).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ember/datasets/Mnist.h"
#include "ember/ember.h"
#include "example_util.h"
#include "ember/learner/Cli.h"
#include "ember/learner/Metrics.h"

using namespace ember;
using namespace ember::examples;

namespace {

// Multi-label BCE on single-label data: the targets are one-hot rows.
class OneHotBCELoss : public nn::Loss {
 public:
  explicit OneHotBCELoss(int64_t n) : nn::Loss("OneHotBCELoss"), n_classes(n) {}
  Tensor forward(const Tensor& logits, const Tensor& y) override {
    return bce_with_logits(logits, one_hot(y, n_classes, logits.dtype()).to(logits.device()));
  }
  int64_t n_classes;
};

// MNIST test digits as f32 [n, 3, size, size] in [0, 1].
Tensor mnist_images(const std::string& dir, int64_t n, int64_t size) {
  Mnist m;
  try {
    m = load_mnist(mnist_dir(dir), false);
  } catch (const std::exception& e) {
    throw Error(std::string("--mnist (the out-of-domain images; --ood noise needs none): ") + e.what());
  }
  n = std::min(n, m.size());
  std::vector<uint8_t> src = m.images.to_vector<uint8_t>();
  std::vector<uint8_t> small(static_cast<size_t>(size * size));
  std::vector<float> out(static_cast<size_t>(n * 3 * size * size));
  for (int64_t i = 0; i < n; ++i) {
    resize_image_u8(src.data() + i * 28 * 28, 28, 28, 1, small.data(), static_cast<int>(size), static_cast<int>(size));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t k = 0; k < size * size; ++k)
        out[static_cast<size_t>((i * 3 + c) * size * size + k)] = small[static_cast<size_t>(k)] / 255.0f;
  }
  return from_vector(out, {n, 3, size, size});
}

struct DomainStats {
  std::string model, domain;
  int64_t n = 0;
  std::vector<double> top;  // per image
  double mean_top = 0, no_label = 0, accuracy = NAN, f1 = NAN, f1_abstain = NAN;
};

DomainStats stats(const std::string& model, const std::string& domain, const Tensor& probs, const Tensor& y,
                  double threshold) {
  DomainStats s;
  s.model = model, s.domain = domain, s.n = probs.size(0);
  const int64_t c = probs.size(1);
  std::vector<float> p = probs.to(Device::cpu()).to(DType::f32).contiguous().to_vector<float>();
  std::vector<int64_t> arg(static_cast<size_t>(s.n)), abstain(static_cast<size_t>(s.n));
  int64_t none = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    const float* row = p.data() + i * c;
    const int64_t a = std::max_element(row, row + c) - row;
    const double t = row[a];
    s.top.push_back(t);
    s.mean_top += t;
    arg[static_cast<size_t>(i)] = a;
    // "No label": no class reaches the threshold (for softmax: the top probability is below it).
    const bool no = t < threshold;
    none += no;
    abstain[static_cast<size_t>(i)] = no ? -1 : a;
  }
  if (s.n) s.mean_top /= static_cast<double>(s.n), s.no_label = static_cast<double>(none) / static_cast<double>(s.n);
  if (y.defined()) {
    std::vector<int64_t> t = y.to(Device::cpu()).to_vector<int64_t>();
    int64_t hit = 0;
    for (size_t i = 0; i < t.size(); ++i) hit += arg[i] == t[i];
    s.accuracy = static_cast<double>(hit) / static_cast<double>(std::max<size_t>(t.size(), 1));
    s.f1 = learner::macro_f1(arg, t);
    s.f1_abstain = learner::macro_f1(abstain, t);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: softmax + cross-entropy against sigmoid + BCE on Pets, in and out of domain"};
  PetsFlags flags;
  flags.add_to(app);  // --data --bs --size --weights --no-pretrained --strict --threads --device
  std::string out = "softmax_vs_sigmoid_out", ood = "mnist", mnist, checkpoint;
  int epochs = 5, bins = 10;
  int64_t ood_count = 500;
  uint64_t seed = 1;
  double lr = 1e-3, threshold = 0.5;
  bool unfreeze = false;
  app.add_option("--epochs", epochs, "epochs per model (learn.fit)")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--lr", lr, "learning rate of fit (fastai's default 1e-3)")->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--unfreeze", unfreeze, "train the whole net (default: frozen body, as cnn_learner + fit leave it)");
  app.add_option("--ood", ood, "out-of-domain images: mnist or noise")->check(CLI::IsMember({"mnist", "noise"}))->capture_default_str();
  app.add_option("--mnist", mnist, "MNIST folder for --ood mnist (default: $EMBER_DATA_DIR/mnist, ~/.cache/ember/mnist)");
  app.add_option("--ood-count", ood_count, "out-of-domain images")->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  app.add_option("--bins", bins, "histogram bins over [0, 1]")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--threshold", threshold, "'has a label' threshold (fastai's 0.5)")->check(kFinite)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--seed", seed, "seed for init and batch order (both models get the same)")->capture_default_str();
  app.add_option("--out", out, "folder for summary.csv and the histogram")->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "checkpoint prefix: <prefix>.softmax.safetensors and <prefix>.sigmoid.safetensors, saved every epoch (and on Ctrl-C); existing ones are resumed");
  CLI11_PARSE(app, argc, argv);

  try {
    const Device dev = Device::parse(flags.device);
    learner::set_threads(flags.threads);
    learner::ensure_dir(out);

    // --- data ---------------------------------------------------------------------------------
    auto [pets, cache] = open_pets(flags.data, flags.strict);
    Split split = RandomSplitter(0.2, 42)(cache->size());
    const std::vector<std::string>& vocab = pets.items.classes;
    const auto n_classes = static_cast<int64_t>(vocab.size());
    EMBER_CHECK(static_cast<int64_t>(split.train.size()) >= flags.bs, "--bs ", flags.bs,
                " is larger than the training set (", split.train.size(), " images)");
    std::cout << "Pets from " << pets.images_dir << ": " << cache->size() << " images, " << n_classes << " breeds; "
              << split.train.size() << " training, " << split.valid.size() << " validation\n";
    if (flags.weights.empty())
      std::cout << "No --weights: ResNet-18 starts from random init (the seed used ImageNet weights)\n";

    manual_seed(seed + 1000);
    Tensor ood_x = ood == "mnist" ? mnist_images(mnist, ood_count, flags.size)
                                  : rand({ood_count, 3, flags.size, flags.size});
    const std::string ood_name = ood == "mnist" ? "mnist" : "noise";
    std::cout << "Out-of-domain: " << ood_x.size(0) << (ood == "mnist" ? " MNIST test digits" : " uniform-noise images")
              << " at " << flags.size << " px\n";
    auto ood_src = std::make_shared<DataLoader>(ood_x, zeros({ood_x.size(0)}, DType::i64), DataLoaderOptions{flags.bs});

    // --- the two models ------------------------------------------------------------------------
    std::vector<DomainStats> all;
    for (const std::string kind : {"softmax", "sigmoid"}) {
      std::cout << "\n=== " << kind << (kind == "softmax" ? " + cross-entropy" : " + BCE on one-hot targets") << " ===\n";
      manual_seed(seed);
      learner::CnnOptions co;
      co.weights = flags.weights;
      if (kind == "sigmoid") co.loss = std::make_shared<OneHotBCELoss>(n_classes);
      learner::DataLoaders dls{pets_source(cache, split.train, true, flags.bs, flags.size, seed),
                               pets_source(cache, split.valid, false, flags.bs, flags.size, seed), vocab};
      auto learn = learner::cnn_learner(dls, nn::resnet18, n_classes, co);
      if (kind == "sigmoid") learn->activation = [](const Tensor& x) { return x.sigmoid(); };
      else learn->activation = [](const Tensor& x) { return x.softmax(-1); };
      if (dev != Device::cpu()) learn->to(dev);
      if (unfreeze) learn->unfreeze();
      const std::string ckpt = checkpoint.empty() ? "" : checkpoint + "." + kind + ".safetensors";
      learn->config = run_config(app) + " model=" + kind;
      if (!ckpt.empty() && learn->checkpoint_to(ckpt)) std::cout << "resuming from " << ckpt << "\n";
      learn->fit(epochs, lr);
      auto [probs, y] = learn->get_preds();
      all.push_back(stats(kind, "pets_valid", probs, y, threshold));
      auto valid = learn->dls.valid;
      learn->dls.valid = ood_src;
      auto ood_probs = learn->get_preds().first;
      learn->dls.valid = valid;
      all.push_back(stats(kind, ood_name, ood_probs, Tensor(), threshold));
    }

    // --- report ------------------------------------------------------------------------------
    std::ostringstream csv;
    csv << "model,domain,n,mean_top_prob,no_label_rate,accuracy,macro_f1,macro_f1_abstain\n" << std::setprecision(10);
    std::cout << "\n'no label': top probability below " << threshold
              << " (sigmoid: no class above it)\nmodel     domain         n  mean_top  no_label  accuracy  macro_f1  "
                 "macro_f1_abstain\n"
              << std::fixed << std::setprecision(4);
    for (const DomainStats& s : all) {
      csv << s.model << "," << s.domain << "," << s.n << "," << s.mean_top << "," << s.no_label << "," << s.accuracy << ","
          << s.f1 << "," << s.f1_abstain << "\n";
      std::cout << std::left << std::setw(10) << s.model << std::setw(12) << s.domain << std::right << std::setw(4)
                << s.n << std::setw(10) << s.mean_top << std::setw(10) << s.no_label << std::setw(10) << s.accuracy
                << std::setw(10) << s.f1 << std::setw(18) << s.f1_abstain << "\n";
    }
    write_text_atomic(out + "/summary.csv", csv.str());

    std::vector<double> edges;
    for (int i = 0; i <= bins; ++i) edges.push_back(static_cast<double>(i) / bins);
    std::vector<learner::Histogram> hists;
    std::cout << "\nTop-probability histogram (fraction of images per bin)\nbin         ";
    for (const DomainStats& s : all) std::cout << std::setw(20) << s.model + "/" + s.domain;
    std::cout << "\n";
    for (const DomainStats& s : all)
      hists.push_back({s.model + " " + s.domain, learner::histogram_counts(s.top, bins, 0.0, 1.0, true)});
    for (int b = 0; b < bins; ++b) {
      std::cout << std::setprecision(2) << "[" << edges[b] << ", " << edges[b + 1] << ")" << std::setprecision(3);
      for (const auto& h : hists) std::cout << std::setw(20) << h.counts[static_cast<size_t>(b)];
      std::cout << "\n";
    }
    const bool plotted = learner::plot_histogram(edges, hists, "top class probability", "fraction of images",
                                                 out + "/top_prob_hist.png");
    std::cout << "\nwrote " << out << "/summary.csv, top_prob_hist.csv" << (plotted ? " and top_prob_hist.png" : " (no gnuplot: no PNG)")
              << "\n";
    return 0;
  } catch (const learner::TrainingInterrupted& e) {
    std::cerr << "softmax_vs_sigmoid: " << e.what() << "\n(run the same command again to resume)\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "softmax_vs_sigmoid: " << e.what() << "\n";
    return 1;
  }
}
