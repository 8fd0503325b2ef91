// Exercise 9: conv2d by im2col (nn::functional::im2col and conv2d_im2col in nn/Conv.cpp).
#include "ex_helpers.h"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
// The definition, as loops: y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o,c,i,j] x[n, c, oh*s + i - p, ow*s + j - p].
Tensor conv2d_loops(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t O = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3];
  const int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
  std::vector<double> xv = x.to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> wv = w.to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> bv = b.defined() ? b.to(DType::f64).to_vector<double>() : std::vector<double>(O, 0.0);
  std::vector<double> y(static_cast<size_t>(N * O * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bv[static_cast<size_t>(o)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t h = oh * s + i - p, ww = ow * s + j - p;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                acc += wv[static_cast<size_t>(((o * C + c) * KH + i) * KW + j)] *
                       xv[static_cast<size_t>(((n * C + c) * H + h) * W + ww)];
              }
          y[static_cast<size_t>(((n * O + o) * OH + oh) * OW + ow)] = acc;
        }
  return from_vector(y, {N, O, OH, OW});
}
}  // namespace

TEST(Ex9_Conv2dIm2col, Im2colOfATinyImage) {
  // One 3x3 image 0..8, 2x2 kernel, stride 1: 4 output positions, 4 rows (one per kernel weight).
  Tensor x = arange(9.0).reshape({1, 1, 3, 3});
  Tensor cols = F::im2col(x, 2, 2);
  ASSERT_EQ(cols.shape(), (Shape{1, 4, 4}));
  EXPECT_EQ(ex::values(cols), (std::vector<float>{0, 1, 3, 4,    // weight (0, 0) at positions (0,0) (0,1) (1,0) (1,1)
                                                  1, 2, 4, 5,    // weight (0, 1)
                                                  3, 4, 6, 7,    // weight (1, 0)
                                                  4, 5, 7, 8})); // weight (1, 1)
}

TEST(Ex9_Conv2dIm2col, Im2colWithPaddingAndStride) {
  Tensor x = arange(1.0, 5.0).reshape({1, 1, 2, 2});  // [[1, 2], [3, 4]]
  Tensor cols = F::im2col(x, 2, 2, {/*stride=*/2, /*padding=*/1});
  ASSERT_EQ(cols.shape(), (Shape{1, 4, 4}));  // padded 4x4, stride 2 -> 2x2 outputs
  EXPECT_EQ(ex::values(cols), (std::vector<float>{0, 0, 0, 4, 0, 0, 3, 0, 0, 2, 0, 0, 1, 0, 0, 0}));
}

TEST(Ex9_Conv2dIm2col, Conv2dMatchesTheLoops) {
  manual_seed(3);
  for (auto [s, p] : {std::pair<int64_t, int64_t>{1, 0}, {1, 1}, {2, 1}, {2, 0}}) {
    Tensor x = randn({2, 3, 5, 6}), w = randn({4, 3, 3, 2}), b = randn({4});
    Tensor y = F::conv2d_im2col(x, w, b, {s, p});
    EXPECT_TRUE(ex::all_close(y, conv2d_loops(x, w, b, s, p).to(DType::f32), 1e-4, 1e-4))
        << "stride " << s << ", padding " << p;
  }
  Tensor x = randn({1, 2, 4, 4}), w = randn({3, 2, 3, 3});
  EXPECT_TRUE(ex::all_close(F::conv2d_im2col(x, w), conv2d_loops(x, w, Tensor(), 1, 0).to(DType::f32), 1e-4, 1e-4))
      << "without bias";
}

TEST(Ex9_Conv2dIm2col, Gradcheck) {
  auto r = gradcheck([](const TensorList& in) { return F::conv2d_im2col(in[0], in[1], in[2], {2, 1}); },
                     {randn({2, 2, 4, 5}), randn({3, 2, 3, 3}), randn({3})});
  EXPECT_TRUE(r.ok) << r.message;
}
