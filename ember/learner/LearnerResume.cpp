// learner/LearnerResume.cpp: resumable checkpoints (save_checkpoint; resume, which attaches a
// ResumeCallback; checkpoint_to) and save / load of a model with its optimizer.
#include "ember/learner/Learner.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ember/learner/Checkpoint.h"
#include "ember/learner/ResumeCallback.h"

namespace ember {
namespace learner {

namespace {
Tensor f64_vector(const std::vector<double>& v) { return from_vector(v); }
Tensor i64_vector(const std::vector<int64_t>& v) { return from_vector(v); }
std::vector<double> doubles(const Tensor& t) {
  Tensor c = t.cpu().to(DType::f64).contiguous();
  return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
}
std::vector<int64_t> int64s(const Tensor& t) {
  Tensor c = t.cpu().to(DType::i64).contiguous();
  return std::vector<int64_t>(c.data<int64_t>(), c.data<int64_t>() + c.numel());
}
std::ostream& learner_log(const Learner& l) { return l.recorder->out ? *l.recorder->out : std::cout; }

// The file layout save() and save_checkpoint() share: the model's state under "model.", the
// optimizer's (when given) under "opt.".
NamedTensors model_and_opt_state(const nn::Module& model, const optim::Optimizer* opt) {
  NamedTensors all;
  for (auto& [k, t] : model.state_dict()) all.emplace_back("model." + k, t);
  if (opt != nullptr)
    for (auto& [k, t] : opt->state_dict()) all.emplace_back("opt." + k, t);
  return all;
}

// And back: the model.* and opt.* entries with their prefixes cut; `other` gets every other key.
struct ModelAndOptState {
  nn::StateDict model;
  NamedTensors opt;
  std::vector<std::string> other;
};
template <class Entries>
ModelAndOptState split_model_and_opt(const Entries& entries) {
  ModelAndOptState s;
  for (auto& [k, t] : entries) {
    if (k.rfind("model.", 0) == 0) s.model.emplace_back(k.substr(6), t);
    else if (k.rfind("opt.", 0) == 0) s.opt.emplace_back(k.substr(4), t);
    else s.other.push_back(k);
  }
  return s;
}

}  // namespace

// The loop position follows from the event being run: inside a training batch, that batch counts
// as done; from the end of training to the end of validation, only validation is redone; after
// an epoch, the next one starts.
std::pair<int, int64_t> Learner::checkpoint_position() const {
  const int64_t n_train = dls.train ? dls.train->size() : 0;
  switch (event) {
    case Event::before_fit:
    case Event::before_epoch:
    case Event::before_train:
      return {epoch, 0};
    case Event::after_train:
    case Event::after_cancel_train:
    case Event::before_validate:
    case Event::after_cancel_validate:
    case Event::after_validate:
      return {epoch, n_train};
    case Event::after_cancel_epoch:
    case Event::after_epoch:
      return {epoch + 1, 0};
    case Event::after_cancel_fit:
    case Event::after_fit:
      return {n_epoch, 0};
    default:  // the events of a batch
      return {epoch, training ? iter + 1 : n_train};
  }
}

void Learner::save_checkpoint(const std::string& path) {
  if (!opt) create_opt();
  NamedTensors all = model_and_opt_state(*model, opt.get());
  for (size_t g = 0; g < opt->groups().size(); ++g) {
    const optim::Hyper& h = opt->groups()[g].hyper;
    all.emplace_back("hyper." + std::to_string(g),
                     f64_vector({h.lr, h.momentum, h.dampening, h.beta2, h.eps, h.weight_decay, h.nesterov ? 1.0 : 0.0,
                                 h.decoupled_wd ? 1.0 : 0.0}));
  }
  // Outside a fit, the checkpoint continues with the next fit call, from its start.
  const int fit = in_fit_ ? fit_index_ : fits_started_;
  const auto [next_epoch, next_batch] = in_fit_ ? checkpoint_position() : std::pair<int, int64_t>{0, 0};
  all.emplace_back("loop.position", i64_vector({fit, next_epoch, next_batch, in_fit_ ? n_epoch : 0,
                                                in_fit_ ? train_iter : 0, in_fit_ ? 1 : 0}));
  all.emplace_back("loop.pct_train", f64_vector({in_fit_ ? pct_train : 0.0}));
  if (!config.empty()) {  // as bytes: the tensors are the file's only payload
    Tensor text = empty({static_cast<int64_t>(config.size())}, DType::u8);
    std::copy(config.begin(), config.end(), text.data<uint8_t>());
    all.emplace_back("config.text", text);
  }
  RngState rng = rng_state();
  all.emplace_back("rng.state", i64_vector({static_cast<int64_t>(rng.seed), static_cast<int64_t>(rng.offset)}));
  if (in_fit_) {
    const Recorder& r = *recorder;
    auto add = [&](const char* name, const std::vector<double>& v) {
      if (!v.empty()) all.emplace_back(std::string("recorder.") + name, f64_vector(v));
    };
    add("lrs", r.lrs), add("moms", r.moms), add("losses", r.losses), add("raw_losses", r.raw_losses);
    add("times", r.times);
    std::vector<double> flat;
    for (auto& row : r.values) flat.insert(flat.end(), row.begin(), row.end());
    if (!r.values.empty())
      all.emplace_back("recorder.values",
                       from_vector(flat, Shape{static_cast<int64_t>(r.values.size()),
                                               static_cast<int64_t>(r.values.front().size())}));
    std::vector<int64_t> ends(r.epoch_end_iters.begin(), r.epoch_end_iters.end());
    if (!ends.empty()) all.emplace_back("recorder.epoch_end_iters", i64_vector(ends));
    all.emplace_back("recorder.smooth", f64_vector({r.smooth.average()}));
    all.emplace_back("recorder.smooth_count", i64_vector({r.smooth.count()}));
    for (auto& cb : cbs_) {
      auto* t = dynamic_cast<TrackerCallback*>(cb.get());
      if (t == nullptr || t->monitor().empty()) continue;
      std::string k = "tracker." + t->name() + "." + t->monitor();
      all.emplace_back(k + ".best", f64_vector({t->best}));
      if (auto* es = dynamic_cast<EarlyStoppingCallback*>(t)) all.emplace_back(k + ".wait", i64_vector({es->waited()}));
    }
  }
  save_tensors(path, all);  // temp file + rename
}

bool Learner::checkpoint_to(const std::string& path, bool resume_existing) {
  const bool resumed = resume_existing && std::ifstream(path).good();
  if (resumed) resume(path);
  add_cb(std::make_shared<CheckpointCallback>(path));
  return resumed;
}

void Learner::resume(const std::string& path) {
  auto cb = std::make_shared<ResumeCallback>(path);
  EMBER_CHECK(cb->fit_index() >= fits_started_, "Learner::resume: '", path, "' continues fit call #", cb->fit_index(),
              " but this Learner already started ", fits_started_, " fits; call resume before the first fit");
  EMBER_CHECK(config.empty() || cb->config() == config, "Learner::resume: '", path, "' was written by a run with ",
              cb->config().empty() ? std::string("no recorded settings") : "settings '" + clip(cb->config(), 300) + "'",
              ", but this run has '", clip(config, 300),
              "'; resuming would mix two runs. Use the same settings, or another checkpoint file");
  for (auto& old : CallbackList(cbs_))
    if (dynamic_cast<ResumeCallback*>(old.get())) remove_cb(old);  // the last resume() wins
  first_fit_ = cb->fit_index();
  add_cb(cb);
  if (recorder->logging)
    learner_log(*this) << "Resuming from '" << path << "': fit call #" << cb->fit_index() << ", epoch "
                       << cb->epoch() << ", batch " << cb->batch() << "\n";
}

bool Learner::resuming() const {
  for (auto& cb : cbs_)
    if (dynamic_cast<ResumeCallback*>(cb.get())) return true;
  return false;
}

void Learner::skip_fit(int index) {
  if (recorder->logging)
    learner_log(*this) << "Resume: skipping fit call #" << index << " (it finished before the checkpoint)\n";
}

// ---------------------------------------------------------------------------
// ResumeCallback
ResumeCallback::ResumeCallback(const std::string& path) : Callback("ResumeCallback", 1000), path_(path) {
  for (auto& [k, t] : load_tensors(path)) entries_[k] = t;
  const Tensor* pos = get("loop.position");
  EMBER_CHECK(pos != nullptr && pos->numel() == 6, "Learner::resume: '", path,
              "' has no loop position: it was written by Learner::save, not save_checkpoint "
              "(load it with Learner::load instead)");
  std::vector<int64_t> p = int64s(*pos);
  fit_ = static_cast<int>(p[0]), epoch_ = static_cast<int>(p[1]), batch_ = p[2];
  n_epoch_ = static_cast<int>(p[3]), train_iter_ = p[4], in_fit_ = p[5] != 0;
  if (const Tensor* text = get("config.text")) {
    Tensor c = text->cpu().contiguous();
    EMBER_CHECK(c.dtype() == DType::u8 && c.dim() == 1, "Learner::resume: '", path_, "': config.text is not text");
    config_.assign(c.data<uint8_t>(), c.data<uint8_t>() + c.numel());
  }
  const Tensor* pct = get("loop.pct_train");
  pct_train_ = pct ? doubles(*pct).at(0) : 0.0;
  const Tensor* rng = get("rng.state");
  EMBER_CHECK(rng != nullptr && rng->numel() == 2, "Learner::resume: '", path, "' has no rng.state");
  std::vector<int64_t> r = int64s(*rng);
  rng_ = RngState{static_cast<uint64_t>(r[0]), static_cast<uint64_t>(r[1])};
}

const Tensor* ResumeCallback::get(const std::string& k) const {
  auto it = entries_.find(k);
  return it == entries_.end() ? nullptr : &it->second;
}

void ResumeCallback::before_fit() {
  Learner& l = learn();
  EMBER_CHECK(!in_fit_ || n_epoch_ == l.n_epoch, "Learner::resume: '", path_, "' was written during a fit of ",
              n_epoch_, " epochs, but this fit has ", l.n_epoch,
              "; call it with the same arguments as the interrupted run");
  restore_state();
  l.epoch = in_fit_ ? epoch_ : 0;
  if (l.epoch >= l.n_epoch) finish();  // written at the end of the fit: no epoch is left to run
}

void ResumeCallback::before_train() {
  learn().iter = in_fit_ ? batch_ : 0;
  finish();
}

void ResumeCallback::finish() {
  // The same program point as the save: after the batches already done, before the next.
  Learner& l = learn();
  if (in_fit_ && batch_ > 0) l.pct_train = pct_train_;
  set_rng_state(rng_);
  for (auto& cb : CallbackList(l.cbs()))
    if (cb.get() == this) l.remove_cb(cb);  // the Learner's loop copies the list: removing is safe
}

void ResumeCallback::restore_state() {
  Learner& l = learn();
  auto fail = [&](const std::string& what) { EMBER_FAIL("Learner::resume: '", path_, "': ", what); };
  const ModelAndOptState state = split_model_and_opt(entries_);
  try {
    l.model->load_state_dict(state.model, true);
    l.opt->load_state_dict(state.opt);
  } catch (const Error& e) {
    fail(e.what());
  }
  for (size_t g = 0; g < l.opt->groups().size(); ++g) {
    const Tensor* h = get("hyper." + std::to_string(g));
    if (h == nullptr) fail("no hyper-parameters for parameter group " + std::to_string(g));
    std::vector<double> v = doubles(*h);
    if (v.size() != 8) fail("hyper." + std::to_string(g) + " has " + std::to_string(v.size()) + " values, expected 8");
    optim::Hyper& hy = l.opt->groups()[g].hyper;
    hy.lr = v[0], hy.momentum = v[1], hy.dampening = v[2], hy.beta2 = v[3], hy.eps = v[4], hy.weight_decay = v[5];
    hy.nesterov = v[6] != 0, hy.decoupled_wd = v[7] != 0;
  }
  if (!in_fit_) return;
  l.train_iter = train_iter_;
  Recorder& r = *l.recorder;
  auto list = [&](const char* name) {
    const Tensor* t = get(std::string("recorder.") + name);
    return t ? doubles(*t) : std::vector<double>{};
  };
  r.lrs = list("lrs"), r.moms = list("moms"), r.losses = list("losses"), r.raw_losses = list("raw_losses");
  r.times = list("times");
  r.values.clear();
  if (const Tensor* v = get("recorder.values")) {
    std::vector<double> flat = doubles(*v);
    auto rows = static_cast<size_t>(v->size(0)), cols = static_cast<size_t>(v->size(1));
    for (size_t i = 0; i < rows; ++i)
      r.values.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(i * cols),
                            flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * cols));
  }
  r.epoch_end_iters.clear();
  if (const Tensor* e = get("recorder.epoch_end_iters"))
    for (int64_t i : int64s(*e)) r.epoch_end_iters.push_back(static_cast<size_t>(i));
  const Tensor* sm = get("recorder.smooth");
  const Tensor* sc = get("recorder.smooth_count");
  if (sm && sc) r.smooth.restore(doubles(*sm).at(0), int64s(*sc).at(0));
  l.smooth_loss = r.smooth.value();
  for (auto& cb : l.cbs()) {
    auto* t = dynamic_cast<TrackerCallback*>(cb.get());
    if (t == nullptr || t->monitor().empty()) continue;
    std::string k = "tracker." + t->name() + "." + t->monitor();
    if (const Tensor* b = get(k + ".best")) t->best = doubles(*b).at(0);
    if (auto* es = dynamic_cast<EarlyStoppingCallback*>(t))
      if (const Tensor* w = get(k + ".wait")) es->set_waited(static_cast<int>(int64s(*w).at(0)));
  }
}

