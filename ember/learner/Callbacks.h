// learner/Callbacks.h: the callbacks every Learner has (TrainEval, Recorder,
// Progress) and the ones fit_one_cycle and lr_find add (ParamScheduler, LRFinder).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "ember/learner/Callback.h"
#include "ember/learner/Metrics.h"
#include "ember/optim/Optimizer.h"

namespace ember {
namespace learner {

// Keeps epoch/iteration counters and train/eval mode (fastai's TrainEvalCallback, order -10):
// before_fit zeroes epoch, train_iter and pct_train; before_train sets pct_train = epoch / n_epoch,
// iter = 0, model.train(); after a training batch pct_train += 1 / (n_iter * n_epoch) and
// train_iter++; before_validate puts the model in eval mode.
class TrainEvalCallback : public Callback {
 public:
  TrainEvalCallback() : Callback("TrainEvalCallback", -10) {}
  void before_fit() override;
  void before_train() override;
  void after_batch() override;
  void before_validate() override;
};

// Exponential moving average with debiasing (fastai's AvgSmoothLoss):
//   v_t = beta * v_{t-1} + (1 - beta) * x_t,   value = v_t / (1 - beta^t)
class SmoothLoss {
 public:
  explicit SmoothLoss(double beta = 0.98) : beta_(beta) {}
  void reset() { v_ = 0, count_ = 0; }
  void add(double x);
  double value() const;
  int64_t count() const { return count_; }
  double average() const { return v_; }  // the raw (undebiased) average, for checkpoints
  void restore(double average, int64_t count) { v_ = average, count_ = count; }

 private:
  double beta_, v_ = 0;
  int64_t count_ = 0;
};

// Records the training history (order 50) and prints fastai's table as epochs end:
//   epoch  train_loss  valid_loss  accuracy  time
//   0      0.412345    0.301234    0.912000  00:03
// train_loss is the smoothed loss at the end of the epoch; valid_loss and the metrics
// are averages over the validation set weighted by batch size.
class Recorder : public Callback {
 public:
  explicit Recorder(double beta = 0.98);

  void before_fit() override;
  void before_epoch() override;
  void before_validate() override;
  void after_batch() override;
  void after_epoch() override;

  // "train_loss", "valid_loss", metric names..., in the table's order (without epoch, time).
  std::vector<std::string> metric_names() const;
  // fastai's table header and one row, as printed.
  std::string header() const;
  std::string format_row(size_t epoch_index) const;
  // epoch,train_loss,valid_loss,<metrics>,time (time in seconds). Temp file + rename.
  void write_csv(const std::string& path) const;

  // Per training batch (since the last fit started):
  std::vector<double> lrs, moms;   // last group's lr and momentum used by the step
  std::vector<double> losses;      // smoothed loss after the batch (what fastai plots)
  std::vector<double> raw_losses;  // the batch loss itself
  // Per epoch:
  std::vector<std::vector<double>> values;  // {train_loss, valid_loss, metrics...}; NaN when not run
  std::vector<double> times;                // seconds
  std::vector<size_t> epoch_end_iters;      // lrs.size() when each epoch ended

  bool logging = true;             // print the table
  std::ostream* out = nullptr;     // where the table goes (nullptr: std::cout)
  SmoothLoss smooth;

 private:
  std::vector<std::string> names_;
  MetricTotals valid_;  // this epoch's validation loss and metrics
  std::chrono::steady_clock::time_point epoch_start_;
};

// A one-line progress bar on a terminal (order 70). Silent unless `out` is a TTY
// (checked once with isatty when constructed; `force_tty` overrides, for tests).
class ProgressCallback : public Callback {
 public:
  explicit ProgressCallback(std::FILE* out = stderr, int force_tty = -1);
  void before_train() override;
  void before_validate() override;
  void after_batch() override;
  void after_train() override;
  void after_validate() override;
  void after_fit() override;
  bool active() const { return tty_; }

 private:
  void draw(bool final);
  void clear();
  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;  // a bar is on the line
  const char* phase_ = "train";
  std::chrono::steady_clock::time_point last_draw_{};
};

// Applies a schedule to the optimizer before every training batch, from pct_train (order 60).
class ParamScheduler : public Callback {
 public:
  explicit ParamScheduler(std::shared_ptr<optim::Scheduler> s) : Callback("ParamScheduler", 60), sched(std::move(s)) {}
  void before_batch() override;
  std::shared_ptr<optim::Scheduler> sched;
};

// Watches one column of the Recorder's table after each epoch (fastai's TrackerCallback,
// order 60: after the Recorder). Lower is better when the name holds "loss" or "error",
// higher otherwise (or say so with `lower_is_better`). An epoch is a new best when it beats
// the best so far by more than min_delta.
class TrackerCallback : public Callback {
 public:
  TrackerCallback(std::string name, std::string monitor = "valid_loss", double min_delta = 0.0, int lower_is_better = -1,
                  int order = 60);
  void before_fit() override;
  void after_epoch() override;
  double best = 0;
  bool new_best = false;
  const std::string& monitor() const { return monitor_; }

 protected:
  std::ostream& log() const;

 private:
  std::string monitor_;
  double min_delta_;
  bool lower_;
};

// Stops training (CancelFitException) after `patience` epochs without a new best.
class EarlyStoppingCallback : public TrackerCallback {
 public:
  explicit EarlyStoppingCallback(std::string monitor = "valid_loss", double min_delta = 0.0, int patience = 1)
      : TrackerCallback("EarlyStoppingCallback", std::move(monitor), min_delta), patience_(patience) {}
  void before_fit() override;
  void after_epoch() override;
  int waited() const { return wait_; }  // epochs without improvement (saved in checkpoints)
  void set_waited(int w) { wait_ = w; }

