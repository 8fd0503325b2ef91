// learner/LearnerResume.cpp: resumable checkpoints (save_checkpoint, resume, checkpoint_to)
// and save / load of a model with its optimizer.
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
#include "ember/learner/ResumePoint.h"
#include "ember/nn/Norm.h"

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
}  // namespace

void Learner::save_checkpoint(const std::string& path) {
  if (!opt) create_opt();
  NamedTensors all;
  for (auto& [k, t] : model->state_dict()) all.emplace_back("model." + k, t);
  for (auto& [k, t] : opt->state_dict()) all.emplace_back("opt." + k, t);
  for (size_t g = 0; g < opt->groups().size(); ++g) {
    const optim::Hyper& h = opt->groups()[g].hyper;
    all.emplace_back("hyper." + std::to_string(g),
                     f64_vector({h.lr, h.momentum, h.dampening, h.beta2, h.eps, h.weight_decay, h.nesterov ? 1.0 : 0.0,
                                 h.decoupled_wd ? 1.0 : 0.0}));
  }
  // Outside a fit, the checkpoint continues with the next fit call, from its start.
  const int fit = in_fit_ ? fit_index_ : fits_started_;
  all.emplace_back("loop.position", i64_vector({fit, in_fit_ ? next_epoch_ : 0, in_fit_ ? next_batch_ : 0,
                                                in_fit_ ? n_epoch : 0, in_fit_ ? train_iter : 0, in_fit_ ? 1 : 0}));
  all.emplace_back("loop.pct_train", f64_vector({in_fit_ ? pct_train : 0.0}));
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
  auto rp = std::make_unique<ResumePoint>();
  rp->path = path;
  for (auto& [k, t] : load_tensors(path)) rp->entries[k] = t;
  const Tensor* pos = rp->get("loop.position");
  EMBER_CHECK(pos != nullptr && pos->numel() == 6, "Learner::resume: '", path,
              "' has no loop position: it was written by Learner::save, not save_checkpoint "
              "(load it with Learner::load instead)");
  std::vector<int64_t> p = int64s(*pos);
  rp->fit = static_cast<int>(p[0]), rp->epoch = static_cast<int>(p[1]), rp->batch = p[2];
  rp->n_epoch = static_cast<int>(p[3]), rp->train_iter = p[4], rp->in_fit = p[5] != 0;
  const Tensor* pct = rp->get("loop.pct_train");
  rp->pct_train = pct ? doubles(*pct).at(0) : 0.0;
  const Tensor* rng = rp->get("rng.state");
  EMBER_CHECK(rng != nullptr && rng->numel() == 2, "Learner::resume: '", path, "' has no rng.state");
  std::vector<int64_t> r = int64s(*rng);
  rp->rng = RngState{static_cast<uint64_t>(r[0]), static_cast<uint64_t>(r[1])};
  EMBER_CHECK(rp->fit >= fits_started_, "Learner::resume: '", path, "' continues fit call #", rp->fit,
              " but this Learner already started ", fits_started_, " fits; call resume before the first fit");
  resume_ = std::move(rp);
  if (recorder->logging)
    learner_log(*this) << "Resuming from '" << path << "': fit call #" << resume_->fit << ", epoch "
                       << resume_->epoch << ", batch " << resume_->batch << "\n";
}

bool Learner::resume_point_for(int index, int n) {
  if (resume_->fit > index) {
    if (recorder->logging)
      learner_log(*this) << "Resume: skipping fit call #" << index << " (it finished before the checkpoint)\n";
    return false;
  }
  EMBER_CHECK(resume_->fit == index, "Learner::resume: internal: fit call #", index, " after the checkpoint's #",
              resume_->fit);
  EMBER_CHECK(!resume_->in_fit || resume_->n_epoch == n, "Learner::resume: '", resume_->path,
              "' was written during a fit of ", resume_->n_epoch, " epochs, but this fit has ", n,
              "; call it with the same arguments as the interrupted run");
  return true;
}

