// learner/Callbacks.cpp: TrainEval, Recorder (smoothed loss, table, CSV), the
// terminal progress bar, ParamScheduler, and the lr finder with its valley rule.
// Exercise 10 (early stopping) touches EarlyStoppingCallback::after_epoch.
#include "ember/learner/Callbacks.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>

#include "ember/learner/Learner.h"
#include "ember/tensor/AtomicFile.h"

namespace ember {
namespace learner {

// ---------------------------------------------------------------------------
// TrainEvalCallback
void TrainEvalCallback::before_fit() {
  Learner& l = learn();
  l.train_iter = 0;
  l.pct_train = 0.0;
  l.epoch = 0;
}

void TrainEvalCallback::before_train() {
  Learner& l = learn();
  l.pct_train = static_cast<double>(l.epoch) / static_cast<double>(std::max(l.n_epoch, 1));
  l.iter = 0;
  l.model->train();
  l.training = true;
}

void TrainEvalCallback::after_batch() {
  Learner& l = learn();
  if (!l.training) return;
  l.pct_train += 1.0 / (static_cast<double>(std::max<int64_t>(l.n_iter, 1)) * std::max(l.n_epoch, 1));
  ++l.train_iter;
}

void TrainEvalCallback::before_validate() {
  Learner& l = learn();
  l.model->eval();
  l.training = false;
}

// ---------------------------------------------------------------------------
// SmoothLoss
void SmoothLoss::add(double x) {
  ++count_;
  v_ = beta_ * v_ + (1 - beta_) * x;
}

double SmoothLoss::value() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return v_ / (1 - std::pow(beta_, static_cast<double>(count_)));
}

// ---------------------------------------------------------------------------
// Recorder
Recorder::Recorder(double beta) : Callback("Recorder", 50), smooth(beta) {}

std::vector<std::string> Recorder::metric_names() const {
  std::vector<std::string> n{"train_loss", "valid_loss"};
  if (attached())
    for (auto& m : learn().metrics) n.push_back(m.name);
  return n;
}

void Recorder::before_fit() {
  lrs.clear();
  moms.clear();
  losses.clear();
  raw_losses.clear();
  values.clear();
  times.clear();
  epoch_end_iters.clear();
  smooth.reset();
  names_ = metric_names();
  if (logging) (out ? *out : std::cout) << header() << std::flush;
}

void Recorder::before_epoch() { epoch_start_ = std::chrono::steady_clock::now(); }

void Recorder::before_validate() { valid_.reset(learn().metrics); }

void Recorder::after_batch() {
  Learner& l = learn();
  if (!l.loss.defined()) return;  // cancelled before the loss
  double v = l.loss.detach().item();
  if (l.training) {
    smooth.add(v);
    l.smooth_loss = smooth.value();
    raw_losses.push_back(v);
    losses.push_back(l.smooth_loss);
    const optim::Hyper& h = l.opt->groups().back().hyper;
    lrs.push_back(h.lr);
    moms.push_back(h.momentum);
  } else {
    valid_.add(v, l.preds, l.yb);
  }
}

void Recorder::after_epoch() {
  std::vector<double> row{smooth.value()};
  if (valid_.count()) {
    std::vector<double> v = valid_.values();
    row.insert(row.end(), v.begin(), v.end());
  } else {  // no validation this epoch: NaN for the loss and every metric
    row.resize(2 + learn().metrics.size(), std::numeric_limits<double>::quiet_NaN());
  }
  values.push_back(row);
  times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count());
  epoch_end_iters.push_back(lrs.size());
  valid_.reset({});
  if (logging) (out ? *out : std::cout) << format_row(values.size() - 1) << std::flush;
}

namespace {
// Column width: the name's, at least the width of a value ("0.123456" / "00:01").
size_t col_width(const std::string& name) { return std::max<size_t>(name.size(), 8); }

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }

// fastai's format_time: mm:ss, or h:mm:ss from an hour on.
std::string mmss(double seconds) {
  auto s = static_cast<long>(std::lround(seconds));
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string fixed6(double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}
}  // namespace

std::string Recorder::header() const {
  std::vector<std::string> names = names_.empty() ? metric_names() : names_;
  std::string s = pad("epoch", 5);
  for (auto& n : names) s += "  " + pad(n, col_width(n));
  s += "  time\n";
  return s;
}

