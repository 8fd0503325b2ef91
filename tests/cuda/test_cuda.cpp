// tests/cuda/test_cuda.cpp: the CUDA backend against the CPU backend (ctest -L cuda).
//
// Every test first checks for a GPU and skips without one, so this suite builds and
// passes (as skips) on machines with nvcc but no GPU. docs/gpu.md and
// scripts/gpu-check say how to run it on a GPU machine.
//
// The pattern (ggml's test-backend-ops): run the same function on the CPU and on
// cuda:0 from the same inputs, then compare the output and, through .backward(),
// every input's grad. Tolerances (|cuda - cpu| <= atol + rtol * |cpu|):
//   f32 elementwise, reductions, softmax, losses   atol 1e-5, rtol 1e-4
//     (GPU libm is within 2 ulp of glibc; sums add in another order)
//   f32 matmul / linear                            atol 1e-4, rtol 1e-4 (cuBLAS vs
//     OpenBLAS, k <= 128; with TF32 matmul (EMBER_TF32=1) atol/rtol 2e-2)
//   f64 everything                                 atol 1e-12, rtol 1e-10
//   big f32 sums (2M elements)                     rtol 2e-3; big f64 sums rtol 1e-10
//   index results, argmax, copies, casts, rand()   exact
//   randn, uniform(lo, hi)                         2 f32 ulps (GPU and CPU libm differ
//     in the last bits of log/cos; FMA contraction may differ)
//   training loop losses (20 SGD steps)            rtol 1e-4
#include <cuda_runtime.h>  // cudaGetDevice/cudaSetDevice: the caller's current device
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/ember.h"
#include "op_cases.h"
#include "ember/tensor/Backend.h"
#include "ember/tensor/Raw.h"

using namespace ember;

#ifdef EMBER_CUDA_SIM
namespace cudasim {
uint64_t device_to_host_syncs();  // tests/cudasim/cudasim.h: each synchronous read from the device
}
#endif

// Every test starts with this: skip without a GPU (or without a driver).
#define REQUIRE_CUDA()                                                                        \
  if (ember::cuda::device_count() == 0)                                                       \
  GTEST_SKIP() << "no CUDA device: this machine has no GPU or no driver (see docs/gpu.md)"

