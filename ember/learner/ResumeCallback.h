// learner/ResumeCallback.h: what Learner::resume attaches. It puts a resumable checkpoint's state
// back into the Learner at the point of the loop where the checkpoint was written, then leaves.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ember/learner/Callback.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

// Resumable checkpoints (Learner::save_checkpoint). Entries (besides save()'s model.* and opt.*):
//   hyper.<g>        f64 [8]: lr, momentum, dampening, beta2, eps, weight_decay, nesterov, decoupled_wd
//   loop.position    i64 [6]: fit call, epoch, next batch, n_epoch, train_iter, 1 if saved inside a fit
//   loop.pct_train   f64 [1]
//   rng.state        i64 [2]: the global generator's seed and offset (bit patterns)
//   recorder.<list>  the Recorder's per-batch and per-epoch lists (absent when empty), and
//                    recorder.smooth f64 [1] + recorder.smooth_count i64 [1]
//   tracker.<callback>.<monitor>.best / .wait   a TrackerCallback's best, EarlyStopping's wait
//   config.text      u8 [n]: Learner::config of the run that wrote it (absent when empty)
//
// Learner::resume reads the file into a ResumeCallback and skips the fit calls that had finished
// before it. In the fit that was running, the callback runs after every other one (order 1000):
//   before_fit    the model, the optimizer with its hyper-parameters, train_iter, the Recorder's
//                 history and the trackers come back, and epoch = the checkpoint's epoch;
//   before_train  (its first) iter = the checkpoint's batch, so the DataLoader starts there;
//                 pct_train and the global RNG come back, and the callback removes itself.
// A checkpoint written at the end of a fit finishes in before_fit, as no epoch is left to run.
class ResumeCallback : public Callback {
 public:
  explicit ResumeCallback(const std::string& path);
  const std::string& path() const { return path_; }
  int fit_index() const { return fit_; }  // the checkpoint's position: fit call, epoch, next batch
  int epoch() const { return epoch_; }
  int64_t batch() const { return batch_; }
  const std::string& config() const { return config_; }  // the writer's Learner::config

  void before_fit() override;
  void before_train() override;

 private:
  const Tensor* get(const std::string& key) const;
  void restore_state();  // the model, optimizer, hyper-parameters, history and trackers
  void finish();         // pct_train and the RNG; detaches

  std::string path_, config_;
  std::map<std::string, Tensor> entries_;
  int fit_ = 0, epoch_ = 0, n_epoch_ = 0;
  int64_t batch_ = 0, train_iter_ = 0;
  bool in_fit_ = false;
  double pct_train_ = 0;
  RngState rng_;
};

}  // namespace learner
}  // namespace ember
