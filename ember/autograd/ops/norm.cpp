// autograd/ops/norm.cpp: batch normalisation over the channels of x [N, C, ...], and layer
// normalisation over the last dims of x.
//
// Batch norm.
//
// With M = N * (the spatial size) values per channel, statistics mean and var (biased),
// invstd = 1 / sqrt(var + eps) and xhat = (x - mean) * invstd:
//   y  = xhat * w + b                        = x * scale + shift (one channel_affine pass)
//   db = sum dy      dw = sum dy * xhat      (channel_grad_sums)
//   training:  dx = (dy - db / M - (x - mean) * invstd^2 * sum(dy * (x - mean)) / M) * w * invstd
//   eval:      dx = dy * w * invstd           (the statistics are constants)
// Training also moves the running statistics toward the batch's, with the unbiased variance,
// as PyTorch does: running = (1 - momentum) * running + momentum * batch.
// The per-channel [C] arithmetic is ordinary tensor math under NoGradGuard; the passes over
// x are the backend's channel kernels.
#include "ember/autograd/ops/norm.h"

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

void check_channel_vector(const char* what, const Tensor& v, const Tensor& x, int64_t c) {
  if (!v.defined()) return;
  raw::check_same_device("batch_norm", x, v);
  raw::check_same_dtype("batch_norm", x, v);
  EMBER_CHECK(v.dim() == 1 && v.shape()[0] == c, "batch_norm: ", what, " ", fmt(v.shape()), " does not match input ",
              fmt(x.shape()), " (expected [", c, "])");
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  EMBER_CHECK(x.dim() >= 2, "batch_norm: input must be [N, C, ...], got ", fmt(x.shape()));
  EMBER_CHECK(is_floating(x.dtype()), "batch_norm: needs a float tensor, got dtype ", dtype_name(x.dtype()));
  const int64_t n = x.shape()[0], c = x.shape()[1], s = n * c != 0 ? x.numel() / (n * c) : 0;
  check_channel_vector("weight", weight, x, c);
  check_channel_vector("bias", bias, x, c);
  check_channel_vector("running_mean", running_mean, x, c);
  check_channel_vector("running_var", running_var, x, c);
  EMBER_CHECK(running_mean.defined() == running_var.defined(), "batch_norm: running_mean and running_var must both be given or both be absent");
  EMBER_CHECK(training || running_mean.defined(), "batch_norm: eval mode needs running statistics");
  const int64_t m = n * s;
  EMBER_CHECK(!training || m > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
              fmt(x.shape()));

  Backend& be = backend_for(x.device());
  const TensorOptions opts(x.dtype(), x.device());
  Tensor xc = raw::contiguous(x);
  Tensor mean, invstd, scale, shift;
  {
    NoGradGuard no_grad;
    if (training) {
      // One backend call: the statistics, invstd, scale, shift and the running statistics
      // (tensor/NormMath.h), instead of ~10 small ops each waiting for a launch.
      mean = empty({c}, opts), invstd = empty({c}, opts), scale = empty({c}, opts), shift = empty({c}, opts);
      Tensor var = empty({c}, opts);
      const bool running = running_mean.defined() && running_mean.is_contiguous() && running_var.is_contiguous();
      const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
      const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
      ChannelStatsFinish f;
      f.weight = kview_or_absent(wc), f.bias = kview_or_absent(bc);
      f.running_mean = kview_or_absent(running ? running_mean : Tensor());
      f.running_var = kview_or_absent(running ? running_var : Tensor());
      f.invstd = kview(invstd), f.scale = kview(scale), f.shift = kview(shift);
      f.eps = eps, f.momentum = momentum, f.count = m;
      if (c) be.channel_stats(kview(xc, {n, c, s}), kview(mean), kview(var), f);
      if (running) {
        raw::bump_version(running_mean);
        raw::bump_version(running_var);
      } else if (running_mean.defined()) {  // strided buffers: the same update through tensor ops
        Tensor rm = running_mean, rv = running_var;  // handles to the caller's buffers
        rm.mul_(1 - momentum).add_(mean, momentum);
        rv.mul_(1 - momentum).add_(var * (static_cast<double>(m) / static_cast<double>(m - 1)), momentum);
      }
    } else {
      mean = running_mean.detach().contiguous();
      invstd = (running_var.detach() + eps).pow(-0.5);
      scale = weight.defined() ? weight.detach() * invstd : invstd;
      shift = bias.defined() ? bias.detach() - mean * scale : -(mean * scale);
      scale = scale.contiguous();
      shift = shift.contiguous();
    }
  }
  Tensor y = empty(x.shape(), opts);
  if (y.numel()) be.channel_affine(kview(xc, {n, c, s}), kview(scale), kview(shift), kview(y, {n, c, s}));

  if (needs_grad({x, weight, bias}))
    record("batch_norm", {x, weight, bias}, y,
           [sx = save("batch_norm", xc), mean, invstd, scale,
            training, n, c, s, m, need_x = x.requires_grad(), need_w = weight.defined() && weight.requires_grad(),
            need_b = bias.defined() && bias.requires_grad()](const Tensor& grad) {
             NoGradGuard no_grad;
             Tensor gy = raw::contiguous(grad);
             const Tensor& X = sx.get();
             Backend& dev = backend_for(gy.device());
             const TensorOptions o(gy.dtype(), gy.device());
             Tensor sum_gy = empty({c}, o), sum_gy_xmu = empty({c}, o);
             const Shape ncs{n, c, s};
             if (c) dev.channel_grad_sums(kview(gy, ncs), kview(X, ncs), kview(mean), kview(sum_gy), kview(sum_gy_xmu));
             Tensor gx;
             if (need_x) {
               gx = empty(X.shape(), o);
               if (training) {
                 Tensor a = (sum_gy / static_cast<double>(m)).contiguous();
                 Tensor b = (sum_gy_xmu * invstd * invstd / static_cast<double>(m)).contiguous();
                 if (gx.numel())
                   dev.batch_norm_backward_input(kview(gy, ncs), kview(X, ncs), kview(mean), kview(a), kview(b),
                                                kview(scale), kview(gx, ncs));
               } else {
                 Tensor zero = zeros({c}, o);
                 if (gx.numel())
                   dev.channel_affine(kview(gy, ncs), kview(scale), kview(zero), kview(gx, ncs));
               }
             }
             Tensor gw = need_w ? sum_gy_xmu * invstd : Tensor();
             Tensor gb = need_b ? sum_gy : Tensor();
             return TensorList{gx, gw, gb};
           });
  return y;
}

