// examples/demo_spiral.cpp: a 2-layer MLP learns three interleaved spirals.
//
// The smallest complete training program (./scripts/demo spiral). Everything is
// written with Ember tensor ops and autograd, no nn/ or optim/ layer:
//
//   x [B, 2] -> linear(W1 [H, 2], b1 [H]) -> relu -> linear(W2 [3, H], b2 [3]) -> logits [B, 3]
//   loss = cross_entropy(logits, y)          (y: i64 class indices [B])
//   SGD:   p <- p - lr * grad(p)             (under NoGradGuard, so it is not recorded)
//
// The points are not linearly separable (a linear model tops out near 50%), so a
// high held-out accuracy shows that forward, backward and the update all work.
// Exit status 0 when the final test accuracy reaches the floor (ctest label `examples`).
//
//   build/bin/demo_spiral [--epochs N] [--quiet]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ember/ember.h"

using ember::Tensor;
using ember::TensorList;

namespace {

constexpr int64_t kClasses = 3;
constexpr int64_t kPerClass = 200;
constexpr int64_t kHidden = 64;
constexpr int64_t kBatch = 32;
constexpr double kLr = 0.2;
constexpr double kAccuracyFloor = 0.95;

// ---------------------------------------------------------------------------
// Data: class k is the arm r -> (r sin t, r cos t), t = 4k + 4r + noise, r in [0, 1).
struct Dataset {
  Tensor x;  // [N, 2] f32
  Tensor y;  // [N] i64
};

Dataset make_spirals(int64_t per_class) {
  const int64_t n = kClasses * per_class;
  std::vector<float> noise = ember::randn({n}).to_vector<float>();
  std::vector<float> xs(n * 2);
  std::vector<int64_t> ys(n);
  for (int64_t k = 0; k < kClasses; ++k) {
    for (int64_t i = 0; i < per_class; ++i) {
      const int64_t j = k * per_class + i;
      const double r = static_cast<double>(i) / per_class;
      const double t = 4.0 * k + 4.0 * r + 0.2 * noise[j];
      xs[2 * j] = static_cast<float>(r * std::sin(t));
      xs[2 * j + 1] = static_cast<float>(r * std::cos(t));
      ys[j] = k;
    }
  }
  return {ember::from_vector(xs, {n, 2}), ember::from_vector(ys, {n})};
}

// ---------------------------------------------------------------------------
// Model: parameters as plain tensors that require grad.
struct Mlp {
  Tensor w1, b1, w2, b2;

  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the PyTorch default for Linear.
  static Tensor init(ember::Shape shape, int64_t fan_in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return ember::uniform(std::move(shape), -bound, bound).requires_grad_();
  }
  Mlp()
      : w1(init({kHidden, 2}, 2)), b1(init({kHidden}, 2)),
        w2(init({kClasses, kHidden}, kHidden)), b2(init({kClasses}, kHidden)) {}

  Tensor forward(const Tensor& x) const {
    Tensor h = ember::linear(x, w1, b1).relu();  // [B, H]
    return ember::linear(h, w2, b2);             // [B, 3]
  }
  TensorList parameters() const { return {w1, b1, w2, b2}; }
};

double accuracy(const Mlp& model, const Dataset& d) {
  ember::NoGradGuard no_grad;
  Tensor pred = model.forward(d.x).argmax(1);  // [N] i64
  return ember::eq(pred, d.y).to(ember::DType::f32).mean().item();
}

int parse_int(const char* text, const char* flag) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "demo_spiral: %s needs a positive integer, got '%s'\n", flag, text);
    std::exit(2);
  }
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  int epochs = 200;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = parse_int(argv[++i], "--epochs");
    else if (!std::strcmp(argv[i], "--quiet")) quiet = true;
    else {
      std::fprintf(stderr, "usage: %s [--epochs N] [--quiet]\n", argv[0]);
      return 2;
    }
  }

  ember::manual_seed(0);
  const Dataset train = make_spirals(kPerClass);
  const Dataset test = make_spirals(kPerClass);  // same arms, fresh noise
  const int64_t n = train.x.size(0);
  Mlp model;

  std::printf("three spirals: %lld train / %lld test points, MLP 2-%lld-%lld, SGD lr %.2f, batch %lld\n",
              static_cast<long long>(n), static_cast<long long>(test.x.size(0)),
              static_cast<long long>(kHidden), static_cast<long long>(kClasses), kLr,
              static_cast<long long>(kBatch));
  if (!quiet) std::printf("%6s  %10s  %9s  %9s\n", "epoch", "train loss", "train acc", "test acc");

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    Tensor order = ember::randperm(n);  // a fresh shuffle each epoch
    double loss_sum = 0.0;
    int64_t batches = 0;
    for (int64_t start = 0; start < n; start += kBatch) {
      Tensor idx = order.narrow(0, start, std::min(kBatch, n - start));
      Tensor xb = ember::index_select(train.x, 0, idx);  // [B, 2]
      Tensor yb = ember::index_select(train.y, 0, idx);  // [B]

      Tensor loss = ember::cross_entropy(model.forward(xb), yb);
      loss.backward();

      ember::NoGradGuard no_grad;
      for (Tensor p : model.parameters()) {  // handles: the update writes the model's storage
        p.add_(p.grad(), -kLr);
        p.set_grad(Tensor());  // grads accumulate; clear them for the next step
      }
      loss_sum += loss.item();
      ++batches;
    }
    if (!quiet && (epoch == 1 || epoch % 10 == 0 || epoch == epochs))
      std::printf("%6d  %10.4f  %8.1f%%  %8.1f%%\n", epoch, loss_sum / batches,
                  100.0 * accuracy(model, train), 100.0 * accuracy(model, test));
  }
  const double test_acc = accuracy(model, test);

  const bool ok = test_acc >= kAccuracyFloor;
  std::printf("final test accuracy %.1f%% (floor %.0f%%): %s\n", 100.0 * test_acc,
              100.0 * kAccuracyFloor, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
