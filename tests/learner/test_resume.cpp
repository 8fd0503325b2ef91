// tests/learner/test_resume.cpp: resumable training (Learner::save_checkpoint / resume,
// CheckpointCallback), the stop on a NaN loss, and SIGINT during fit (docs/reliability.md).
// Resumed runs are compared with straight runs bit for bit (==, not close).
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "learner_test_util.h"
#include "lib/temp_files.h"

namespace ember {
namespace learner {
namespace {

using test::blobs;
using test::temp_path;

// Shuffled training batches (6 per epoch), BatchNorm (buffers) and Dropout (draws from the
// global generator), fastai's Adam with a one-cycle schedule: everything resume must restore.
std::unique_ptr<Learner> make_learner(uint64_t init_seed) {
  manual_seed(5);  // the data, the same for every learner
  auto [xt, yt] = blobs(96);
  auto [xv, yv] = blobs(48);
  DataLoaders dls{std::make_shared<DataLoader>(xt, yt, DataLoaderOptions{16, true, false, 3}),
                  std::make_shared<DataLoader>(xv, yv, DataLoaderOptions{32}), {"a", "b", "c"}};
  manual_seed(init_seed);  // the initial weights
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(2, 16), std::make_shared<nn::BatchNorm1d>(16), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(16, 3)});
  auto l = std::make_unique<Learner>(dls, model, std::make_shared<nn::CrossEntropyLoss>(), fastai_adam(),
                                     std::vector<Metric>{accuracy_metric()});
  l->recorder->logging = false;
  return l;
}

// Cancels the fit after a given training batch (train_iter) or epoch; order 66: after the
// CheckpointCallback (65) has saved.
struct StopAt : Callback {
  int64_t at_iter;
  int at_epoch;
  StopAt(int64_t iter, int epoch) : Callback("StopAt", 66), at_iter(iter), at_epoch(epoch) {}
  void after_batch() override {
    if (learn().training && learn().train_iter == at_iter) throw CancelFitException();
  }
  void after_epoch() override {
    if (learn().epoch == at_epoch) throw CancelFitException();
  }
};

// Raises a signal from inside the loop after a given training batch.
struct RaiseAt : Callback {
  int64_t at_iter;
  int sig;
  RaiseAt(int64_t iter, int s) : Callback("RaiseAt", 0), at_iter(iter), sig(s) {}
  void after_batch() override {
    if (learn().training && learn().train_iter == at_iter) std::raise(sig);
  }
};

void expect_same_weights(Learner& a, Learner& b) {
  nn::StateDict sa = a.model->state_dict(), sb = b.model->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    SCOPED_TRACE(sa[i].first);
    ASSERT_EQ(sa[i].first, sb[i].first);
    Tensor ta = sa[i].second.cpu().contiguous(), tb = sb[i].second.cpu().contiguous();
    ASSERT_EQ(ta.shape(), tb.shape());
    ASSERT_EQ(ta.dtype(), tb.dtype());
    EXPECT_EQ(std::memcmp(ta.raw_data(), tb.raw_data(), static_cast<size_t>(ta.numel()) * dtype_size(ta.dtype())), 0)
        << "weights differ";
  }
}

void expect_same_history(const Recorder& a, const Recorder& b) {
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.raw_losses, b.raw_losses);
  EXPECT_EQ(a.lrs, b.lrs);
  EXPECT_EQ(a.moms, b.moms);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.epoch_end_iters, b.epoch_end_iters);
}

bool exists(const std::string& p) { return static_cast<bool>(std::ifstream(p)); }

std::unique_ptr<Learner> straight_run() {
  auto l = make_learner(0);
  manual_seed(7);
  l->fit_one_cycle(2, 1e-2);
  return l;
}

// A fresh learner (other initial weights, other global seed) resumed from `path`.
std::unique_ptr<Learner> resumed_run(const std::string& path) {
  auto l = make_learner(99);
  manual_seed(12345);
  l->resume(path);
  l->fit_one_cycle(2, 1e-2);
  EXPECT_FALSE(l->resuming());
  return l;
}