namespace {

const Device kGpu = Device::cuda(0);
const Device kCpu = Device::cpu();

struct Tol {
  double atol, rtol;
};
const Tol kF32{1e-5, 1e-4};
const Tol kF64{1e-12, 1e-10};
bool tf32_on() { return cuda::settings().tf32_matmul; }  // off unless EMBER_TF32=1 (cuda/Cuda.h)
Tol mm_tol(DType t) {
  if (t == DType::f64) return kF64;
  return tf32_on() ? Tol{2e-2, 2e-2} : Tol{1e-4, 1e-4};
}
Tol tol_for(DType t) { return t == DType::f64 ? kF64 : kF32; }

// got (any device) vs want (cpu): same shape and dtype, values within tolerance.
void expect_close(const Tensor& got, const Tensor& want, Tol tol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": cuda result undefined";
  ASSERT_TRUE(want.defined()) << what << ": cpu result undefined";
  ASSERT_EQ(got.shape(), want.shape()) << what << ": shape " << fmt(got.shape()) << " vs " << fmt(want.shape());
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  size_t bad = 0, worst = 0;
  double worst_err = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    double err;
    if (std::isnan(g[i]) || std::isnan(w[i])) err = std::isnan(g[i]) && std::isnan(w[i]) ? 0 : INFINITY;
    else if (g[i] == w[i]) err = 0;  // equal infinities too
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

void expect_equal(const Tensor& got, const Tensor& want, const std::string& what) {
  expect_close(got, want, Tol{0, 0}, what);
}

// Bitwise equality of two f32 or f64 tensors.
void expect_bits_equal(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  Tensor g = got.cpu().contiguous(), w = want.cpu().contiguous();
  const size_t nbytes = static_cast<size_t>(g.numel()) * dtype_size(g.dtype());
  EXPECT_EQ(std::memcmp(g.raw_data(), w.raw_data(), nbytes), 0) << what << ": not bit-identical";
}

// ---------------------------------------------------------------------------
// Forward + backward of fn on one device. Inputs are cpu tensors; float inputs
// become leaves that require grad. Backward runs from sum(y * w).
struct Run {
  Tensor out;
  TensorList grads;
};
using Fn = std::function<Tensor(const TensorList&)>;

Run run_on(Device d, const Fn& fn, const TensorList& inputs, const Tensor& w) {
  TensorList xs;
  for (const Tensor& x : inputs) {
    Tensor t = x.to(d).detach();
    if (is_floating(t.dtype())) t.requires_grad_(true);
    xs.push_back(t);
  }
  Tensor y = fn(xs);
  Run r{y.detach(), {}};
  if (y.requires_grad() && w.defined()) {
    (y * w.to(d)).sum().backward();
    for (const Tensor& x : xs) r.grads.push_back(x.requires_grad() ? x.grad() : Tensor());
  }
  return r;
}

// CPU vs CUDA: output and every grad.
void check_parity(const std::string& name, const Fn& fn, const TensorList& inputs, Tol tol) {
  Run cpu = run_on(kCpu, fn, inputs, Tensor());
  Tensor w;
  if (cpu.out.defined() && is_floating(cpu.out.dtype())) {
    manual_seed(7);
    w = uniform(cpu.out.shape(), 0.5, 1.5, cpu.out.dtype());
  }
  cpu = run_on(kCpu, fn, inputs, w);
  Run gpu = run_on(kGpu, fn, inputs, w);
  ASSERT_TRUE(gpu.out.device() == kGpu) << name << ": result is on " << gpu.out.device().str();
  expect_close(gpu.out, cpu.out, tol, name + " forward");
  ASSERT_EQ(gpu.grads.size(), cpu.grads.size()) << name;
  for (size_t i = 0; i < cpu.grads.size(); ++i) {
    ASSERT_EQ(gpu.grads[i].defined(), cpu.grads[i].defined()) << name << " grad " << i;
    if (cpu.grads[i].defined()) {
      EXPECT_TRUE(gpu.grads[i].device() == kGpu) << name << " grad " << i;
      expect_close(gpu.grads[i], cpu.grads[i], tol, name + " grad of input " + std::to_string(i));
    }
  }
}

TensorList rand_inputs(std::vector<Shape> shapes, DType t, double lo = -2, double hi = 2, uint64_t seed = 1) {
  manual_seed(seed);
  TensorList xs;
  for (Shape& s : shapes) xs.push_back(uniform(std::move(s), lo, hi, t));
  return xs;
}

std::string what_of(const char* op, DType t, const std::string& layout) {
  return std::string(op) + " (" + dtype_name(t) + ", " + layout + ")";
}

// ---------------------------------------------------------------------------
// The op-case table (tests/op_cases.h): every row on CUDA vs CPU, f32 and f64.
class CudaOpTable : public ::testing::TestWithParam<ember::testing::OpCase> {};

TEST_P(CudaOpTable, MatchesCpu) {
  REQUIRE_CUDA();
  const ember::testing::OpCase& c = GetParam();
  for (DType t : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(t));
    TensorList in = ember::testing::make_inputs(c, t, kCpu);
    const bool is_mm = c.name.rfind("matmul", 0) == 0 || c.name.rfind("linear", 0) == 0;
    check_parity(c.name, c.fn, in, is_mm ? mm_tol(t) : tol_for(t));  // rows build index tensors on in[0]'s device
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaOpTable, ::testing::ValuesIn(ember::testing::op_cases()),
                         [](const ::testing::TestParamInfo<ember::testing::OpCase>& i) { return i.param.name; });

// ---------------------------------------------------------------------------
// Every line of tensor/ElementwiseOps.def, through raw kernels, contiguous and strided.
const std::vector<UnaryOp> kUnaryOps = {
#define EMBER_UNARY(Name, expr) UnaryOp::Name,
#include "ember/tensor/ElementwiseOps.def"
};
const std::vector<BinaryOp> kBinaryOps = {
#define EMBER_BINARY(Name, expr) BinaryOp::Name,
#define EMBER_BINARY_FLOAT(Name, expr) BinaryOp::Name,
#include "ember/tensor/ElementwiseOps.def"
};

bool positive_only(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Log1p || op == UnaryOp::Sqrt || op == UnaryOp::RDivScalar ||
         op == UnaryOp::PowScalar;
}

TEST(CudaElementwise, EveryUnaryOp) {
  REQUIRE_CUDA();
  for (UnaryOp op : kUnaryOps) {
    for (DType t : {DType::f32, DType::f64}) {
      const double lo = positive_only(op) ? 0.2 : -2, hi = 2;
      const double p0 = op == UnaryOp::Clamp ? -0.5 : 1.5, p1 = op == UnaryOp::Clamp ? 0.7 : 0;
      Tensor x = rand_inputs({{37, 53}}, t, lo, hi)[0];
      Tensor xg = x.to(kGpu);
      expect_close(raw::unary(op, xg, p0, p1), raw::unary(op, x, p0, p1), tol_for(t),
                   what_of(op_name(op), t, "contiguous"));
      // Transposed and sliced views run the N-d kernel.
      auto view = [](const Tensor& v) { return v.t().slice(0, 1, 53, 2); };
      expect_close(raw::unary(op, view(xg), p0, p1), raw::unary(op, view(x), p0, p1), tol_for(t),
                   what_of(op_name(op), t, "strided"));
    }
  }
}

TEST(CudaElementwise, EveryBinaryOpWithBroadcasting) {
  REQUIRE_CUDA();
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{33, 65}, {33, 65}}, {{33, 65}, {65}}, {{33, 65}, {33, 1}}, {{33, 65}, {}}, {{4, 1, 5}, {3, 1}}};
  for (BinaryOp op : kBinaryOps) {
    const double p0 = op == BinaryOp::ClampBackward ? 0.8 : 2.5, p1 = 1.5;
    std::vector<DType> types = {DType::f32, DType::f64};
    if (!binary_is_float_only(op)) types.push_back(DType::i64);
    for (DType t : types) {
      for (const auto& [sa, sb] : shapes) {
        Tensor a, b;
        if (t == DType::i64) {
          manual_seed(3);
          a = randint(-5, 6, sa);
          b = randint(1, 6, sb);  // no division by zero
        } else {
          TensorList in = rand_inputs({sa, sb}, t, 0.5, 2, 3);
          a = in[0];
          b = in[1];
          if (sa == sb) b = raw::where(lt(rand(sb), full({}, 0.3)), a, b);  // some ties for Eq, Max, ...
        }
        const std::string layout = fmt(sa) + " with " + fmt(sb);
        expect_close(raw::binary(op, a.to(kGpu), b.to(kGpu), p0, p1), raw::binary(op, a, b, p0, p1), tol_for(t),
                     what_of(op_name(op), t, layout));
      }
      if (t != DType::i64) {  // a transposed lhs
        TensorList in = rand_inputs({{40, 30}, {40}}, t, 0.5, 2, 4);
        expect_close(raw::binary(op, in[0].to(kGpu).t(), in[1].to(kGpu), p0, p1),
                     raw::binary(op, in[0].t(), in[1], p0, p1), tol_for(t), what_of(op_name(op), t, "transposed"));
      }
    }
  }
}

TEST(CudaElementwise, CopyCastEveryDtypePair) {
  REQUIRE_CUDA();
  manual_seed(5);
  Tensor base = randint(0, 200, {23, 41}).to(DType::f64);  // fits every dtype exactly
  for (DType from : {DType::f32, DType::f64, DType::i64, DType::u8}) {
    for (DType to : {DType::f32, DType::f64, DType::i64, DType::u8}) {
      Tensor src = base.to(from), src_g = src.to(kGpu);
      std::string what = std::string("copy ") + dtype_name(from) + " -> " + dtype_name(to);
      expect_equal(src_g.to(to), src.to(to), what);
      expect_equal(src_g.t().to(to), src.t().to(to), what + " transposed");
      Tensor dst_g = zeros({41, 23}, TensorOptions(to, kGpu)), dst = zeros({41, 23}, to);
      dst_g.copy_(src_g.t());
      dst.copy_(src.t());
      expect_equal(dst_g, dst, what + " into a buffer");
    }
  }
  // Host <-> device round trips of non-contiguous tensors.
  Tensor x = rand_inputs({{6, 7, 8}}, DType::f32)[0];
  expect_equal(x.permute({2, 0, 1}).to(kGpu).cpu(), x.permute({2, 0, 1}).contiguous(), "round trip");
  expect_equal(x.to(kGpu).permute({1, 2, 0}).cpu(), x.permute({1, 2, 0}), "device permute");
}

