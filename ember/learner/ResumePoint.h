// learner/ResumePoint.h: what a resumable checkpoint restores (internal to learner/: Learner.cpp
// and LearnerResume.cpp share it).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ember/learner/Learner.h"

namespace ember {
namespace learner {

// Resumable checkpoints. Entries (besides save()'s model.* and opt.*):
//   hyper.<g>        f64 [8]: lr, momentum, dampening, beta2, eps, weight_decay, nesterov, decoupled_wd
//   loop.position    i64 [6]: fit call, epoch, next batch, n_epoch, train_iter, 1 if saved inside a fit
//   loop.pct_train   f64 [1]
//   rng.state        i64 [2]: the global generator's seed and offset (bit patterns)
//   recorder.<list>  the Recorder's per-batch and per-epoch lists (absent when empty), and
//                    recorder.smooth f64 [1] + recorder.smooth_count i64 [1]
//   tracker.<callback>.<monitor>.best / .wait   a TrackerCallback's best, EarlyStopping's wait
struct Learner::ResumePoint {
  std::string path;
  std::map<std::string, Tensor> entries;
  int fit = 0, epoch = 0, n_epoch = 0;
  int64_t batch = 0, train_iter = 0;
  bool in_fit = false;
  double pct_train = 0;
  RngState rng;
  const Tensor* get(const std::string& k) const {
    auto it = entries.find(k);
    return it == entries.end() ? nullptr : &it->second;
  }
};

}  // namespace learner
}  // namespace ember
