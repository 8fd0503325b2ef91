// tests/tensor/test_cpu_math.cpp: the CPU fast paths against plain references.
//
//   exp_f32 (tensor/VecMath.h)   vs double-precision std::exp, in ulps, over a
//                                    sweep of every 127th float in [-105, 90] and specials
//   exp / sigmoid / softmax kernels  vs std::exp references, including inf, NaN and
//                                    huge inputs (the kernels are built -march=native,
//                                    this file is not: both exp code paths are covered)
//   sum                              vs a double sum; same bits for 1 and 2 threads
//   matmul / linear (OpenBLAS)       vs a double triple loop: the MLP shapes, odd sizes,
//                                    transposed operands passed as flags, batched, bias
//   CpuAllocator's block cache       reused blocks are refilled, live blocks never shared
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ember/ember.h"
#include "ember/tensor/VecMath.h"

using namespace ember;

namespace {

// Distance in representable floats between a and b (both finite or equal infinities).
int64_t ulp_distance(float a, float b) {
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

float ref_exp(float x) { return static_cast<float>(std::exp(static_cast<double>(x))); }
float ref_sigmoid(float x) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x)))); }

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Restores the OpenMP thread count a test changes.
struct ThreadCount {
  int saved = omp_get_max_threads();
  explicit ThreadCount(int n) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved); }
};

}  // namespace

// --- exp_f32 --------------------------------------------------------------------
TEST(CpuMath, ExpWithinTwoUlpOverTheWholeRange) {
  int64_t worst = 0;
  float worst_x = 0;
  int64_t checked = 0;
  // Every 127th bit pattern: both signs, all exponents, including subnormal results.
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 127) {
    const uint32_t bits = static_cast<uint32_t>(u);
    float x;
    std::memcpy(&x, &bits, sizeof x);
    if (!(x >= -105.0f && x <= 90.0f)) continue;
    const int64_t d = ulp_distance(math::exp_f32(x), ref_exp(x));
    if (d > worst) { worst = d; worst_x = x; }
    ++checked;
  }
  EXPECT_GT(checked, 15000000);
  EXPECT_LE(worst, 2) << "worst at x = " << worst_x << ": " << math::exp_f32(worst_x) << " vs " << ref_exp(worst_x);
}

TEST(CpuMath, ExpSpecialValues) {
  EXPECT_EQ(math::exp_f32(0.0f), 1.0f);
  EXPECT_EQ(math::exp_f32(-0.0f), 1.0f);
  EXPECT_EQ(math::exp_f32(kInf), kInf);
  EXPECT_EQ(math::exp_f32(-kInf), 0.0f);
  EXPECT_TRUE(std::isnan(math::exp_f32(kNaN)));
  EXPECT_TRUE(std::isnan(math::exp_f32(-kNaN)));
  // Overflow edge: ln(FLT_MAX) = 88.7228391...
  EXPECT_TRUE(std::isfinite(math::exp_f32(88.72283f)));
  EXPECT_LE(ulp_distance(math::exp_f32(88.72283f), ref_exp(88.72283f)), 1);
  EXPECT_EQ(math::exp_f32(88.7229f), kInf);
  EXPECT_EQ(math::exp_f32(1000.0f), kInf);
  EXPECT_EQ(math::exp_f32(std::numeric_limits<float>::max()), kInf);
  // Underflow: subnormal results round once; below ln(2^-150) the result is 0.
  for (float x : {-87.3f, -90.0f, -100.0f, -103.0f, -103.9f})
    EXPECT_LE(ulp_distance(math::exp_f32(x), ref_exp(x)), 1) << x;
  EXPECT_EQ(math::exp_f32(-104.0f), 0.0f);
  EXPECT_EQ(math::exp_f32(-1000.0f), 0.0f);
  EXPECT_EQ(math::exp_f32(std::numeric_limits<float>::lowest()), 0.0f);
  // Tiny arguments.
  EXPECT_EQ(math::exp_f32(1e-30f), 1.0f);
  EXPECT_EQ(math::exp_f32(std::numeric_limits<float>::denorm_min()), 1.0f);
}

// --- kernels through the tensor API ------------------------------------------------
namespace {
// A wide input: a dense ramp over [-120, 120] plus specials, long enough for the
// vector loop and the OpenMP split, with an odd length so there is a tail.
std::vector<float> wide_inputs() {
  std::vector<float> v;
  const int n = 200001;
  for (int i = 0; i < n; ++i) v.push_back(-120.0f + 240.0f * static_cast<float>(i) / (n - 1));
  for (float s : {kInf, -kInf, kNaN, 0.0f, -0.0f, 88.72283f, 88.7229f, -103.9f, -1e30f, 1e30f}) v.push_back(s);
  return v;
}
}  // namespace

TEST(CpuMath, ExpKernelMatchesReference) {
  std::vector<float> x = wide_inputs();
  std::vector<float> y = from_vector(x).exp().to_vector<float>();
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float r = ref_exp(x[i]);
    if (std::isnan(r)) { EXPECT_TRUE(std::isnan(y[i])) << x[i]; continue; }
    EXPECT_LE(ulp_distance(y[i], r), 2) << "exp(" << x[i] << ") = " << y[i] << ", expected " << r;
  }
}