TEST(CudaElementwise, FillAndWhere) {
  REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::i64, DType::u8}) {
    Tensor c = zeros({9, 11}, t), g = zeros({9, 11}, TensorOptions(t, kGpu));
    c.fill_(3.0);
    g.fill_(3.0);
    Tensor cv = c.t().slice(0, 2, 11, 3), gv = g.t().slice(0, 2, 11, 3);
    cv.fill_(7.0);
    gv.fill_(7.0);
    expect_equal(g, c, std::string("fill ") + dtype_name(t));
  }
  manual_seed(9);
  Tensor mask = lt(rand({9, 11}), full({}, 0.5));  // f32 0/1
  for (DType ct : {DType::f32, DType::i64, DType::u8}) {
    for (DType t : {DType::f32, DType::f64, DType::i64, DType::u8}) {
      Tensor cond = mask.to(ct), a = randint(0, 100, {9, 11}).to(t), b = randint(0, 100, {11}).to(t);
      expect_equal(raw::where(cond.to(kGpu), a.to(kGpu), b.to(kGpu)), raw::where(cond, a, b),
                   std::string("where cond ") + dtype_name(ct) + " values " + dtype_name(t));
    }
  }
  Tensor x = rand_inputs({{5, 6}}, DType::f32)[0];
  Tensor m = gt(x, zeros_like(x));
  expect_equal(masked_fill(x.to(kGpu), m.to(kGpu), -9.0), masked_fill(x, m, -9.0), "masked_fill");
}

// ---------------------------------------------------------------------------
// Reductions: every dim subset of a 3-D tensor, strided inputs, and sizes that
// take each kernel (thread per output, block per output, two-pass chunks).
TEST(CudaReduce, EveryDimSubset) {
  REQUIRE_CUDA();
  const std::vector<Dims> subsets = {{}, {0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}, {-1}};
  for (DType t : {DType::f32, DType::f64, DType::i64}) {
    manual_seed(2);
    Tensor x = t == DType::i64 ? randint(-50, 50, {6, 7, 8}) : rand_inputs({{6, 7, 8}}, t)[0];
    for (bool permuted : {false, true}) {
      Tensor xc = permuted ? x.permute({2, 0, 1}) : x;
      Tensor xg = permuted ? x.to(kGpu).permute({2, 0, 1}) : x.to(kGpu);
      for (const Dims& d : subsets) {
        for (bool keep : {false, true}) {
          const std::string layout = "dims " + fmt(d) + (keep ? " keepdim" : "") + (permuted ? " permuted" : "");
          expect_close(xg.sum(d, keep), xc.sum(d, keep), tol_for(t), what_of("sum", t, layout));
          expect_equal(xg.max(d, keep), xc.max(d, keep), what_of("max", t, layout));
          expect_equal(xg.min(d, keep), xc.min(d, keep), what_of("min", t, layout));
          if (t != DType::i64) expect_close(xg.mean(d, keep), xc.mean(d, keep), tol_for(t), what_of("mean", t, layout));
        }
      }
    }
  }
}

TEST(CudaReduce, LargeShapesTakeEveryKernel) {
  REQUIRE_CUDA();
  struct Case {
    Shape shape;
    Dims dims;
  };
  const std::vector<Case> cases = {
      {{(1 << 21) + 3}, {}},   // one output, two-pass chunks
      {{4, 100000}, {1}},      // few outputs, long contiguous rows: chunks
      {{700, 300}, {1}},       // block per output
      {{300, 700}, {0}},       // columns: 32 neighbouring outputs a block, R in chunks, second pass
      {{2000, 45}, {0}},       // columns: a partial tile of outputs, many chunks
      {{40, 300, 6}, {1}},     // columns with two kept dims (not contiguous with each other)
      {{100, 3000}, {0}},      // thread per output: few rows, many outputs
      {{50, 40, 30}, {0, 2}},  // mixed
  };
  for (const Case& c : cases) {
    for (DType t : {DType::f32, DType::f64}) {
      Tensor x = rand_inputs({c.shape}, t, 0, 1)[0];
      Tensor xg = x.to(kGpu);
      Tol tol = t == DType::f64 ? kF64 : Tol{1e-5, 2e-3};
      const std::string layout = fmt(c.shape) + " dims " + fmt(c.dims);
      expect_close(xg.sum(c.dims), x.sum(c.dims), tol, what_of("sum", t, layout));
      expect_close(xg.mean(c.dims), x.mean(c.dims), tol, what_of("mean", t, layout));
      expect_equal(xg.max(c.dims), x.max(c.dims), what_of("max", t, layout));
      expect_equal(xg.min(c.dims), x.min(c.dims), what_of("min", t, layout));
    }
  }
}

TEST(CudaReduce, NanWinsMaxAndArgmaxTiesPickFirst) {
  REQUIRE_CUDA();
  Tensor x = rand_inputs({{4, 6}}, DType::f32)[0];
  std::vector<float> v = x.to_vector<float>();
  v[7] = std::numeric_limits<float>::quiet_NaN();
  x = from_vector(v, {4, 6});
  expect_equal(x.to(kGpu).max({1}), x.max({1}), "max with NaN");
  expect_equal(x.to(kGpu).min(), x.min(), "min with NaN");
  expect_equal(x.to(kGpu).argmax(1), x.argmax(1), "argmax with NaN");
  manual_seed(11);
  Tensor ties = randint(0, 4, {50, 40}).to(DType::f32);  // many equal values
  for (int64_t d : {0, 1}) {
    expect_equal(ties.to(kGpu).argmax(d), ties.argmax(d), "argmax dim " + std::to_string(d));
    expect_equal(ties.to(kGpu).argmin(d, true), ties.argmin(d, true), "argmin keepdim dim " + std::to_string(d));
    expect_equal(ties.to(kGpu).t().argmax(d), ties.t().argmax(d), "argmax transposed dim " + std::to_string(d));
  }
  Tensor xi = randint(-9, 9, {7, 5});
  expect_equal(xi.to(kGpu).argmax(1), xi.argmax(1), "argmax i64");
}