// ---------------------------------------------------------------------------
// Checkpoints
namespace {
// save_checkpoint's entries beyond save()'s model.* and opt.*.
bool is_resume_key(const std::string& k) {
  for (const char* p : {"hyper.", "loop.", "rng.", "recorder.", "tracker.", "config."})
    if (k.rfind(p, 0) == 0) return true;
  return false;
}
}  // namespace

void Learner::save(const std::string& path, bool with_opt) {
  save_tensors(path, model_and_opt_state(*model, with_opt ? opt.get() : nullptr));
}

void Learner::load(const std::string& path, bool with_opt, bool strict) {
  const ModelAndOptState state = split_model_and_opt(load_tensors(path));
  for (const std::string& k : state.other)  // the rest of a save_checkpoint file: only resume() reads it
    EMBER_CHECK(is_resume_key(k), "Learner::load: '", path, "': unknown entry '", k, "' (expected model.* or opt.*)");
  try {
    model->load_state_dict(state.model, strict);
  } catch (const Error& e) {
    EMBER_FAIL("Learner::load: '", path, "': ", e.what());
  }
  if (with_opt && !state.opt.empty()) {
    if (!opt) create_opt();
    try {
      opt->load_state_dict(state.opt);
    } catch (const Error& e) {
      EMBER_FAIL("Learner::load: '", path, "': ", e.what());
    }
  }
}

}  // namespace learner
}  // namespace ember
