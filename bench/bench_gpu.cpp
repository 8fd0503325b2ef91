// bench/bench_gpu.cpp: Ember on one GPU, the Ember side of bench/torch_gpu.py.
//
//   <build>/bin/bench_gpu [--quick]
// Prints one JSON line per measurement, {"name", "value", "unit"}; bench/torch_gpu.py times the
// same work in PyTorch under the same names and bench/gpu_report.py puts the two side by side
// (scripts/gpu-check runs all three and writes bench/results/gpu.md).
//
//   copy_64M            cudaMemcpy device to device of 64M floats: the yardstick     GB/s
//   add_64M, sigmoid_64M, add_bcast_4096x4096, sum_64M, sum0_1Mx512, softmax_65536x1000
//                       Ember ops; GB/s counts the bytes the op must read plus write  GB/s
//   small_add_us        a + b on 64 elements, 1000 times: the host's cost of one op     us
//   small_conv_us       the same for conv2d of [2, 8, 8, 8] by [8, 8, 3, 3]             us
//   matmul_4096         [4096, 4096] @ [4096, 4096] f32 (TF32 as the backend has it)  TFLOP/s
//   mnist_epoch         938 steps of the MNIST MLP (784-100-10, sigmoid, softmax, L1 vs one-hot,
//                       SGD lr 1, bs 64) over 60,000 rows already on the GPU            ms
//   resnet18_train_bs64_56, resnet18_train_bs64_224
//                       ResNet-18 train step (forward, cross-entropy, backward, Adam step,
//                       zero_grad), median of the timed steps, f32 convolutions without
//                       TF32                                                            ms
//   ..._224_tf32        the same with TF32 convolutions (the default of both), and its
//                       forward/backward/optimizer split (_fwd, _bwd, _opt), and the host's
//                       time to queue the forward and the whole step (_fwd_host, _step_host) ms
//   ..._224_tf32_bench  with cudnn benchmarking (Ember: conv_benchmark, deterministic
//                       algorithms; _bench_nondet: any algorithm)                      ms
// Each time is taken after warm-up, between two device synchronisations.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/ember.h"

using namespace ember;

namespace {

const Device kDev = Device::cuda(0);

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void report(const char* name, double value, const char* unit) {
  std::printf("{\"name\": \"%s\", \"value\": %.4g, \"unit\": \"%s\"}\n", name, value, unit);
  std::fflush(stdout);
}

// Median milliseconds of `reps` calls of f, each between device synchronisations, after `warmup`.
double time_ms(const std::function<void()>& f, int reps, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) f();
  cuda::synchronize();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_ms();
    f();
    cuda::synchronize();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bandwidth(const char* name, double bytes, const std::function<void()>& f, int reps) {
  report(name, bytes / (time_ms(f, reps) * 1e-3) * 1e-9, "GB/s");
}

void memory_ops(int reps) {
  const int64_t n = int64_t{1} << 26;
  Tensor a = randn({n}, kDev), b = randn({n}, kDev), c = empty({n}, kDev);
  bandwidth("copy_64M", 8.0 * n, [&] {
    CUDA_CHECK(cudaMemcpyAsync(c.raw_data(), a.raw_data(), n * sizeof(float), cudaMemcpyDeviceToDevice, nullptr));
  }, reps);
  Tensor keep;
  bandwidth("add_64M", 12.0 * n, [&] { keep = a + b; }, reps);
  bandwidth("sigmoid_64M", 8.0 * n, [&] { keep = a.sigmoid(); }, reps);
  Tensor m = randn({4096, 4096}, kDev), row = randn({4096}, kDev);
  bandwidth("add_bcast_4096x4096", 8.0 * 4096 * 4096, [&] { keep = m + row; }, reps);
  bandwidth("sum_64M", 4.0 * n, [&] { keep = a.sum(); }, reps);
  a = Tensor(), b = Tensor(), c = Tensor();
  Tensor tall = randn({int64_t{1} << 20, 512}, kDev);
  bandwidth("sum0_1Mx512", 4.0 * tall.numel(), [&] { keep = tall.sum({0}); }, reps);
  tall = Tensor();
  Tensor rows = randn({65536, 1000}, kDev);
  bandwidth("softmax_65536x1000", 8.0 * rows.numel(), [&] { keep = softmax(rows, 1); }, reps);
}

// Host cost of one small op: 1000 additions of two 64-element tensors, per addition.
void small_op(int reps) {
  Tensor a = randn({64}, kDev), b = randn({64}, kDev), keep;
  const double ms = time_ms([&] {
    for (int i = 0; i < 1000; ++i) keep = a + b;
  }, reps);
  report("small_add_us", ms, "us");  // ms per 1000 = us per op
  // The same for a small convolution (cuDNN's call is most of it).
  Tensor x = randn({2, 8, 8, 8}, kDev), w = randn({8, 8, 3, 3}, kDev);
  const double conv_ms = time_ms([&] {
    for (int i = 0; i < 1000; ++i) keep = conv2d(x, w);
  }, reps);
  report("small_conv_us", conv_ms, "us");
}

void matmul_4096(int reps) {
  Tensor a = randn({4096, 4096}, kDev), b = randn({4096, 4096}, kDev);
  Tensor keep;
  const double ms = time_ms([&] { keep = matmul(a, b); }, reps);
  report("matmul_4096", 2.0 * 4096 * 4096 * 4096 / (ms * 1e-3) * 1e-12, "TFLOP/s");
}

void mnist_epoch(int epochs) {
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(784, 100), std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Linear>(100, 10),
      std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Softmax>(1)});
  model->to(kDev);
  optim::Hyper h;
  h.lr = 1.0;
  optim::SGD opt(model->parameters(), h);
  opt.fused = true;
  const int64_t n = 60000, bs = 64;
  Tensor x = rand({n, 784}, kDev);
  Tensor y = one_hot(randint(0, 10, {n}, TensorOptions(DType::i64, kDev)), 10);
  auto epoch = [&] {
    for (int64_t i = 0; i < n; i += bs) {
      const int64_t len = std::min(bs, n - i);
      Tensor pred = model->forward(x.narrow(0, i, len));
      Tensor loss = (pred - y.narrow(0, i, len)).abs().sum({1}).mean();
      loss.backward();
      opt.step();
      opt.zero_grad();
    }
  };
  report("mnist_epoch", time_ms(epoch, epochs, 1), "ms");
}

