// autograd/ops/conv.cpp: 2-D convolution (NCHW) on the backend's conv kernels.
//
//   y[n, k, oh, ow] = b[k] + sum_{c, i, j} w[k, c, i, j] * x[n, g*C/G + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
//   dx = conv2d_backward_input(dy, w)     (the adjoint: a "transposed convolution")
//   dw = conv2d_backward_weight(dy, x)    (correlation of the input with dy)
//   db = sum of dy over n, oh, ow
// The CPU runs im2col + GEMM (tensor/cpu/Conv.cpp), CUDA runs cuDNN. Gradients are
// computed only for inputs that need them: a frozen layer's weight gets none.
#include "ember/autograd/ops/conv.h"

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

ConvGeom conv_geom(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const Shape &xs = x.shape(), &ws = w.shape();
  EMBER_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W] (or [C, H, W]), got ", fmt(xs));
  EMBER_CHECK(w.dim() == 4, "conv2d: weight must be [out, in / groups, kh, kw], got ", fmt(ws));
  EMBER_CHECK(p.groups >= 1, "conv2d: groups must be >= 1, got ", p.groups);
  for (int i = 0; i < 2; ++i)
    EMBER_CHECK(p.stride[i] >= 1 && p.padding[i] >= 0 && p.dilation[i] >= 1, "conv2d: stride [", p.stride[0], ", ",
                p.stride[1], "] and dilation [", p.dilation[0], ", ", p.dilation[1], "] must be >= 1, padding [",
                p.padding[0], ", ", p.padding[1], "] >= 0");
  EMBER_CHECK(xs[1] == ws[1] * p.groups, "conv2d: input ", fmt(xs), " has ", xs[1], " channels, weight ", fmt(ws),
              " with groups=", p.groups, " expects ", ws[1] * p.groups);
  EMBER_CHECK(ws[0] % p.groups == 0, "conv2d: weight ", fmt(ws), ": ", ws[0], " output channels are not divisible by groups=", p.groups);
  ConvGeom g;
  g.n = xs[0], g.c = xs[1], g.h = xs[2], g.w = xs[3];
  g.k = ws[0], g.kh = ws[2], g.kw = ws[3];
  g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1], g.groups = p.groups;
  g.oh = conv_out(g.h, g.kh, g.sh, g.ph, g.dh);
  g.ow = conv_out(g.w, g.kw, g.sw, g.pw, g.dw);
  EMBER_CHECK(g.oh >= 1 && g.ow >= 1, "conv2d: input ", fmt(xs), " with padding [", g.ph, ", ", g.pw,
              "] is smaller than the dilated kernel ", fmt(ws), " (output would be ", g.oh, "x", g.ow, ")");
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dParams p) {
  if (x.dim() == 3) return conv2d(x.unsqueeze(0), w, bias, p).squeeze(0);
  raw::check_same_device("conv2d", x, w);
  raw::check_same_dtype("conv2d", x, w);
  EMBER_CHECK(is_floating(x.dtype()), "conv2d: needs float tensors, got dtype ", dtype_name(x.dtype()));
  const ConvGeom g = conv_geom(x, w, p);
  if (bias.defined()) {
    raw::check_same_device("conv2d", x, bias);
    EMBER_CHECK(bias.dim() == 1 && bias.shape()[0] == g.k, "conv2d: bias ", fmt(bias.shape()),
                " does not match weight ", fmt(w.shape()), " (expected [", g.k, "])");
  }
  Tensor xc = raw::contiguous(x), wc = raw::contiguous(w);
  Tensor y = empty({g.n, g.k, g.oh, g.ow}, TensorOptions(x.dtype(), x.device()));
  if (y.numel()) backend_for(x.device()).conv2d(g, kview(xc), kview(wc), kview(y));
  if (bias.defined()) y = raw::binary(BinaryOp::Add, y, bias.detach().reshape({1, g.k, 1, 1}));

  if (needs_grad({x, w, bias}))
    record("conv2d", {x, w, bias}, y,
           [sx = save("conv2d", xc), sw = save("conv2d", wc), g, need_x = x.requires_grad(),
            need_w = w.requires_grad(), has_bias = bias.defined()](const Tensor& grad) {
             Tensor gy = raw::contiguous(grad);
             const Tensor &X = sx.get(), &W = sw.get();
             Backend& be = backend_for(gy.device());
             Tensor gx, gw, gb;
             if (need_x) {
               gx = empty(X.shape(), TensorOptions(X.dtype(), X.device()));
               if (gx.numel()) be.conv2d_backward_input(g, kview(gy), kview(W), kview(gx));
             }
             if (need_w) {
               gw = empty(W.shape(), TensorOptions(W.dtype(), W.device()));
               if (gw.numel()) be.conv2d_backward_weight(g, kview(gy), kview(X), kview(gw));
             }
             if (has_bias) gb = raw::reduce(ReduceOp::Sum, gy, {0, 2, 3}, false);
             return TensorList{gx, gw, gb};
           });
  return y;
}

}  // namespace ember