TEST(CpuMath, SigmoidKernelMatchesReference) {
  std::vector<float> x = wide_inputs();
  std::vector<float> y = from_vector(x).sigmoid().to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) {
    const float r = ref_sigmoid(x[i]);
    if (std::isnan(r)) { EXPECT_TRUE(std::isnan(y[i])) << x[i]; continue; }
    if (r < std::numeric_limits<float>::min()) {
      // x < -87.3: the formula 1 / (1 + e^-x) gives a subnormal or, once e^-x overflows
      // (x < -88.72), 0; PyTorch's float sigmoid does the same.
      EXPECT_LE(std::fabs(y[i] - r), std::numeric_limits<float>::min()) << x[i];
      continue;
    }
    // 1 / (1 + e) adds a rounding in the add and one in the divide on top of exp's.
    EXPECT_LE(ulp_distance(y[i], r), 4) << "sigmoid(" << x[i] << ") = " << y[i] << ", expected " << r;
  }
  EXPECT_EQ(from_vector(std::vector<float>{-kInf}).sigmoid().item<float>(), 0.0f);
  EXPECT_EQ(from_vector(std::vector<float>{kInf}).sigmoid().item<float>(), 1.0f);
  EXPECT_EQ(from_vector(std::vector<float>{-200.0f}).sigmoid().item<float>(), 0.0f);
}

TEST(CpuMath, SoftmaxRowsMatchReference) {
  // Rows of several widths (vector loop + tail), with large and -inf logits.
  for (int64_t cols : {1, 7, 10, 33, 1000}) {
    const int64_t rows = 70;  // 70 * 1000 crosses the OpenMP threshold
    std::vector<float> x(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 2001) * 0.05f - 50.0f;
    x[0] = 1000.0f;                         // a huge logit: row 0 must be one-hot, not NaN
    if (cols > 1) x[static_cast<size_t>(cols) + 1] = -kInf;  // -inf in row 1 gets probability 0
    Tensor t = from_vector(x, {rows, cols});
    std::vector<float> y = softmax(t, 1).to_vector<float>(), ly = log_softmax(t, 1).to_vector<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * cols;
      // The kernel works on d = x - max(x) rounded to float (as PyTorch's does); the
      // reference takes the same d and does the rest in double.
      float m = -kInf;
      for (int64_t c = 0; c < cols; ++c) m = std::max(m, xr[c]);
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += std::exp(static_cast<double>(xr[c] - m));
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(xr[c] - m);
        const double p = std::exp(d) / s, lp = d - std::log(s);
        const size_t i = static_cast<size_t>(r * cols + c);
        EXPECT_NEAR(y[i], p, 2e-6 * p + 1e-44) << "softmax row " << r << " col " << c << " of " << cols;
        if (std::isinf(lp)) EXPECT_EQ(ly[i], static_cast<float>(lp));
        else EXPECT_NEAR(ly[i], lp, 1e-5 * std::max(1.0, std::fabs(lp))) << "log_softmax row " << r << " col " << c;
      }
    }
  }
}

TEST(CpuMath, SoftmaxPropagatesNaN) {
  std::vector<float> y = softmax(from_vector(std::vector<float>{1.0f, kNaN, 2.0f}, {1, 3}), 1).to_vector<float>();
  for (float v : y) EXPECT_TRUE(std::isnan(v));
}

// --- sum ------------------------------------------------------------------------------
TEST(CpuMath, LongSumIsAccurateAndThreadCountIndependent) {
  const int64_t n = (int64_t{1} << 22) + 12345;  // several parallel chunks and a tail
  std::vector<float> x(static_cast<size_t>(n));
  double ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] = 0.1f + static_cast<float>(i % 1000) * 1e-3f;
    ref += x[static_cast<size_t>(i)];
  }
  Tensor t = from_vector(x);
  float one, two;
  {
    ThreadCount tc(1);
    one = t.sum().item<float>();
  }
  {
    ThreadCount tc(2);
    two = t.sum().item<float>();
  }
  EXPECT_EQ(one, two);  // fixed chunking: the same bits whatever the thread count
  EXPECT_NEAR(one, ref, 1e-6 * ref);
  EXPECT_NEAR(t.mean().item<float>(), ref / static_cast<double>(n), 1e-6 * ref / static_cast<double>(n));
  // Integer sums stay exact.
  Tensor ints = arange(static_cast<double>(n), DType::i64);
  EXPECT_EQ(ints.sum().item<int64_t>(), n * (n - 1) / 2);
}

// --- GEMM -----------------------------------------------------------------------------------
namespace {
// C = op(A) @ op(B) in double, A/B given row-major as stored.
std::vector<double> ref_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t m, int64_t n,
                               int64_t k, bool ta, bool tb) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += static_cast<double>(ta ? a[p * m + i] : a[i * k + p]) * static_cast<double>(tb ? b[j * k + p] : b[p * n + j]);
      c[static_cast<size_t>(i * n + j)] = s;
    }
  return c;
}
std::vector<float> ramp(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>((i * 37) % 101 - 50) * scale;
  return v;
}
}  // namespace

