// optim/Optimizer.cpp: SGD, Adam/AdamW, and the schedules.
// Exercise 8 (the SGD and Adam steps) touches SGD::step and Adam::step.
#include "ember/optim/Optimizer.h"
#include "ember/tensor/Raw.h"

#include <cmath>

namespace ember {
namespace optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& pg = groups_[g];
    EMBER_CHECK(pg.do_wd.empty() || pg.do_wd.size() == pg.params.size(), "optimizer: group ", g, " has ",
                pg.params.size(), " params but ", pg.do_wd.size(), " do_wd flags");
    for (const Tensor& p : pg.params)
      EMBER_CHECK(p.defined() && p.is_leaf(), "optimizer: group ", g,
                  " holds a tensor that is not a leaf parameter (shape ", p.defined() ? fmt(p.shape()) : "?", ")");
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (Tensor& p : g.params) p.set_grad(Tensor());
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.hyper.lr = lr;
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const Hyper& h = groups_[g].hyper;
    std::string gp = "group." + std::to_string(g) + ".";
    out.emplace_back(gp + "lr", scalar_tensor(h.lr, DType::f64));
    out.emplace_back(gp + "momentum", scalar_tensor(h.momentum, DType::f64));
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      auto it = state_.find(groups_[g].params[i].impl_ptr().get());
      if (it == state_.end()) continue;
      std::string sp = "state." + std::to_string(g) + "." + std::to_string(i) + ".";
      out.emplace_back(sp + "step", scalar_tensor(static_cast<double>(it->second.step), DType::i64));
      if (it->second.buf1.defined()) out.emplace_back(sp + "buf1", it->second.buf1);
      if (it->second.buf2.defined()) out.emplace_back(sp + "buf2", it->second.buf2);
    }
  }
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& sd) {
  state_.clear();
  for (auto& [key, t] : sd) {
    std::vector<std::string> parts;
    size_t start = 0, dot;
    while ((dot = key.find('.', start)) != std::string::npos) {
      parts.push_back(key.substr(start, dot - start));
      start = dot + 1;
    }
    parts.push_back(key.substr(start));
    auto index = [&](const std::string& s, size_t n) {
      EMBER_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && std::stoul(s) < n,
                  "optimizer load_state_dict: bad key '", key, "' (index ", s, " out of range ", n, ")");
      return static_cast<size_t>(std::stoul(s));
    };
    if (parts.size() == 3 && parts[0] == "group") {
      Hyper& h = groups_[index(parts[1], groups_.size())].hyper;
      if (parts[2] == "lr") h.lr = t.item();
      else if (parts[2] == "momentum") h.momentum = t.item();
      else EMBER_FAIL("optimizer load_state_dict: unknown key '", key, "'");
    } else if (parts.size() == 4 && parts[0] == "state") {
      size_t g = index(parts[1], groups_.size());
      const Tensor& p = groups_[g].params[index(parts[2], groups_[g].params.size())];
      ParamState& s = state_[p.impl_ptr().get()];
      if (parts[3] == "step") s.step = static_cast<int64_t>(t.item());
      else if (parts[3] == "buf1" || parts[3] == "buf2") {
        EMBER_CHECK(t.shape() == p.shape(), "optimizer load_state_dict: '", key, "' has shape ", fmt(t.shape()),
                    " but the parameter has ", fmt(p.shape()));
        (parts[3] == "buf1" ? s.buf1 : s.buf2) = t.to(p.device()).clone();
      } else EMBER_FAIL("optimizer load_state_dict: unknown key '", key, "'");
    } else {
      EMBER_FAIL("optimizer load_state_dict: unknown key '", key, "'");
    }
  }
}

// ---------------------------------------------------------------------------
SGD::SGD(std::vector<Tensor> params, Hyper h) : Optimizer({ParamGroup{std::move(params), h, {}}}) {}

