// bench/bench_ops.cpp: CPU op benchmarks, the Ember side of bench/run.
//
// Each benchmark times one public Ember call (ember.h) on fixed shapes; the
// same ops are timed in PyTorch by bench/torch_ops.py under the same names, and
// bench/run puts the two side by side in bench/results/cpu.md.
//
//   gemm_1024                    [1024, 1024] @ [1024, 1024]                      GFLOP/s
//   mm_fwd_64x784x100            X [64, 784] @ W^T [784, 100]  (MNIST MLP, bs 64)  GFLOP/s
//   mm_dx_64x100x784             dY [64, 100] @ W [100, 784]                      GFLOP/s
//   mm_dw_100x64x784             dY^T [100, 64] @ X [64, 784]  (transposed view)  GFLOP/s
//   linear_fwd_64x784x100        linear(X, W, b), no grad                         GFLOP/s
//   linear_fwd_bwd_64x784x100    linear(X, W, b) + backward (dX, dW, db)          GFLOP/s
//   add_16M, sigmoid_16M         elementwise over 16M floats (2^24)               GB/s
//   sum_16M                      full sum of 16M floats                           GB/s
//   softmax_64x10, softmax_4096x1000  softmax over the last dim                   GB/s
//   copy_16M                     plain parallel memcpy of 64 MiB: the machine's
//                                memory-bandwidth yardstick (not an Ember op)     GB/s
//
// Threads: Ember's kernels use OpenMP (OMP_NUM_THREADS); run with the same value in
// OPENBLAS_NUM_THREADS. Times are wall-clock (UseRealTime). GB/s counts the bytes an
// op must read plus write (add: 12 B/elem, sigmoid and softmax: 8, sum: 4, copy: 8).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ember/ember.h"

using ember::Tensor;

namespace {

constexpr int64_t k16M = int64_t{1} << 24;

Tensor randn(ember::Shape s, bool grad = false) {
  Tensor t = ember::randn(std::move(s));
  if (grad) t.requires_grad_();
  return t;
}

void set_flops(benchmark::State& st, double flops) {
  st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void set_bytes(benchmark::State& st, double bytes) {
  st.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// --- hardware yardstick -------------------------------------------------------
void copy_16M(benchmark::State& st) {
  std::vector<float> a(k16M, 1.0f), b(k16M, 0.0f);  // touched: no page faults in the loop
  for (auto _ : st) {
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t lo = k16M * t / nt, hi = k16M * (t + 1) / nt;
      std::memcpy(b.data() + lo, a.data() + lo, static_cast<size_t>(hi - lo) * sizeof(float));
    }
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  set_bytes(st, 8.0 * k16M);
}

// --- GEMM -------------------------------------------------------------------------
void gemm_1024(benchmark::State& st) {
  Tensor a = randn({1024, 1024}), b = randn({1024, 1024});
  for (auto _ : st) benchmark::DoNotOptimize(ember::matmul(a, b));
  set_flops(st, 2.0 * 1024 * 1024 * 1024);
}

// The first layer of the MNIST MLP at batch 64: 784 -> 100.
constexpr int64_t kB = 64, kIn = 784, kOut = 100;
constexpr double kMlpFlops = 2.0 * kB * kIn * kOut;

void mm_fwd_64x784x100(benchmark::State& st) {
  Tensor x = randn({kB, kIn}), wt = randn({kIn, kOut});
  for (auto _ : st) benchmark::DoNotOptimize(ember::matmul(x, wt));
  set_flops(st, kMlpFlops);
}

void mm_dx_64x100x784(benchmark::State& st) {
  Tensor gy = randn({kB, kOut}), w = randn({kOut, kIn});
  for (auto _ : st) benchmark::DoNotOptimize(ember::matmul(gy, w));
  set_flops(st, kMlpFlops);
}

void mm_dw_100x64x784(benchmark::State& st) {
  Tensor gy = randn({kB, kOut}), x = randn({kB, kIn});
  for (auto _ : st) benchmark::DoNotOptimize(ember::matmul(gy.t(), x));
  set_flops(st, kMlpFlops);
}

void linear_fwd_64x784x100(benchmark::State& st) {
  Tensor x = randn({kB, kIn}), w = randn({kOut, kIn}), b = randn({kOut});
  ember::NoGradGuard no_grad;
  for (auto _ : st) benchmark::DoNotOptimize(ember::linear(x, w, b));
  set_flops(st, kMlpFlops);
}

// Forward + backward with every input requiring grad: three GEMMs and a bias sum.
// Grads are dropped each step (as zero_grad(set_to_none) would), so no accumulation.
void linear_fwd_bwd_64x784x100(benchmark::State& st) {
  Tensor x = randn({kB, kIn}, true), w = randn({kOut, kIn}, true), b = randn({kOut}, true);
  Tensor gy = randn({kB, kOut});
  for (auto _ : st) {
    Tensor y = ember::linear(x, w, b);
    y.backward(gy);
    benchmark::DoNotOptimize(w.grad());
    x.set_grad(Tensor());
    w.set_grad(Tensor());
    b.set_grad(Tensor());
  }
  set_flops(st, 3 * kMlpFlops);
}

// --- memory-bound ops ---------------------------------------------------------------
void add_16M(benchmark::State& st) {
  Tensor a = randn({k16M}), b = randn({k16M});
  for (auto _ : st) benchmark::DoNotOptimize(ember::add(a, b));
  set_bytes(st, 12.0 * k16M);
}

void sigmoid_16M(benchmark::State& st) {
  Tensor a = randn({k16M});
  for (auto _ : st) benchmark::DoNotOptimize(a.sigmoid());
  set_bytes(st, 8.0 * k16M);
}

void sum_16M(benchmark::State& st) {
  Tensor a = randn({k16M});
  for (auto _ : st) benchmark::DoNotOptimize(a.sum());
  set_bytes(st, 4.0 * k16M);
}

template <int64_t R, int64_t C>
void softmax_rows(benchmark::State& st) {
  Tensor x = randn({R, C});
  for (auto _ : st) benchmark::DoNotOptimize(ember::softmax(x, 1));
  set_bytes(st, 8.0 * R * C);
}

}  // namespace

BENCHMARK(copy_16M)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(gemm_1024)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mm_fwd_64x784x100)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mm_dx_64x100x784)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mm_dw_100x64x784)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(linear_fwd_64x784x100)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(linear_fwd_bwd_64x784x100)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(add_16M)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(sigmoid_16M)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(sum_16M)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(softmax_rows<64, 10>)->Name("softmax_64x10")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(softmax_rows<4096, 1000>)->Name("softmax_4096x1000")->UseRealTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  ember::manual_seed(0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  const char* ob = std::getenv("OPENBLAS_NUM_THREADS");
  benchmark::AddCustomContext("OPENBLAS_NUM_THREADS", ob ? ob : "(unset)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