TEST(CudaReduce, LogsumexpAndBackward) {
  REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64}) {
    check_parity("logsumexp", [](const TensorList& in) { return in[0].logsumexp({1}); },
                 rand_inputs({{17, 300}}, t, -5, 5), tol_for(t));
    check_parity("mean over 0,2", [](const TensorList& in) { return in[0].mean({0, 2}); },
                 rand_inputs({{5, 6, 7}}, t), tol_for(t));
    check_parity("max over 1", [](const TensorList& in) { return in[0].max({1}); },
                 rand_inputs({{5, 60}}, t), tol_for(t));
  }
}

// ---------------------------------------------------------------------------
// matmul / linear through cuBLAS
TEST(CudaMatmul, ShapesLayoutsAndGrads) {
  REQUIRE_CUDA();
  using L = const TensorList&;
  struct Case {
    std::string name;
    std::vector<Shape> shapes;
    Fn fn;
  };
  const std::vector<Case> cases = {
      {"2d", {{64, 96}, {96, 80}}, [](L in) { return matmul(in[0], in[1]); }},
      {"a^T b", {{96, 64}, {96, 80}}, [](L in) { return matmul(in[0].t(), in[1]); }},
      {"a b^T", {{64, 96}, {80, 96}}, [](L in) { return matmul(in[0], in[1].t()); }},
      {"a^T b^T", {{96, 64}, {80, 96}}, [](L in) { return matmul(in[0].t(), in[1].t()); }},
      {"sliced lhs", {{64, 128}, {50, 80}}, [](L in) { return matmul(in[0].narrow(1, 10, 50), in[1]); }},
      {"batched", {{3, 16, 32}, {3, 32, 8}}, [](L in) { return matmul(in[0], in[1]); }},
      {"broadcast batch", {{2, 1, 5, 6}, {3, 6, 4}}, [](L in) { return matmul(in[0], in[1]); }},
      {"3d @ 2d", {{4, 7, 9}, {9, 5}}, [](L in) { return matmul(in[0], in[1]); }},
      {"vec @ mat", {{9}, {9, 5}}, [](L in) { return matmul(in[0], in[1]); }},
      {"mat @ vec", {{5, 9}, {9}}, [](L in) { return matmul(in[0], in[1]); }},
      {"outer dim 1", {{1, 9}, {9, 1}}, [](L in) { return matmul(in[0], in[1]); }},
      {"linear", {{32, 20}, {10, 20}, {10}}, [](L in) { return linear(in[0], in[1], in[2]); }},
      {"linear no bias", {{32, 20}, {10, 20}}, [](L in) { return linear(in[0], in[1]); }},
      {"linear 3d", {{2, 8, 20}, {1, 20}, {1}}, [](L in) { return linear(in[0], in[1], in[2]); }},
  };
  for (const Case& c : cases)
    for (DType t : {DType::f32, DType::f64}) check_parity(c.name + " " + dtype_name(t), c.fn, rand_inputs(c.shapes, t, -1, 1), mm_tol(t));
}