// Layer norm. Each row r of x seen as [rows, cols] (cols = the normalised size) has its mean
// and rstd = 1 / sqrt(biased var + eps); xhat = (x - mean) * rstd, y = xhat * w + b:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w   (per row; a backend kernel)
//   dw = sum over rows of dy * xhat      db = sum over rows of dy
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  EMBER_CHECK(k >= 1 && k <= x.dim() && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape,
              "layer_norm: normalized_shape ", fmt(normalized_shape), " is not the trailing shape of input ",
              fmt(x.shape()));
  EMBER_CHECK(is_floating(x.dtype()), "layer_norm: needs a float tensor, got dtype ", dtype_name(x.dtype()));
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    raw::check_same_device("layer_norm", x, *p);
    raw::check_same_dtype("layer_norm", x, *p);
    EMBER_CHECK(p->shape() == normalized_shape, "layer_norm: ", p == &weight ? "weight " : "bias ", fmt(p->shape()),
                " does not match normalized_shape ", fmt(normalized_shape));
  }
  const int64_t cols = numel_of(normalized_shape), rows = cols ? x.numel() / cols : 0;
  const TensorOptions opts(x.dtype(), x.device());
  auto rows_view = [rows, cols](const Tensor& t) { return raw::as_view(t, {rows, cols}, {cols, 1}, t.offset()); };
  auto flat = [&](const Tensor& t) { return t.defined() ? raw::contiguous(t.detach()).reshape({cols}) : Tensor(); };
  Tensor xc = raw::contiguous(x), w = flat(weight), b = flat(bias);
  Tensor y = empty(x.shape(), opts), mean = empty({rows}, opts), rstd = empty({rows}, opts);
  if (y.numel())
    backend_for(x.device()).layer_norm(kview(rows_view(y)), kview(mean), kview(rstd), kview(rows_view(xc)),
                                       kview_or_absent(w), kview_or_absent(b), eps);
  if (needs_grad({x, weight, bias}))
    record("layer_norm", {x, weight, bias}, y,
           [sx = save("layer_norm", xc), mean, rstd, w, normalized_shape, rows, cols, rows_view,
            need_x = x.requires_grad(), need_w = weight.defined() && weight.requires_grad(),
            need_b = bias.defined() && bias.requires_grad()](const Tensor& grad) {
             NoGradGuard no_grad;
             const Tensor gy = raw::contiguous(grad), X = sx.get();
             Tensor gx, gw, gb;
             if (need_x) {
               gx = empty(X.shape(), TensorOptions(gy.dtype(), gy.device()));
               if (gx.numel())
                 backend_for(gy.device())
                     .layer_norm_backward_input(kview(rows_view(gx)), kview(rows_view(gy)), kview(rows_view(X)),
                                                kview(mean), kview(rstd), kview_or_absent(w));
             }
             const Tensor g2 = rows_view(gy);
             if (need_w) {
               const Tensor xhat = (rows_view(X) - mean.unsqueeze(1)) * rstd.unsqueeze(1);
               gw = (g2 * xhat).sum({0}).reshape(normalized_shape);
             }
             if (need_b) gb = g2.sum({0}).reshape(normalized_shape);
             return TensorList{gx, gw, gb};
           });
  return y;
}

}  // namespace ember
