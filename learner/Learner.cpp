// learner/Learner.cpp: the training loop with fastai's events, fit / fit_one_cycle,
// validate, lr_find, get_preds / predict, and checkpoints.
#include "learner/Learner.h"

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

#include "learner/Checkpoint.h"
#include "nn/Norm.h"

namespace ember {
namespace learner {

// ---------------------------------------------------------------------------
// Callback plumbing
const char* event_name(Event e) {
  switch (e) {
    case Event::before_fit: return "before_fit";
    case Event::before_epoch: return "before_epoch";
    case Event::before_train: return "before_train";
    case Event::before_batch: return "before_batch";
    case Event::after_pred: return "after_pred";
    case Event::after_loss: return "after_loss";
    case Event::before_backward: return "before_backward";
    case Event::after_cancel_backward: return "after_cancel_backward";
    case Event::after_backward: return "after_backward";
    case Event::before_step: return "before_step";
    case Event::after_cancel_step: return "after_cancel_step";
    case Event::after_step: return "after_step";
    case Event::after_cancel_batch: return "after_cancel_batch";
    case Event::after_batch: return "after_batch";
    case Event::after_cancel_train: return "after_cancel_train";
    case Event::after_train: return "after_train";
    case Event::before_validate: return "before_validate";
    case Event::after_cancel_validate: return "after_cancel_validate";
    case Event::after_validate: return "after_validate";
    case Event::after_cancel_epoch: return "after_cancel_epoch";
    case Event::after_epoch: return "after_epoch";
    case Event::after_cancel_fit: return "after_cancel_fit";
    case Event::after_fit: return "after_fit";
  }
  return "?";
}

Learner& Callback::learn() const {
  EMBER_CHECK(learn_ != nullptr, "Callback '", name_, "': not attached to a Learner");
  return *learn_;
}

void Callback::call(Event e) {
  switch (e) {
    case Event::before_fit: return before_fit();
    case Event::before_epoch: return before_epoch();
    case Event::before_train: return before_train();
    case Event::before_batch: return before_batch();
    case Event::after_pred: return after_pred();
    case Event::after_loss: return after_loss();
    case Event::before_backward: return before_backward();
    case Event::after_cancel_backward: return after_cancel_backward();
    case Event::after_backward: return after_backward();
    case Event::before_step: return before_step();
    case Event::after_cancel_step: return after_cancel_step();
    case Event::after_step: return after_step();
    case Event::after_cancel_batch: return after_cancel_batch();
    case Event::after_batch: return after_batch();
    case Event::after_cancel_train: return after_cancel_train();
    case Event::after_train: return after_train();
    case Event::before_validate: return before_validate();
    case Event::after_cancel_validate: return after_cancel_validate();
    case Event::after_validate: return after_validate();
    case Event::after_cancel_epoch: return after_cancel_epoch();
    case Event::after_epoch: return after_epoch();
    case Event::after_cancel_fit: return after_cancel_fit();
    case Event::after_fit: return after_fit();
  }
}

// ---------------------------------------------------------------------------
// Optimizer factories and splitters
OptFactory sgd(double momentum, double weight_decay, bool nesterov) {
  return [=](std::vector<optim::ParamGroup> groups) -> std::unique_ptr<optim::Optimizer> {
    for (auto& g : groups) g.hyper = optim::sgd_defaults(g.hyper.lr, momentum, weight_decay, nesterov);
    auto opt = std::make_unique<optim::SGD>(std::move(groups));
    opt->fused = true;
    return opt;
  };
}

OptFactory fastai_adam(double weight_decay) {
  return [=](std::vector<optim::ParamGroup> groups) -> std::unique_ptr<optim::Optimizer> {
    for (auto& g : groups) {
      g.hyper = optim::fastai_adam_defaults(g.hyper.lr);
      g.hyper.weight_decay = weight_decay;
    }
    auto opt = std::make_unique<optim::Adam>(std::move(groups));
    opt->fused = true;
    return opt;
  };
}

OptFactory adam(double weight_decay) {
  return [=](std::vector<optim::ParamGroup> groups) -> std::unique_ptr<optim::Optimizer> {
    for (auto& g : groups) {
      g.hyper = optim::adam_defaults(g.hyper.lr);
      g.hyper.weight_decay = weight_decay;
    }
    auto opt = std::make_unique<optim::Adam>(std::move(groups));
    opt->fused = true;
    return opt;
  };
}

std::vector<std::vector<Tensor>> trainable_params(nn::Module& m) {
  std::vector<Tensor> ps;
  for (auto& p : m.parameters())
    if (p.requires_grad()) ps.push_back(p);
  return {ps};
}

std::vector<double> even_mults(double start, double stop, size_t n) {
  EMBER_CHECK(n >= 1, "even_mults: needs n >= 1");
  if (n == 1) return {stop};
  double step = std::pow(stop / start, 1.0 / static_cast<double>(n - 1));
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = start * std::pow(step, static_cast<double>(i));
  return out;
}

std::vector<double> lr_slice(double stop, size_t n) {
  EMBER_CHECK(n >= 1, "lr_slice: needs n >= 1");
  std::vector<double> out(n, stop / 10);
  out.back() = stop;
  return out;
}

// ---------------------------------------------------------------------------
// Learner
Learner::Learner(DataLoaders d, std::shared_ptr<nn::Module> m, std::shared_ptr<nn::Loss> l, OptFactory of,
                 std::vector<Metric> ms, CallbackList cbs)
    : dls(std::move(d)), model(std::move(m)), loss_func(std::move(l)), opt_func(std::move(of)), metrics(std::move(ms)) {
  EMBER_CHECK(model != nullptr, "Learner: model is null");
  EMBER_CHECK(loss_func != nullptr, "Learner: loss function is null");
  EMBER_CHECK(opt_func != nullptr, "Learner: optimizer factory is empty");
  if (dynamic_cast<nn::CrossEntropyLoss*>(loss_func.get()))
    activation = [](const Tensor& x) { return x.softmax(-1); };
  else if (dynamic_cast<nn::BCEWithLogitsLoss*>(loss_func.get()))
    activation = [](const Tensor& x) { return x.sigmoid(); };
  else
    activation = [](const Tensor& x) { return x; };
  recorder = std::make_shared<Recorder>();
  add_cb(std::make_shared<TrainEvalCallback>());
  add_cb(recorder);
  add_cb(std::make_shared<ProgressCallback>());
  terminate_on_nan = std::make_shared<TerminateOnNaNCallback>();
  add_cb(terminate_on_nan);
  for (auto& cb : cbs) add_cb(cb);
}

Learner::~Learner() {
  for (auto& cb : cbs_) cb->learn_ = nullptr;
}

void Learner::add_cb(std::shared_ptr<Callback> cb) {
  EMBER_CHECK(cb != nullptr, "Learner::add_cb: callback is null");
  EMBER_CHECK(cb->learn_ == nullptr || cb->learn_ == this, "Learner::add_cb: callback '", cb->name(),
              "' already belongs to another Learner");
  cb->learn_ = this;
  // Stable insert by order: after every callback with order <= cb's.
  auto pos = std::upper_bound(cbs_.begin(), cbs_.end(), cb->order(),
                              [](int o, const std::shared_ptr<Callback>& c) { return o < c->order(); });
  cbs_.insert(pos, std::move(cb));
}

void Learner::remove_cb(const std::shared_ptr<Callback>& cb) {
  auto it = std::find(cbs_.begin(), cbs_.end(), cb);
  if (it == cbs_.end()) return;
  (*it)->learn_ = nullptr;
  cbs_.erase(it);
}

std::set<const TensorImpl*> bn_bias_params(nn::Module& m, bool with_bias) {
  std::set<const TensorImpl*> out;
  for (auto& [name, mod] : m.named_modules()) {
    const bool is_bn = dynamic_cast<nn::BatchNorm*>(mod) != nullptr;
    for (auto& [pname, p] : mod->named_parameters(false))
      if (is_bn || (with_bias && pname == "bias")) out.insert(p.impl_ptr().get());
  }
  return out;
}

void Learner::create_opt() {
  std::vector<std::vector<Tensor>> split = splitter(*model);
  std::vector<optim::ParamGroup> groups;
  // fastai's _bn_bias_state: BatchNorm parameters and biases get no weight decay (unless
  // wd_bn_bias), and BatchNorm parameters keep training in frozen groups (train_bn).
  const auto no_wd = bn_bias_params(*model, true), bn = bn_bias_params(*model, false);
  force_train_.clear();
  for (auto& ps : split) {
    optim::ParamGroup g{ps, optim::Hyper{}, {}};
    for (auto& p : ps) {
      g.do_wd.push_back(wd_bn_bias || !no_wd.count(p.impl_ptr().get()));
      if (train_bn && bn.count(p.impl_ptr().get())) force_train_.insert(p.impl_ptr().get());
    }
    groups.push_back(std::move(g));
  }
  EMBER_CHECK(!groups.empty(), "Learner: the splitter returned no parameter groups");
  opt = opt_func(std::move(groups));
  EMBER_CHECK(opt != nullptr, "Learner: the optimizer factory returned null");
  opt->set_lr(lr);
}

void Learner::to(Device d) {
  model->to(d);
  device = d;
}

void Learner::run(Event e) {
  // Copy: a callback may add or remove callbacks while we iterate.
  CallbackList now = cbs_;
  for (auto& cb : now) cb->call(e);
}

template <class Ex, class F>
void Learner::with_events(F&& body, Event before, Event cancel, Event after) {
  try {
    run(before);
    body();
  } catch (const Ex&) {
    run(cancel);
  }
  run(after);
}

std::pair<Tensor, Tensor> Learner::to_device(Tensor x, Tensor y) const {
  if (x.defined() && x.device() != device) x = x.to(device);
  if (y.defined() && y.device() != device) y = y.to(device);
  if (x.defined() && dls.after_batch) x = dls.after_batch(x);
  return {x, y};
}

void Learner::one_batch() {
  with_events<CancelBatchException>(
      [&] {
        pred = (*model)(xb);  // operator(): the model's scope in anomaly mode
        run(Event::after_pred);
        loss = loss_func->forward(pred, yb);
        run(Event::after_loss);
        if (!training) return;
        with_events<CancelBackwardException>([&] { loss.backward(); }, Event::before_backward,
                                             Event::after_cancel_backward, Event::after_backward);
        with_events<CancelStepException>([&] { opt->step(); }, Event::before_step, Event::after_cancel_step,
                                         Event::after_step);
        opt->zero_grad();
      },
      Event::before_batch, Event::after_cancel_batch, Event::after_batch);
}

// ---------------------------------------------------------------------------
// Signals: the handler only sets a flag; the loop reads it after each batch.
namespace {
volatile std::sig_atomic_t g_signal = 0;
extern "C" void ember_learner_on_signal(int sig) { g_signal = sig; }

// Installs the handler for SIGINT and SIGTERM for one fit and puts the old ones back.
// SA_RESETHAND: a second signal gets the default action (the process ends).
struct SignalGuard {
  bool on;
  struct sigaction old_int {}, old_term {};
  explicit SignalGuard(bool enable) : on(enable) {
    if (!on) return;
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = ember_learner_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalGuard() {
    if (!on) return;
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    g_signal = 0;
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
};
}  // namespace

void Learner::all_batches() {
  n_iter = dl->size();
  dl->start_epoch(epoch);
  // Resuming mid-epoch: the batches done before the checkpoint are drawn and dropped.
  const int64_t skip = training && resume_ ? next_batch_ : 0;
  Batch b;
  for (iter = 0; dl->next(b); ++iter) {
    if (iter < skip) continue;
    if (training) {
      if (resume_) finish_resume();
      next_epoch_ = epoch, next_batch_ = iter + 1;  // a checkpoint from this batch's events goes on after it
    }
    std::tie(xb, yb) = to_device(b.x, b.y);
    one_batch();
    if (g_signal != 0 && in_fit_) on_signal(g_signal);
  }
  if (training && resume_) finish_resume();  // every batch of the epoch was done already
}

void Learner::do_epoch() {
  dl = dls.train.get();
  EMBER_CHECK(dl != nullptr, "Learner::fit: dls.train is null");
  with_events<CancelTrainException>([&] { all_batches(); }, Event::before_train, Event::after_cancel_train,
                                    Event::after_train);
  next_epoch_ = epoch, next_batch_ = iter;  // training done: a checkpoint now redoes only validation
  dl = dls.valid.get();
  if (dl != nullptr) {
    NoGradGuard ng;
    with_events<CancelValidException>([&] { all_batches(); }, Event::before_validate, Event::after_cancel_validate,
                                      Event::after_validate);
  }
  next_epoch_ = epoch + 1, next_batch_ = 0;  // after_epoch's checkpoint starts the next epoch
}

void Learner::do_fit() {
  int start = 0;
  if (resume_) {
    restore_resume();
    start = next_epoch_;
  } else {
    next_epoch_ = 0, next_batch_ = 0;
  }
  for (epoch = start; epoch < n_epoch; ++epoch)
    with_events<CancelEpochException>([&] { do_epoch(); }, Event::before_epoch, Event::after_cancel_epoch,
                                      Event::after_epoch);
  if (resume_) finish_resume();  // the checkpoint was taken at the end of the fit
}

namespace {
// Adds callbacks for one call and removes them however the call ends.
struct TempCallbacks {
  Learner& learn;
  CallbackList cbs;
  TempCallbacks(Learner& l, CallbackList c) : learn(l), cbs(std::move(c)) {
    for (auto& cb : cbs) learn.add_cb(cb);
  }
  ~TempCallbacks() {
    for (auto& cb : cbs) learn.remove_cb(cb);
  }
  TempCallbacks(const TempCallbacks&) = delete;
  TempCallbacks& operator=(const TempCallbacks&) = delete;
};
}  // namespace

void Learner::fit(int n, LRs lrs, CallbackList cbs) {
  EMBER_CHECK(n >= 0, "Learner::fit: n_epoch must be >= 0, got ", n);
  EMBER_CHECK(!in_fit_, "Learner::fit: called from inside a fit (a callback?); fits do not nest");
  const int index = fits_started_++;
  if (resume_ && !resume_point_for(index, n)) return;  // a fit that had finished before the checkpoint
  TempCallbacks temp(*this, std::move(cbs));
  if (!opt) create_opt();
  if (lrs.empty()) lrs.v = {lr};
  EMBER_CHECK(lrs.v.size() == 1 || lrs.v.size() == opt->groups().size(), "Learner::fit: ", lrs.v.size(),
              " learning rates for ", opt->groups().size(), " parameter groups (give one, or one per group)");
  optim::ConstantLR(lrs.v).apply(*opt, 0.0);
  n_epoch = n;
  struct InFit {
    Learner& l;
    InFit(Learner& learner, int i) : l(learner) { l.in_fit_ = true, l.fit_index_ = i; }
    ~InFit() { l.in_fit_ = false; }
  } in_fit(*this, index);
  SignalGuard signals(handle_signals);
  with_events<CancelFitException>([&] { do_fit(); }, Event::before_fit, Event::after_cancel_fit, Event::after_fit);
  // fastai's _end_cleanup
  dl = nullptr;
  xb = yb = pred = loss = Tensor();
}

void Learner::fit_one_cycle(int n, LRs lr_max, OneCycleOptions o, CallbackList cbs) {
  if (lr_max.empty()) lr_max.v = {lr};
  auto sched = std::make_shared<optim::OneCycle>(lr_max.v, o.div, o.div_final, o.pct_start, o.moms);
  cbs.insert(cbs.begin(), std::make_shared<ParamScheduler>(sched));
  fit(n, lr_max, std::move(cbs));
}

void Learner::freeze_to(int n) {
  if (!opt) create_opt();
  auto& groups = opt->groups();
  auto g = static_cast<int>(groups.size());
  int upto = n < 0 ? std::max(g + n, 0) : std::min(n, g);
  for (int i = 0; i < g; ++i)
    for (Tensor& p : groups[static_cast<size_t>(i)].params) {
      const bool on = i >= upto || force_train_.count(p.impl_ptr().get()) > 0;
      p.requires_grad_(on);
      if (!on) p.set_grad(Tensor());
    }
}

void Learner::fine_tune(int epochs, double base_lr, int freeze_epochs, double lr_mult, double pct_start, double div) {
  freeze();
  size_t n = opt->groups().size();
  fit_one_cycle(freeze_epochs, lr_slice(base_lr, n), OneCycleOptions{25.0, 1e5, 0.99, {0.95, 0.85, 0.95}});
  base_lr /= 2;
  unfreeze();
  fit_one_cycle(epochs, even_mults(base_lr / lr_mult, base_lr, n), OneCycleOptions{div, 1e5, pct_start, {0.95, 0.85, 0.95}});
}

std::vector<double> Learner::validate() {
  EMBER_CHECK(dls.valid != nullptr, "Learner::validate: dls.valid is null");
  // Only the validate phase's events fire (not before_fit/before_epoch), so the
  // Recorder's history is kept; the averages are computed here.
  struct Totals : Callback {
    MetricTotals totals;
    Totals() : Callback("ValidateTotals", 55) {}
    void after_batch() override {
      Learner& l = learn();
      if (l.training || !l.loss.defined() || !l.yb.defined()) return;
      totals.add(l.loss.item(), l.pred, l.yb);
    }
  };
  auto t = std::make_shared<Totals>();
  t->totals.reset(metrics);
  {
    TempCallbacks temp(*this, {t});
    NoGradGuard ng;
    epoch = 0;
    dl = dls.valid.get();
    with_events<CancelValidException>([&] { all_batches(); }, Event::before_validate, Event::after_cancel_validate,
                                      Event::after_validate);
  }
  dl = nullptr;
  xb = yb = pred = loss = Tensor();
  return t->totals.values();
}

// ---------------------------------------------------------------------------
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

void Learner::on_signal(int sig) {
  g_signal = 0;
  std::string path = interrupt_path;
  for (auto& cb : cbs_)
    if (auto* c = dynamic_cast<CheckpointCallback*>(cb.get())) path = c->path();
  save_checkpoint(path);
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
  std::ostringstream msg;
  msg << "Training interrupted by " << name << " at epoch " << epoch << ", batch " << iter << " of " << n_iter
      << (training ? " (training)" : " (validation)") << "; the batch finished and a checkpoint was written to '"
      << path << "'. To continue, call learn.resume(\"" << path
      << "\") before the same fit call (the examples: --resume " << path << ")";
  throw TrainingInterrupted(msg.str(), sig, path);
}

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
std::pair<Tensor, Tensor> Learner::get_preds(bool valid) {
  DataLoader* src = valid ? dls.valid.get() : dls.train.get();
  EMBER_CHECK(src != nullptr, "get_preds: dls.", valid ? "valid" : "train", " is null");
  bool was_training = model->is_training();
  model->eval();
  NoGradGuard ng;
  TensorList ps, ts;
  src->start_epoch(0);
  Batch b;
  try {
    while (src->next(b)) {
      auto [xd, yd] = to_device(b.x, b.y);
      ps.push_back(activation(model->forward(xd)).detach());
      ts.push_back(yd.detach());
    }
  } catch (...) {
    model->train(was_training);
    throw;
  }
  model->train(was_training);
  EMBER_CHECK(!ps.empty(), "get_preds: the ", valid ? "validation" : "training", " source gave no batches");
  return {cat(ps, 0), cat(ts, 0)};
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
    out = activation(model->forward(xb1));
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