// ---------------------------------------------------------------------------
TEST(CudaSoftmax, RowsAndBackward) {
  REQUIRE_CUDA();
  const std::vector<Shape> shapes = {{37, 129}, {3, 5000}, {1000, 10}, {4, 1}, {2, 1024}, {2, 1025}};
  for (DType t : {DType::f32, DType::f64}) {
    for (const Shape& s : shapes) {
      for (int64_t dim : {0, 1}) {
        const std::string where = fmt(s) + " dim " + std::to_string(dim) + " " + dtype_name(t);
        check_parity("softmax " + where, [dim](const TensorList& in) { return softmax(in[0], dim); },
                     rand_inputs({s}, t, -6, 6), tol_for(t));
        check_parity("log_softmax " + where, [dim](const TensorList& in) { return log_softmax(in[0], dim); },
                     rand_inputs({s}, t, -6, 6), tol_for(t));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Losses, with their targets on the GPU.
TEST(CudaLoss, ForwardAndBackward) {
  REQUIRE_CUDA();
  using L = const TensorList&;
  for (DType t : {DType::f32, DType::f64}) {
    Tol tol = tol_for(t);
    Tensor labels = from_vector<int64_t>({1, 0, 4, 2, 3, 3, 0, 1});
    auto on = [](const Tensor& target, const Tensor& like) { return target.to(like.device()); };
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CrossEntropyOptions o;
      o.reduction = r;
      check_parity("cross_entropy", [&](L in) { return cross_entropy(in[0], on(labels, in[0]), o); },
                   rand_inputs({{8, 5}}, t), tol);
      o.label_smoothing = 0.1;
      o.ignore_index = 3;
      check_parity("cross_entropy smoothing+ignore", [&](L in) { return cross_entropy(in[0], on(labels, in[0]), o); },
                   rand_inputs({{8, 5}}, t), tol);
      check_parity("l1_loss", [r](L in) { return l1_loss(in[0], in[1], r); }, rand_inputs({{6, 7}, {6, 7}}, t), tol);
      check_parity("mse_loss", [r](L in) { return mse_loss(in[0], in[1], r); }, rand_inputs({{6, 7}, {6, 7}}, t), tol);
      check_parity("bce_with_logits", [r](L in) { return bce_with_logits(in[0], in[1].sigmoid(), r); },
                   rand_inputs({{6, 7}, {6, 7}}, t, -4, 4), tol);
      check_parity("nll_loss", [&](L in) { return nll_loss(log_softmax(in[0], 1), on(labels, in[0]), r); },
                   rand_inputs({{8, 5}}, t), tol);
    }
    check_parity("cross_entropy spatial",
                 [](L in) { return cross_entropy(in[0], from_vector<int64_t>({0, 4, 2, 1, 1, 3}, {2, 3}).to(in[0].device())); },
                 rand_inputs({{2, 5, 3}}, t), tol);
    check_parity("cross_entropy probs", [](L in) { return cross_entropy(in[0], softmax(in[1], 1)); },
                 rand_inputs({{8, 5}, {8, 5}}, t), tol);
    for (KLReduction r : {KLReduction::None, KLReduction::Mean, KLReduction::Sum, KLReduction::BatchMean})
      check_parity("kl_div", [r](L in) { return kl_div(log_softmax(in[0], 1), softmax(in[1], 1), r); },
                   rand_inputs({{6, 7}, {6, 7}}, t), tol);
  }
}

// ---------------------------------------------------------------------------
// Indexing
TEST(CudaIndex, GatherIndexSelectScatterCat) {
  REQUIRE_CUDA();
  using L = const TensorList&;
  Tensor idx = from_vector<int64_t>({0, 3, 1, 1, 2, 2, 4, 0, 0, 3, 3, 3}, {3, 4});
  Tensor rows = from_vector<int64_t>({3, 0, 3, 5, 1});
  for (DType t : {DType::f32, DType::f64}) {
    Tol tol = tol_for(t);
    check_parity("gather dim 1", [&](L in) { return gather(in[0], 1, idx.to(in[0].device())); },
                 rand_inputs({{3, 5}}, t), tol);
    check_parity("gather dim 0", [&](L in) { return gather(in[0], 0, idx.to(in[0].device())); },
                 rand_inputs({{5, 4}}, t), tol);
    check_parity("index_select", [&](L in) { return index_select(in[0], 0, rows.to(in[0].device())); },
                 rand_inputs({{6, 4}}, t), tol);
    check_parity("index_select dim 1", [&](L in) { return index_select(in[0], 1, rows.to(in[0].device())); },
                 rand_inputs({{2, 6, 3}}, t), tol);
    check_parity("scatter_add", [&](L in) { return scatter_add(in[0], 1, idx.to(in[0].device()), in[1]); },
                 rand_inputs({{3, 6}, {3, 4}}, t), tol);
    check_parity("cat dim 0", [](L in) { return cat({in[0], in[1], in[0]}, 0); }, rand_inputs({{2, 3}, {4, 3}}, t), tol);
    check_parity("cat dim 1", [](L in) { return cat({in[0], in[1]}, 1); }, rand_inputs({{2, 3}, {2, 1}}, t), tol);
    check_parity("stack", [](L in) { return stack({in[0], in[1]}, 1); }, rand_inputs({{2, 3}, {2, 3}}, t), tol);
    check_parity("topk values", [](L in) { return topk(in[0], 3, 1).first; }, rand_inputs({{4, 9}}, t), tol);
  }
  // Heavy collisions: every element adds into the same few slots (atomics).
  Tensor many = rand_inputs({{1, 100000}}, DType::f32, 0, 1)[0];
  manual_seed(4);
  Tensor slots = randint(0, 3, {1, 100000});
  expect_close(scatter_add(zeros({1, 3}).to(kGpu), 1, slots.to(kGpu), many.to(kGpu)),
               scatter_add(zeros({1, 3}), 1, slots, many), Tol{1e-3, 1e-3}, "scatter_add collisions");
  // Integer scatter (i64 atomics), one_hot and topk indices.
  Tensor labels = from_vector<int64_t>({2, 0, 1, 2, 2});
  expect_equal(one_hot(labels.to(kGpu), 4), one_hot(labels, 4), "one_hot");
  expect_equal(one_hot(labels.to(kGpu), 3, DType::i64), one_hot(labels, 3, DType::i64), "one_hot i64");
  Tensor ones_i = ones({1, 5}, DType::i64);
  Tensor li = labels.reshape({1, 5});
  expect_equal(scatter_add(zeros({1, 3}, TensorOptions(DType::i64, kGpu)), 1, li.to(kGpu), ones_i.to(kGpu)),
               scatter_add(zeros({1, 3}, DType::i64), 1, li, ones_i), "scatter_add i64");
  Tensor x = rand_inputs({{5, 12}}, DType::f32)[0];
  auto [vg, ig] = topk(x.to(kGpu), 4, 1);
  auto [vc, ic] = topk(x, 4, 1);
  expect_equal(vg, vc, "topk values");
  expect_equal(ig, ic, "topk indices");
  auto [vs, is] = topk(x.to(kGpu), 2, 0, false);
  expect_equal(is, topk(x, 2, 0, false).second, "topk smallest indices");
  (void)vs;
}

TEST(CudaIndex, OutOfRangeIndexIsAClearError) {
  REQUIRE_CUDA();
  Tensor x = zeros({3, 5}, kGpu);
  Tensor bad = from_vector<int64_t>({0, 7, 1}, {3, 1}).to(kGpu);
  // The check runs on the device: the call returns, and the next read from the device throws.
  Tensor y = gather(x, 1, bad);
  try {
    y.cpu();
    FAIL() << "gather with index 7 into size 5 did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gather: index 7 is out of range for dim 1 of size 5"), std::string::npos)
        << e.what();
  }
  try {
    scatter_add(x, 1, from_vector<int64_t>({-1, 0, 1}, {3, 1}).to(kGpu), ones({3, 1}, kGpu));
    cuda::synchronize();
    FAIL() << "scatter_add with index -1 did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scatter_add: index -1 is out of range for dim 1 of size 5"),
              std::string::npos)
        << e.what();
  }
  // Reported once: the device is fine afterwards.
  Tensor good = from_vector<int64_t>({0, 4, 1}, {3, 1}).to(kGpu);
  EXPECT_EQ(gather(x + 1.0, 1, good).sum().item(), 3.0);
}