TEST(Resume, EpochCheckpointIsBitExact) {
  auto straight = straight_run();
  std::string path = temp_path("resume_epoch.safetensors");
  {
    auto l = make_learner(0);
    manual_seed(7);
    auto ckpt = std::make_shared<CheckpointCallback>(path);
    l->fit_one_cycle(2, 1e-2, {}, {ckpt, std::make_shared<StopAt>(-1, 0)});
    EXPECT_EQ(ckpt->saves(), 1);
    EXPECT_EQ(l->recorder->values.size(), 1u);
  }
  ASSERT_TRUE(exists(path));
  EXPECT_TRUE(ember_test::temp_leftovers(path).empty());
  auto resumed = resumed_run(path);
  expect_same_weights(*straight, *resumed);
  expect_same_history(*straight->recorder, *resumed->recorder);
  std::remove(path.c_str());
}

TEST(Resume, MidEpochCheckpointIsBitExact) {
  auto straight = straight_run();
  std::string path = temp_path("resume_batch.safetensors");
  {
    auto l = make_learner(0);
    manual_seed(7);
    CheckpointCallback::Options o;
    o.every_epochs = 0;
    o.every_batches = 4;
    auto ckpt = std::make_shared<CheckpointCallback>(path, o);
    l->fit_one_cycle(2, 1e-2, {}, {ckpt, std::make_shared<StopAt>(8, -1)});  // epoch 1, after its 2nd batch
    EXPECT_EQ(ckpt->saves(), 2);  // after training batches 4 and 8
  }
  auto resumed = resumed_run(path);
  expect_same_weights(*straight, *resumed);
  expect_same_history(*straight->recorder, *resumed->recorder);
  std::remove(path.c_str());
}

// Saves a checkpoint from one event of one epoch, then cancels the fit.
struct SaveAt : Callback {
  std::string path;
  Event when;
  int at_epoch;
  SaveAt(std::string p, Event e, int epoch) : Callback("SaveAt", 70), path(std::move(p)), when(e), at_epoch(epoch) {}
  void at(Event e) {
    if (e != when || learn().epoch != at_epoch) return;
    learn().save_checkpoint(path);
    throw CancelFitException();
  }
  void after_train() override { at(Event::after_train); }
  void before_validate() override { at(Event::before_validate); }
  void after_validate() override { at(Event::after_validate); }
};

// Between training and the end of validation a checkpoint redoes only the validation.
TEST(Resume, CheckpointAroundValidationIsBitExact) {
  auto straight = straight_run();
  for (Event e : {Event::after_train, Event::before_validate, Event::after_validate}) {
    SCOPED_TRACE(event_name(e));
    std::string path = temp_path("resume_valid.safetensors");
    {
      auto l = make_learner(0);
      manual_seed(7);
      l->fit_one_cycle(2, 1e-2, {}, {std::make_shared<SaveAt>(path, e, 0)});
    }
    auto resumed = resumed_run(path);
    expect_same_weights(*straight, *resumed);
    expect_same_history(*straight->recorder, *resumed->recorder);
    std::remove(path.c_str());
  }
}

TEST(Resume, BestCheckpointAndTrackerState) {
  std::string path = temp_path("resume_best.safetensors");
  auto l = make_learner(0);
  CheckpointCallback::Options o;
  o.monitor = "valid_loss";
  auto ckpt = std::make_shared<CheckpointCallback>(path, o);
  EXPECT_EQ(ckpt->best_path(), temp_path("resume_best_best.safetensors"));
  l->fit_one_cycle(2, 1e-2, {}, {ckpt});
  ASSERT_TRUE(exists(ckpt->best_path()));
  double best = ckpt->best;
  // A resumed fit gets the tracker's best back: resuming at the end runs no epoch.
  auto r = make_learner(99);
  auto ckpt2 = std::make_shared<CheckpointCallback>(path, o);
  r->resume(path);
  r->fit_one_cycle(2, 1e-2, {}, {ckpt2});
  EXPECT_EQ(ckpt2->best, best);
  expect_same_weights(*l, *r);
  std::remove(path.c_str());
  std::remove(ckpt->best_path().c_str());
}