std::string Recorder::format_row(size_t e) const {
  EMBER_CHECK(e < values.size(), "Recorder::format_row: epoch ", e, " not recorded (", values.size(), " epochs)");
  std::vector<std::string> names = names_.empty() ? metric_names() : names_;
  std::string s = pad(std::to_string(e), 5);
  for (size_t i = 0; i < values[e].size(); ++i) {
    std::string n = i < names.size() ? names[i] : "";
    s += "  " + pad(fixed6(values[e][i]), col_width(n));
  }
  s += "  " + mmss(times[e]) + "\n";
  return s;
}

void Recorder::write_csv(const std::string& path) const {
  std::vector<std::string> names = names_.empty() ? metric_names() : names_;
  std::ostringstream f;
  f << "epoch";
  for (auto& n : names) f << "," << n;
  f << ",time\n";
  f << std::setprecision(10);
  for (size_t e = 0; e < values.size(); ++e) {
    f << e;
    for (double v : values[e]) f << "," << v;
    f << "," << std::fixed << std::setprecision(3) << times[e] << std::defaultfloat << std::setprecision(10) << "\n";
  }
  write_text_atomic(path, f.str(), "Recorder::write_csv");
}

// ---------------------------------------------------------------------------
// ProgressCallback
ProgressCallback::ProgressCallback(std::FILE* out, int force_tty)
    : Callback("ProgressCallback", 70), out_(out) {
  tty_ = force_tty >= 0 ? force_tty != 0 : (out_ != nullptr && isatty(fileno(out_)) == 1);
}

void ProgressCallback::before_train() { phase_ = "train"; }
void ProgressCallback::before_validate() { phase_ = "valid"; }

void ProgressCallback::after_batch() {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  Learner& l = learn();
  bool last = l.iter + 1 >= l.n_iter;
  if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(last);
}

void ProgressCallback::draw(bool) {
  Learner& l = learn();
  const int width = 30;
  int64_t done = l.iter + 1, total = std::max<int64_t>(l.n_iter, 1);
  auto filled = static_cast<int>(width * done / total);
  std::string bar(static_cast<size_t>(filled), '#');
  bar += std::string(static_cast<size_t>(width - filled), '.');
  std::fprintf(out_, "\r\033[Kepoch %d/%d %s [%s] %lld/%lld", l.epoch + 1, l.n_epoch, phase_, bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total));
  if (l.training && l.smooth_loss == l.smooth_loss) std::fprintf(out_, " loss %.4f", l.smooth_loss);
  std::fflush(out_);
  drawn_ = true;
}

void ProgressCallback::clear() {
  if (!tty_ || !drawn_) return;
  drawn_ = false;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
}

void ProgressCallback::after_train() { clear(); }
void ProgressCallback::after_validate() { clear(); }
void ProgressCallback::after_fit() { clear(); }

// ---------------------------------------------------------------------------
// ParamScheduler
void ParamScheduler::before_batch() {
  Learner& l = learn();
  if (l.training) sched->apply(*l.opt, l.pct_train);
}

// ---------------------------------------------------------------------------
// TrackerCallback, EarlyStopping, SaveModel, CSVLogger
TrackerCallback::TrackerCallback(std::string name, std::string monitor, double min_delta, int lower_is_better, int order)
    : Callback(std::move(name), order), monitor_(std::move(monitor)), min_delta_(min_delta) {
  lower_ = lower_is_better >= 0 ? lower_is_better != 0
                                : (monitor_.find("loss") != std::string::npos || monitor_.find("error") != std::string::npos);
}

std::ostream& TrackerCallback::log() const {
  const Recorder& r = *learn().recorder;
  return r.out ? *r.out : std::cout;
}

void TrackerCallback::before_fit() {
  std::vector<std::string> names = learn().recorder->metric_names();
  EMBER_CHECK(std::find(names.begin(), names.end(), monitor_) != names.end(), name(), ": cannot monitor '", monitor_,
              "': the Recorder has no such column");
  best = lower_ ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  new_best = false;
}