// Targets out of range: the CPU throws at the call, the GPU at the next read, same message.
TEST(CudaLoss, BadTargetIsReportedAtTheNextRead) {
  REQUIRE_CUDA();
  Tensor logits = zeros({3, 4});
  Tensor target = from_vector<int64_t>({0, 9, 1}, {3});
  const std::string want = "nll_loss: target 9 is out of range: target values must be in [0, 4) or ignore_index -100";
  try {
    cross_entropy(logits, target);
    FAIL() << "cross_entropy with target 9 of 4 classes did not throw on the CPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
  Tensor loss = cross_entropy(logits.to(kGpu), target.to(kGpu));
  try {
    loss.item();
    FAIL() << "cross_entropy with target 9 of 4 classes did not throw on the GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
  try {
    one_hot(from_vector<int64_t>({2, -1}, {2}).to(kGpu), 3).cpu();
    FAIL() << "one_hot of label -1 did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("one_hot: label -1 is out of range: labels must be in [0, 3)"),
              std::string::npos)
        << e.what();
  }
  // An empty selection of targets (all ignored) gives nan, as in PyTorch, with no read.
  Tensor ignored = full({3}, -100.0, DType::i64);
  EXPECT_TRUE(std::isnan(cross_entropy(logits.to(kGpu), ignored.to(kGpu)).item()));
  EXPECT_TRUE(std::isnan(cross_entropy(logits, ignored).item()));
}

#ifdef EMBER_CUDA_SIM
// A training step reads nothing back from the GPU: the loss, its checks and the optimizer stay on
// the device (counted by the simulator's runtime).
TEST(CudaTraining, TrainingStepDoesNotSynchronise) {
  REQUIRE_CUDA();
  manual_seed(3);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(12, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 5)});
  model->to(kGpu);
  optim::Adam opt(model->parameters(), optim::Hyper{});
  opt.fused = true;
  Tensor x = randn({8, 12}).to(kGpu), y = randint(0, 5, {8}).to(kGpu);
  auto step = [&] {
    Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    opt.zero_grad();
    return loss;
  };
  step();  // warm-up: first allocations
  const uint64_t before = cudasim::device_to_host_syncs();
  Tensor loss;
  for (int i = 0; i < 3; ++i) loss = step();
  EXPECT_EQ(cudasim::device_to_host_syncs() - before, 0u) << "device-to-host synchronisations in 3 training steps";
  EXPECT_TRUE(std::isfinite(loss.item()));
}
#endif

// ---------------------------------------------------------------------------
// Random: the same seed gives the same numbers on both devices.
TEST(CudaRandom, SameSeedSameNumbersAsCpu) {
  REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64}) {
    manual_seed(1234);
    Tensor c = rand({1000, 37}, t);
    manual_seed(1234);
    Tensor g = rand({1000, 37}, TensorOptions(t, kGpu));
    ASSERT_TRUE(g.device() == kGpu);
    expect_bits_equal(g, c, std::string("rand ") + dtype_name(t));
    // The generator's offset advanced the same way: the next draw matches too.
    Tensor g2 = rand({77}, TensorOptions(t, kGpu));
    manual_seed(1234);
    rand({1000, 37}, t);
    expect_bits_equal(g2, rand({77}, t), "second draw");
  }
  // uniform(lo, hi) and randn: equal up to rounding in the last bits (see file top).
  manual_seed(99);
  Tensor uc = uniform({5000}, -3, 5), nc = randn({5000});
  manual_seed(99);
  Tensor ug = uniform({5000}, -3, 5, kGpu), ng = randn({5000}, kGpu);
  expect_close(ug, uc, Tol{5e-7, 2.5e-7}, "uniform(-3, 5)");
  expect_close(ng, nc, Tol{5e-7, 2.5e-7}, "randn");
  for (DType t : {DType::f64}) {
    manual_seed(5);
    Tensor n64 = randn({3000}, t);
    manual_seed(5);
    expect_close(randn({3000}, TensorOptions(t, kGpu)), n64, Tol{1e-13, 1e-13}, "randn f64");
  }
  // Raw 64-bit draws are integer-only: exact.
  Tensor bc = empty({4096}, DType::i64), bg = empty({4096}, TensorOptions(DType::i64, kGpu));
  backend_for(kCpu).random(kview(bc), RandomDist::Bits64, 42, 1000, 0, 0);
  backend_for(kGpu).random(kview(bg), RandomDist::Bits64, 42, 1000, 0, 0);
  expect_equal(bg, bc, "bits64");
  manual_seed(8);
  Tensor ic = randint(0, 10, {100}), pc = randperm(50);
  manual_seed(8);
  expect_equal(randint(0, 10, {100}, TensorOptions(DType::i64, kGpu)), ic, "randint");
  expect_equal(randperm(50, TensorOptions(DType::i64, kGpu)), pc, "randperm");
}

// ---------------------------------------------------------------------------
// Caching allocator
TEST(CudaAllocator, ReusesBlocksAndCountsBytes) {
  REQUIRE_CUDA();
  { Tensor warm = empty({1 << 18}, kGpu); }  // 1 MiB, now cached
  const cuda::CudaMemoryStats s0 = cuda::memory_stats(0);
  for (int i = 0; i < 10; ++i) {
    Tensor t = empty({1 << 18}, kGpu);
    t.fill_(1.0);
    const cuda::CudaMemoryStats in = cuda::memory_stats(0);
    EXPECT_GE(in.allocated, s0.allocated + (size_t{1} << 20));
    EXPECT_LE(in.allocated, in.reserved);
  }
  const cuda::CudaMemoryStats s1 = cuda::memory_stats(0);
  EXPECT_EQ(s1.num_device_mallocs, s0.num_device_mallocs) << "steady state must not call cudaMalloc";
  EXPECT_EQ(s1.reserved, s0.reserved);
  EXPECT_EQ(s1.allocated, s0.allocated);
  EXPECT_GE(s1.num_cache_hits, s0.num_cache_hits + 10);

  cuda::reset_peak_memory_stats(0);
  {
    Tensor big = empty({1 << 20}, kGpu);  // 4 MiB
    EXPECT_GE(cuda::memory_stats(0).peak_allocated, s1.allocated + (size_t{4} << 20));
  }
  EXPECT_GE(cuda::memory_stats(0).peak_allocated, s1.allocated + (size_t{4} << 20));

  cuda::empty_cache(0);
  const cuda::CudaMemoryStats s2 = cuda::memory_stats(0);
  EXPECT_EQ(s2.reserved, s2.allocated) << "empty_cache keeps only blocks in use";
  EXPECT_GT(s2.num_device_frees, s1.num_device_frees);
  // Still works after the cache was emptied.
  EXPECT_EQ(ones({1000}, kGpu).sum().item(), 1000.0);
}

TEST(CudaAllocator, OutOfMemoryNamesTheSize) {
  REQUIRE_CUDA();
  const int64_t n = int64_t{1} << 44;  // 2^44 floats = 64 TiB
  try {
    Tensor t = empty({n}, kGpu);
    FAIL() << "allocating 64 TiB did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cuda:0: out of memory allocating 70368744177664 bytes"), std::string::npos) << msg;
  }
  EXPECT_EQ(ones({10}, kGpu).sum().item(), 10.0) << "the device must still work after an OOM";
}

