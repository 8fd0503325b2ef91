// learner/Learner.h: fastai's Learner in C++: data + model + loss + optimizer +
// callbacks, with fit, fit_one_cycle, lr_find, get_preds/predict and checkpoints.
//
//   learner::DataLoaders dls{train, valid, {"0", "1", ..., "9"}};
//   learner::Learner learn(dls, model, std::make_shared<nn::CrossEntropyLoss>(),
//                          learner::fastai_adam(), {learner::accuracy_metric()});
//   learn.fit_one_cycle(3, 1e-2);        // prints epoch  train_loss  valid_loss  accuracy  time
//   learn.recorder->write_csv("history.csv");
//
// The loop (each phase X is before_X / body / after_cancel_X on CancelXException / after_X):
//   fit:      for epoch in [0, n_epoch): epoch phase
//   epoch:    train phase, then validate phase (no grad, model.eval())
//   train, validate: for each batch of the source: batch phase
// (callbacks may start a fit at a later epoch and its train phase at a later batch: the loop
// starts from the epoch before_fit leaves and the iter before_train leaves; a resumed
// checkpoint's ResumeCallback sets them)
//   batch:    pred = model(xb); after_pred; loss = loss_func(pred, yb); after_loss;
//             (a model with several outputs: preds = model.outputs(xb), loss_func.forward_outputs)
//             if training: backward phase (loss.backward()), step phase (opt.step()), opt.zero_grad()
// Exercise 10 (a callback: early stopping) is in learner/Callbacks.cpp; the loop here is library code.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ember/learner/Callback.h"
#include "ember/learner/Callbacks.h"
#include "ember/learner/Checkpoint.h"
#include "ember/learner/Data.h"
#include "ember/learner/Interpret.h"
#include "ember/learner/Metrics.h"
#include "ember/learner/Plot.h"
#include "ember/nn/Loss.h"
#include "ember/nn/Module.h"
#include "ember/optim/Optimizer.h"

namespace ember {
namespace learner {

// Builds the optimizer over the parameter groups (hyper.lr is set by fit afterwards).
using OptFactory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroup>)>;
// Splits the model's parameters into groups (fastai's splitter).
using Splitter = std::function<std::vector<std::vector<Tensor>>(nn::Module&)>;

OptFactory sgd(double momentum = 0.0, double weight_decay = 0.0, bool nesterov = false);
OptFactory fastai_adam(double weight_decay = 0.01);  // betas (0.9, 0.99), eps 1e-5, true wd
OptFactory adam(double weight_decay = 0.0);          // PyTorch's Adam defaults
// The parameters of every BatchNorm layer, plus (with_bias) every parameter named "bias"
// (fastai's bn_bias_params).
std::set<const TensorImpl*> bn_bias_params(nn::Module& m, bool with_bias);
// One group holding every parameter that requires grad (fastai's trainable_params).
std::vector<std::vector<Tensor>> trainable_params(nn::Module& m);

// One learning rate for every group, or one per group: fit(3, 1e-2), fit(3, {1e-4, 1e-3}).
struct LRs {
  std::vector<double> v;
  LRs() = default;
  LRs(double lr) : v{lr} {}                           // NOLINT
  LRs(std::initializer_list<double> l) : v(l) {}      // NOLINT
  LRs(std::vector<double> l) : v(std::move(l)) {}     // NOLINT
  bool empty() const { return v.empty(); }
};
// fastai's slice(start, stop) over n groups: geometric steps from start to stop.
std::vector<double> even_mults(double start, double stop, size_t n);
// fastai's slice(stop) over n groups: stop / 10 for every group but the last, which gets stop.
std::vector<double> lr_slice(double stop, size_t n);

struct OneCycleOptions {
  double div = 25.0;
  double div_final = 1e5;
  double pct_start = 0.25;
  std::vector<double> moms = {0.95, 0.85, 0.95};
};

struct Prediction {
  std::string label;  // vocab[index], or the index as text when there is no vocab
  int64_t index = -1;
  Tensor probs;       // [C] after the activation
};

using CallbackList = std::vector<std::shared_ptr<Callback>>;

class Learner {
 public:
  Learner(DataLoaders dls, std::shared_ptr<nn::Module> model, std::shared_ptr<nn::Loss> loss,
          OptFactory opt_func = fastai_adam(), std::vector<Metric> metrics = {}, CallbackList cbs = {});
  Learner(const Learner&) = delete;
  Learner& operator=(const Learner&) = delete;
  ~Learner();

