// examples/pets_hierarchy.cpp: the Oxford-IIIT Pets hierarchical-loss sweep of the blog post
// "Hierarchical Loss Function" (docs/hierarchy.md), reproduced with Ember.
//
//   data:   the Pets images labelled by RegexLabeller(r'(.+)_\d+.jpg$'), 37 sorted breeds (12 cats
//           first), RandomSplitter(0.2, seed=42), Resize(460) + aug_transforms(min_scale=0.9,
//           size=56), bs 64 (datasets/Pets.h, datasets/Augment.h), decoded once into a cache
//   model:  cnn_learner(resnet18) (learner/Vision.h), torchvision weights from --weights, or
//           random init with --no-pretrained (no ImageNet weights exist offline)
//   loss:   w * CE(breed logits) + (1 - w) * NLL(log [sum p_cat, sum p_dog])
//           (hier::MarginalHierarchyLoss, nn/Hierarchy.h)
//   train:  fine_tune(3) per run; the sweep runs every w of --w, --runs times each
//   output: results.csv in the blog's layout (one row per unfrozen epoch per run: epoch,
//           train_loss, valid_loss, accuracy_breed, accuracy_species, w, id, plus severity and hd@5),
//           summary.csv (final-epoch mean and sd per w) and accuracy_vs_w.png (+ its CSV)
//
//   ./build/bin/pets_hierarchy --data ../shared/data/oxford-pets-subset --w 0,0.5,1 --runs 1
//   ./build/bin/pets_hierarchy --weights resnet18-5c106cde.pth --w 0:1:0.05 --runs 5   # the blog's sweep
//
// Robustness (learner/Sweep.h): results.csv is rewritten atomically (temp file + rename) after each
// run; started again with the same --out, the sweep skips every run whose rows are all there. The
// run in progress is checkpointed after every epoch (<out>/run_<id>.ckpt.safetensors, removed when
// the run is done), and Ctrl-C / SIGTERM finishes the batch, writes that checkpoint and exits (130):
// the next start resumes that run bit for bit from its checkpoint (learner/Learner.h, resume()).
#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>

#include "ember/ember.h"
#include "example_util.h"
#include "ember/learner/Cli.h"
#include "ember/learner/HierMetrics.h"
#include "ember/learner/Sweep.h"
#include "ember/nn/Hierarchy.h"

using namespace ember;
using namespace ember::examples;

namespace {
// results.csv: one row per unfrozen epoch per run, with the blog's column names.
learner::ResultsTable results_table() {
  return learner::ResultsTable(
      {"epoch", "train_loss", "valid_loss", "accuracy_breed", "accuracy_species", "w", "id", "severity", "hd@5"},
      {"epoch", "id"});
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: the Oxford-IIIT Pets hierarchical-loss sweep (breed and species cross-entropy, weighted by w)"};
  PetsFlags flags;
  flags.add_to(app);  // --data --bs --size --weights --no-pretrained --strict --threads --device
  std::string w_text = "0:1:0.05", out = "pets_hierarchy_out";
  int runs = 5, epochs = 3, freeze_epochs = 1;
  uint64_t seed = 1;
  bool restart = false;
  double base_lr = 2e-3;
  app.add_option("--w", w_text, "loss weights: start:stop:step or a comma list")->capture_default_str();
  app.add_option("--runs", runs, "runs per w")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--epochs", epochs, "fine_tune epochs (after the frozen ones)")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--freeze-epochs", freeze_epochs, "frozen epochs of fine_tune")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--base-lr", base_lr, "fine_tune's base_lr")->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", seed, "base seed: run id k uses seed + k for init and batch order")->capture_default_str();
  app.add_option("--out", out, "folder for results.csv, summary.csv and the plot")->capture_default_str();
  app.add_flag("--restart", restart, "ignore (and replace) the results already in --out");
  CLI11_PARSE(app, argc, argv);

  try {
    const Device dev = Device::parse(flags.device);
    const std::vector<double> grid = learner::parse_grid(w_text);
    learner::set_threads(flags.threads);
    learner::ensure_dir(out);

    // --- data: decoded once into a cache shared by every run ---------------------------------
    auto [pets, cache] = open_pets(flags.data, flags.strict);
    Split split = RandomSplitter(0.2, 42)(cache->size());
    std::cout << "Pets from " << pets.images_dir << ": " << cache->size() << " images, " << pets.items.classes.size()
              << " breeds (" << pets.n_cat_classes() << " cats); " << split.train.size() << " training, "
              << split.valid.size() << " validation\n";
    if (flags.weights.empty())
      std::cout << "No --weights: ResNet-18 starts from random init (the blog used ImageNet weights)\n";
    const hier::ClassTree tree = hier::ClassTree::from_rule(
        pets.items.classes, [](const std::string& c) { return pets_species(c) == 0 ? "cat" : "dog"; });

    // --- the sweep: every w of the grid, --runs times; the runs already in --out are skipped ----
    // Every other flag is part of each run's id, so that another command into the same --out never
    // takes these rows (or checkpoints) for its own.
    const std::string config = run_config(app, {"--w", "--runs", "--seed", "--epochs"});
    learner::Sweep sweep(results_table(), {grid, runs, epochs, seed, restart, out, config});
    sweep.run([&](const learner::SweepRun& r) {
      const uint64_t run_seed = r.seed;
      manual_seed(run_seed);
      auto train = pets_source(cache, split.train, true, flags.bs, flags.size, run_seed);
      auto valid = pets_source(cache, split.valid, false, flags.bs, flags.size, run_seed);
      learner::CnnOptions co;
      co.weights = flags.weights;
      co.loss = std::make_shared<hier::MarginalHierarchyLoss>(tree, r.w);
      // The blog's metrics: breed accuracy, and species accuracy as the species of the argmax breed.
      co.metrics = {learner::level_accuracy_metric(tree, tree.height(), "accuracy_breed"),
                    learner::level_accuracy_metric(tree, 1, "accuracy_species"), learner::mistake_severity_metric(tree),
                    learner::hier_distance_metric(tree, 5)};
      auto learn = learner::cnn_learner({train, valid, pets.items.classes}, nn::resnet18, 37, co);
      if (dev != Device::cpu()) learn->to(dev);
      learn->config = config + " w=" + std::to_string(r.w) + " seed=" + std::to_string(r.seed);
      if (learn->checkpoint_to(r.checkpoint, !restart))
        std::cout << "resuming run " << r.id << " from " << r.checkpoint << "\n";
      learn->fine_tune(epochs, base_lr, freeze_epochs);
      // As the blog: only the unfrozen epochs (the Recorder holds the last fit).
      return learn->recorder->values;
    });

    // --- summary: final-epoch mean +- sd per w --------------------------------------------------
    const bool plotted =
        learner::summarize_sweep(sweep.results(), out, {"breed", "species", "w (weight of the breed cross-entropy)"});
    std::cout << std::defaultfloat << "\n" << sweep.trained() << " runs trained in " << std::setprecision(4)
              << sweep.seconds() << " s, " << sweep.skipped() << " already done; results in " << sweep.results_path()
              << ", summary.csv" << (plotted ? " and accuracy_vs_w.png" : " (plot as CSV only)") << "\n";
    return 0;
  } catch (const learner::TrainingInterrupted& e) {
    std::cerr << "pets_hierarchy: " << e.what() << "\n(start the same command again to resume)\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "pets_hierarchy: " << e.what() << "\n";
    return 1;
  }
}