// ---------------------------------------------------------------------------
// Errors
TEST(CudaErrors, DeviceMismatchNamesBothDevices) {
  REQUIRE_CUDA();
  Tensor a = ones({3}), b = ones({3}, kGpu);
  try {
    Tensor c = a + b;
    FAIL() << "cpu + cuda did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensors on different devices (cpu vs cuda:0)"), std::string::npos)
        << e.what();
  }
  try {
    Tensor c = matmul(ones({2, 3}, kGpu), ones({3, 2}));
    FAIL() << "matmul cuda @ cpu did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul: tensors on different devices (cuda:0 vs cpu)"), std::string::npos)
        << e.what();
  }
}

TEST(CudaErrors, MissingDeviceAndCheckMacros) {
  REQUIRE_CUDA();
  const int n = cuda::device_count();
  try {
    Tensor t = zeros({2}, Device::cuda(n));
    FAIL() << "cuda:" << n << " does not exist but did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:" + std::to_string(n) + ": no such device"), std::string::npos)
        << e.what();
  }
  try {
    CUDA_CHECK(1);  // cudaErrorInvalidValue
    FAIL() << "CUDA_CHECK(1) did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("CUDA error: 1 failed at "), std::string::npos) << msg;
    EXPECT_NE(msg.find("test_cuda.cpp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorInvalidValue"), std::string::npos) << msg;
  }
  EXPECT_THROW(CUBLAS_CHECK(7), Error);
}

TEST(CudaTensor, PrintsDeviceAndMovesBack) {
  REQUIRE_CUDA();
  Tensor x = arange(6, TensorOptions(DType::f32, kGpu)).reshape({2, 3});
  EXPECT_NE(x.str().find("device='cuda:0'"), std::string::npos) << x.str();
  EXPECT_EQ(x.cpu().to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(x.sum().item(), 15.0);
}

// The one test that runs without a GPU: the error says what is missing.
TEST(CudaErrors, NoDeviceGivesAClearError) {
  if (ember::cuda::device_count() != 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor t = zeros({2}, kGpu);
    FAIL() << "allocating on cuda:0 without a device did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0: no CUDA device available (cudaGetDeviceCount: "), std::string::npos)
        << e.what();
    std::cout << "  (" << e.what() << ")\n";  // scripts/gpu-check shows why no device was found
  }
}

// ---------------------------------------------------------------------------
// End to end: a 2-layer net trained with plain SGD, on each device from the same
// initial weights and data. Losses agree step by step; after the first steps the
// allocator serves every tensor from its cache.
std::vector<double> train(Device d, cuda::CudaMemoryStats* steady_before, cuda::CudaMemoryStats* steady_after) {
  manual_seed(2024);
  Tensor xc = randn({64, 8});
  Tensor y = matmul(xc, randn({8, 3})).argmax(1).to(d);  // a learnable labelling
  Tensor x = xc.to(d);
  TensorList params = {(randn({16, 8}) * 0.4).to(d), zeros({16}).to(d), (randn({3, 16}) * 0.4).to(d),
                       zeros({3}).to(d)};
  for (Tensor& p : params) p.requires_grad_(true);
  const double lr = 0.5;
  std::vector<double> losses;
  for (int step = 0; step < 20; ++step) {
    if (step == 3 && steady_before) *steady_before = cuda::memory_stats(d.index);
    Tensor h = linear(x, params[0], params[1]).relu();
    Tensor loss = cross_entropy(linear(h, params[2], params[3]), y);
    losses.push_back(loss.item());
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : params) {
      p.add_(p.grad(), -lr);
      p.set_grad(Tensor());
    }
  }
  if (steady_after) *steady_after = cuda::memory_stats(d.index);
  return losses;
}

TEST(CudaTraining, TwoLayerNetMatchesCpu) {
  REQUIRE_CUDA();
  std::vector<double> cpu = train(kCpu, nullptr, nullptr);
  cuda::CudaMemoryStats before, after;
  std::vector<double> gpu = train(kGpu, &before, &after);
  ASSERT_EQ(cpu.size(), gpu.size());
  const double rtol = tf32_on() ? 2e-2 : 1e-4;
  for (size_t i = 0; i < cpu.size(); ++i)
    EXPECT_NEAR(gpu[i], cpu[i], rtol * std::fabs(cpu[i]) + 1e-6) << "step " << i;
  EXPECT_LT(gpu.back(), 0.9 * gpu.front()) << "the loss should go down";
  EXPECT_EQ(after.num_device_mallocs, before.num_device_mallocs) << "steps 3..19 should reuse cached blocks";
}

// ---------------------------------------------------------------------------
// Fused optimizer steps: cuda/Optim.cu against the CPU loop (both run tensor/OptimMath.h),
// every option, three steps from the same state.
struct OptimState {
  Tensor p, g, m, v;
};
OptimState optim_state(DType t, Device d) {
  manual_seed(99);
  const int64_t n = 1537;  // not a multiple of the block size
  OptimState s{uniform({n}, -1, 1, t), uniform({n}, -1, 1, t), uniform({n}, -0.1, 0.1, t), uniform({n}, 0, 0.01, t)};
  return {s.p.to(d), s.g.to(d), s.m.to(d), s.v.to(d)};
}

TEST(CudaOptim, FusedSgdMatchesCpuForEveryOption) {
  REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64})
    for (double momentum : {0.0, 0.9})
      for (double dampening : {0.0, 0.1})
        for (bool nesterov : {false, true})
          for (double wd : {0.0, 1e-2}) {
            if (momentum == 0 && (dampening != 0 || nesterov)) continue;  // no momentum buffer: same as plain
            const std::string what = std::string("sgd ") + dtype_name(t) + " momentum " + std::to_string(momentum) +
                                     " dampening " + std::to_string(dampening) + (nesterov ? " nesterov" : "") +
                                     " wd " + std::to_string(wd);
            OptimState c = optim_state(t, kCpu), g = optim_state(t, kGpu);
            for (int step = 0; step < 3; ++step) {
              SgdStep a;
              a.lr = 0.1;
              a.momentum = momentum;
              a.dampening = dampening;
              a.nesterov = nesterov;
              a.weight_decay = wd;
              a.first = step == 0;
              backend_for(kCpu).sgd_step(kview(c.p), kview(c.g), momentum ? kview(c.m) : KView{}, a);
              backend_for(kGpu).sgd_step(kview(g.p), kview(g.g), momentum ? kview(g.m) : KView{}, a);
            }
            expect_close(g.p, c.p, tol_for(t), what + ": parameters");
            expect_close(g.m, c.m, tol_for(t), what + ": momentum buffer");
          }
}

