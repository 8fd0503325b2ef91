// autograd/ops/pool.cpp: max and average pooling, fixed and adaptive windows (NCHW).
//
//   max:  y = max over the window        dx[argmax] += dy      (argmax saved by the forward)
//   avg:  y = sum over the window / d    dx[window] += dy / d
// The windows (tensor/Backend.h, PoolGeom) follow PyTorch: fixed windows step by `stride`
// from -padding; adaptive windows cover [floor(i*H/OH), ceil((i+1)*H/OH)).
#include "ember/autograd/ops/pool.h"

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

int64_t pool_out(const char* op, int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  EMBER_CHECK(k >= 1 && s >= 1 && p >= 0, op, ": kernel ", k, " and stride ", s, " must be >= 1, padding ", p, " >= 0");
  EMBER_CHECK(2 * p <= k, op, ": padding ", p, " must be at most half the kernel size ", k);
  const int64_t span = in + 2 * p - k;
  EMBER_CHECK(span >= 0, op, ": input size ", in, " with padding ", p, " is smaller than the kernel ", k);
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;  // the last window must start inside the input or left padding
  return out;
}

Tensor pool_impl(const char* op, bool is_max, const Tensor& x, PoolGeom g) {
  Tensor xc = raw::contiguous(x);
  Tensor y = empty({g.n, g.c, g.oh, g.ow}, TensorOptions(x.dtype(), x.device()));
  Tensor argmax = is_max ? empty(y.shape(), TensorOptions(DType::i64, x.device())) : Tensor();
  if (y.numel())
    backend_for(x.device()).pool2d(is_max, g, kview(xc), kview(y), kview_or_absent(argmax));
  if (needs_grad({x}))
    record(op, {x}, y, [g, is_max, argmax, xs = x.shape(), opts = TensorOptions(x.dtype(), x.device())](const Tensor& grad) {
      Tensor gy = raw::contiguous(grad);
      Tensor gx = empty(xs, opts);
      if (gx.numel())
        backend_for(gy.device()).pool2d_backward(is_max, g, kview(gy), kview_or_absent(argmax), kview(gx));
      return TensorList{gx};
    });
  return y;
}

PoolGeom input_geom(const char* op, const Tensor& x) {
  EMBER_CHECK(x.dim() == 4, op, ": input must be [N, C, H, W] (or [C, H, W]), got ", fmt(x.shape()));
  EMBER_CHECK(is_floating(x.dtype()), op, ": needs a float tensor, got dtype ", dtype_name(x.dtype()));
  PoolGeom g;
  g.n = x.shape()[0], g.c = x.shape()[1], g.h = x.shape()[2], g.w = x.shape()[3];
  return g;
}

Tensor fixed_pool(const char* op, bool is_max, const Tensor& x, const Pool2dParams& p) {
  if (x.dim() == 3) return fixed_pool(op, is_max, x.unsqueeze(0), p).squeeze(0);
  PoolGeom g = input_geom(op, x);
  g.kh = p.kernel[0], g.kw = p.kernel[1];
  g.sh = p.stride[0] ? p.stride[0] : g.kh;
  g.sw = p.stride[1] ? p.stride[1] : g.kw;
  g.ph = p.padding[0], g.pw = p.padding[1];
  g.count_include_pad = p.count_include_pad;
  g.oh = pool_out(op, g.h, g.kh, g.sh, g.ph, p.ceil_mode);
  g.ow = pool_out(op, g.w, g.kw, g.sw, g.pw, p.ceil_mode);
  return pool_impl(op, is_max, x, g);
}

Tensor adaptive_pool(const char* op, bool is_max, const Tensor& x, Size2 out) {
  if (x.dim() == 3) return adaptive_pool(op, is_max, x.unsqueeze(0), out).squeeze(0);
  PoolGeom g = input_geom(op, x);
  EMBER_CHECK(out[0] >= 1 && out[1] >= 1, op, ": output size [", out[0], ", ", out[1], "] must be >= 1");
  EMBER_CHECK(g.h >= 1 && g.w >= 1, op, ": input ", fmt(x.shape()), " has an empty spatial dim");
  g.oh = out[0], g.ow = out[1];
  g.adaptive = true;
  return pool_impl(op, is_max, x, g);
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Pool2dParams p) { return fixed_pool("max_pool2d", true, x, p); }
Tensor avg_pool2d(const Tensor& x, Pool2dParams p) { return fixed_pool("avg_pool2d", false, x, p); }
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 out) { return adaptive_pool("adaptive_avg_pool2d", false, x, out); }
Tensor adaptive_max_pool2d(const Tensor& x, Size2 out) { return adaptive_pool("adaptive_max_pool2d", true, x, out); }

}  // namespace ember
