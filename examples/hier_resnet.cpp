// examples/hier_resnet.cpp: the two-headed hierarchical ResNet-18 ("Image Classification
// using Hierarchical Layers"), on Oxford-IIIT Pets, with Ember.
//
//   body:   ResNet-18 up to layer4 (cut as cnn_learner does), frozen (no parameter trains; its
//           BatchNorm layers still use batch statistics in training, as model.train() does in the
//           seed); weights from --weights, or random init with --no-pretrained
//   heads:  f = flatten(avgpool(body(x)))                                  512
//           child  = fc(f)                 Linear(512, 512)                 512
//           parent = fcp(f)                Linear(512, 2)     -> parent logits (cat, dog)
//           p128   = fcp2(parent)          Linear(2, 128)                   128
//           breed  = fc2(cat(child, p128)) Linear(640, 37)    -> child logits (37 breeds)
//           no activation anywhere in the heads (the notebook has none)
//   output: two tensors, {breed logits [B, 37], parent logits [B, 2]} (forward_outputs): the loss
//           takes both, and each metric reads the one it names.
//   loss:   CE(breed, y) + CE(parent, species(y)) + KL, the KL term only in training (the notebook's
//           validation loss leaves it out):
//             KL = torch.kl_div(breed_logits, dist) with reduction 'mean' over all B x 37 entries,
//             dist[b] = the uniform distribution over the breeds of sample b's species
//           The notebook never shows dogs64 / cats64; the name and the where() over a [64, 37] tensor
//           of labels say they are 64 rows (the batch size, drop_last) of a 37-wide distribution,
//           and the uniform one over the species' breeds is the natural reading (an assumption).
//           As in the notebook, kl_div gets the raw logits where PyTorch expects log-probabilities;
//           --kl-log-softmax passes log_softmax(logits) instead (a proper KL), --kl-weight 0 drops it.
//   train:  Adam (PyTorch defaults, lr 1e-3) on the four head layers, constant lr, --epochs epochs
//   report: accuracy_breed (argmax of the 37), accuracy_species (argmax of the parent head, the
//           notebook's parent_acc) and accuracy_species_from_breed (species of the argmax breed)
//
// Few-shot ("add a new breed from K images", the notebook's goal): --few-shot 1,5,10 holds --holdout
// (default Bengal) out of training, trains the heads on the other breeds, then for each K starts
// again from those heads and retrains them for --few-shot-epochs on the old training data plus K
// training images of the new breed (each repeated --repeat-new times); it reports the accuracy on the
// new breed's validation images and on the whole validation set (K = 0 is the base model).
//
//   ./build/bin/hier_resnet --data ../shared/data/oxford-pets-subset --epochs 5
//   ./build/bin/hier_resnet --weights resnet18-5c106cde.pth --few-shot 1,5,10 --out hier_out
//
// Outputs in --out, each written atomically (temp file + rename): history.csv (one row per
// epoch of the main training), and with --few-shot, few_shot.csv (one row per K).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ember/ember.h"
#include "example_util.h"
#include "ember/learner/Cli.h"
#include "ember/learner/HierMetrics.h"
#include "ember/nn/Hierarchy.h"

using namespace ember;
using namespace ember::examples;

namespace {

// ---------------------------------------------------------------------------
// The model: frozen ResNet-18 body + the notebook's two heads; outputs {breed, parent} logits.
class HierResNet : public nn::Module {
 public:
  HierResNet(const std::string& weights, int64_t n_child, int64_t n_parent) : nn::Module("HierResNet") {
    std::shared_ptr<nn::ResNet> net = nn::resnet18(1000);
    if (!weights.empty()) nn::load_weights(*net, weights);
    auto body_seq = std::make_shared<nn::Sequential>();
    std::vector<std::shared_ptr<nn::Module>> layers = net->layers();
    for (size_t i = 0; i + 2 < layers.size(); ++i) body_seq->push_back(layers[i]);  // cut at -2, as cnn_learner
    body = register_module("body", body_seq);
    for (Tensor& p : body->parameters()) p.requires_grad_(false);  // the notebook's frozen CNN
    pool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    fc = register_module("fc", std::make_shared<nn::Linear>(512, 512));            // child branch
    fcp = register_module("fcp", std::make_shared<nn::Linear>(512, n_parent));     // parent logits
    fcp2 = register_module("fcp2", std::make_shared<nn::Linear>(n_parent, 128));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(512 + 128, n_child));  // breed logits
  }