  // --- training -------------------------------------------------------------------
  // Constant learning rate (empty: the learner's lr). Extra callbacks live for this call only.
  void fit(int n_epoch, LRs lr = {}, CallbackList cbs = {});
  // fastai's one-cycle schedule of lr and momentum (optim::OneCycle), applied before each batch.
  void fit_one_cycle(int n_epoch, LRs lr_max = {}, OneCycleOptions o = {}, CallbackList cbs = {});
  // fastai's transfer-learning recipe: freeze(); fit_one_cycle(freeze_epochs, lr_slice(base_lr),
  // pct_start 0.99); base_lr /= 2; unfreeze(); fit_one_cycle(epochs, even_mults(base_lr / lr_mult,
  // base_lr, n_groups), pct_start, div).
  void fine_tune(int epochs, double base_lr = 2e-3, int freeze_epochs = 1, double lr_mult = 100,
                 double pct_start = 0.3, double div = 5.0);
  // Parameter groups [0, n) stop training (requires_grad off), the rest train; n < 0 counts
  // from the end. freeze() = freeze_to(-1) (only the last group trains), unfreeze() = freeze_to(0).
  void freeze_to(int n);
  void freeze() { freeze_to(-1); }
  void unfreeze() { freeze_to(0); }
  // Runs one validation pass (events before_validate .. after_validate, no printing) and returns
  // {valid_loss, metrics...}.
  std::vector<double> validate();

  // --- lr finder ----------------------------------------------------------------------
  LRFindResult lr_find(double start_lr = 1e-7, double end_lr = 10, int num_it = 100, bool stop_div = true);

  // --- inference ------------------------------------------------------------------------
  // (activation(model(x)), targets) over the validation (or training) source, in eval mode
  // without grad, no callbacks. Targets are concatenated as the source gives them.
  std::pair<Tensor, Tensor> get_preds(bool valid = true);
  // The same for every output of a model with several (nn::Module::forward_outputs): one
  // tensor per output, each through the activation.
  std::pair<TensorList, Tensor> get_outputs(bool valid = true);
  // One item (no batch dim): the decoded class, its index and the class probabilities.
  Prediction predict(const Tensor& item);

  // --- checkpoints ------------------------------------------------------------------------
  // Model state_dict ("model.<key>") and optimizer state ("opt.<key>") in one file
  // (learner/Checkpoint.h has the format). Written to path + ".tmp", then renamed.
  void save(const std::string& path, bool with_opt = true);
  void load(const std::string& path, bool with_opt = true, bool strict = true);

  // --- resumable training (docs/reliability.md) ------------------------------------------
  // Everything a fit needs to go on bit-for-bit, in one safetensors file written atomically:
  // what save() writes, every group's hyper-parameters, the loop position (which fit call of
  // this Learner, epoch, next batch, train_iter, pct_train), the Recorder's history, the
  // trackers' bests and the global RNG state. Call it from a callback's after_batch (training),
  // after_train, after_validate or after_epoch (CheckpointCallback does), or between fits.
  void save_checkpoint(const std::string& path);
  // Loads a checkpoint for the next fit calls, which must be the same as in the run that
  // wrote it (same fit / fit_one_cycle / fine_tune with the same arguments, on a Learner built
  // the same way): fits that had finished are skipped, the one that was running restores the
  // state after its before_fit events and continues at the saved epoch and batch (skipping the
  // batches already done). Bit-for-bit on CPU when the datasets are deterministic per epoch
  // (the ones in datasets/ are: DataLoader orders come from epoch_order).
  //   learn.resume("ckpt.safetensors");
  //   learn.fit_one_cycle(5, 1e-3);  // the same call as before
  void resume(const std::string& path);
  // What the examples' --checkpoint does: every fit of this learner saves a checkpoint to `path`
  // after each epoch (and on Ctrl-C); when `path` already exists and resume_existing, training first
  // continues from it (resume). Returns whether it resumed.
  bool checkpoint_to(const std::string& path, bool resume_existing = true);
  // Whether a resume is pending: its ResumeCallback (learner/ResumeCallback.h) is attached until
  // the loop reaches the checkpoint's position.
  bool resuming() const;
  // SIGINT/SIGTERM during fit: finish the batch, write a checkpoint (to the attached
  // CheckpointCallback's path, else to interrupt_path) and throw TrainingInterrupted. A
  // second signal while the batch finishes kills the process as usual.
  bool handle_signals = true;
  std::string interrupt_path = "ember_interrupted.safetensors";
  // The program's settings that change the training ("bs=64 lr=1 seed=42"): save_checkpoint
  // records it, and resume refuses a checkpoint written with other settings, naming both, rather
  // than mix two runs. Empty: not checked.
  std::string config;
  // Stops fit on a NaN/Inf training loss (NonFiniteLossError); remove_cb(terminate_on_nan) to go on.
  std::shared_ptr<TerminateOnNaNCallback> terminate_on_nan;