void SGD::step() {
  NoGradGuard ng;
  if (fused) return step_fused();
  // BEGIN EXERCISE 8
  for (ParamGroup& g : groups_) {
    const Hyper& h = g.hyper;
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor& p = g.params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      Tensor d = grad;
      if (h.weight_decay != 0 && wd_on(g, i)) d = d + p * h.weight_decay;
      if (h.momentum != 0) {
        ParamState& s = state(p);
        if (!s.buf1.defined()) s.buf1 = d.clone();  // first step: buf = d
        else s.buf1.mul_(h.momentum).add_(d, 1.0 - h.dampening);
        d = h.nesterov ? d + s.buf1 * h.momentum : s.buf1;
        ++s.step;
      }
      p.add_(d, -h.lr);
    }
  }
  // END EXERCISE
}

Adam::Adam(std::vector<Tensor> params, Hyper h) : Optimizer({ParamGroup{std::move(params), h, {}}}) {}

void Adam::step() {
  NoGradGuard ng;
  if (fused) return step_fused();
  // BEGIN EXERCISE 8
  for (ParamGroup& g : groups_) {
    const Hyper& h = g.hyper;
    const double b1 = h.momentum, b2 = h.beta2;
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor& p = g.params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      const bool wd = h.weight_decay != 0 && wd_on(g, i);
      if (wd && h.decoupled_wd) p.mul_(1.0 - h.lr * h.weight_decay);
      else if (wd) grad = grad + p * h.weight_decay;
      ParamState& s = state(p);
      if (!s.buf1.defined()) {
        s.buf1 = zeros_like(p);
        s.buf2 = zeros_like(p);
      }
      ++s.step;
      s.buf1.mul_(b1).add_(grad, 1.0 - b1);
      s.buf2.mul_(b2).add_(grad * grad, 1.0 - b2);
      const double bias1 = 1.0 - std::pow(b1, static_cast<double>(s.step));
      const double bias2 = 1.0 - std::pow(b2, static_cast<double>(s.step));
      Tensor denom = (s.buf2 / bias2).sqrt() + h.eps;
      p.add_(s.buf1 / denom, -h.lr / bias1);
    }
  }
  // END EXERCISE
}

// ---------------------------------------------------------------------------
// The fused steps: the same math per element (tensor/OptimMath.h), one kernel per parameter.
namespace {
// The gradient as a contiguous tensor like p; p itself must be contiguous (parameters are).
Tensor fused_grad(const char* op, const Tensor& p, const Tensor& grad) {
  EMBER_CHECK(p.is_contiguous(), op, ": a fused step needs contiguous parameters, got one of shape ", fmt(p.shape()),
              " with strides ", fmt(p.strides()), " (set fused = false)");
  EMBER_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype() && grad.device() == p.device(), op,
              ": grad ", fmt(grad.shape()), " does not match its parameter ", fmt(p.shape()));
  return grad.is_contiguous() ? grad : grad.contiguous();
}
}  // namespace

void SGD::step_fused() {
  for (ParamGroup& g : groups_) {
    const Hyper& h = g.hyper;
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor& p = g.params[i];
      if (!p.grad().defined()) continue;
      Tensor grad = fused_grad("SGD", p, p.grad());
      SgdStep a;
      a.lr = h.lr, a.momentum = h.momentum, a.dampening = h.dampening, a.nesterov = h.nesterov;
      a.weight_decay = wd_on(g, i) ? h.weight_decay : 0.0;
      Tensor buf;
      if (h.momentum != 0) {
        ParamState& s = state(p);
        a.first = !s.buf1.defined();
        if (a.first) s.buf1 = empty_like(p);
        ++s.step;
        buf = s.buf1;
      }
      raw::sgd_step(p, grad, buf, a);
    }
  }
}

void Adam::step_fused() {
  for (ParamGroup& g : groups_) {
    const Hyper& h = g.hyper;
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor& p = g.params[i];
      if (!p.grad().defined()) continue;
      Tensor grad = fused_grad("Adam", p, p.grad());
      ParamState& s = state(p);
      if (!s.buf1.defined()) {
        s.buf1 = zeros_like(p);
        s.buf2 = zeros_like(p);
      }
      ++s.step;
      AdamStep a;
      a.lr = h.lr, a.beta1 = h.momentum, a.beta2 = h.beta2, a.eps = h.eps, a.decoupled_wd = h.decoupled_wd;
      a.weight_decay = wd_on(g, i) ? h.weight_decay : 0.0;
      a.bias1 = 1.0 - std::pow(h.momentum, static_cast<double>(s.step));
      a.bias2 = 1.0 - std::pow(h.beta2, static_cast<double>(s.step));
      raw::adam_step(p, grad, s.buf1, s.buf2, a);
    }
  }
}