void TrackerCallback::after_epoch() {
  const Recorder& r = *learn().recorder;
  std::vector<std::string> names = r.metric_names();
  size_t idx = static_cast<size_t>(std::find(names.begin(), names.end(), monitor_) - names.begin());
  new_best = false;
  if (r.values.empty() || idx >= r.values.back().size()) return;
  double v = r.values.back()[idx];
  if (std::isnan(v)) return;
  bool better = lower_ ? v + min_delta_ < best : v - min_delta_ > best;  // better by more than min_delta
  if (better) {
    best = v;
    new_best = true;
  }
}

void EarlyStoppingCallback::before_fit() {
  TrackerCallback::before_fit();
  wait_ = 0;
}

// Stop when `monitor` has not improved for `patience` epochs in a row: after each epoch
// the tracker sets new_best; a best resets the count, otherwise the count grows and at
// patience the fit is cancelled (CancelFitException, caught by Learner::fit).
void EarlyStoppingCallback::after_epoch() {
  TrackerCallback::after_epoch();
  // BEGIN EXERCISE 10
  if (new_best) {
    wait_ = 0;
    return;
  }
  if (++wait_ >= patience_) {
    log() << "No improvement since epoch " << learn().epoch - wait_ << ": early stopping\n";
    throw CancelFitException();
  }
  // END EXERCISE
}

void SaveModelCallback::before_fit() {
  TrackerCallback::before_fit();
  saved_ = false;
}

void SaveModelCallback::after_epoch() {
  TrackerCallback::after_epoch();
  Learner& l = learn();
  if (every_epoch_) {
    l.save(path_ + "_" + std::to_string(l.epoch), with_opt_);
  } else if (new_best) {
    log() << "Better model found at epoch " << l.epoch << " with " << monitor() << " value: " << best << ".\n";
    l.save(path_, with_opt_);
    saved_ = true;
  }
}

void SaveModelCallback::after_fit() {
  if (!every_epoch_ && saved_) learn().load(path_, with_opt_);
}

// ---------------------------------------------------------------------------
// CheckpointCallback, TerminateOnNaNCallback
CheckpointCallback::CheckpointCallback(std::string path, Options o)
    : TrackerCallback("CheckpointCallback", o.monitor, 0.0, -1, 65), path_(std::move(path)), opt_(std::move(o)) {
  EMBER_CHECK(!path_.empty(), "CheckpointCallback: the path is empty");
  EMBER_CHECK(opt_.every_epochs >= 0 && opt_.every_batches >= 0, "CheckpointCallback: every_epochs (",
              opt_.every_epochs, ") and every_batches (", opt_.every_batches, ") must be >= 0");
}

std::string CheckpointCallback::best_path() const {
  size_t slash = path_.find_last_of('/');
  size_t dot = path_.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == 0) return path_ + "_best";
  return path_.substr(0, dot) + "_best" + path_.substr(dot);
}

void CheckpointCallback::write(const std::string& p) {
  learn().save_checkpoint(p);
  ++saves_;
}

void CheckpointCallback::before_fit() {
  if (!monitor().empty()) TrackerCallback::before_fit();
}

void CheckpointCallback::after_batch() {
  Learner& l = learn();
  if (l.training && opt_.every_batches > 0 && l.train_iter % opt_.every_batches == 0) write(path_);
}

void CheckpointCallback::after_epoch() {
  Learner& l = learn();
  if (!monitor().empty()) {
    TrackerCallback::after_epoch();
    if (new_best) write(best_path());
  }
  if (opt_.every_epochs > 0 && (l.epoch + 1) % opt_.every_epochs == 0) write(path_);
}