TEST(Resume, BetweenFitsSkipsFinishedFits) {
  auto straight = make_learner(0);
  manual_seed(7);
  straight->fit(1, 1e-3);
  straight->fit_one_cycle(1, 1e-2);
  std::string path = temp_path("resume_between.safetensors");
  {
    auto l = make_learner(0);
    manual_seed(7);
    l->fit(1, 1e-3);
    l->save_checkpoint(path);
  }
  auto r = make_learner(99);
  manual_seed(1);
  r->resume(path);
  r->fit(1, 1e-3);  // finished before the checkpoint: skipped
  EXPECT_TRUE(r->resuming());
  r->fit_one_cycle(1, 1e-2);
  expect_same_weights(*straight, *r);
  std::remove(path.c_str());
}

TEST(Resume, WrongArgumentsAndPlainSaveAreRefused) {
  std::string path = temp_path("resume_wrong.safetensors");
  {
    auto l = make_learner(0);
    l->fit_one_cycle(2, 1e-2, {}, {std::make_shared<CheckpointCallback>(path), std::make_shared<StopAt>(-1, 0)});
  }
  auto r = make_learner(0);
  r->resume(path);
  try {
    r->fit_one_cycle(3, 1e-2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fit of 2 epochs, but this fit has 3"), std::string::npos) << e.what();
  }
  // Learner::load still reads a checkpoint's weights; resume refuses a plain save.
  auto p = make_learner(1);
  EXPECT_NO_THROW(p->load(path));
  std::string plain = temp_path("resume_plain.safetensors");
  p->save(plain);
  EXPECT_THROW(p->resume(plain), Error);
  std::remove(path.c_str());
  std::remove(plain.c_str());
}

// A checkpoint records the run's settings (Learner::config); resume refuses other settings.
TEST(Resume, ACheckpointOfOtherSettingsIsRefused) {
  std::string path = temp_path("resume_config.safetensors");
  {
    auto l = make_learner(0);
    l->config = "bs=16 lr=0.01";
    l->fit(1, 1e-2);
    l->save_checkpoint(path);
  }
  auto other = make_learner(0);
  other->config = "bs=32 lr=0.01";
  try {
    other->resume(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("written by a run with settings 'bs=16 lr=0.01', but this run has 'bs=32 lr=0.01'"),
              std::string::npos) << m;
  }
  EXPECT_FALSE(other->resuming());
  auto same = make_learner(0);
  same->config = "bs=16 lr=0.01";
  EXPECT_NO_THROW(same->resume(path));
  auto unchecked = make_learner(0);  // no settings given: not checked
  EXPECT_NO_THROW(unchecked->resume(path));
  EXPECT_NO_THROW(make_learner(1)->load(path));  // load reads the weights only
  std::remove(path.c_str());
}

TEST(TerminateOnNaN, StopsWithEpochBatchLossAndLr) {
  DetectAnomalyGuard off(false);  // under EMBER_DETECT_ANOMALY=1 the forward check would fire first
  manual_seed(3);
  auto [x, y] = blobs(64);
  {
    NoGradGuard ng;
    x.narrow(0, 40, 1).fill_(std::numeric_limits<double>::quiet_NaN());  // batch 2 of 16-item batches
  }
  DataLoaders dls{std::make_shared<DataLoader>(x, y, DataLoaderOptions{16}), nullptr, {}};
  // No ReLU: Ember's relu maps NaN to 0, which would hide the bad item.
  Learner l(dls, std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::CrossEntropyLoss>(), sgd());
  l.recorder->logging = false;

  try {
    l.fit(1, 0.1);
    FAIL() << "expected NonFiniteLossError";
  } catch (const NonFiniteLossError& e) {
    std::string m = e.what();
    EXPECT_TRUE(std::isnan(e.loss));
    EXPECT_NE(m.find("loss is nan at epoch 0, batch 2 of 4"), std::string::npos) << m;
    EXPECT_NE(m.find("lr 0.1"), std::string::npos) << m;
  }
  for (auto& p : l.model->parameters())  // stopped before backward: weights stay finite
    EXPECT_TRUE(std::isfinite(p.sum().item()));
  l.remove_cb(l.terminate_on_nan);  // removable: training goes on (on garbage)
  EXPECT_NO_THROW(l.fit(1, 0.1));
}

// Weights that are already NaN: the message names them instead of advising a lower learning rate.
TEST(TerminateOnNaN, NonFiniteWeightsAreNamedAsTheCause) {
  DetectAnomalyGuard off(false);
  manual_seed(3);
  auto [x, y] = blobs(64);
  DataLoaders dls{std::make_shared<DataLoader>(x, y, DataLoaderOptions{16}), nullptr, {}};
  auto model = std::make_shared<nn::Linear>(2, 3);
  {
    NoGradGuard ng;
    model->parameters()[0].narrow(0, 1, 1).fill_(std::numeric_limits<double>::quiet_NaN());  // 2 NaN in weight
  }
  Learner l(dls, model, std::make_shared<nn::CrossEntropyLoss>(), sgd());
  l.recorder->logging = false;
  try {
    l.fit(1, 0.1);
    FAIL() << "expected NonFiniteLossError";
  } catch (const NonFiniteLossError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("loss is nan at epoch 0, batch 0 of 4"), std::string::npos) << m;
    EXPECT_NE(m.find("because the model's weights are not finite: weight holds 2 NaN and 0 Inf"), std::string::npos)
        << m;
    EXPECT_NE(m.find("No learning rate helps"), std::string::npos) << m;
    EXPECT_EQ(m.find("Try a lower learning rate"), std::string::npos) << m;
  }
}

