// tests/cuda/test_cuda_convnet.cpp: the conv-net kernels of the CUDA backend
// (cuda/Conv.cu, Pool.cu, Norm.cu) against the CPU's (tensor/cpu/Conv.cpp, Pool.cpp, Norm.cpp), entry by entry of
// tensor/Backend.h, then a small conv net's forward and backward through the public ops.
//
// Every test that needs a GPU skips without one (as in test_cuda.cpp); the CUDNN_CHECK
// message test runs anywhere. Tolerances (|cuda - cpu| <= atol + rtol * |cpu|):
//   conv2d f32                 atol 1e-4, rtol 1e-4 (cuDNN vs im2col + OpenBLAS, sums of
//                              <= 600 products; with TF32: 2e-2, which this binary turns off
//                              unless EMBER_TF32 is set)
//   f64 everything             atol 1e-12, rtol 1e-10
//   pooling                    exact (the GPU adds in the CPU's order), argmax exact
//   batch-norm f32             atol 1e-5, rtol 1e-5 (both sum in double)
//   conv net end to end, f32   atol 1e-4, rtol 1e-3
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/ember.h"
#include "ember/tensor/Backend.h"

using namespace ember;

#define REQUIRE_CUDA()                                                                        \
  if (ember::cuda::device_count() == 0)                                                       \
  GTEST_SKIP() << "no CUDA device: this machine has no GPU or no driver (see docs/gpu.md)"

namespace {

const Device kGpu = Device::cuda(0);
const Device kCpu = Device::cpu();

struct Tol {
  double atol, rtol;
};
const Tol kExact{0, 0};
const Tol kF64{1e-12, 1e-10};

// The settings this process started with (the defaults, or EMBER_TF32's).
const cuda::Settings kStartSettings = cuda::settings();

// The parity tests check f32 convolution to 1e-4: TF32 convolutions (on by default, as in
// PyTorch) are turned off for this binary unless EMBER_TF32 says otherwise.
class ExactConvolutions : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* v = std::getenv("EMBER_TF32");
    if (v && *v) return;
    cuda::Settings s = cuda::settings();
    s.tf32_conv = false;
    cuda::set_settings(s);
  }
};
const auto* const kExactConvolutions = ::testing::AddGlobalTestEnvironment(new ExactConvolutions);

bool tf32_on() { return cuda::settings().tf32_conv; }
Tol conv_tol(DType t) {
  if (t == DType::f64) return kF64;
  return tf32_on() ? Tol{2e-2, 2e-2} : Tol{1e-4, 1e-4};
}
Tol bn_tol(DType t) { return t == DType::f64 ? kF64 : Tol{1e-5, 1e-5}; }

// got (any device) vs want (cpu), element by element; NaN matches NaN.
void expect_close(const Tensor& got, const Tensor& want, Tol tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what << ": shape " << fmt(got.shape()) << " vs " << fmt(want.shape());
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  const std::vector<double> g = got.cpu().to_vector<double>(), w = want.cpu().to_vector<double>();
  size_t bad = 0, worst = 0;
  double worst_err = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    double err;
    if (std::isnan(g[i]) || std::isnan(w[i])) err = std::isnan(g[i]) && std::isnan(w[i]) ? 0 : INFINITY;
    else if (g[i] == w[i]) err = 0;
    else err = std::fabs(g[i] - w[i]) - (tol.atol + tol.rtol * std::fabs(w[i]));
    if (err > 0) ++bad;
    if (err > worst_err) {
      worst_err = err;
      worst = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << g.size() << " elements differ; e.g. element " << worst
                     << ": cuda " << g[worst] << " vs cpu " << w[worst] << " (atol " << tol.atol << ", rtol "
                     << tol.rtol << ")";
}

void expect_bits_equal(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  Tensor x = a.cpu().contiguous(), y = b.cpu().contiguous();
  const size_t nbytes = static_cast<size_t>(x.numel()) * dtype_size(x.dtype());
  EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), nbytes), 0) << what << ": not bit-identical";
}