TEST(CpuMath, GemmMatchesReference) {
  struct Case { int64_t m, n, k; bool ta, tb; };
  // MLP shapes, a tall C, odd sizes, transposes.
  const Case cases[] = {{64, 100, 784, false, true}, {64, 784, 100, false, false}, {100, 784, 64, true, false},
                        {300, 40, 200, false, false}, {67, 131, 245, true, true}, {257, 17, 300, false, true}};
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);  // the GEMM is OpenBLAS's; the copies and views around it are Ember's
    for (const Case& c : cases) {
      std::vector<float> av = ramp(c.m * c.k, 0.01f), bv = ramp(c.k * c.n, 0.02f);
      Tensor A = c.ta ? from_vector(av, {c.k, c.m}).t() : from_vector(av, {c.m, c.k});
      Tensor B = c.tb ? from_vector(bv, {c.n, c.k}).t() : from_vector(bv, {c.k, c.n});
      std::vector<float> got = matmul(A, B).contiguous().to_vector<float>();
      std::vector<double> ref = ref_matmul(av, bv, c.m, c.n, c.k, c.ta, c.tb);
      ASSERT_EQ(got.size(), ref.size());
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref[i]));
      EXPECT_LT(worst, 1e-4 * static_cast<double>(c.k))
          << threads << " threads, " << c.m << "x" << c.k << " @ " << c.k << "x" << c.n << " ta=" << c.ta << " tb=" << c.tb;
    }
  }
}

TEST(CpuMath, BatchedGemmAndLinearBias) {
  ThreadCount tc(2);
  // Batched: one OpenBLAS call per matrix.
  const int64_t B = 5, m = 33, k = 70, n = 50;
  std::vector<float> av = ramp(B * m * k, 0.01f), bv = ramp(B * k * n, 0.02f);
  std::vector<float> got = matmul(from_vector(av, {B, m, k}), from_vector(bv, {B, k, n})).to_vector<float>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<float> ab(av.begin() + b * m * k, av.begin() + (b + 1) * m * k);
    std::vector<float> bb(bv.begin() + b * k * n, bv.begin() + (b + 1) * k * n);
    std::vector<double> ref = ref_matmul(ab, bb, m, n, k, false, false);
    for (int64_t i = 0; i < m * n; ++i)
      ASSERT_NEAR(got[static_cast<size_t>(b * m * n + i)], ref[static_cast<size_t>(i)], 1e-3) << "batch " << b;
  }
  // linear accumulates into a bias-filled output (beta = 1).
  std::vector<float> xv = ramp(64 * 784, 0.01f), wv = ramp(100 * 784, 0.02f), bias = ramp(100, 0.5f);
  std::vector<float> y = linear(from_vector(xv, {64, 784}), from_vector(wv, {100, 784}), from_vector(bias)).to_vector<float>();
  std::vector<double> ref = ref_matmul(xv, wv, 64, 100, 784, false, true);
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 100; ++j)
      ASSERT_NEAR(y[static_cast<size_t>(i * 100 + j)], ref[static_cast<size_t>(i * 100 + j)] + bias[static_cast<size_t>(j)], 1e-3)
          << i << ", " << j;
}

// --- the large-block cache of the CPU allocator ------------------------------------------
TEST(CpuMath, ReusedLargeBlocksAreNeverShared) {
  const int64_t n = int64_t{1} << 20;  // 4 MiB: cached on free
  { Tensor a = full({n}, 7.0); }
  // The freed block may come back, dirty: zeros() and ones() must still fill it.
  Tensor z = zeros({n});
  Tensor o = ones({n});
  EXPECT_NE(z.raw_data(), o.raw_data());
  EXPECT_EQ(z.sum().item<double>(), 0.0);
  EXPECT_EQ(o.sum().item<double>(), static_cast<double>(n));
  // Many live blocks of mixed sizes: all distinct, all keep their values.
  std::vector<Tensor> live;
  for (int i = 0; i < 12; ++i) live.push_back(full({n + 1000 * (i % 3)}, static_cast<double>(i)));
  for (int i = 0; i < 12; ++i) {
    for (int j = 0; j < i; ++j) EXPECT_NE(live[static_cast<size_t>(i)].raw_data(), live[static_cast<size_t>(j)].raw_data());
    EXPECT_EQ(live[static_cast<size_t>(i)].max().item<double>(), static_cast<double>(i));
    EXPECT_EQ(live[static_cast<size_t>(i)].min().item<double>(), static_cast<double>(i));
  }
  live.clear();  // more than fits under a small cap gets freed; nothing crashes or leaks
  for (int i = 0; i < 40; ++i) EXPECT_EQ(full({n + 70000 * i}, 1.0).sum().item<double>(), static_cast<double>(n + 70000 * i));
}
