// learner/LearnerTools.cpp: lr_find, and inference (get_preds, predict).
#include "ember/learner/Learner.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <iostream>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "ember/learner/Checkpoint.h"
#include "ember/nn/Norm.h"

namespace ember {
namespace learner {

// ---------------------------------------------------------------------------
// lr_find
namespace {
NamedTensors clone_all(const NamedTensors& sd) {
  NamedTensors out;
  for (auto& [k, t] : sd) out.emplace_back(k, t.detach().clone());
  return out;
}
}  // namespace

LRFindResult Learner::lr_find(double start_lr, double end_lr, int num_it, bool stop_div) {
  EMBER_CHECK(start_lr > 0 && end_lr > start_lr, "lr_find: need 0 < start_lr < end_lr, got ", start_lr, " and ",
              end_lr);
  EMBER_CHECK(num_it >= 1, "lr_find: num_it must be >= 1, got ", num_it);
  EMBER_CHECK(dls.train != nullptr && dls.train->size() > 0, "lr_find: the training source has no batches");
  if (!opt) create_opt();
  // Snapshot model and optimizer (copies: state_dict hands out live tensors).
  nn::StateDict model_sd = clone_all(model->state_dict());
  NamedTensors opt_sd = clone_all(opt->state_dict());
  // The Recorder's history of earlier fits is kept: lr_find's own batches go to the result.
  Recorder history = *recorder;
  bool was_training = model->is_training();
  struct Restore {
    Learner& l;
    nn::StateDict& msd;
    NamedTensors& osd;
    Recorder& hist;
    bool training;
    ~Restore() {
      l.opt->zero_grad();
      l.model->load_state_dict(msd);
      l.opt->load_state_dict(osd);
      Recorder& r = *l.recorder;
      r.lrs = hist.lrs, r.moms = hist.moms, r.losses = hist.losses, r.raw_losses = hist.raw_losses;
      r.values = hist.values, r.times = hist.times, r.epoch_end_iters = hist.epoch_end_iters;
      r.smooth = hist.smooth;
      r.logging = hist.logging;
      l.model->train(training);
    }
  } restore{*this, model_sd, opt_sd, history, was_training};
  recorder->logging = false;
  auto n_batches = static_cast<int>(dls.train->size());
  int epochs = (num_it + n_batches - 1) / n_batches;
  fit(epochs, {}, {std::make_shared<LRFinder>(start_lr, end_lr, num_it, stop_div)});

  LRFindResult r;
  r.lrs = recorder->lrs;
  r.losses = recorder->losses;
  EMBER_CHECK(!r.losses.empty(), "lr_find: no training batch ran");
  // Like fastai, ignore the first tenth (the smoothing warm-up) and the last five points
  // (the divergence) when looking for the valley, when enough points remain.
  size_t lo = static_cast<size_t>(num_it / 10), n = r.losses.size();
  size_t hi = n > 5 ? n - 5 : n;
  if (hi <= lo + 1) lo = 0, hi = n;
  std::vector<double> part(r.losses.begin() + static_cast<std::ptrdiff_t>(lo),
                           r.losses.begin() + static_cast<std::ptrdiff_t>(hi));
  r.valley_index = lo + valley_index(part);
  r.valley_lr = r.lrs[r.valley_index];
  return r;
}

// ---------------------------------------------------------------------------
// Inference
std::pair<TensorList, Tensor> Learner::get_outputs(bool valid) {
  DataLoader* src = valid ? dls.valid.get() : dls.train.get();
  EMBER_CHECK(src != nullptr, "get_preds: dls.", valid ? "valid" : "train", " is null");
  bool was_training = model->is_training();
  model->eval();
  NoGradGuard ng;
  std::vector<TensorList> outs;  // [output][batch]
  TensorList ts;
  src->start_epoch(0);
  Batch b;
  try {
    while (src->next(b)) {
      auto [xd, yd] = to_device(b.x, b.y);
      TensorList o = model->forward_outputs(xd);
      outs.resize(o.size());
      for (size_t k = 0; k < o.size(); ++k) outs[k].push_back(activation(o[k]).detach());
      ts.push_back(yd.detach());
    }
  } catch (...) {
    model->train(was_training);
    throw;
  }
  model->train(was_training);
  EMBER_CHECK(!ts.empty(), "get_preds: the ", valid ? "validation" : "training", " source gave no batches");
  TensorList all;
  for (TensorList& o : outs) all.push_back(cat(o, 0));
  return {all, cat(ts, 0)};
}

std::pair<Tensor, Tensor> Learner::get_preds(bool valid) {
  auto [outs, targets] = get_outputs(valid);
  EMBER_CHECK(outs.size() == 1, "get_preds: the model has ", outs.size(), " outputs; get_outputs gives them all");
  return {outs[0], targets};
}

Prediction Learner::predict(const Tensor& item) {
  bool was_training = model->is_training();
  model->eval();
  NoGradGuard ng;
  Tensor x = item.device() != device ? item.to(device) : item;
  Tensor out;
  try {
    Tensor xb1 = x.unsqueeze(0);
    if (dls.after_batch) xb1 = dls.after_batch(xb1);
    TensorList outs = model->forward_outputs(xb1);
    EMBER_CHECK(outs.size() == 1, "predict: the model has ", outs.size(),
                " outputs; predict decodes one (get_outputs gives them all)");
    out = activation(outs[0]);
  } catch (...) {
    model->train(was_training);
    throw;
  }
  model->train(was_training);
  Prediction p;
  p.probs = out.select(0, 0).cpu();
  EMBER_CHECK(p.probs.dim() == 1, "predict: expected the model to give [1, C] for one item, got ", fmt(out.shape()));
  p.index = p.probs.argmax(0).item<int64_t>();
  p.label = (!dls.vocab.empty() && p.index < static_cast<int64_t>(dls.vocab.size()))
                ? dls.vocab[static_cast<size_t>(p.index)]
                : std::to_string(p.index);
  return p;
}

}  // namespace learner
}  // namespace ember
