// optim/Optimizer.h: optimizers over parameter groups, and learning-rate schedules.
//
//   auto opt = optim::SGD(model->parameters(), {.lr = 1.0});
//   loss.backward(); opt.step(); opt.zero_grad();
//
// Each group carries its own hyper-parameters (fastai's "slice" of learning rates
// sets one lr per group). Steps run under NoGradGuard with tensor ops, so they work
// on every device. Exercise 8 (the SGD and Adam steps) touches Optimizer.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace optim {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Hyper-parameters of one group. SGD reads lr, momentum, dampening, weight_decay,
// nesterov; Adam reads lr, momentum (= beta1), beta2, eps, weight_decay, decoupled_wd.
struct Hyper {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool decoupled_wd = false;  // AdamW / fastai "true weight decay": p *= 1 - lr*wd
};

struct ParamGroup {
  std::vector<Tensor> params;
  Hyper hyper;
  // Per parameter: apply weight decay? Empty means yes for all. fastai turns it off
  // for biases and BatchNorm parameters.
  std::vector<bool> do_wd;
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // drops the grads of every parameter
  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  void set_lr(double lr);  // every group
  // Run step() as one fused kernel per parameter (Backend::adam_step / sgd_step, the math of
  // tensor/OptimMath.h) instead of the readable tensor-op version below (exercise 8). Same
  // results up to float rounding; the Learner's optimizer factories turn it on.
  bool fused = false;
  // Buffers and hyper-parameters, keyed "state.<group>.<param>.<buffer>" and "group.<g>.lr".
  NamedTensors state_dict() const;
  void load_state_dict(const NamedTensors& sd);

 protected:
  struct ParamState {
    Tensor buf1, buf2;  // SGD: momentum; Adam: exp_avg, exp_avg_sq
    int64_t step = 0;
  };
  ParamState& state(const Tensor& p) { return state_[p.impl_ptr().get()]; }
  bool wd_on(const ParamGroup& g, size_t i) const { return g.do_wd.empty() || g.do_wd[i]; }

  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
};

// p -= lr * d,  d = momentum buffer (or nesterov look-ahead) of g + wd * p
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, Hyper h);
  explicit SGD(std::vector<ParamGroup> groups) : Optimizer(std::move(groups)) {}
  void step() override;

 private:
  void step_fused();
};

// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, Hyper h);
  explicit Adam(std::vector<ParamGroup> groups) : Optimizer(std::move(groups)) {}
  void step() override;

 private:
  void step_fused();
};

// PyTorch's defaults: SGD(lr), Adam(lr, betas (0.9, 0.999), eps 1e-8), AdamW(..., wd 0.01 decoupled).
Hyper sgd_defaults(double lr, double momentum = 0, double weight_decay = 0, bool nesterov = false);
Hyper adam_defaults(double lr = 1e-3);
Hyper adamw_defaults(double lr = 1e-3);
// fastai's Adam: betas (0.9, 0.99), eps 1e-5, decoupled weight decay 0.01.
Hyper fastai_adam_defaults(double lr = 1e-3);

// ---------------------------------------------------------------------------
// Schedules: functions of training progress pct in [0, 1], applied once per batch.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void apply(Optimizer& opt, double pct) = 0;
};

// Cosine from a to b as pct goes 0 -> 1 (fastai's SchedCos).
double sched_cos(double a, double b, double pct);

class ConstantLR : public Scheduler {
 public:
  explicit ConstantLR(std::vector<double> lrs) : lrs_(std::move(lrs)) {}
  void apply(Optimizer& opt, double pct) override;

 private:
  std::vector<double> lrs_;  // one per group (or one for all)
};

// fastai's one-cycle: lr cosine lr_max/div -> lr_max over pct_start, then cosine down
// to lr_max/div_final; momentum cosine moms[0] -> moms[1] -> moms[2].
class OneCycle : public Scheduler {
 public:
  OneCycle(std::vector<double> lr_max, double div = 25.0, double div_final = 1e5, double pct_start = 0.25,
           std::vector<double> moms = {0.95, 0.85, 0.95});
  void apply(Optimizer& opt, double pct) override;
  double lr_at(size_t group, double pct) const;
  double mom_at(double pct) const;

 private:
  std::vector<double> lr_max_;
  double div_, div_final_, pct_start_;
  std::vector<double> moms_;
};

// Cosine annealing from lr to lr * final_mult over training.
class CosineLR : public Scheduler {
 public:
  CosineLR(std::vector<double> lrs, double final_mult = 0.0) : lrs_(std::move(lrs)), final_mult_(final_mult) {}
  void apply(Optimizer& opt, double pct) override;

 private:
  std::vector<double> lrs_;
  double final_mult_;
};

// lr * gamma^floor(pct / step_pct): multiply by gamma every step_pct of training.
class StepLR : public Scheduler {
 public:
  StepLR(std::vector<double> lrs, double step_pct, double gamma = 0.1)
      : lrs_(std::move(lrs)), step_pct_(step_pct), gamma_(gamma) {}
  void apply(Optimizer& opt, double pct) override;

 private:
  std::vector<double> lrs_;
  double step_pct_, gamma_;
};

}  // namespace optim
}  // namespace ember