TEST(Signals, SigintWritesCheckpointAndResumesBitExact) {
  auto straight = straight_run();
  std::string path = temp_path("resume_sigint.safetensors");
  std::remove(path.c_str());
  {
    auto l = make_learner(0);
    manual_seed(7);
    CheckpointCallback::Options o;
    o.every_epochs = 0;  // only the interrupt writes it
    auto ckpt = std::make_shared<CheckpointCallback>(path, o);
    try {
      l->fit_one_cycle(2, 1e-2, {}, {ckpt, std::make_shared<RaiseAt>(9, SIGINT)});  // epoch 1, batch 2
      FAIL() << "expected TrainingInterrupted";
    } catch (const TrainingInterrupted& e) {
      std::string m = e.what();
      EXPECT_EQ(e.signal, SIGINT);
      EXPECT_EQ(e.checkpoint, path);
      EXPECT_NE(m.find("interrupted by SIGINT at epoch 1, batch 2 of 6"), std::string::npos) << m;
      EXPECT_NE(m.find("'" + path + "'"), std::string::npos) << m;
    }
    EXPECT_EQ(l->train_iter, 9);  // the batch finished, no further one ran
  }
  // The handler is gone after fit.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  ASSERT_TRUE(exists(path));
  auto resumed = resumed_run(path);
  expect_same_weights(*straight, *resumed);
  expect_same_history(*straight->recorder, *resumed->recorder);
  std::remove(path.c_str());
}

TEST(Signals, SigtermWithoutCheckpointCallbackUsesInterruptPath) {
  std::string path = temp_path("interrupted.safetensors");
  std::remove(path.c_str());
  auto l = make_learner(0);
  l->interrupt_path = path;
  try {
    l->fit(1, 1e-3, {std::make_shared<RaiseAt>(3, SIGTERM)});
    FAIL() << "expected TrainingInterrupted";
  } catch (const TrainingInterrupted& e) {
    EXPECT_EQ(e.signal, SIGTERM);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(exists(path));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace learner
}  // namespace ember