  TensorList forward_outputs(const Tensor& x) override {
    Tensor f = pool->forward(body->forward(x)).flatten(1);  // [B, 512]
    Tensor child = fc->forward(f);                          // [B, 512]
    Tensor parent_res = fcp->forward(f);                    // [B, 2]
    Tensor parent = fcp2->forward(parent_res);              // [B, 128]
    Tensor child_res = fc2->forward(cat({child, parent}, 1));  // [B, 37]
    return {child_res, parent_res};
  }

  std::shared_ptr<nn::Sequential> body;
  std::shared_ptr<nn::AdaptiveAvgPool2d> pool;
  std::shared_ptr<nn::Linear> fc, fcp, fcp2, fc2;
};

// leaf -> its level-1 node (species) as an i64 tensor on `dev`.
Tensor species_of(const Tensor& y, const Tensor& leaf_to_species) {
  return index_select(leaf_to_species.to(y.device()), 0, y);
}

// ---------------------------------------------------------------------------
// CE(breed) + CE(species) + kl_weight * KL(breed logits, uniform over the species' breeds).
class TwoHeadLoss : public nn::Loss {
 public:
  TwoHeadLoss(std::shared_ptr<HierResNet> m, const hier::ClassTree& tree, double kl_weight_, bool kl_log_softmax_)
      : nn::Loss("TwoHeadLoss"), model(std::move(m)), kl_weight(kl_weight_), kl_log_softmax(kl_log_softmax_) {
    leaf_to_species = tree.level_index(1);
    // dist rows: one per species, uniform over its breeds (the notebook's cats64 / dogs64 rows).
    Tensor mat = tree.level_matrix(1);                        // [N, M]: 1 where leaf n is below node m
    Tensor counts = mat.sum({0}, true);  // [1, M]
    dist_rows = (mat / counts).transpose(0, 1).contiguous();  // [M, N]
  }

  Tensor forward_outputs(const TensorList& out, const Tensor& y) override {
    const Tensor &breed = out[0], &parent = out[1];
    Tensor ys = species_of(y, leaf_to_species);
    Tensor loss = cross_entropy(breed, y) + cross_entropy(parent, ys);
    if (model->is_training() && kl_weight != 0) {
      Tensor dist = index_select(dist_rows.to(breed.device()).to(breed.dtype()), 0, ys);  // [B, N]
      Tensor input = kl_log_softmax ? log_softmax(breed, 1) : breed;
      loss = loss + kl_div(input, dist, KLReduction::Mean) * kl_weight;
    }
    return loss;
  }

  std::shared_ptr<HierResNet> model;
  double kl_weight;
  bool kl_log_softmax;
  Tensor leaf_to_species, dist_rows;
};

struct Scores {
  double breed = 0, species = 0, species_from_breed = 0, new_breed = NAN, old_breeds = NAN;
  int64_t n_new = 0;
};

// Accuracies over a whole get_outputs result; `holdout` < 0: no new breed.
Scores score(const TensorList& out, const Tensor& y, const hier::ClassTree& tree, const Tensor& leaf_to_species,
             int64_t holdout) {
  Scores s;
  const Tensor& breed = out[0];
  s.breed = learner::accuracy(breed, y);
  s.species = learner::accuracy(out[1], species_of(y, leaf_to_species));
  s.species_from_breed = learner::level_accuracy(breed, y, tree, 1);
  if (holdout >= 0) {
    std::vector<int64_t> pred = breed.argmax(1).to(Device::cpu()).to_vector<int64_t>();
    std::vector<int64_t> t = y.to(Device::cpu()).to_vector<int64_t>();
    int64_t hit_new = 0, n_old = 0, hit_old = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == holdout) ++s.n_new, hit_new += pred[i] == t[i];
      else ++n_old, hit_old += pred[i] == t[i];
    }
    s.new_breed = s.n_new ? static_cast<double>(hit_new) / static_cast<double>(s.n_new) : NAN;
    s.old_breeds = n_old ? static_cast<double>(hit_old) / static_cast<double>(n_old) : NAN;
  }
  return s;
}