Hyper sgd_defaults(double lr, double momentum, double weight_decay, bool nesterov) {
  Hyper h;
  h.lr = lr;
  h.momentum = momentum;
  h.weight_decay = weight_decay;
  h.nesterov = nesterov;
  return h;
}
Hyper adam_defaults(double lr) {
  Hyper h;
  h.lr = lr;
  h.momentum = 0.9;
  h.beta2 = 0.999;
  h.eps = 1e-8;
  return h;
}
Hyper adamw_defaults(double lr) {
  Hyper h = adam_defaults(lr);
  h.weight_decay = 0.01;
  h.decoupled_wd = true;
  return h;
}
Hyper fastai_adam_defaults(double lr) {
  Hyper h = adamw_defaults(lr);
  h.beta2 = 0.99;
  h.eps = 1e-5;
  return h;
}

// ---------------------------------------------------------------------------
// Schedules
double sched_cos(double a, double b, double pct) { return a + (b - a) * (1 - std::cos(M_PI * pct)) / 2; }

namespace {
double per_group(const std::vector<double>& v, size_t g, const char* who) {
  EMBER_CHECK(!v.empty(), who, ": needs at least one learning rate");
  EMBER_CHECK(v.size() == 1 || g < v.size(), who, ": ", v.size(), " learning rates for more parameter groups");
  return v.size() == 1 ? v[0] : v[g];
}
}  // namespace

void ConstantLR::apply(Optimizer& opt, double) {
  for (size_t g = 0; g < opt.groups().size(); ++g) opt.groups()[g].hyper.lr = per_group(lrs_, g, "ConstantLR");
}

OneCycle::OneCycle(std::vector<double> lr_max, double div, double div_final, double pct_start, std::vector<double> moms)
    : lr_max_(std::move(lr_max)), div_(div), div_final_(div_final), pct_start_(pct_start), moms_(std::move(moms)) {
  EMBER_CHECK(pct_start_ >= 0 && pct_start_ <= 1, "OneCycle: pct_start must be in [0, 1], got ", pct_start_);
  EMBER_CHECK(moms_.size() == 3, "OneCycle: moms needs 3 values, got ", moms_.size());
}

double OneCycle::lr_at(size_t g, double pct) const {
  double mx = per_group(lr_max_, g, "OneCycle");
  if (pct < pct_start_) return sched_cos(mx / div_, mx, pct / pct_start_);
  double rest = 1 - pct_start_;
  return sched_cos(mx, mx / div_final_, rest > 0 ? (pct - pct_start_) / rest : 1.0);
}

double OneCycle::mom_at(double pct) const {
  if (pct < pct_start_) return sched_cos(moms_[0], moms_[1], pct / pct_start_);
  double rest = 1 - pct_start_;
  return sched_cos(moms_[1], moms_[2], rest > 0 ? (pct - pct_start_) / rest : 1.0);
}

void OneCycle::apply(Optimizer& opt, double pct) {
  for (size_t g = 0; g < opt.groups().size(); ++g) {
    opt.groups()[g].hyper.lr = lr_at(g, pct);
    opt.groups()[g].hyper.momentum = mom_at(pct);
  }
}

void CosineLR::apply(Optimizer& opt, double pct) {
  for (size_t g = 0; g < opt.groups().size(); ++g) {
    double lr = per_group(lrs_, g, "CosineLR");
    opt.groups()[g].hyper.lr = sched_cos(lr, lr * final_mult_, pct);
  }
}

void StepLR::apply(Optimizer& opt, double pct) {
  EMBER_CHECK(step_pct_ > 0, "StepLR: step_pct must be positive, got ", step_pct_);
  double mult = std::pow(gamma_, std::floor(pct / step_pct_ + 1e-12));
  for (size_t g = 0; g < opt.groups().size(); ++g) opt.groups()[g].hyper.lr = per_group(lrs_, g, "StepLR") * mult;
}

}  // namespace optim
}  // namespace ember