// The same input on both devices.
struct Both {
  Tensor cpu, gpu;
};
Both rand_both(Shape s, DType t, double lo, double hi, uint64_t seed) {
  manual_seed(seed);
  Tensor c = uniform(std::move(s), lo, hi, t);
  return {c, c.to(kGpu)};
}
// An output on both devices, pre-filled with 7 so that a kernel that skips elements shows.
Both out_both(Shape s, DType t) {
  return {full(s, 7.0, TensorOptions(t, kCpu)), full(s, 7.0, TensorOptions(t, kGpu))};
}

std::string name_of(const ConvGeom& g, DType t) {
  return std::string(dtype_name(t)) + " x[" + std::to_string(g.n) + "," + std::to_string(g.c) + "," +
         std::to_string(g.h) + "," + std::to_string(g.w) + "] k=" + std::to_string(g.k) + " kernel " +
         std::to_string(g.kh) + "x" + std::to_string(g.kw) + " stride " + std::to_string(g.sh) + "," +
         std::to_string(g.sw) + " pad " + std::to_string(g.ph) + "," + std::to_string(g.pw) + " dil " +
         std::to_string(g.dh) + "," + std::to_string(g.dw) + " groups " + std::to_string(g.groups);
}

ConvGeom conv_geom(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t kh, int64_t kw, int64_t sh,
                   int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups) {
  ConvGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.k = k, g.kh = kh, g.kw = kw;
  g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw, g.dh = dh, g.dw = dw, g.groups = groups;
  g.oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  g.ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  return g;
}

// Forward, backward input and backward weight of one geometry on both devices.
void check_conv(const ConvGeom& g, DType t) {
  const std::string what = name_of(g, t);
  Backend& cpu = backend_for(kCpu);
  Backend& gpu = backend_for(kGpu);
  const Shape xs{g.n, g.c, g.h, g.w}, ws{g.k, g.c / g.groups, g.kh, g.kw}, ys{g.n, g.k, g.oh, g.ow};
  Both x = rand_both(xs, t, -1, 1, 11), w = rand_both(ws, t, -1, 1, 12), gy = rand_both(ys, t, -1, 1, 13);

  Both y = out_both(ys, t);
  cpu.conv2d(g, kview(x.cpu), kview(w.cpu), kview(y.cpu));
  gpu.conv2d(g, kview(x.gpu), kview(w.gpu), kview(y.gpu));
  expect_close(y.gpu, y.cpu, conv_tol(t), "conv2d forward " + what);

  Both gx = out_both(xs, t);
  cpu.conv2d_backward_input(g, kview(gy.cpu), kview(w.cpu), kview(gx.cpu));
  gpu.conv2d_backward_input(g, kview(gy.gpu), kview(w.gpu), kview(gx.gpu));
  expect_close(gx.gpu, gx.cpu, conv_tol(t), "conv2d backward input " + what);

  Both gw = out_both(ws, t);
  cpu.conv2d_backward_weight(g, kview(gy.cpu), kview(x.cpu), kview(gw.cpu));
  gpu.conv2d_backward_weight(g, kview(gy.gpu), kview(x.gpu), kview(gw.gpu));
  expect_close(gw.gpu, gw.cpu, conv_tol(t), "conv2d backward weight " + what);

  // Again, through the cached plan. Same bits only where cuDNN promises them: when every
  // algorithm that ran is deterministic (Ember tries those first; cuDNN may still offer only
  // ones that add with atomics, whose last bits vary). Otherwise the values stay close.
  Tensor y2 = full(ys, 7.0, TensorOptions(t, kGpu)), gx2 = full(xs, 7.0, TensorOptions(t, kGpu)),
         gw2 = full(ws, 7.0, TensorOptions(t, kGpu));
  gpu.conv2d(g, kview(x.gpu), kview(w.gpu), kview(y2));
  gpu.conv2d_backward_input(g, kview(gy.gpu), kview(w.gpu), kview(gx2));
  gpu.conv2d_backward_weight(g, kview(gy.gpu), kview(x.gpu), kview(gw2));
  if (!cuda::conv_ran_nondeterministic()) {
    expect_bits_equal(y2, y.gpu, "conv2d forward, second run " + what);
    expect_bits_equal(gx2, gx.gpu, "conv2d backward input, second run " + what);
    expect_bits_equal(gw2, gw.gpu, "conv2d backward weight, second run " + what);
  } else {
    expect_close(y2, y.gpu, conv_tol(t), "conv2d forward, second run (a nondeterministic algorithm ran) " + what);
    expect_close(gx2, gx.gpu, conv_tol(t), "conv2d backward input, second run " + what);
    expect_close(gw2, gw.gpu, conv_tol(t), "conv2d backward weight, second run " + what);
  }
}