nn::StateDict clone_state(const nn::Module& m) {
  nn::StateDict sd = m.state_dict();
  for (auto& kv : sd) kv.second = kv.second.detach().clone();
  return sd;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: two-headed hierarchical ResNet-18 on Oxford-IIIT Pets"};
  PetsFlags flags;
  flags.add_to(app);  // --data --bs --size --weights --no-pretrained --strict --threads --device
  std::string out = "hier_resnet_out", few_shot_text, holdout_name = "Bengal", checkpoint;
  int epochs = 5, few_shot_epochs = 2, repeat_new = 1;
  uint64_t seed = 1;
  double lr = 1e-3, kl_weight = 1.0, valid_pct = 0.33;
  bool kl_log_softmax = false;
  app.add_option("--epochs", epochs, "epochs of the main training")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate (constant, as the notebook)")->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--valid-pct", valid_pct, "validation fraction (the notebook: 0.33)")->check(kFinite)->check(CLI::Range(0.05, 0.9))->capture_default_str();
  app.add_option("--kl-weight", kl_weight, "weight of the KL term (the notebook: 1; 0 drops it)")->check(kFinite)->check(CLI::Range(0.0, 1e6))->capture_default_str();
  app.add_flag("--kl-log-softmax", kl_log_softmax, "feed log_softmax(logits) to the KL term (the notebook feeds raw logits)");
  app.add_option("--few-shot", few_shot_text, "comma list of K: hold --holdout out, then add it from K images each");
  app.add_option("--holdout", holdout_name, "the breed held out in --few-shot mode")->capture_default_str();
  app.add_option("--few-shot-epochs", few_shot_epochs, "epochs of head retraining per K")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--repeat-new", repeat_new, "copies of each of the K new images per epoch")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--seed", seed, "seed for init and batch order")->capture_default_str();
  app.add_option("--out", out, "folder for history.csv and few_shot.csv")->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "save a resumable checkpoint here after every epoch (and on Ctrl-C); an existing one is resumed");
  CLI11_PARSE(app, argc, argv);

  try {
    const Device dev = Device::parse(flags.device);
    std::vector<int> ks;
    if (!few_shot_text.empty()) ks = learner::parse_int_list("--few-shot", few_shot_text, 1, 100000);
    learner::set_threads(flags.threads);
    learner::ensure_dir(out);

    // --- data -------------------------------------------------------------------------------
    auto [pets, cache] = open_pets(flags.data, flags.strict);
    Split split = RandomSplitter(valid_pct, 42)(cache->size());
    const std::vector<std::string>& vocab = pets.items.classes;
    const auto n_child = static_cast<int64_t>(vocab.size());
    const hier::ClassTree tree =
        hier::ClassTree::from_rule(vocab, [](const std::string& c) { return pets_species(c) == 0 ? "cat" : "dog"; });
    const int64_t n_parent = tree.level_size(1);
    std::cout << "Pets from " << pets.images_dir << ": " << cache->size() << " images, " << n_child << " breeds; "
              << split.train.size() << " training, " << split.valid.size() << " validation\n";
    if (flags.weights.empty())
      std::cout << "No --weights: the frozen ResNet-18 body is random init (the seed used ImageNet weights)\n";

    int64_t holdout = -1;
    std::vector<int64_t> base_train = split.train, new_train;
    if (!ks.empty()) {
      auto it = std::find(vocab.begin(), vocab.end(), holdout_name);
      EMBER_CHECK(it != vocab.end(), "--holdout: '", holdout_name, "' is not a breed of ", pets.images_dir);
      holdout = it - vocab.begin();
      base_train.clear();
      for (int64_t i : split.train) (cache->label(i) == holdout ? new_train : base_train).push_back(i);
      const int kmax = *std::max_element(ks.begin(), ks.end());
      EMBER_CHECK(static_cast<size_t>(kmax) <= new_train.size(), "--few-shot: K = ", kmax, " but the training split has only ",
                  new_train.size(), " images of ", holdout_name);
      std::cout << "Few-shot: '" << holdout_name << "' held out (" << new_train.size() << " training images available)\n";
    }
    EMBER_CHECK(static_cast<int64_t>(base_train.size()) >= flags.bs, "--bs ", flags.bs,
                " is larger than the training set (", base_train.size(), " images)");

    // --- model, loss, metrics, Learner ------------------------------------------------------
    manual_seed(seed);
    auto model = std::make_shared<HierResNet>(flags.weights, n_child, n_parent);
    auto loss = std::make_shared<TwoHeadLoss>(model, tree, kl_weight, kl_log_softmax);
    const Tensor leaf_to_species = tree.level_index(1);
    // Output 0 is the breed logits, output 1 the parent's.
    std::vector<learner::Metric> metrics = {
        {"accuracy_breed", learner::accuracy},
        {"accuracy_species",
         [leaf_to_species](const Tensor& p, const Tensor& y) {
           return learner::accuracy(p, species_of(y, leaf_to_species));
         },
         false, 1},
        {"accuracy_species_from_breed",
         [tree](const Tensor& p, const Tensor& y) { return learner::level_accuracy(p, y, tree, 1); }}};
    learner::DataLoaders dls{pets_source(cache, base_train, true, flags.bs, flags.size, seed),
                             pets_source(cache, split.valid, false, flags.bs, flags.size, seed), vocab};
    if (!flags.weights.empty())
      dls.after_batch = [](const Tensor& x) { return learner::normalize(x, learner::kImagenetMean, learner::kImagenetStd); };
    learner::Learner learn(dls, model, loss, learner::adam(), metrics);
    learn.lr = lr;
    if (dev != Device::cpu()) learn.to(dev);

    std::cout << "\n=== training the heads" << (holdout >= 0 ? " (without " + holdout_name + ")" : "") << " ===\n";
    learn.config = run_config(app);  // a checkpoint of other settings is refused, not mixed in
    if (!checkpoint.empty() && learn.checkpoint_to(checkpoint)) std::cout << "resuming from " << checkpoint << "\n";
    learn.fit(epochs, lr);
    {
      std::ostringstream os;
      os << "epoch";
      for (const std::string& n : learn.recorder->metric_names()) os << "," << n;
      os << "\n" << std::setprecision(10);
      for (size_t e = 0; e < learn.recorder->values.size(); ++e) {
        os << e;
        for (double v : learn.recorder->values[e]) os << "," << v;
        os << "\n";
      }
      write_text_atomic(out + "/history.csv", os.str());
    }
    auto [outputs, targets] = learn.get_outputs();
    Scores base = score(outputs, targets, tree, leaf_to_species, holdout);
    std::cout << std::fixed << std::setprecision(4) << "\nvalidation: accuracy_breed " << base.breed
              << "  accuracy_species " << base.species << "  accuracy_species_from_breed " << base.species_from_breed
              << "\n";

    // --- few-shot: add the held-out breed from K images -----------------------------------
    if (!ks.empty()) {
      std::vector<std::pair<int, Scores>> rows{{0, base}};
      const nn::StateDict base_state = clone_state(*model);
      for (int k : ks) {
        std::cout << "\n=== few-shot K = " << k << ": heads retrained on the old data + " << k << " x" << repeat_new
                  << " image(s) of " << holdout_name << " ===\n";
        model->load_state_dict(base_state);
        learn.opt.reset();  // a fresh Adam for every K
        std::vector<int64_t> items = base_train;
        for (int r = 0; r < repeat_new; ++r) items.insert(items.end(), new_train.begin(), new_train.begin() + k);
        learn.dls.train = pets_source(cache, items, true, flags.bs, flags.size, seed + static_cast<uint64_t>(k));
        learn.fit(few_shot_epochs, lr);
        auto [o, t] = learn.get_outputs();
        rows.emplace_back(k, score(o, t, tree, leaf_to_species, holdout));
      }
      std::ostringstream csv;
      csv << "k,new_breed_accuracy,old_breeds_accuracy,accuracy_breed,accuracy_species,accuracy_species_from_breed,"
             "n_new_valid\n"
          << std::setprecision(10);
      std::cout << "\nFew-shot: new breed " << holdout_name << " (" << rows[0].second.n_new
                << " validation images); K = 0 is the model trained without it\n"
                << "     K   new_breed   old_breeds   accuracy_breed   accuracy_species\n";
      for (auto& [k, s] : rows) {
        csv << k << "," << s.new_breed << "," << s.old_breeds << "," << s.breed << "," << s.species << ","
            << s.species_from_breed << "," << s.n_new << "\n";
        std::cout << std::setw(6) << k << std::setw(12) << s.new_breed << std::setw(13) << s.old_breeds << std::setw(17)
                  << s.breed << std::setw(19) << s.species << "\n";
      }
      write_text_atomic(out + "/few_shot.csv", csv.str());
    }
    std::cout << "\nwrote " << out << "/history.csv" << (ks.empty() ? "" : " and few_shot.csv") << "\n";
    return 0;
  } catch (const learner::TrainingInterrupted& e) {
    std::cerr << "hier_resnet: " << e.what() << "\n(run the same command again to resume)\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "hier_resnet: " << e.what() << "\n";
    return 1;
  }
}