  // --- callbacks ------------------------------------------------------------------------
  void add_cb(std::shared_ptr<Callback> cb);
  void remove_cb(const std::shared_ptr<Callback>& cb);
  const CallbackList& cbs() const { return cbs_; }
  void create_opt();  // builds opt from opt_func and splitter (fit does it when opt is null)
  void to(Device d);  // moves the model; batches follow to this device

  // --- configuration (public, as in fastai) ---------------------------------------------------
  DataLoaders dls;
  std::shared_ptr<nn::Module> model;
  std::shared_ptr<nn::Loss> loss_func;
  OptFactory opt_func;
  Splitter splitter = trainable_params;
  std::vector<Metric> metrics;
  std::unique_ptr<optim::Optimizer> opt;
  double lr = 1e-3;  // fastai's defaults.lr
  bool train_bn = true;     // BatchNorm layers train even in frozen groups
  bool wd_bn_bias = false;  // weight decay on BatchNorm parameters and biases
  Device device = Device::cpu();
  // Applied by get_preds/predict: softmax(-1) for CrossEntropyLoss, sigmoid for
  // BCEWithLogitsLoss, identity otherwise. Replace to taste.
  std::function<Tensor(const Tensor&)> activation;
  std::shared_ptr<Recorder> recorder;  // always attached

  // --- loop state, readable and writable by callbacks ---------------------------------------
  Tensor xb, yb, pred, loss;
  TensorList preds;  // every output of the model (forward_outputs); pred is preds[0] when there is one
  int epoch = 0, n_epoch = 1;
  int64_t iter = 0, n_iter = 0, train_iter = 0;
  double pct_train = 0.0;  // training progress in [0, 1): epoch + batch fraction, over n_epoch
  double smooth_loss = 0.0;  // set by the Recorder after each training batch
  bool training = false;
  DataLoader* dl = nullptr;  // the loader being iterated
  Event event = Event::after_fit;  // the event being run (or the last one run)

 private:
  void run(Event e);
  template <class Ex, class F> void with_events(F&& body, Event before, Event cancel, Event after);
  void do_fit();
  void do_epoch();
  void all_batches(int64_t first);  // the loader's batches from `first` on
  void one_batch();
  std::pair<Tensor, Tensor> to_device(Tensor x, Tensor y) const;

  CallbackList cbs_;
  std::set<const TensorImpl*> force_train_;  // trainable even when their group is frozen

  // Fit calls, for checkpoints: which call of this Learner is running, and how many a resumed
  // checkpoint skips (the calls that had finished before it was written).
  int fits_started_ = 0, fit_index_ = -1, first_fit_ = 0;
  bool in_fit_ = false;
  void skip_fit(int fit_index);
  // Where a checkpoint written now goes on: the epoch, and its first training batch still to run.
  std::pair<int, int64_t> checkpoint_position() const;
  void on_signal(int sig);    // writes the checkpoint and throws TrainingInterrupted
};

}  // namespace learner
}  // namespace ember