std::string name_of(const PoolGeom& g, bool is_max, DType t) {
  std::string s = std::string(is_max ? "max" : "avg") + " " + dtype_name(t) + " [" + std::to_string(g.n) + "," +
                  std::to_string(g.c) + "," + std::to_string(g.h) + "," + std::to_string(g.w) + "] -> " +
                  std::to_string(g.oh) + "x" + std::to_string(g.ow);
  if (g.adaptive) return s + " adaptive";
  return s + " kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " stride " + std::to_string(g.sh) +
         "," + std::to_string(g.sw) + " pad " + std::to_string(g.ph) + "," + std::to_string(g.pw) +
         (g.count_include_pad ? "" : " no count_include_pad");
}

// Output size along one dim of a fixed pool (PyTorch's rule; ceil mode drops a last
// window that would start in the right padding).
int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = in + 2 * p - k;
  int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= in + p) --o;
  return o;
}

PoolGeom fixed_pool(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                    int64_t ph, int64_t pw, bool ceil_mode, bool count_pad) {
  PoolGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw;
  g.oh = pool_out(h, kh, sh, ph, ceil_mode);
  g.ow = pool_out(w, kw, sw, pw, ceil_mode);
  g.count_include_pad = count_pad;
  return g;
}

PoolGeom adaptive_pool(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  PoolGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.oh = oh, g.ow = ow;
  g.adaptive = true;
  return g;
}

// Forward (and argmax) and backward of one pooling on both devices. `ties`: inputs
// drawn from a few levels, so maxima tie; a NaN is planted in the first plane.
void check_pool(const PoolGeom& g, bool is_max, DType t, bool ties) {
  const std::string what = name_of(g, is_max, t) + (ties ? " with ties and a NaN" : "");
  Backend& cpu = backend_for(kCpu);
  Backend& gpu = backend_for(kGpu);
  const Shape xs{g.n, g.c, g.h, g.w}, ys{g.n, g.c, g.oh, g.ow};
  Tensor xc;
  if (ties) {
    manual_seed(21);
    xc = randint(0, 4, xs).to(t);
    if (xc.numel() > 3) {
      if (t == DType::f32) static_cast<float*>(xc.raw_data())[3] = std::numeric_limits<float>::quiet_NaN();
      else static_cast<double*>(xc.raw_data())[3] = std::numeric_limits<double>::quiet_NaN();
    }
  } else {
    manual_seed(22);
    xc = uniform(xs, -2, 2, t);
  }
  Both x{xc, xc.to(kGpu)}, gy = rand_both(ys, t, -1, 1, 23);
  Both y = out_both(ys, t);
  Both am{full(ys, -5.0, TensorOptions(DType::i64, kCpu)), full(ys, -5.0, TensorOptions(DType::i64, kGpu))};
  const KView amc = is_max ? kview(am.cpu) : KView{}, amg = is_max ? kview(am.gpu) : KView{};
  cpu.pool2d(is_max, g, kview(x.cpu), kview(y.cpu), amc);
  gpu.pool2d(is_max, g, kview(x.gpu), kview(y.gpu), amg);
  expect_close(y.gpu, y.cpu, kExact, "pool2d forward " + what);
  if (is_max) expect_close(am.gpu, am.cpu, kExact, "pool2d argmax " + what);

  Both gx = out_both(xs, t);
  cpu.pool2d_backward(is_max, g, kview(gy.cpu), amc, kview(gx.cpu));
  gpu.pool2d_backward(is_max, g, kview(gy.gpu), amg, kview(gx.gpu));
  expect_close(gx.gpu, gx.cpu, kExact, "pool2d backward " + what);
}