void Learner::restore_resume() {
  const ResumePoint& rp = *resume_;
  auto fail = [&](const std::string& what) { EMBER_FAIL("Learner::resume: '", rp.path, "': ", what); };
  nn::StateDict msd;
  NamedTensors osd;
  for (auto& [k, t] : rp.entries) {
    if (k.rfind("model.", 0) == 0) msd.emplace_back(k.substr(6), t);
    else if (k.rfind("opt.", 0) == 0) osd.emplace_back(k.substr(4), t);
  }
  try {
    model->load_state_dict(msd, true);
    opt->load_state_dict(osd);
  } catch (const Error& e) {
    fail(e.what());
  }
  for (size_t g = 0; g < opt->groups().size(); ++g) {
    const Tensor* h = rp.get("hyper." + std::to_string(g));
    if (h == nullptr) fail("no hyper-parameters for parameter group " + std::to_string(g));
    std::vector<double> v = doubles(*h);
    if (v.size() != 8) fail("hyper." + std::to_string(g) + " has " + std::to_string(v.size()) + " values, expected 8");
    optim::Hyper& hy = opt->groups()[g].hyper;
    hy.lr = v[0], hy.momentum = v[1], hy.dampening = v[2], hy.beta2 = v[3], hy.eps = v[4], hy.weight_decay = v[5];
    hy.nesterov = v[6] != 0, hy.decoupled_wd = v[7] != 0;
  }
  next_epoch_ = rp.in_fit ? rp.epoch : 0;
  next_batch_ = rp.in_fit ? rp.batch : 0;
  if (!rp.in_fit) return;
  train_iter = rp.train_iter;
  Recorder& r = *recorder;
  auto list = [&](const char* name) {
    const Tensor* t = rp.get(std::string("recorder.") + name);
    return t ? doubles(*t) : std::vector<double>{};
  };
  r.lrs = list("lrs"), r.moms = list("moms"), r.losses = list("losses"), r.raw_losses = list("raw_losses");
  r.times = list("times");
  r.values.clear();
  if (const Tensor* v = rp.get("recorder.values")) {
    std::vector<double> flat = doubles(*v);
    auto rows = static_cast<size_t>(v->size(0)), cols = static_cast<size_t>(v->size(1));
    for (size_t i = 0; i < rows; ++i)
      r.values.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(i * cols),
                            flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * cols));
  }
  r.epoch_end_iters.clear();
  if (const Tensor* e = rp.get("recorder.epoch_end_iters"))
    for (int64_t i : int64s(*e)) r.epoch_end_iters.push_back(static_cast<size_t>(i));
  const Tensor* sm = rp.get("recorder.smooth");
  const Tensor* sc = rp.get("recorder.smooth_count");
  if (sm && sc) r.smooth.restore(doubles(*sm).at(0), int64s(*sc).at(0));
  smooth_loss = r.smooth.value();
  for (auto& cb : cbs_) {
    auto* t = dynamic_cast<TrackerCallback*>(cb.get());
    if (t == nullptr || t->monitor().empty()) continue;
    std::string k = "tracker." + t->name() + "." + t->monitor();
    if (const Tensor* b = rp.get(k + ".best")) t->best = doubles(*b).at(0);
    if (auto* es = dynamic_cast<EarlyStoppingCallback*>(t))
      if (const Tensor* w = rp.get(k + ".wait")) es->set_waited(static_cast<int>(int64s(*w).at(0)));
  }
}

void Learner::finish_resume() {
  // The same program point as the save: after the batches already done, before the next.
  if (resume_->in_fit && resume_->batch > 0) pct_train = resume_->pct_train;
  set_rng_state(resume_->rng);
  resume_.reset();
}

// ---------------------------------------------------------------------------
// Checkpoints
namespace {
// save_checkpoint's entries beyond save()'s model.* and opt.*.
bool is_resume_key(const std::string& k) {
  for (const char* p : {"hyper.", "loop.", "rng.", "recorder.", "tracker."})
    if (k.rfind(p, 0) == 0) return true;
  return false;
}
}  // namespace

void Learner::save(const std::string& path, bool with_opt) {
  NamedTensors all;
  for (auto& [k, t] : model->state_dict()) all.emplace_back("model." + k, t);
  if (with_opt && opt)
    for (auto& [k, t] : opt->state_dict()) all.emplace_back("opt." + k, t);
  save_tensors(path, all);
}

void Learner::load(const std::string& path, bool with_opt, bool strict) {
  NamedTensors all = load_tensors(path);
  nn::StateDict msd;
  NamedTensors osd;
  for (auto& [k, t] : all) {
    if (k.rfind("model.", 0) == 0) msd.emplace_back(k.substr(6), t);
    else if (k.rfind("opt.", 0) == 0) osd.emplace_back(k.substr(4), t);
    else if (is_resume_key(k)) continue;  // the rest of a save_checkpoint file: only resume() reads it
    else EMBER_FAIL("Learner::load: '", path, "': unknown entry '", k, "' (expected model.* or opt.*)");
  }
  try {
    model->load_state_dict(msd, strict);
  } catch (const Error& e) {
    EMBER_FAIL("Learner::load: '", path, "': ", e.what());
  }
  if (with_opt && !osd.empty()) {
    if (!opt) create_opt();
    try {
      opt->load_state_dict(osd);
    } catch (const Error& e) {
      EMBER_FAIL("Learner::load: '", path, "': ", e.what());
    }
  }
}

}  // namespace learner
}  // namespace ember
