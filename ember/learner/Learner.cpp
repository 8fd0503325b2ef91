// learner/Learner.cpp: the training loop with fastai's events, fit / fit_one_cycle, fine_tune
// and validate (checkpoints and resume, a callback: LearnerResume.cpp; lr_find and inference:
// LearnerTools.cpp).
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
  event = e;
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
        preds = model->outputs(xb);  // in the model's scope in anomaly mode
        pred = preds.size() == 1 ? preds[0] : Tensor();
        run(Event::after_pred);
        if (preds.size() == 1) preds[0] = pred;  // as in fastai, after_pred may replace pred
        loss = loss_func->forward_outputs(preds, yb);
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

void Learner::all_batches(int64_t first) {
  n_iter = dl->size();
  dl->start_epoch(epoch, first);  // the batches before `first` are not built
  Batch b;
  for (iter = first; dl->next(b); ++iter) {
    std::tie(xb, yb) = to_device(b.x, b.y);
    one_batch();
    if (g_signal != 0 && in_fit_) on_signal(g_signal);
  }
}

void Learner::do_epoch() {
  dl = dls.train.get();
  EMBER_CHECK(dl != nullptr, "Learner::fit: dls.train is null");
  // From the batch before_train left in iter: 0, or where a resumed checkpoint goes on.
  with_events<CancelTrainException>([&] { all_batches(iter); }, Event::before_train, Event::after_cancel_train,
                                    Event::after_train);
  dl = dls.valid.get();
  if (dl != nullptr) {
    NoGradGuard ng;
    with_events<CancelValidException>([&] { all_batches(0); }, Event::before_validate, Event::after_cancel_validate,
                                      Event::after_validate);
  }
}

void Learner::do_fit() {
  // From the epoch before_fit left: 0 (TrainEvalCallback), or a resumed checkpoint's.
  for (; epoch < n_epoch; ++epoch)
    with_events<CancelEpochException>([&] { do_epoch(); }, Event::before_epoch, Event::after_cancel_epoch,
                                      Event::after_epoch);
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
  if (index < first_fit_) return skip_fit(index);  // a resumed checkpoint is past this fit call
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
  preds.clear();
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
      totals.add(l.loss.item(), l.preds, l.yb);
    }
  };
  auto t = std::make_shared<Totals>();
  t->totals.reset(metrics);
  {
    TempCallbacks temp(*this, {t});
    NoGradGuard ng;
    epoch = 0;
    dl = dls.valid.get();
    with_events<CancelValidException>([&] { all_batches(0); }, Event::before_validate, Event::after_cancel_validate,
                                      Event::after_validate);
  }
  dl = nullptr;
  xb = yb = pred = loss = Tensor();
  preds.clear();
  return t->totals.values();
}

// A SIGINT or SIGTERM during fit: save a resumable checkpoint and stop (docs/reliability.md).
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

}  // namespace learner
}  // namespace ember