// Every batch-norm kernel over x [n, c, s] on both devices.
void check_batch_norm(int64_t n, int64_t c, int64_t s, DType t) {
  const std::string what = std::string(dtype_name(t)) + " [" + std::to_string(n) + ", " + std::to_string(c) + ", " +
                           std::to_string(s) + "]";
  Backend& cpu = backend_for(kCpu);
  Backend& gpu = backend_for(kGpu);
  const Shape xs{n, c, s}, cs{c};
  // An offset mean, so that the variance is a difference of nearby numbers.
  Both x = rand_both(xs, t, 2, 4, 31), gy = rand_both(xs, t, -1, 1, 32);
  Both mean = out_both(cs, t), var = out_both(cs, t);
  // With the finishing step (tensor/NormMath.h): weight, bias and running statistics in, invstd,
  // scale, shift out, running statistics updated.
  Both w = rand_both(cs, t, 0.5, 2, 35), bias = rand_both(cs, t, -1, 1, 36);
  Both rm = rand_both(cs, t, -1, 1, 37), rv = rand_both(cs, t, 0.5, 2, 38);
  Both invstd = out_both(cs, t), sc = out_both(cs, t), sh = out_both(cs, t);
  auto finish = [&](bool on_gpu) {
    auto pick = [&](Both& b) { return kview(on_gpu ? b.gpu : b.cpu); };
    ChannelStatsFinish f;
    f.weight = pick(w), f.bias = pick(bias), f.running_mean = pick(rm), f.running_var = pick(rv);
    f.invstd = pick(invstd), f.scale = pick(sc), f.shift = pick(sh);
    f.eps = 1e-5, f.momentum = 0.1, f.count = std::max<int64_t>(n * s, 2);
    return f;
  };
  cpu.channel_stats(kview(x.cpu), kview(mean.cpu), kview(var.cpu), finish(false));
  gpu.channel_stats(kview(x.gpu), kview(mean.gpu), kview(var.gpu), finish(true));
  expect_close(mean.gpu, mean.cpu, bn_tol(t), "channel_stats mean " + what);
  expect_close(var.gpu, var.cpu, bn_tol(t), "channel_stats var " + what);
  if (c > 0) {
    expect_close(invstd.gpu, invstd.cpu, bn_tol(t), "channel_stats invstd " + what);
    expect_close(sc.gpu, sc.cpu, bn_tol(t), "channel_stats scale " + what);
    expect_close(sh.gpu, sh.cpu, bn_tol(t), "channel_stats shift " + what);
    expect_close(rm.gpu, rm.cpu, bn_tol(t), "channel_stats running_mean " + what);
    expect_close(rv.gpu, rv.cpu, bn_tol(t), "channel_stats running_var " + what);
  }

  Both scale = rand_both(cs, t, 0.5, 2, 33), shift = rand_both(cs, t, -1, 1, 34);
  Both y = out_both(xs, t);
  cpu.channel_affine(kview(x.cpu), kview(scale.cpu), kview(shift.cpu), kview(y.cpu));
  gpu.channel_affine(kview(x.gpu), kview(scale.gpu), kview(shift.gpu), kview(y.gpu));
  expect_close(y.gpu, y.cpu, bn_tol(t), "channel_affine " + what);

  // The CPU's mean on both devices, so the sums see the same inputs.
  Tensor mg = mean.cpu.to(kGpu);
  Both sg = out_both(cs, t), sgx = out_both(cs, t);
  cpu.channel_grad_sums(kview(gy.cpu), kview(x.cpu), kview(mean.cpu), kview(sg.cpu),
                        kview(sgx.cpu));
  gpu.channel_grad_sums(kview(gy.gpu), kview(x.gpu), kview(mg), kview(sg.gpu),
                        kview(sgx.gpu));
  // Sums of n*s terms of size ~1 that cancel: an absolute tolerance that grows with them.
  const double count = static_cast<double>(std::max<int64_t>(1, n * s));
  const Tol sum_tol = t == DType::f64 ? Tol{1e-12 * count, 1e-10} : Tol{1e-6 * std::sqrt(count), 1e-5};
  expect_close(sg.gpu, sg.cpu, sum_tol, "channel_grad_sums sum_gy " + what);
  expect_close(sgx.gpu, sgx.cpu, sum_tol, "channel_grad_sums sum_gy_xmu " + what);

  Both a = rand_both(cs, t, -1, 1, 35), b = rand_both(cs, t, -1, 1, 36), k = rand_both(cs, t, 0.5, 2, 37);
  Both gx = out_both(xs, t);
  cpu.batch_norm_backward_input(kview(gy.cpu), kview(x.cpu), kview(mean.cpu),
                                kview(a.cpu), kview(b.cpu), kview(k.cpu), kview(gx.cpu));
  gpu.batch_norm_backward_input(kview(gy.gpu), kview(x.gpu), kview(mg), kview(a.gpu),
                                kview(b.gpu), kview(k.gpu), kview(gx.gpu));
  expect_close(gx.gpu, gx.cpu, bn_tol(t), "batch_norm_backward_input " + what);
}

}  // namespace