void TerminateOnNaNCallback::after_loss() {
  Learner& l = learn();
  if (!l.training || !l.loss.defined()) return;
  double v = l.loss.detach().item();
  if (std::isfinite(v)) return;
  std::ostringstream lrs;
  const auto& groups = l.opt->groups();
  for (size_t g = 0; g < groups.size(); ++g) lrs << (g ? ", " : "") << groups[g].hyper.lr;
  std::ostringstream msg;
  const char* text = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  msg << "Learner: the training loss is " << text << " at epoch " << l.epoch << ", batch " << l.iter << " of "
      << l.n_iter << " (training batch " << l.train_iter << ", lr " << (groups.size() > 1 ? "[" : "") << lrs.str()
      << (groups.size() > 1 ? "]" : "") << ")";
  // Weights that are already NaN or Inf are the cause, not the learning rate: name them.
  std::ostringstream bad;
  int n_bad = 0;
  for (const auto& [name, p] : l.model->named_parameters()) {
    const std::vector<double> w = p.detach().to(DType::f64).to_vector<double>();
    int64_t nan = 0, inf = 0;
    for (double x : w) nan += std::isnan(x), inf += std::isinf(x);
    if (nan + inf == 0) continue;
    if (n_bad++ < 3) bad << (n_bad > 1 ? "; " : "") << name << " holds " << nan << " NaN and " << inf << " Inf";
  }
  if (n_bad > 0) {
    msg << " because the model's weights are not finite: " << bad.str();
    if (n_bad > 3) msg << "; and " << n_bad - 3 << " more parameters";
    msg << ". No learning rate helps: check the weights that were loaded, or find the step that made them with "
        << "EMBER_DETECT_ANOMALY=1, which stops at the first op whose result or gradient is not finite "
        << "(docs/reliability.md)";
  } else {
    msg << "; stopped before backward, so the weights are those of the last good step. Try a lower learning "
        << "rate, or find the op with EMBER_DETECT_ANOMALY=1 (docs/reliability.md)";
  }
  throw NonFiniteLossError(msg.str(), v);
}

void CSVLogger::before_fit() {
  std::vector<std::string> names = learn().recorder->metric_names();
  bool exists = static_cast<bool>(std::ifstream(path_));
  epoch_offset_ = 0;
  if (append_ && exists) {
    std::ifstream in(path_);
    std::string line;
    int64_t lines = 0;
    while (std::getline(in, line)) ++lines;
    epoch_offset_ = std::max<int64_t>(lines - 1, 0);
    return;
  }
  std::ofstream f(path_, std::ios::trunc);
  EMBER_CHECK(f.good(), "CSVLogger: cannot open '", path_, "' for writing");
  f << "epoch";
  for (auto& n : names) f << "," << n;
  f << ",time\n";
}

void CSVLogger::after_epoch() {
  const Recorder& r = *learn().recorder;
  if (r.values.empty()) return;
  std::ofstream f(path_, std::ios::app);
  EMBER_CHECK(f.good(), "CSVLogger: cannot open '", path_, "' for appending");
  f << epoch_offset_ + static_cast<int64_t>(r.values.size()) - 1 << std::setprecision(10);
  for (double v : r.values.back()) f << "," << v;
  f << "," << std::fixed << std::setprecision(3) << r.times.back() << "\n";
}

// ---------------------------------------------------------------------------
// LRFinder and the valley rule
size_t valley_index(const std::vector<double>& losses) {
  EMBER_CHECK(!losses.empty(), "valley_index: no losses");
  size_t n = losses.size();
  // len[i]: length of the longest strictly decreasing subsequence ending at i;
  // first[i]: where that subsequence starts.
  std::vector<size_t> len(n, 1), first(n);
  for (size_t i = 0; i < n; ++i) first[i] = i;
  size_t best_end = 0;
  for (size_t i = 1; i < n; ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (losses[i] < losses[j] && len[j] + 1 > len[i]) {
        len[i] = len[j] + 1;
        first[i] = first[j];
      }
    }
    if (len[i] > len[best_end]) best_end = i;
  }
  size_t start = first[best_end], span = best_end - start;
  size_t third = span / 3;
  return start + third + third / 2;
}

LRFinder::LRFinder(double start_lr, double end_lr, int num_it, bool stop_div)
    : Callback("LRFinder", 60), start_(start_lr), end_(end_lr), num_it_(num_it), stop_div_(stop_div) {}

void LRFinder::before_fit() { best_ = std::numeric_limits<double>::infinity(); }

void LRFinder::before_batch() {
  Learner& l = learn();
  if (!l.training) return;
  double pct = static_cast<double>(l.train_iter) / static_cast<double>(num_it_);
  l.opt->set_lr(start_ * std::pow(end_ / start_, pct));
}

void LRFinder::after_batch() {
  Learner& l = learn();
  if (!l.training) return;
  if (l.smooth_loss < best_) best_ = l.smooth_loss;
  if (stop_div_ && (l.smooth_loss > 4 * best_ || std::isnan(l.smooth_loss))) throw CancelFitException();
  if (l.train_iter >= num_it_) throw CancelFitException();
}

void LRFinder::before_validate() { throw CancelValidException(); }

}  // namespace learner
}  // namespace ember