TEST(CudaOptim, FusedAdamMatchesCpuForEveryOption) {
  REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64})
    for (double wd : {0.0, 1e-2})
      for (bool decoupled : {false, true}) {
        if (wd == 0 && decoupled) continue;
        const std::string what = std::string(decoupled ? "adamw " : "adam ") + dtype_name(t) + " wd " + std::to_string(wd);
        OptimState c = optim_state(t, kCpu), g = optim_state(t, kGpu);
        for (int step = 1; step <= 3; ++step) {
          AdamStep a;
          a.lr = 1e-2;
          a.beta1 = 0.9;
          a.beta2 = 0.99;
          a.eps = 1e-5;
          a.weight_decay = wd;
          a.decoupled_wd = decoupled;
          a.bias1 = 1 - std::pow(a.beta1, step);
          a.bias2 = 1 - std::pow(a.beta2, step);
          backend_for(kCpu).adam_step(kview(c.p), kview(c.g), kview(c.m), kview(c.v), a);
          backend_for(kGpu).adam_step(kview(g.p), kview(g.g), kview(g.m), kview(g.v), a);
        }
        expect_close(g.p, c.p, tol_for(t), what + ": parameters");
        expect_close(g.m, c.m, tol_for(t), what + ": first moment");
        expect_close(g.v, c.v, tol_for(t), what + ": second moment");
      }
}

// ---------------------------------------------------------------------------
// Conversions and integer division: one defined behaviour on both devices.
TEST(CudaElementwise, FloatToIntegerCastsSaturateOnBothDevices) {
  REQUIRE_CUDA();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<double> vals = {nan, inf, -inf, 1e30, -1e30, 300.7, -3.7, 255.9, 256, -0.5, 2.5, 9.3e18, -9.3e18};
  const std::vector<int64_t> want_i64 = {0, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, 300, -3,
                                         255, 256, 0, 2, INT64_MAX, INT64_MIN};
  const std::vector<uint8_t> want_u8 = {0, 255, 0, 255, 0, 255, 0, 255, 255, 0, 2, 255, 0};
  for (DType from : {DType::f32, DType::f64}) {
    const Tensor x = from_vector<double>(vals).to(from);
    const std::string what = std::string("from ") + dtype_name(from);
    EXPECT_EQ(x.to(DType::i64).to_vector<int64_t>(), want_i64) << what << " to i64 on the cpu";
    EXPECT_EQ(x.to(kGpu).to(DType::i64).to_vector<int64_t>(), want_i64) << what << " to i64 on cuda";
    EXPECT_EQ(x.to(DType::u8).to_vector<uint8_t>(), want_u8) << what << " to u8 on the cpu";
    EXPECT_EQ(x.to(kGpu).to(DType::u8).to_vector<uint8_t>(), want_u8) << what << " to u8 on cuda";
  }
}

TEST(CudaElementwise, IntegerDivisionByZeroIsAnErrorOnBothDevices) {
  REQUIRE_CUDA();
  for (Device d : {kCpu, kGpu}) {
    const Tensor a = from_vector<int64_t>({7, -7, INT64_MIN}).to(d);
    try {
      Tensor q = a / from_vector<int64_t>({2, 0, -1}).to(d);
      FAIL() << d.str() << ": 7 / 0 did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("div: integer division by zero"), std::string::npos) << e.what();
    }
    EXPECT_EQ((a / from_vector<int64_t>({2, 2, -1}).to(d)).to_vector<int64_t>(),
              (std::vector<int64_t>{3, -3, INT64_MIN}))
        << d.str() << ": truncating division; INT64_MIN / -1 wraps";
    // The kernels themselves, reached without the check: x / 0 = 0 on both.
    Tensor raw_q = raw::binary(BinaryOp::Div, a, from_vector<int64_t>({0, 0, 0}).to(d));
    EXPECT_EQ(raw_q.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0})) << d.str();
  }
}

// ---------------------------------------------------------------------------
// Host-thread safety and the caller's current device.
TEST(CudaIndex, ConcurrentBadIndexBlamesOnlyItsOwnCall) {
  REQUIRE_CUDA();
  Tensor x = zeros({4, 5}, kGpu);
  Tensor good = from_vector<int64_t>({0, 1, 2, 3}, {4, 1}).to(kGpu);
  Tensor bad = from_vector<int64_t>({0, 9, 2, 3}, {4, 1}).to(kGpu);
  int good_failures = 0, bad_failures = 0;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) {
      try {
        gather(x, 1, bad).cpu();  // reported at the read
      } catch (const Error&) {
        ++bad_failures;
      }
    }
  });
  for (int i = 0; i < 100; ++i) {
    try {
      gather(x, 1, good).cpu();
    } catch (const Error& e) {
      ++good_failures;
      ADD_FAILURE() << "a good gather was blamed for another thread's index: " << e.what();
      break;
    }
  }
  other.join();
  EXPECT_EQ(good_failures, 0);
  EXPECT_EQ(bad_failures, 100) << "every bad gather must throw";
}

TEST(CudaDevices, OpsOnAnotherDeviceKeepTheCallersDevice) {
  REQUIRE_CUDA();
  if (cuda::device_count() < 2) GTEST_SKIP() << "needs two CUDA devices (the simulator has two)";
  CUDA_CHECK(cudaSetDevice(0));
  Tensor t = ones({1000}, Device::cuda(1));  // allocate on cuda:1
  EXPECT_EQ((t * 2.0).sum().item(), 2000.0);
  int cur = -1;
  CUDA_CHECK(cudaGetDevice(&cur));
  EXPECT_EQ(cur, 0) << "an op on cuda:1 left cuda:" << cur << " current";
  t = Tensor();
  cuda::empty_cache(1);
  cuda::synchronize(1);
  CUDA_CHECK(cudaGetDevice(&cur));
  EXPECT_EQ(cur, 0) << "empty_cache(1) / synchronize(1) left cuda:" << cur << " current";
}

}  // namespace