// ---------------------------------------------------------------------------
// Convolution (cuDNN) vs im2col + OpenBLAS
TEST(CudaConvNet, Conv2dMatchesCpu) {
  REQUIRE_CUDA();
  //                                   n   c   h   w   k  kh kw sh sw ph pw dh dw groups
  const std::vector<ConvGeom> geoms = {
      conv_geom(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1),        // 3x3, same padding
      conv_geom(2, 3, 7, 6, 4, 3, 2, 2, 1, 1, 2, 1, 1, 1),        // uneven kernel, stride, padding
      conv_geom(1, 2, 9, 9, 3, 3, 3, 1, 2, 2, 1, 2, 2, 1),        // dilation
      conv_geom(2, 4, 6, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2),        // groups
      conv_geom(2, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8),      // depthwise
      conv_geom(3, 16, 5, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1),       // 1x1
      conv_geom(2, 6, 9, 9, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1),        // 1x1, stride 2
      conv_geom(2, 3, 32, 32, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1),      // a ResNet stem
      conv_geom(8, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1),    // a ResNet block: k = 288
      conv_geom(4, 64, 7, 7, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1),      // down-sampling, 4x4 output
      conv_geom(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1),        // one element
  };
  for (DType t : {DType::f32, DType::f64})
    for (const ConvGeom& g : geoms) check_conv(g, t);
}

