// tests/tensor/test_tensor.cpp: layout, views, factories, random, conversion,
// printing, forward values of non-elementwise ops, and error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "ember/ember.h"
#include "ember/tensor/Raw.h"

using namespace ember;

namespace {
template <class T>
std::vector<T> V(const Tensor& t) { return t.to_vector<T>(); }

// Runs f, expects an ember::Error whose message contains every part.
template <class F>
void expect_error(F f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "expected ember::Error";
  } catch (const Error& e) {
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}
}  // namespace

// --- layout -------------------------------------------------------------------
TEST(Layout, ContiguousStrides) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
}

TEST(Views, TransposeSwapsStridesWithoutCopy) {
  Tensor t = arange(6).reshape({2, 3});
  Tensor u = t.t();
  EXPECT_EQ(u.shape(), (Shape{3, 2}));
  EXPECT_EQ(u.strides(), (Shape{1, 3}));
  EXPECT_EQ(u.raw_data(), t.raw_data());
  EXPECT_FALSE(u.is_contiguous());
  EXPECT_EQ(V<float>(u.contiguous()), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Views, WriteThroughViewIsVisibleInBase) {
  Tensor t = zeros({3, 4});
  t.narrow(0, 1, 1).fill_(7);
  t.select(1, 3).fill_(1);
  std::vector<float> v = V<float>(t);
  EXPECT_EQ(v[4], 7);
  EXPECT_EQ(v[6], 7);
  EXPECT_EQ(v[3], 1);
  EXPECT_EQ(v[7], 1);
  EXPECT_EQ(v[11], 1);
  EXPECT_EQ(v[0], 0);
}

TEST(Views, ReshapeOfContiguousSharesStorage) {
  Tensor t = arange(12);
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  r.select(0, 2).fill_(-1);
  EXPECT_EQ(V<float>(t)[8], -1);
}

TEST(Views, SliceWithStepAndOffset) {
  Tensor t = arange(10);
  Tensor s = t.slice(0, 1, 8, 3);  // 1, 4, 7
  EXPECT_EQ(s.offset(), 1);
  EXPECT_EQ(s.strides(), (Shape{3}));
  EXPECT_EQ(V<float>(s), (std::vector<float>{1, 4, 7}));
}

TEST(Views, ExpandUsesStrideZero) {
  Tensor t = from_vector<float>({1, 2, 3}).reshape({3, 1});
  Tensor e = t.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(V<float>(e.sum({0, 2})), (std::vector<float>{8, 16, 24}));
}

TEST(Views, PermuteSqueezeUnsqueezeFlatten) {
  Tensor t = zeros({2, 1, 3});
  EXPECT_EQ(t.permute({2, 0, 1}).shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(t.squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(t.squeeze(1).unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(t.flatten().shape(), (Shape{6}));
}

TEST(Views, ViewOfNonContiguousIsAnError) {
  expect_error([] { zeros({2, 3}).t().view({6}); }, {"view", "[3, 2]", "contiguous"});
}

// --- broadcasting ----------------------------------------------------------------
TEST(Broadcast, Shapes) {
  EXPECT_EQ(broadcast_shapes({3, 1}, {4}), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {5}), (Shape{5}));
  expect_error([] { broadcast_shapes({3, 4}, {5}, "add"); }, {"add", "[3, 4]", "[5]"});
}

TEST(Broadcast, AddRowAndColumn) {
  Tensor a = from_vector<float>({1, 2, 3}).reshape({3, 1});
  Tensor b = from_vector<float>({10, 20});
  EXPECT_EQ(V<float>(a + b), (std::vector<float>{11, 21, 12, 22, 13, 23}));
}

TEST(Broadcast, MismatchErrorNamesOpAndShapes) {
  expect_error([] { ones({3, 4}) + ones({5}); }, {"add: cannot broadcast [3, 4] with [5]"});
}

// --- factories and random ------------------------------------------------------------
TEST(Factories, Basics) {
  EXPECT_EQ(V<float>(full({2}, 3.5)), (std::vector<float>{3.5, 3.5}));
  EXPECT_EQ(V<int64_t>(arange(2, 8, 2, DType::i64)), (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(ones({2, 2}, DType::u8).dtype(), DType::u8);
  EXPECT_EQ(scalar_tensor(2).dim(), 0);
  std::vector<float> buf{1, 2, 3, 4};
  Tensor b = from_blob(buf.data(), {2, 2}, DType::f32);
  buf[3] = 9;
  EXPECT_EQ(V<float>(b), (std::vector<float>{1, 2, 3, 9}));  // shares the caller's memory
}

TEST(Random, SameSeedSameNumbers) {
  manual_seed(7);
  Tensor a = randn({1000});
  Tensor u = rand({5});
  manual_seed(7);
  Tensor b = randn({1000});
  EXPECT_EQ(V<float>(a), V<float>(b));
  EXPECT_EQ(V<float>(u), V<float>(rand({5})));  // the same stream position
  EXPECT_NE(V<float>(u), V<float>(rand({5})));  // the stream moves on
  double mean = a.mean().item(), var = (a * a).mean().item() - mean * mean;
  EXPECT_NEAR(mean, 0, 0.1);
  EXPECT_NEAR(var, 1, 0.15);
}

TEST(Random, UniformRangeAndRandint) {
  manual_seed(1);
  std::vector<float> u = V<float>(uniform({10000}, -1, 3));
  EXPECT_GE(*std::min_element(u.begin(), u.end()), -1);
  EXPECT_LT(*std::max_element(u.begin(), u.end()), 3);
  std::vector<int64_t> r = V<int64_t>(randint(3, 7, {1000}));
  EXPECT_EQ(*std::min_element(r.begin(), r.end()), 3);
  EXPECT_EQ(*std::max_element(r.begin(), r.end()), 6);
}

TEST(Random, RandpermIsAPermutation) {
  manual_seed(3);
  std::vector<int64_t> p = V<int64_t>(randperm(100));
  std::vector<int64_t> s = p;
  std::sort(s.begin(), s.end());
  std::vector<int64_t> want(100);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(s, want);
  EXPECT_NE(p, want);
}

// --- conversion and printing ------------------------------------------------------------
TEST(Conversion, DtypeAndItem) {
  Tensor t = from_vector<float>({1.7f, -2.2f});
  EXPECT_EQ(V<int64_t>(t.to(DType::i64)), (std::vector<int64_t>{1, -2}));
  EXPECT_DOUBLE_EQ(t.sum().item(), static_cast<double>(1.7f) + static_cast<double>(-2.2f));
  expect_error([&] { t.item(); }, {"item", "[2]"});
}

TEST(Printing, LooksLikePyTorch) {
  EXPECT_EQ(from_vector<float>({1, 2}).str(), "tensor([1., 2.])");
  EXPECT_EQ(from_vector<float>({0.5f, -1.25f}).str(), "tensor([ 0.5000, -1.2500])");
  EXPECT_EQ(from_vector<int64_t>({3, 4}).str(), "tensor([3, 4])");
  EXPECT_EQ(arange(4).reshape({2, 2}).str(), "tensor([[0., 1.],\n        [2., 3.]])");
  EXPECT_EQ(ones({1}).requires_grad_().str(), "tensor([1.], requires_grad=True)");
}

// --- forward values of reductions, matmul, softmax, indexing ------------------------------
TEST(Reduce, SumMeanMaxMinOverDims) {
  Tensor t = arange(6).reshape({2, 3});
  EXPECT_EQ(V<float>(t.sum({0})), (std::vector<float>{3, 5, 7}));
  EXPECT_EQ(V<float>(t.sum({1}, true)), (std::vector<float>{3, 12}));
  EXPECT_EQ(t.sum({1}, true).shape(), (Shape{2, 1}));
  EXPECT_FLOAT_EQ(t.mean().item<float>(), 2.5f);
  EXPECT_EQ(V<float>(t.max({0})), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(V<float>(t.min({1})), (std::vector<float>{0, 3}));
  EXPECT_EQ(V<float>(t.t().sum({1})), (std::vector<float>{3, 5, 7}));  // strided input
  EXPECT_NEAR(t.logsumexp({1}).to_vector<float>()[0], std::log(1 + std::exp(1.) + std::exp(2.)), 1e-5);
}

TEST(Reduce, LargeSumIsAccurate) {
  Tensor t = ones({1 << 22});
  EXPECT_FLOAT_EQ(t.sum().item<float>(), static_cast<float>(1 << 22));
  Tensor m = ones({3000, 500});
  EXPECT_EQ(V<float>(m.sum({0}))[7], 3000);
}

TEST(Reduce, ArgmaxArgmin) {
  Tensor t = from_vector<float>({1, 5, 2, 7, 0, 3}, {2, 3});
  EXPECT_EQ(V<int64_t>(t.argmax(1)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(V<int64_t>(t.argmin(0)), (std::vector<int64_t>{0, 1, 0}));
}

TEST(Linalg, MatmulValues) {
  Tensor a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  EXPECT_EQ(V<float>(matmul(a, b)), (std::vector<float>{4, 5, 10, 11}));
  EXPECT_EQ(V<float>(matmul(a, a.t())), (std::vector<float>{14, 32, 32, 77}));
  Tensor w = from_vector<float>({1, 1, 1, 0, 0, 1}, {2, 3});
  EXPECT_EQ(V<float>(linear(a, w, from_vector<float>({10, 20}))), (std::vector<float>{16, 23, 25, 26}));
}

TEST(Linalg, MatmulInnerDimErrorNamesShapes) {
  expect_error([] { matmul(ones({64, 784}), ones({100, 10})); },
               {"matmul: [64, 784] @ [100, 10]: inner dims 784 != 100"});
  expect_error([] { linear(ones({2, 5}), ones({3, 4})); }, {"linear", "[2, 5]", "[3, 4]"});
}

TEST(Softmax, RowsSumToOneAndAreStable) {
  Tensor x = from_vector<float>({1000, 1001, 1002, -5, 0, 5}, {2, 3});
  std::vector<float> s = V<float>(softmax(x, 1));
  EXPECT_NEAR(s[0] + s[1] + s[2], 1, 1e-6);
  EXPECT_NEAR(s[2], 1 / (1 + std::exp(-1.) + std::exp(-2.)), 1e-6);
  std::vector<float> l = V<float>(log_softmax(x, 1));
  EXPECT_TRUE(std::isfinite(l[0]));
}

TEST(Index, GatherSelectOneHotTopk) {
  Tensor x = from_vector<float>({10, 11, 12, 20, 21, 22}, {2, 3});
  EXPECT_EQ(V<float>(index_select(x, 1, from_vector<int64_t>({2, 0}))), (std::vector<float>{12, 10, 22, 20}));
  EXPECT_EQ(V<float>(gather(x, 1, from_vector<int64_t>({1, 2}, {2, 1}))), (std::vector<float>{11, 22}));
  EXPECT_EQ(V<float>(one_hot(from_vector<int64_t>({2, 0}), 3)), (std::vector<float>{0, 0, 1, 1, 0, 0}));
  auto [v, i] = topk(x, 2, 1);
  EXPECT_EQ(V<float>(v), (std::vector<float>{12, 11, 22, 21}));
  EXPECT_EQ(V<int64_t>(i), (std::vector<int64_t>{2, 1, 2, 1}));
  auto [v0, i0] = topk(x, 1, 0, /*largest=*/false);
  EXPECT_EQ(V<float>(v0), (std::vector<float>{10, 11, 12}));
  expect_error([&] { gather(x, 1, from_vector<int64_t>({3, 0}, {2, 1})); }, {"gather", "index 3", "size 3"});
  expect_error([] { one_hot(from_vector<int64_t>({5}), 3); }, {"one_hot", "[0, 3)", "5"});
}

TEST(Index, WhereMaskedFillCatStack) {
  Tensor x = from_vector<float>({1, -2, 3, -4});
  EXPECT_EQ(V<float>(masked_fill(x, lt(x, zeros({})), 0)), (std::vector<float>{1, 0, 3, 0}));
  EXPECT_EQ(V<float>(where(gt(x, zeros({})), x, full({}, 9))), (std::vector<float>{1, 9, 3, 9}));
  Tensor a = ones({2, 2}), b = zeros({1, 2});
  EXPECT_EQ(cat({a, b}).shape(), (Shape{3, 2}));
  EXPECT_EQ(stack({a, a}, 2).shape(), (Shape{2, 2, 2}));
  expect_error([&] { cat({a, ones({2, 3})}); }, {"cat", "[2, 3]", "[2, 2]"});
}

// Float to integer: truncation toward zero, saturated at the integer type's limits, NaN to 0
// (math::convert; the CUDA backend does the same, tests/cuda/test_cuda.cpp).
TEST(Dtypes, FloatToIntegerCastsSaturate) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = from_vector<double>({std::nan(""), inf, -inf, 1e30, -3.7, 300.7, 2.5});
  EXPECT_EQ(x.to(DType::i64).to_vector<int64_t>(),
            (std::vector<int64_t>{0, INT64_MAX, INT64_MIN, INT64_MAX, -3, 300, 2}));
  EXPECT_EQ(x.to(DType::f32).to(DType::u8).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 255, 0, 255, 0, 255, 2}));
  EXPECT_EQ(full({2}, -1e300, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{INT64_MIN, INT64_MIN}));
}

TEST(Errors, IntegerDivisionByZero) {
  const Tensor a = from_vector<int64_t>({6, -7});
  expect_error([&] { a / from_vector<int64_t>({2, 0}); }, {"div: integer division by zero", "[2]", "1 zero)"});
  EXPECT_EQ((a / from_vector<int64_t>({4, 2})).to_vector<int64_t>(), (std::vector<int64_t>{1, -3}));
  EXPECT_TRUE(std::isinf((from_vector<float>({1}) / from_vector<float>({0})).item())) << "floats divide by 0 as IEEE";
}

// NaN propagation, for every binary kernel of tensor/ElementwiseOps.def with a NaN on either
// side (and both): what PyTorch 1.13 gives (tests/golden has the PyTorch-made rows for
// maximum, minimum and xlogy with NaN). Comparisons are IEEE's; the backward helpers follow
// PyTorch's formulas (relu passes the grad of a NaN input, abs and clamp give it 0).
TEST(NanPropagation, EveryBinaryOpOnEitherSide) {
  const double nan = std::nan(""), v = 1.5;
  struct Want {
    double left, right, both;  // op(NaN, v), op(v, NaN), op(NaN, NaN); a NaN here means NaN
  };
  auto want_of = [&](BinaryOp op) -> Want {
    switch (op) {
      case BinaryOp::Eq: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge:
        return {0, 0, 0};
      case BinaryOp::Ne: return {1, 1, 1};
      case BinaryOp::ReluBackward: return {v, nan, nan};  // (x, grad)
      case BinaryOp::AbsBackward: return {0, nan, 0};
      case BinaryOp::ClampBackward: return {0, nan, 0};
      default: return {nan, nan, nan};
    }
  };
  auto same = [](double got, double want) { return std::isnan(want) ? std::isnan(got) : got == want; };
  const std::vector<BinaryOp> ops = {
#define EMBER_BINARY(Name, expr) BinaryOp::Name,
#define EMBER_BINARY_FLOAT(Name, expr) BinaryOp::Name,
#include "ember/tensor/ElementwiseOps.def"
  };
  for (DType t : {DType::f32, DType::f64})
    for (BinaryOp op : ops) {
      const double p0 = op == BinaryOp::ClampBackward ? -2 : 2, p1 = 2;
      const Tensor a = from_vector<double>({nan, v, nan}).to(t), b = from_vector<double>({v, nan, nan}).to(t);
      const std::vector<double> got = raw::binary(op, a, b, p0, p1).to(DType::f64).to_vector<double>();
      const Want w = want_of(op);
      EXPECT_TRUE(same(got[0], w.left)) << op_name(op) << "(NaN, " << v << ") = " << got[0] << " " << dtype_name(t);
      EXPECT_TRUE(same(got[1], w.right)) << op_name(op) << "(" << v << ", NaN) = " << got[1] << " " << dtype_name(t);
      EXPECT_TRUE(same(got[2], w.both)) << op_name(op) << "(NaN, NaN) = " << got[2] << " " << dtype_name(t);
    }
}

TEST(Errors, DtypeAndDeviceMessages) {
  expect_error([] { ones({2}) + ones({2}, DType::i64); }, {"dtype mismatch", "f32", "i64"});
  expect_error([] { Device::parse("gpu0"); }, {"gpu0"});
  if (cuda::device_count() == 0)
    expect_error([] { ones({2}, Device::cuda(0)); }, {"cuda:0"});
}

TEST(Losses, HandComputedValues) {
  Tensor logits = from_vector<float>({0, 0, 0, 0}, {2, 2});
  EXPECT_NEAR(cross_entropy(logits, from_vector<int64_t>({0, 1})).item(), std::log(2.0), 1e-6);
  Tensor p = from_vector<float>({0.5f, 1.5f});
  EXPECT_NEAR(l1_loss(p, from_vector<float>({1, 1})).item(), 0.5, 1e-6);
  EXPECT_NEAR(mse_loss(p, from_vector<float>({1, 1})).item(), 0.25, 1e-6);
  EXPECT_NEAR(bce_with_logits(zeros({2}), from_vector<float>({1, 0})).item(), std::log(2.0), 1e-6);
  CrossEntropyOptions o;
  o.ignore_index = 1;
  EXPECT_NEAR(cross_entropy(from_vector<float>({0, 0, 5, 0}, {2, 2}), from_vector<int64_t>({0, 1}), o).item(),
              std::log(2.0), 1e-6);
  expect_error([] { cross_entropy(zeros({2, 3}), from_vector<int64_t>({0, 3})); }, {"nll_loss", "[0, 3)"});
  expect_error([] { l1_loss(zeros({2, 3}), zeros({3, 2})); }, {"l1_loss", "[2, 3]", "[3, 2]"});
}
