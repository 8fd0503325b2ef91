// autograd/ops/loss.cpp: the loss functions, written with differentiable ops, so
// their backward comes from the ops they are made of.
//
// Conventions follow PyTorch: reduction Mean averages over all elements (for
// nll/cross_entropy: over the targets that are not ignored).
// Exercise 7 (the L1 loss of the MNIST example) touches l1_loss.
#include "ember/autograd/ops/loss.h"

#include <algorithm>
#include <cmath>

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

Tensor reduce_loss(const Tensor& per_element, Reduction r) {
  switch (r) {
    case Reduction::None: return per_element;
    case Reduction::Sum: return per_element.sum();
    case Reduction::Mean: return per_element.mean();
  }
  return per_element;
}

void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  EMBER_CHECK(input.shape() == target.shape(), op, ": input ", fmt(input.shape()), " and target ",
              fmt(target.shape()), " must have the same shape");
  raw::check_same_device(op, input, target);
}

// [N, C, d1, ...] -> [N*d1*..., C]: class scores last, one row per prediction.
Tensor rows_of_classes(const Tensor& x) {
  if (x.dim() <= 2) return x;
  Dims order{0};
  for (int64_t d = 2; d < x.dim(); ++d) order.push_back(d);
  order.push_back(1);
  return x.permute(order).reshape({-1, x.shape()[1]});
}

// sum(loss) / (number of kept targets). With none kept the value is nan, as in PyTorch,
// but the gradient stays 0 (the division uses max(count, 1); the nan is added as a constant).
// All on the device: no value is read back, so a GPU step does not wait here.
Tensor mean_over_kept(const Tensor& loss, const Tensor& keepf) {
  const Tensor count = keepf.sum();
  const Tensor one = ones({}, TensorOptions(count.dtype(), count.device()));
  const Tensor none_kept = raw::where(eq(count, zeros_like(count)), full_like(count, NAN), zeros_like(count));
  return loss.sum() / maximum(count, one) + none_kept;
}

}  // namespace

// ---------------------------------------------------------------------------
// nll: loss_i = -log_probs[i, target_i]; ignored targets count neither in the sum nor the mean.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r, int64_t ignore_index) {
  EMBER_CHECK(target.dtype() == DType::i64, "nll_loss: target must hold class indices (i64), got dtype ",
              dtype_name(target.dtype()));
  EMBER_CHECK(log_probs.dim() >= 1, "nll_loss: input must be [N, C], got ", fmt(log_probs.shape()));
  raw::check_same_device("nll_loss", log_probs, target);
  Tensor lp = log_probs.dim() == 1 ? log_probs.unsqueeze(0) : rows_of_classes(log_probs);
  Tensor t = target.reshape({-1});
  EMBER_CHECK(lp.shape()[0] == t.shape()[0], "nll_loss: input ", fmt(log_probs.shape()), " and target ",
              fmt(target.shape()), " disagree on the number of predictions (", lp.shape()[0], " vs ",
              t.shape()[0], ")");
  const int64_t C = lp.shape()[1];
  Tensor keep = ne(t, full({}, static_cast<double>(ignore_index), TensorOptions(DType::i64, t.device())));
  Tensor safe_t = raw::where(keep, t, zeros_like(t));
  // On a GPU checked on the device, reported at the next read from it (Backend::check_range).
  backend_for(safe_t.device())
      .check_range(kview(safe_t), 0, C,
                   "nll_loss: target {} is out of range: target values must be in [0, " + std::to_string(C) +
                       ") or ignore_index " + std::to_string(ignore_index));
  Tensor keepf = keep.to(lp.dtype());
  Tensor picked = gather(lp, 1, safe_t.unsqueeze(1)).squeeze(1);
  Tensor loss = -(picked * keepf);
  if (r == Reduction::Mean) return mean_over_kept(loss, keepf);
  if (r == Reduction::None) return target.dim() == 0 ? loss.reshape({}) : loss.reshape(target.shape());
  return loss.sum();
}

// ---------------------------------------------------------------------------
// cross_entropy = nll(log_softmax(logits)), with label smoothing eps:
//   index targets:        (1-eps) * nll + eps * mean_c(-log p_c)
//   probability targets:  -sum_c t'_c log p_c, t' = (1-eps) t + eps/C
Tensor cross_entropy(const Tensor& logits, const Tensor& target, CrossEntropyOptions opt) {
  EMBER_CHECK(logits.dim() >= 1, "cross_entropy: logits must be [N, C], got ", fmt(logits.shape()));
  EMBER_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1,
              "cross_entropy: label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  const int64_t cdim = logits.dim() == 1 ? 0 : 1;
  const int64_t C = logits.shape()[cdim];
  Tensor logp = log_softmax(logits, cdim);
  const double eps = opt.label_smoothing;

  if (is_floating(target.dtype())) {  // class probabilities
    check_same_shape("cross_entropy", logits, target);
    Tensor t = eps > 0 ? target * (1.0 - eps) + eps / static_cast<double>(C) : target;
    Tensor per = -(t * logp).sum({cdim});
    if (opt.reduction == Reduction::Mean) return per.sum() / static_cast<double>(std::max<int64_t>(per.numel(), 1));
    return reduce_loss(per, opt.reduction);
  }
  Tensor nll = nll_loss(logp, target, opt.reduction, opt.ignore_index);
  if (eps == 0) return nll;
  // Smoothing term: -mean over classes of log p, over the same (not ignored) rows.
  Tensor lp = logits.dim() == 1 ? logp.unsqueeze(0) : rows_of_classes(logp);
  Tensor t = target.reshape({-1});
  Tensor keepf = ne(t, full({}, static_cast<double>(opt.ignore_index), TensorOptions(DType::i64, t.device()))).to(lp.dtype());
  Tensor smooth = -(lp.sum({1}) / static_cast<double>(C)) * keepf;
  Tensor smooth_r;
  if (opt.reduction == Reduction::Mean) smooth_r = mean_over_kept(smooth, keepf);
  else if (opt.reduction == Reduction::Sum) smooth_r = smooth.sum();
  else smooth_r = target.dim() == 0 ? smooth.reshape({}) : smooth.reshape(target.shape());
  return nll * (1.0 - eps) + smooth_r * eps;
}

// ---------------------------------------------------------------------------
// l1 = |input - target|, reduced. d/dinput = sign(input - target) (0 at 0, as in PyTorch).
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_same_shape("l1_loss", input, target);
  // BEGIN EXERCISE 7
  return reduce_loss((input - target).abs(), r);
  // END EXERCISE
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_same_shape("mse_loss", input, target);
  Tensor d = input - target;
  return reduce_loss(d * d, r);
}

// Stable form: max(x, 0) - x*y + log(1 + e^-|x|)
Tensor bce_with_logits(const Tensor& logits, const Tensor& target, Reduction r) {
  check_same_shape("bce_with_logits", logits, target);
  return reduce_loss(logits.relu() - logits * target + log1p((-logits.abs()).exp()), r);
}

// kl_div(input = log q, target = p) = p (log p - log q), 0 where p == 0.
Tensor kl_div(const Tensor& input, const Tensor& target, KLReduction r) {
  check_same_shape("kl_div", input, target);
  Tensor per = xlogy(target, target) - target * input;
  switch (r) {
    case KLReduction::None: return per;
    case KLReduction::Sum: return per.sum();
    case KLReduction::Mean: return per.mean();
    case KLReduction::BatchMean: return per.sum() / static_cast<double>(input.dim() ? input.shape()[0] : 1);
  }
  return per;
}

}  // namespace ember