// Every combination of the speed settings (cuda/Cuda.h) computes the same convolutions, within
// TF32's tolerance when TF32 is on; the defaults are PyTorch's (TF32 for convolutions, not for
// matmul, no benchmarking). conv_benchmark times the candidates on the first call of each plan.
TEST(CudaConvNet, SpeedSettingsKeepResultsAndDefaultsArePyTorchs) {
  REQUIRE_CUDA();
  const char* env = std::getenv("EMBER_TF32");
  if (!(env && *env)) {
    EXPECT_TRUE(kStartSettings.tf32_conv);
    EXPECT_FALSE(kStartSettings.tf32_matmul);
  }
  const char* bench = std::getenv("EMBER_CUDNN_BENCHMARK");
  if (!(bench && *bench)) {
    EXPECT_FALSE(kStartSettings.conv_benchmark);
  }
  const cuda::Settings saved = cuda::settings();
  const ConvGeom g = conv_geom(4, 16, 12, 12, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  for (int bits = 0; bits < 8; ++bits) {
    cuda::Settings s;
    s.tf32_conv = bits & 1;
    s.conv_benchmark = bits & 2;
    s.deterministic = bits & 4;
    cuda::set_settings(s);
    SCOPED_TRACE("tf32_conv " + std::to_string(s.tf32_conv) + ", conv_benchmark " +
                 std::to_string(s.conv_benchmark) + ", deterministic " + std::to_string(s.deterministic));
    check_conv(g, DType::f32);
    check_conv(g, DType::f64);
  }
  cuda::set_settings(saved);
}

TEST(CudaConvNet, Conv2dEmptyShapesWriteZeros) {
  REQUIRE_CUDA();
  Backend& gpu = backend_for(kGpu);
  for (DType t : {DType::f32, DType::f64}) {
    // Empty batch: y and gx are empty, gw must be zeros.
    ConvGeom g = conv_geom(0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    Tensor x = zeros({0, 3, 5, 5}, TensorOptions(t, kGpu)), gy = zeros({0, 4, 5, 5}, TensorOptions(t, kGpu));
    Tensor gw = full({4, 3, 3, 3}, 7.0, TensorOptions(t, kGpu));
    gpu.conv2d_backward_weight(g, kview(gy), kview(x), kview(gw));
    expect_close(gw, zeros({4, 3, 3, 3}, t), kExact, std::string("empty batch, weight grad ") + dtype_name(t));
    // The kernel does not fit: an empty output, so gx and gw are zeros.
    g = conv_geom(2, 3, 2, 2, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1);
    ASSERT_EQ(g.oh, 0);
    Tensor x2 = ones({2, 3, 2, 2}, TensorOptions(t, kGpu)), w2 = ones({4, 3, 3, 3}, TensorOptions(t, kGpu));
    Tensor gy2 = zeros({2, 4, 0, 0}, TensorOptions(t, kGpu));
    Tensor gx2 = full({2, 3, 2, 2}, 7.0, TensorOptions(t, kGpu)), gw2 = full({4, 3, 3, 3}, 7.0, TensorOptions(t, kGpu));
    gpu.conv2d_backward_input(g, kview(gy2), kview(w2), kview(gx2));
    gpu.conv2d_backward_weight(g, kview(gy2), kview(x2), kview(gw2));
    expect_close(gx2, zeros({2, 3, 2, 2}, t), kExact, std::string("empty output, input grad ") + dtype_name(t));
    expect_close(gw2, zeros({4, 3, 3, 3}, t), kExact, std::string("empty output, weight grad ") + dtype_name(t));
  }
}

// ---------------------------------------------------------------------------
// Pooling
TEST(CudaConvNet, Pool2dMatchesCpu) {
  REQUIRE_CUDA();
  //                                     n  c   h   w  kh kw sh sw ph pw  ceil  count_pad
  const std::vector<PoolGeom> geoms = {
      fixed_pool(2, 3, 8, 8, 2, 2, 2, 2, 0, 0, false, true),      // the usual 2x2
      fixed_pool(2, 3, 7, 7, 3, 3, 2, 2, 1, 1, false, true),      // ResNet's max pool: overlapping windows
      fixed_pool(1, 2, 6, 7, 2, 3, 2, 2, 0, 1, true, true),       // ceil mode, uneven
      fixed_pool(1, 2, 5, 6, 3, 3, 2, 2, 1, 1, true, true),       // ceil mode with padding
      fixed_pool(1, 2, 5, 6, 3, 3, 2, 2, 1, 1, false, false),     // divisor without the padding
      fixed_pool(2, 2, 9, 5, 3, 2, 1, 1, 1, 1, false, false),     // stride 1: each input in many windows
      fixed_pool(1, 1, 7, 7, 7, 7, 7, 7, 0, 0, false, true),      // one global window
      adaptive_pool(2, 3, 5, 7, 3, 2),                            // uneven, overlapping windows
      adaptive_pool(2, 3, 4, 4, 1, 1),                            // global
      adaptive_pool(1, 2, 10, 9, 4, 4),
      adaptive_pool(1, 2, 3, 2, 5, 4),                            // more outputs than inputs
      adaptive_pool(4, 16, 7, 7, 7, 7),                           // identity
  };
  for (DType t : {DType::f32, DType::f64})
    for (const PoolGeom& g : geoms)
      for (bool is_max : {true, false}) {
        check_pool(g, is_max, t, false);
        if (is_max) check_pool(g, is_max, t, true);
      }
}

TEST(CudaConvNet, Pool2dLargePlanes) {
  REQUIRE_CUDA();
  // More elements than one grid pass covers with small blocks; windows cross plane rows.
  check_pool(fixed_pool(8, 64, 56, 56, 3, 3, 2, 2, 1, 1, false, true), true, DType::f32, false);
  check_pool(adaptive_pool(16, 512, 7, 7, 1, 1), false, DType::f32, false);
  check_pool(adaptive_pool(2, 8, 113, 97, 6, 5), false, DType::f64, false);
}

// ---------------------------------------------------------------------------
// Batch norm
TEST(CudaConvNet, BatchNormKernelsMatchCpu) {
  REQUIRE_CUDA();
  struct Case {
    int64_t n, c, s;
  };
  const std::vector<Case> cases = {
      {4, 3, 6},         // small
      {64, 16, 49},      // a late ResNet stage
      {5, 7, 1},         // batch_norm over [N, C]
      {2, 2, 100003},    // many blocks per channel
      {1, 300, 10},      // many channels, few elements each
      {0, 3, 4},         // empty batch: mean and var 0
      {3, 4, 0},
  };
  for (DType t : {DType::f32, DType::f64})
    for (const Case& c : cases) check_batch_norm(c.n, c.c, c.s, t);
}

// ---------------------------------------------------------------------------
// Through the public ops: conv -> batch norm -> relu -> max pool -> conv (groups) ->
// adaptive avg pool -> linear -> cross entropy, forward and every grad.
TEST(CudaConvNet, SmallConvNetForwardAndBackward) {
  REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64}) {
    manual_seed(41);
    TensorList params = {uniform({8, 3, 3, 3}, -0.3, 0.3, t),  uniform({8}, -0.1, 0.1, t),
                         uniform({8}, 0.5, 1.5, t),            uniform({8}, -0.2, 0.2, t),
                         uniform({16, 4, 3, 3}, -0.3, 0.3, t), uniform({10, 16}, -0.3, 0.3, t)};
    Tensor x = uniform({4, 3, 16, 16}, -1, 1, t);
    Tensor labels = randint(0, 10, {4});
    auto run = [&](Device d, TensorList& grads) {
      TensorList p;
      for (const Tensor& q : params) p.push_back(q.to(d).detach().requires_grad_(true));
      Conv2dParams c1;
      c1.padding = {1, 1};
      Tensor h = conv2d(x.to(d), p[0], p[1], c1);
      h = batch_norm(h, p[2], p[3], Tensor(), Tensor(), true).relu();
      Pool2dParams mp;
      mp.kernel = {3, 3};
      mp.stride = {2, 2};
      mp.padding = {1, 1};
      h = max_pool2d(h, mp);
      Conv2dParams c2;
      c2.stride = {2, 2};
      c2.padding = {1, 1};
      c2.groups = 2;
      h = conv2d(h, p[4], Tensor(), c2);
      h = adaptive_avg_pool2d(h, {1, 1}).reshape({4, 16});
      Tensor loss = cross_entropy(linear(h, p[5]), labels.to(d));
      loss.backward();
      grads.clear();
      for (const Tensor& q : p) grads.push_back(q.grad());
      return loss.detach();
    };
    TensorList gc, gg;
    Tensor lc = run(kCpu, gc), lg = run(kGpu, gg);
    const Tol tol = t == DType::f64 ? Tol{1e-10, 1e-8} : (tf32_on() ? Tol{2e-2, 2e-2} : Tol{1e-4, 1e-3});
    expect_close(lg, lc, tol, std::string("conv net loss ") + dtype_name(t));
    for (size_t i = 0; i < gc.size(); ++i)
      expect_close(gg[i], gc[i], tol, std::string("conv net grad of parameter ") + std::to_string(i) + " " +
                                          dtype_name(t));
  }
}

// ---------------------------------------------------------------------------
// Runs without a GPU: cuDNN's status names come from the host library.
TEST(CudaConvNetErrors, CudnnCheckNamesTheCallFileAndStatus) {
  try {
    CUDNN_CHECK(3000);  // CUDNN_STATUS_NOT_SUPPORTED
    FAIL() << "CUDNN_CHECK(3000) did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cuDNN error: 3000 failed at "), std::string::npos) << msg;
    EXPECT_NE(msg.find("test_cuda_convnet.cpp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("CUDNN_STATUS_NOT_SUPPORTED"), std::string::npos) << msg;
  }
}