 private:
  int patience_, wait_ = 0;
};

// Saves the learner (Learner::save) at each new best, or every epoch to "<path>_<epoch>",
// and at the end of fit loads the best one back (unless every_epoch).
class SaveModelCallback : public TrackerCallback {
 public:
  explicit SaveModelCallback(std::string path, std::string monitor = "valid_loss", bool every_epoch = false,
                             bool with_opt = false)
      : TrackerCallback("SaveModelCallback", std::move(monitor)), path_(std::move(path)), every_epoch_(every_epoch),
        with_opt_(with_opt) {}
  void before_fit() override;
  void after_epoch() override;
  void after_fit() override;

 private:
  std::string path_;
  bool every_epoch_, with_opt_, saved_ = false;
};

// Resumable checkpoints (docs/reliability.md): Learner::save_checkpoint to `path` every
// `every_epochs` epochs (0: never) and every `every_batches` training batches (0: never), each
// write atomic (temp file + rename, so `path` always holds a whole checkpoint). With a
// `monitor` column ("valid_loss", "accuracy", ...), also to best_path() at each new best.
// On SIGINT/SIGTERM the Learner writes its interrupt checkpoint to path() too. Order 65:
// after the Recorder and the trackers, so the saved history holds the batch or epoch just done.
//   learn.fit_one_cycle(5, 1e-3, {}, {std::make_shared<CheckpointCallback>("run/ckpt.safetensors")});
//   // later, in a fresh process:
//   learn.resume("run/ckpt.safetensors"); learn.fit_one_cycle(5, 1e-3, {}, {same callbacks});
class CheckpointCallback : public TrackerCallback {
 public:
  struct Options {
    int every_epochs = 1;
    int64_t every_batches = 0;
    std::string monitor;  // empty: no best checkpoint
  };
  explicit CheckpointCallback(std::string path) : CheckpointCallback(std::move(path), Options{}) {}
  CheckpointCallback(std::string path, Options o);
  void before_fit() override;
  void after_batch() override;
  void after_epoch() override;
  const std::string& path() const { return path_; }
  std::string best_path() const;  // "run/ckpt.safetensors" -> "run/ckpt_best.safetensors"
  int64_t saves() const { return saves_; }

 private:
  void write(const std::string& p);
  std::string path_;
  Options opt_;
  int64_t saves_ = 0;
};

// The Learner stops on a NaN or infinite training loss (after_loss, before backward, so the
// weights are still those of the last good step) with NonFiniteLossError, instead of training
// on garbage. Every Learner has one (Learner::terminate_on_nan); remove_cb it to go on.
class TerminateOnNaNCallback : public Callback {
 public:
  TerminateOnNaNCallback() : Callback("TerminateOnNaNCallback", 0) {}
  void after_loss() override;
};

// Thrown by TerminateOnNaNCallback: "Learner: the training loss is nan at epoch 1, batch 3 ...".
class NonFiniteLossError : public Error {
 public:
  NonFiniteLossError(const std::string& msg, double value) : Error(msg), loss(value) {}
  double loss;
};

// Thrown by fit after SIGINT or SIGTERM (Learner::handle_signals): the batch that was running
// finished, a checkpoint was written to `checkpoint`, and the message says how to resume.
class TrainingInterrupted : public Error {
 public:
  TrainingInterrupted(const std::string& msg, int sig, std::string path)
      : Error(msg), signal(sig), checkpoint(std::move(path)) {}
  int signal;
  std::string checkpoint;
};

// Appends each epoch's row to a CSV file as training goes (columns as Recorder::write_csv).
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string path, bool append = false)
      : Callback("CSVLogger", 60), path_(std::move(path)), append_(append) {}
  void before_fit() override;
  void after_epoch() override;

 private:
  std::string path_;
  bool append_;
  int64_t epoch_offset_ = 0;
};

// lr_find's result: every recorded (lr, smoothed loss) and the valley suggestion.
struct LRFindResult {
  std::vector<double> lrs, losses;
  double valley_lr = 0;
  size_t valley_index = 0;  // into lrs/losses
};

// The "valley" suggestion (fastai's default for lr_find). The idea: the good learning
// rates lie in the longest stretch where the loss keeps falling. We find the longest
// strictly decreasing subsequence of the smoothed losses (O(n^2) dynamic programming,
// earliest end on ties), take the index span [first, last] it covers, and suggest the
// point half-way through it (first + span/3 + span/6, as fastai's code does): far enough
// from the flat start to be learning quickly, far enough from the minimum to be safe.
// lr_find first drops the first tenth and the last five points, as fastai does.
// Returns the index; needs at least one loss.
size_t valley_index(const std::vector<double>& losses);

// Drives lr_find (order 60): exponential lr from start_lr to end_lr over num_it training
// batches, lr_i = start * (end/start)^(i/num_it); cancels the fit after num_it batches or
// (stop_div) when the smoothed loss exceeds 4x the best so far; skips validation.
class LRFinder : public Callback {
 public:
  LRFinder(double start_lr, double end_lr, int num_it, bool stop_div);
  void before_fit() override;
  void before_batch() override;
  void after_batch() override;
  void before_validate() override;

 private:
  double start_, end_;
  int num_it_;
  bool stop_div_;
  double best_ = 0;
};

}  // namespace learner
}  // namespace ember
