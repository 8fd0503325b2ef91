// autograd/ops/softmax.cpp: softmax and log_softmax over one dim, as fused row kernels.
//
//   softmax:      y_i = e^(x_i - m) / sum_j e^(x_j - m)      dx = y * (dy - sum(dy * y))
//   log_softmax:  y_i = x_i - m - log sum_j e^(x_j - m)     dx = dy - e^y * sum(dy)
// m = max_j x_j keeps exp from overflowing. The dim is moved last so rows are contiguous.
// Exercise 6 (a numerically stable log_softmax) touches the CPU row kernel.
#include "ember/autograd/ops/softmax.h"

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

Tensor softmax_impl(const char* name, bool log, const Tensor& x, int64_t dim) {
  EMBER_CHECK(is_floating(x.dtype()), name, ": needs a float tensor, got dtype ", dtype_name(x.dtype()));
  if (x.dim() == 0) return softmax_impl(name, log, x.reshape({1}), 0).reshape({});
  dim = wrap_dim(dim, x.dim(), name);
  const int64_t last = x.dim() - 1;
  // Move `dim` last and make rows contiguous.
  Tensor xt = raw::contiguous(dim == last ? x : x.detach().transpose(dim, last));
  const int64_t cols = xt.shape().back(), rows = cols ? xt.numel() / cols : 0;
  Tensor yt = empty(xt.shape(), TensorOptions(x.dtype(), x.device()));
  if (yt.numel()) backend_for(x.device()).softmax(log, kview(yt, {rows, cols}), kview(xt, {rows, cols}));
  Tensor y = dim == last ? yt : yt.transpose(dim, last);
  if (needs_grad({x}))
    record(name, {x}, y, [sy = save(name, yt), log, dim, last, rows, cols](const Tensor& g) {
      Tensor gt = raw::contiguous(dim == last ? g : g.transpose(dim, last));
      const Tensor& Y = sy.get();
      Tensor gx = empty(Y.shape(), TensorOptions(Y.dtype(), Y.device()));
      if (gx.numel())
        backend_for(Y.device()).softmax_backward(log, kview(gx, {rows, cols}), kview(gt, {rows, cols}),
                                                 kview(Y, {rows, cols}));
      return TensorList{dim == last ? gx : gx.transpose(dim, last)};
    });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl("softmax", false, x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl("log_softmax", true, x, dim); }
Tensor Tensor::softmax(int64_t dim) const { return ember::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return ember::log_softmax(*this, dim); }

}  // namespace ember
