// tests/learner/test_learner.cpp: the Learner loop: data batching, training on a
// synthetic problem, one-cycle schedule, fastai's event order, cancel exceptions,
// Recorder smoothing/table/CSV, the progress bar, validate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "ember/ember.h"
#include "learner_test_util.h"
#include "lib/temp_files.h"

using namespace ember;
using namespace ember::learner;

// ---------------------------------------------------------------------------
// Data
TEST(LearnerData, DataLoaderBatchesInOrderWithLastPartialBatch) {
  Tensor x = arange(10).reshape({10, 1}), y = arange(10, DType::i64);
  DataLoader b(x, y, DataLoaderOptions{4, false, false, 0});
  EXPECT_EQ(b.size(), 3);
  EXPECT_EQ(b.n_items(), 10);
  b.start_epoch(0);
  Batch batch;
  std::vector<int64_t> sizes, ys;
  while (b.next(batch)) {
    sizes.push_back(batch.x.size(0));
    for (auto v : batch.y.to_vector<int64_t>()) ys.push_back(v);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(ys, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(LearnerData, DataLoaderDropLastAndSeededShuffle) {
  Tensor x = arange(10).reshape({10, 1}), y = arange(10, DType::i64);
  DataLoader b(x, y, DataLoaderOptions{4, true, true, 7});
  EXPECT_EQ(b.size(), 2);
  EXPECT_EQ(b.n_items(), 8);
  manual_seed(1);
  std::vector<int64_t> e0 = b.epoch_order(0);
  manual_seed(999);  // the global generator does not matter
  (void)rand({5});
  EXPECT_EQ(b.epoch_order(0), e0);
  EXPECT_EQ(e0, epoch_order(10, 7, 0, true));  // the one order function
  EXPECT_NE(b.epoch_order(1), e0);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // x and y rows stay paired, and batches follow the order.
  b.start_epoch(1);
  std::vector<int64_t> order = b.epoch_order(1);
  Batch batch;
  int n = 0;
  size_t k = 0;
  while (b.next(batch)) {
    ++n;
    auto xs = batch.x.to_vector<float>();
    auto ys = batch.y.to_vector<int64_t>();
    ASSERT_EQ(xs.size(), 4u);
    for (size_t i = 0; i < ys.size(); ++i, ++k) {
      EXPECT_EQ(static_cast<int64_t>(xs[i]), ys[i]);
      EXPECT_EQ(ys[i], order[k]);
    }
  }
  EXPECT_EQ(n, 2);
}

TEST(LearnerData, MismatchedLengthsNameBothShapes) {
  try {
    DataLoader b(zeros({5, 2}), zeros({4}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[5, 2]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4]"), std::string::npos) << e.what();
  }
}

namespace {
// Records the labels of every training batch, per epoch.
struct TrainLabels : Callback {
  std::vector<std::vector<int64_t>> per_epoch;
  void before_epoch() override { per_epoch.emplace_back(); }
  void before_batch() override {
    if (!learn().training) return;
    for (int64_t v : learn().yb.to_vector<int64_t>()) per_epoch.back().push_back(v);
  }
};
}  // namespace

// A DataLoader over a TensorDataset goes straight into a Learner; epoch e of training visits
// epoch_order(n, seed, e) (items here are labelled with their own index), drop_last included.
TEST(LearnerData, LearnerTrainsOnADataLoaderOverATensorDataset) {
  manual_seed(2);
  const int64_t n = 20;
  Tensor x = randn({n, 2});
  Tensor y = arange(n, DType::i64);
  auto ds = std::make_shared<TensorDataset>(x, y);
  auto train = std::make_shared<DataLoader>(ds, DataLoaderOptions{6, true, true, 5});
  auto valid = std::make_shared<DataLoader>(ds, DataLoaderOptions{8});
  Learner learn(DataLoaders{train, valid, {}}, test::mlp(2, 8, n), std::make_shared<nn::CrossEntropyLoss>(), sgd());
  learn.recorder->logging = false;
  auto labels = std::make_shared<TrainLabels>();
  learn.fit(3, 0.1, {labels});
  ASSERT_EQ(labels->per_epoch.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> want = epoch_order(n, 5, e, true);
    want.resize(18);  // 3 full batches of 6; the last 2 items are dropped
    EXPECT_EQ(labels->per_epoch[static_cast<size_t>(e)], want) << "epoch " << e;
  }
  auto [preds, targs] = learn.get_preds();
  EXPECT_EQ(targs.to_vector<int64_t>(), y.to_vector<int64_t>());  // validation: in order, all items
  EXPECT_EQ(preds.shape(), (Shape{n, n}));
}

TEST(LearnerData, ErrorsNameTheLoaderAndTheValues) {
  DataLoaderOptions o{32, true, true, 0};
  o.name = "train";
  try {
    DataLoader b(zeros({10, 2}), zeros({10}, DType::i64), o);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    for (const char* part : {"DataLoader 'train'", "batch_size 32", "10 items", "drop_last"})
      EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  }
}

// ---------------------------------------------------------------------------
// Training
TEST(Learner, SyntheticClassificationTrainsAndAccuracyRises) {
  manual_seed(0);
  auto learn = test::blob_learner(sgd(0.9));
  std::ostringstream table;
  learn->recorder->out = &table;
  double before = learn->validate()[1];
  learn->fit(3, 0.1);
  ASSERT_EQ(learn->recorder->values.size(), 3u);
  double after = learn->recorder->values.back()[2];
  EXPECT_GT(after, 0.9) << table.str();
  EXPECT_GT(after, before + 0.2);
  EXPECT_LT(learn->recorder->values.back()[1], learn->recorder->values.front()[1] + 1e-9);
  // The train loss column is the smoothed loss at the end of each epoch.
  EXPECT_DOUBLE_EQ(learn->recorder->values.back()[0], learn->recorder->losses.back());
  // validate() agrees with the last epoch's valid loss and accuracy.
  std::vector<double> v = learn->validate();
  EXPECT_NEAR(v[0], learn->recorder->values.back()[1], 1e-6);
  EXPECT_NEAR(v[1], learn->recorder->values.back()[2], 1e-9);
}

TEST(Learner, FastaiAdamOneCycleTrains) {
  manual_seed(1);
  auto learn = test::blob_learner(fastai_adam());
  std::ostringstream table;
  learn->recorder->out = &table;
  learn->fit_one_cycle(3, 2e-2);
  EXPECT_GT(learn->recorder->values.back()[2], 0.9) << table.str();
}

TEST(Learner, FitOneCycleSetsLrAndMomentumPerBatchAsOneCycleSays) {
  manual_seed(2);
  auto learn = test::blob_learner(sgd(0.9));
  learn->recorder->logging = false;
  const int n_epoch = 2;
  learn->fit_one_cycle(n_epoch, 0.05, OneCycleOptions{10.0, 1e4, 0.3, {0.95, 0.85, 0.95}});
  const Recorder& r = *learn->recorder;
  size_t n_iter = learn->dls.train->size();
  ASSERT_EQ(r.lrs.size(), n_iter * n_epoch);
  optim::OneCycle ref({0.05}, 10.0, 1e4, 0.3, {0.95, 0.85, 0.95});
  for (size_t i = 0; i < r.lrs.size(); ++i) {
    double pct = static_cast<double>(i) / static_cast<double>(n_iter * n_epoch);
    EXPECT_NEAR(r.lrs[i], ref.lr_at(0, pct), 1e-12) << "batch " << i;
    EXPECT_NEAR(r.moms[i], ref.mom_at(pct), 1e-12) << "batch " << i;
  }
  EXPECT_NEAR(r.lrs.front(), 0.05 / 10.0, 1e-12);
  EXPECT_NEAR(r.moms.front(), 0.95, 1e-12);
}

TEST(Learner, PerGroupLearningRatesFromASplitter) {
  manual_seed(3);
  auto learn = test::blob_learner(sgd());
  learn->recorder->logging = false;
  learn->splitter = [](nn::Module& m) {
    auto ps = m.parameters();
    return std::vector<std::vector<Tensor>>{{ps[0], ps[1]}, {ps[2], ps[3]}};
  };
  learn->fit(1, {1e-3, 1e-2});
  ASSERT_EQ(learn->opt->groups().size(), 2u);
  EXPECT_DOUBLE_EQ(learn->opt->groups()[0].hyper.lr, 1e-3);
  EXPECT_DOUBLE_EQ(learn->opt->groups()[1].hyper.lr, 1e-2);
  try {
    learn->fit(1, {1e-3, 1e-2, 1e-1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 learning rates for 2 parameter groups"), std::string::npos) << e.what();
  }
  auto m = even_mults(1e-4, 1e-2, 3);
  EXPECT_NEAR(m[0], 1e-4, 1e-16);
  EXPECT_NEAR(m[1], 1e-3, 1e-15);
  EXPECT_NEAR(m[2], 1e-2, 1e-14);
}

// ---------------------------------------------------------------------------
// Events
namespace {
struct EventLog : Callback {
  std::vector<std::string> events;
  EventLog() : Callback("EventLog", 0) {}
  void log(const char* e) { events.push_back(e); }
  void before_fit() override { log("before_fit"); }
  void before_epoch() override { log("before_epoch"); }
  void before_train() override { log("before_train"); }
  void before_batch() override { log("before_batch"); }
  void after_pred() override { log("after_pred"); }
  void after_loss() override { log("after_loss"); }
  void before_backward() override { log("before_backward"); }
  void after_cancel_backward() override { log("after_cancel_backward"); }
  void after_backward() override { log("after_backward"); }
  void before_step() override { log("before_step"); }
  void after_cancel_step() override { log("after_cancel_step"); }
  void after_step() override { log("after_step"); }
  void after_cancel_batch() override { log("after_cancel_batch"); }
  void after_batch() override { log("after_batch"); }
  void after_cancel_train() override { log("after_cancel_train"); }
  void after_train() override { log("after_train"); }
  void before_validate() override { log("before_validate"); }
  void after_cancel_validate() override { log("after_cancel_validate"); }
  void after_validate() override { log("after_validate"); }
  void after_cancel_epoch() override { log("after_cancel_epoch"); }
  void after_epoch() override { log("after_epoch"); }
  void after_cancel_fit() override { log("after_cancel_fit"); }
  void after_fit() override { log("after_fit"); }
};

std::vector<std::string> train_batch() {
  return {"before_batch", "after_pred",  "after_loss", "before_backward", "after_backward",
          "before_step",  "after_step",  "after_batch"};
}
std::vector<std::string> valid_batch() { return {"before_batch", "after_pred", "after_loss", "after_batch"}; }
void append(std::vector<std::string>& a, const std::vector<std::string>& b) { a.insert(a.end(), b.begin(), b.end()); }
}  // namespace

TEST(Callbacks, EventOrderIsFastais) {
  auto log = std::make_shared<EventLog>();
  auto learn = test::tiny_learner(4, 2, 2, 2);  // 2 train batches, 1 valid batch
  learn->add_cb(log);
  learn->fit(1, 0.1);
  std::vector<std::string> want{"before_fit", "before_epoch", "before_train"};
  append(want, train_batch());
  append(want, train_batch());
  append(want, {"after_train", "before_validate"});
  append(want, valid_batch());
  append(want, {"after_validate", "after_epoch", "after_fit"});
  EXPECT_EQ(log->events, want);
  for (int e = 0; e <= static_cast<int>(Event::after_fit); ++e) EXPECT_STRNE(event_name(static_cast<Event>(e)), "?");
}

TEST(Callbacks, CallbackSeesLearnerState) {
  struct Spy : Callback {
    std::vector<std::string> seen;
    Spy() : Callback("Spy") {}
    void after_loss() override {
      Learner& l = learn();
      std::ostringstream os;
      os << l.epoch << "/" << l.n_epoch << " it" << l.iter << "/" << l.n_iter << (l.training ? " T " : " V ")
         << l.xb.size(0) << " " << l.pred.size(1) << " " << l.pct_train;
      seen.push_back(os.str());
    }
  };
  auto spy = std::make_shared<Spy>();
  auto learn = test::tiny_learner(4, 2, 2, 2);
  learn->fit(2, 0.1, {spy});
  EXPECT_EQ(spy->seen, (std::vector<std::string>{"0/2 it0/2 T 2 3 0", "0/2 it1/2 T 2 3 0.25", "0/2 it0/1 V 2 3 0.5",
                                                 "1/2 it0/2 T 2 3 0.5", "1/2 it1/2 T 2 3 0.75",
                                                 "1/2 it0/1 V 2 3 1"}));
  // Callbacks passed to fit are removed afterwards.
  for (auto& cb : learn->cbs()) EXPECT_NE(cb, spy);
  EXPECT_FALSE(spy->attached());
}

TEST(Callbacks, CallbackCanReplaceBatchAndLoss) {
  // Zeroing the loss after it is computed leaves the weights untouched (plain SGD).
  struct ZeroLoss : Callback {
    int seen = 0;
    ZeroLoss() : Callback("ZeroLoss") {}
    void after_loss() override {
      if (learn().training) learn().loss = learn().loss * 0.0;
    }
    // Replacing the batch: the model sees only the first item of each batch.
    void before_batch() override {
      learn().xb = learn().xb.narrow(0, 0, 1);
      learn().yb = learn().yb.narrow(0, 0, 1);
    }
    void after_pred() override { seen += learn().pred.size(0) == 1; }
  };
  auto learn = test::tiny_learner(8, 4, 4, 4);
  std::vector<std::vector<float>> before;
  for (auto& p : learn->model->parameters()) before.push_back(p.to_vector<float>());
  auto cb = std::make_shared<ZeroLoss>();
  learn->fit(2, 0.5, {cb});
  size_t i = 0;
  for (auto& p : learn->model->parameters()) EXPECT_EQ(p.to_vector<float>(), before[i++]);
  EXPECT_EQ(cb->seen, 2 * (2 + 1));
  EXPECT_EQ(learn->recorder->raw_losses.size(), 4u);
  EXPECT_EQ(learn->recorder->raw_losses[0], 0.0);
}

namespace {
template <class Ex>
struct Thrower : Callback {
  std::string when;
  int epoch, iter;
  bool training;
  Thrower(std::string w, int e, int i, bool t) : Callback("Thrower", 1), when(std::move(w)), epoch(e), iter(i), training(t) {}
  void maybe(const char* ev) {
    Learner& l = learn();
    if (when == ev && l.epoch == epoch && l.iter == iter && l.training == training) throw Ex();
  }
  void before_epoch() override { maybe("before_epoch"); }
  void before_batch() override { maybe("before_batch"); }
  void after_pred() override { maybe("after_pred"); }
  void before_backward() override { maybe("before_backward"); }
  void before_step() override { maybe("before_step"); }
  void before_validate() override { maybe("before_validate"); }
};

template <class Ex>
std::vector<std::string> events_with(const std::string& when, int epoch, int iter, bool training, int n_epoch = 1) {
  auto learn = test::tiny_learner(4, 2, 2, 2);
  auto log = std::make_shared<EventLog>();
  learn->add_cb(log);
  learn->add_cb(std::make_shared<Thrower<Ex>>(when, epoch, iter, training));
  learn->fit(n_epoch, 0.1);
  return log->events;
}
}  // namespace

TEST(Callbacks, CancelBatchSkipsTheRestOfThatBatchOnly) {
  auto ev = events_with<CancelBatchException>("after_pred", 0, 0, true);
  std::vector<std::string> want{"before_fit", "before_epoch", "before_train", "before_batch", "after_pred",
                                "after_cancel_batch", "after_batch"};
  append(want, train_batch());
  append(want, {"after_train", "before_validate"});
  append(want, valid_batch());
  append(want, {"after_validate", "after_epoch", "after_fit"});
  EXPECT_EQ(ev, want);
}

TEST(Callbacks, CancelBackwardAndStep) {
  auto ev = events_with<CancelBackwardException>("before_backward", 0, 0, true);
  std::vector<std::string> head(ev.begin(), ev.begin() + 11);
  EXPECT_EQ(head, (std::vector<std::string>{"before_fit", "before_epoch", "before_train", "before_batch",
                                            "after_pred", "after_loss", "before_backward", "after_cancel_backward",
                                            "after_backward", "before_step", "after_step"}));
  ev = events_with<CancelStepException>("before_step", 0, 0, true);
  head.assign(ev.begin() + 6, ev.begin() + 12);
  EXPECT_EQ(head, (std::vector<std::string>{"before_backward", "after_backward", "before_step", "after_cancel_step",
                                            "after_step", "after_batch"}));
}

TEST(Callbacks, CancelTrainGoesStraightToValidation) {
  auto ev = events_with<CancelTrainException>("before_batch", 0, 1, true);
  std::vector<std::string> want{"before_fit", "before_epoch", "before_train"};
  append(want, train_batch());
  append(want, {"before_batch", "after_cancel_train", "after_train", "before_validate"});
  append(want, valid_batch());
  append(want, {"after_validate", "after_epoch", "after_fit"});
  EXPECT_EQ(ev, want);
}

TEST(Callbacks, CancelValidSkipsValidation) {
  auto ev = events_with<CancelValidException>("before_validate", 0, 2, false);
  // iter is still 2 (the last train batch index + 1) when before_validate fires.
  std::vector<std::string> want{"before_fit", "before_epoch", "before_train"};
  append(want, train_batch());
  append(want, train_batch());
  append(want, {"after_train", "before_validate", "after_cancel_validate", "after_validate", "after_epoch",
                "after_fit"});
  EXPECT_EQ(ev, want);
}

TEST(Callbacks, CancelEpochSkipsToTheNextEpoch) {
  auto ev = events_with<CancelEpochException>("before_batch", 0, 0, true, 2);
  std::vector<std::string> want{"before_fit", "before_epoch", "before_train", "before_batch", "after_cancel_epoch",
                                "after_epoch", "before_epoch", "before_train"};
  append(want, train_batch());
  append(want, train_batch());
  append(want, {"after_train", "before_validate"});
  append(want, valid_batch());
  append(want, {"after_validate", "after_epoch", "after_fit"});
  EXPECT_EQ(ev, want);
}

TEST(Callbacks, CancelFitEndsTraining) {
  auto ev = events_with<CancelFitException>("before_epoch", 1, 1, false, 3);
  ASSERT_GE(ev.size(), 4u);
  std::vector<std::string> tail(ev.end() - 4, ev.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"after_epoch", "before_epoch", "after_cancel_fit", "after_fit"}));
}

// ---------------------------------------------------------------------------
// Recorder
TEST(Recorder, SmoothLossMatchesHandComputedValues) {
  SmoothLoss s(0.98);
  // v_t = 0.98 v + 0.02 x; value = v / (1 - 0.98^t):
  // x = 1 -> 0.02/0.02 = 1; x = 2 -> 0.0596/0.0396; x = 3 -> 0.118408/0.058808; x = 0.5
  std::vector<double> xs{1.0, 2.0, 3.0, 0.5}, want{1.0, 0.0596 / 0.0396, 0.118408 / 0.058808, 1.6235585811182616};
  for (size_t i = 0; i < xs.size(); ++i) {
    s.add(xs[i]);
    EXPECT_NEAR(s.value(), want[i], 1e-12) << i;
  }
}

TEST(Recorder, RecordsSmoothedAndRawBatchLossesOfAKnownSequence) {
  // A loss that returns 1, 2, 3, 0.5 on the training batches (and 7 on validation).
  struct Scripted : nn::Loss {
    std::vector<double> seq{1.0, 2.0, 3.0, 0.5};
    size_t i = 0;
    Scripted() : nn::Loss("Scripted") {}
    Tensor forward(const Tensor& pred, const Tensor&) override {
      double v = grad_enabled() ? seq[i++ % seq.size()] : 7.0;
      return pred.sum() * 0.0 + v;
    }
  };
  auto learn = test::tiny_learner(8, 2, 2, 2, std::make_shared<Scripted>());
  learn->recorder->logging = false;
  learn->fit(1, 0.0);
  const Recorder& r = *learn->recorder;
  EXPECT_EQ(r.raw_losses, (std::vector<double>{1.0, 2.0, 3.0, 0.5}));
  ASSERT_EQ(r.losses.size(), 4u);
  EXPECT_NEAR(r.losses[1], 0.0596 / 0.0396, 1e-12);
  EXPECT_NEAR(r.losses[3], 1.6235585811182616, 1e-12);
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_NEAR(r.values[0][0], 1.6235585811182616, 1e-12);  // train_loss
  EXPECT_NEAR(r.values[0][1], 7.0, 1e-12);                 // valid_loss
}

TEST(Recorder, TableAndCsvHaveFastaisColumns) {
  manual_seed(4);
  auto learn = test::blob_learner(sgd(0.9));
  std::ostringstream table;
  learn->recorder->out = &table;
  learn->metrics.push_back(error_rate_metric());
  learn->fit(2, 0.1);
  std::istringstream lines(table.str());
  std::string header, row0, row1, extra;
  std::getline(lines, header);
  std::getline(lines, row0);
  std::getline(lines, row1);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_EQ(header, "epoch  train_loss  valid_loss  accuracy  error_rate  time");
  // "0      0.123456    0.123456    0.900000  0.100000    00:00"
  std::istringstream f(row0);
  std::string epoch, tl, vl, acc, err, time;
  f >> epoch >> tl >> vl >> acc >> err >> time;
  EXPECT_EQ(epoch, "0");
  for (auto* s : {&tl, &vl, &acc, &err}) {
    ASSERT_GT(s->size(), 7u);
    EXPECT_EQ(s->size() - s->find('.'), 7u) << *s;  // 6 decimals
  }
  EXPECT_EQ(time.size(), 5u);
  EXPECT_EQ(time[2], ':');
  EXPECT_NEAR(std::stod(acc) + std::stod(err), 1.0, 1e-6);

  std::string path = test::temp_path("history.csv");
  learn->recorder->write_csv(path);
  std::ifstream in(path);
  std::string h, l0, l1;
  std::getline(in, h);
  std::getline(in, l0);
  std::getline(in, l1);
  EXPECT_EQ(h, "epoch,train_loss,valid_loss,accuracy,error_rate,time");
  std::vector<std::string> cells;
  std::stringstream ss(l1);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0], "1");
  EXPECT_NEAR(std::stod(cells[1]), learn->recorder->values[1][0], 1e-8);
  EXPECT_NEAR(std::stod(cells[3]), learn->recorder->values[1][2], 1e-8);
  EXPECT_NEAR(std::stod(cells[5]), learn->recorder->times[1], 1e-3);
  EXPECT_TRUE(ember_test::temp_leftovers(path).empty());
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Progress bar
TEST(Progress, SilentWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  auto learn = test::tiny_learner(8, 2, 2, 2);
  learn->recorder->logging = false;
  auto bar = std::make_shared<ProgressCallback>(f);  // a regular file is not a TTY
  EXPECT_FALSE(bar->active());
  learn->add_cb(bar);
  learn->fit(1, 0.1);
  EXPECT_EQ(std::ftell(f), 0L);
  std::fclose(f);
  // The default bar on stderr is active only when stderr is a terminal.
  for (auto& cb : learn->cbs())
    if (auto* p = dynamic_cast<ProgressCallback*>(cb.get()); p && p != bar.get()) {
      EXPECT_EQ(p->active(), isatty(fileno(stderr)) == 1);
    }
}

TEST(Progress, DrawsOnATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  auto learn = test::tiny_learner(8, 2, 2, 2);
  learn->recorder->logging = false;
  learn->add_cb(std::make_shared<ProgressCallback>(f, 1));
  learn->fit(1, 0.1);
  EXPECT_GT(std::ftell(f), 0L);
  std::rewind(f);
  char buf[256] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  EXPECT_NE(std::string(buf, n).find("epoch 1/1 train"), std::string::npos);
  std::fclose(f);
}

// --- Metric averaging: per batch (fastai's AvgMetric) or over the whole set (AccumMetric) -------
TEST(Metrics, TotalsWeightBatchesAndAccumulateWholeSet) {
  // Metric "rows": how many rows fn saw. Averaged, that is the size-weighted mean batch size;
  // accumulated, fn sees every row at once.
  auto rows = [](const Tensor& p, const Tensor&) { return static_cast<double>(p.size(0)); };
  std::vector<Metric> ms{accuracy_metric(), {"rows_avg", rows}, {"rows_all", rows, /*accumulate=*/true}};
  MetricTotals t;
  t.reset(ms);
  EXPECT_TRUE(std::isnan(t.values()[0]));  // nothing seen yet
  Tensor p1 = from_vector<float>({1, 0, 1, 0, 0, 1}).reshape({3, 2}), y1 = from_vector<int64_t>({0, 0, 1});
  Tensor p2 = from_vector<float>({1, 0, 0, 1}).reshape({2, 2}), y2 = from_vector<int64_t>({1, 1});
  t.add(2.0, {p1}, y1);  // accuracy 3/3
  t.add(1.0, {p2}, y2);  // accuracy 1/2
  std::vector<double> v = t.values();
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(t.count(), 5);
  EXPECT_DOUBLE_EQ(v[0], (2.0 * 3 + 1.0 * 2) / 5);  // loss
  EXPECT_DOUBLE_EQ(v[1], 4.0 / 5);                   // accuracy: 4 of 5 right
  EXPECT_DOUBLE_EQ(v[2], (3.0 * 3 + 2.0 * 2) / 5);  // weighted mean of 3 and 2
  EXPECT_DOUBLE_EQ(v[3], 5.0);                       // one call on all 5 rows
}

TEST(Metrics, LearnerAccumulatesInFitAndValidate) {
  auto learn = test::tiny_learner(64, 50, 16, 16);  // validation batches 16, 16, 16, 2
  auto rows = [](const Tensor& p, const Tensor&) { return static_cast<double>(p.size(0)); };
  learn->metrics = {{"rows_avg", rows}, {"rows_all", rows, true}};
  learn->fit(1, 0.1);
  const std::vector<double>& e = learn->recorder->values.at(0);  // train_loss, valid_loss, metrics
  EXPECT_DOUBLE_EQ(e.at(2), (16.0 * 16 * 3 + 2.0 * 2) / 50);
  EXPECT_DOUBLE_EQ(e.at(3), 50.0);
  std::vector<double> v = learn->validate();
  EXPECT_DOUBLE_EQ(v.at(1), e.at(2));
  EXPECT_DOUBLE_EQ(v.at(2), 50.0);
  EXPECT_DOUBLE_EQ(v.at(0), e.at(1));  // same validation loss both ways
}