// The settings of one ResNet-18 measurement (cuda/Cuda.h); PyTorch's twin in bench/torch_gpu.py.
cuda::Settings conv_settings(bool tf32, bool benchmark, bool deterministic) {
  cuda::Settings s;
  s.tf32_conv = tf32, s.conv_benchmark = benchmark, s.deterministic = deterministic;
  return s;
}

// The median train step; with split, also the forward (with the loss), the backward and the
// optimizer step, each between synchronisations (name_fwd, name_bwd, name_opt).
void resnet_step(const std::string& name, int64_t size, const cuda::Settings& set, int steps, bool split = false) {
  cuda::set_settings(set);
  manual_seed(0);
  auto net = nn::resnet18(37);
  net->to(kDev);
  optim::Hyper h;
  h.lr = 1e-3, h.momentum = 0.9, h.beta2 = 0.99, h.eps = 1e-5, h.weight_decay = 0.01, h.decoupled_wd = true;
  optim::Adam opt(net->parameters(), h);
  opt.fused = true;
  Tensor x = rand({64, 3, size, size}, kDev);
  Tensor y = randint(0, 37, {64}, TensorOptions(DType::i64, kDev));
  net->train();
  auto step = [&] {
    Tensor loss = cross_entropy(net->forward(x), y);
    loss.backward();
    opt.step();
    opt.zero_grad();
  };
  for (int i = 0; i < 3; ++i) step();
  const cuda::CudaMemoryStats before = cuda::memory_stats();
  const double ms = time_ms(step, steps, 0);
  const cuda::CudaMemoryStats after = cuda::memory_stats();
  report(name.c_str(), ms, "ms");
  if (!split) return;
  // After warm-up every block should come from the allocator's cache: cudaMalloc and cudaFree
  // (which waits for the device) would make the step times jump.
  report((name + "_cudamallocs").c_str(),
         static_cast<double>(after.num_device_mallocs - before.num_device_mallocs + after.num_device_frees -
                             before.num_device_frees),
         "calls");
  std::vector<double> fwd, bwd, optim, fwd_host, step_host;
  for (int i = 0; i < steps; ++i) {  // the host's time to queue a whole step
    cuda::synchronize();
    const double t0 = now_ms();
    step();
    step_host.push_back(now_ms() - t0);
  }
  for (int i = 0; i < steps; ++i) {
    cuda::synchronize();
    const double t0 = now_ms();
    Tensor loss = cross_entropy(net->forward(x), y);
    fwd_host.push_back(now_ms() - t0);
    cuda::synchronize();
    const double t1 = now_ms();
    loss.backward();
    cuda::synchronize();
    const double t2 = now_ms();
    opt.step();
    opt.zero_grad();
    cuda::synchronize();
    fwd.push_back(t1 - t0), bwd.push_back(t2 - t1), optim.push_back(now_ms() - t2);
  }
  for (auto* v : {&fwd, &bwd, &optim, &fwd_host, &step_host}) std::sort(v->begin(), v->end());
  // Host-bound when these come near the synchronised times above.
  report((name + "_fwd_host").c_str(), fwd_host[fwd_host.size() / 2], "ms");
  report((name + "_step_host").c_str(), step_host[step_host.size() / 2], "ms");
  report((name + "_fwd").c_str(), fwd[fwd.size() / 2], "ms");
  report((name + "_bwd").c_str(), bwd[bwd.size() / 2], "ms");
  report((name + "_opt").c_str(), optim[optim.size() / 2], "ms");
}

void resnet_steps(int steps) {
  const cuda::Settings start = cuda::settings();
  resnet_step("resnet18_train_bs64_56", 56, conv_settings(false, false, true), 2 * steps);
  resnet_step("resnet18_train_bs64_224", 224, conv_settings(false, false, true), steps);
  resnet_step("resnet18_train_bs64_224_tf32", 224, conv_settings(true, false, true), 2 * steps, true);
  resnet_step("resnet18_train_bs64_224_tf32_bench", 224, conv_settings(true, true, true), steps);
  resnet_step("resnet18_train_bs64_224_tf32_bench_nondet", 224, conv_settings(true, true, false), steps);
  cuda::set_settings(start);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  try {
    memory_ops(quick ? 3 : 20);
    small_op(quick ? 3 : 10);
    matmul_4096(quick ? 3 : 10);
    mnist_epoch(quick ? 1 : 3);
    resnet_steps(quick ? 2 : 10);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
  return 0;
}
