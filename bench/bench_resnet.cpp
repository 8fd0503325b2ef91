// bench/bench_resnet.cpp: a ResNet-18 training step and an eval forward on CPU
// (bs 64, 3x56x56, 37 classes: the Pets experiment's shapes), timed step by step.
//
//   <build>/bin/bench_resnet [--bs 64] [--size 56] [--steps 10] [--warmup 2]
// Prints one JSON line: median and best milliseconds of the train step (forward, cross-entropy,
// backward, Adam step, zero_grad) and of the eval forward (no grad). bench/run_resnet runs it
// beside bench/torch_resnet.py and writes bench/results/resnet.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ember/ember.h"

using namespace ember;

namespace {
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  int64_t bs = 64, size = 56;
  int steps = 10, warmup = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int64_t v = std::atoll(argv[i + 1]);
    if (a == "--bs") bs = v;
    else if (a == "--size") size = v;
    else if (a == "--steps") steps = static_cast<int>(v);
    else if (a == "--warmup") warmup = static_cast<int>(v);
    else {
      std::fprintf(stderr, "bench_resnet: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  manual_seed(0);
  auto net = nn::resnet18(37);
  optim::Hyper h;
  h.lr = 1e-3, h.momentum = 0.9, h.beta2 = 0.99, h.eps = 1e-5, h.weight_decay = 0.01, h.decoupled_wd = true;
  optim::Adam opt(net->parameters(), h);
  opt.fused = true;  // as the Learner's optimizers
  Tensor x = rand({bs, 3, size, size});
  Tensor y = randint(0, 37, {bs});

  std::vector<double> train, eval, opt_ms;
  net->train();
  for (int i = 0; i < warmup + steps; ++i) {
    double t0 = now_ms();
    Tensor loss = cross_entropy(net->forward(x), y);
    loss.backward();
    const double t1 = now_ms();
    opt.step();
    opt.zero_grad();
    if (i >= warmup) train.push_back(now_ms() - t0), opt_ms.push_back(now_ms() - t1);
  }
  net->eval();
  for (int i = 0; i < warmup + steps; ++i) {
    NoGradGuard ng;
    double t0 = now_ms();
    Tensor out = net->forward(x);
    if (i >= warmup) eval.push_back(now_ms() - t0);
  }
  std::printf("{\"framework\": \"ember\", \"bs\": %lld, \"size\": %lld, \"train_ms_median\": %.2f, \"train_ms_best\": %.2f, "
              "\"eval_ms_median\": %.2f, \"eval_ms_best\": %.2f, \"optimizer_ms_median\": %.2f}\n",
              static_cast<long long>(bs), static_cast<long long>(size), median(train),
              *std::min_element(train.begin(), train.end()), median(eval), *std::min_element(eval.begin(), eval.end()),
              median(opt_ms));
  return 0;
}
