// autograd/Node.h: one node of the backward graph, and the helpers ops use to record it.
//
// Every differentiable op, after computing its result, calls
//
//   if (needs_grad({x, w}))
//     record("mul", {x, w}, out, [sx = save(x), sw = save(w)](const Tensor& grad_out) {
//       return TensorList{grad_out * sw.get(), grad_out * sx.get()};
//     });
//
// which hangs a Node on `out`: its backward lambda maps grad_out to one grad per
// input (an undefined Tensor means "no grad"). The engine (autograd/Engine.cpp)
// walks these nodes from the loss back to the leaves.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ember/tensor/Tensor.h"

namespace ember {

struct Node;
using BackwardFn = std::function<TensorList(const Tensor& grad_out)>;

struct Node {
  std::string name;                          // the op, for errors: "matmul"
  std::vector<std::shared_ptr<Node>> next;   // one per input; null if that input needs no grad
  std::vector<Shape> input_shapes;           // to check the grads backward returns
  BackwardFn backward;                       // empty once released (after backward)
  std::weak_ptr<TensorImpl> leaf;            // set only on a leaf's grad accumulator
  std::shared_ptr<const std::string> scope;  // anomaly mode only: the module the forward ran in
  bool released = false;

  ~Node();  // iterative, so a 100,000-node chain does not overflow the stack
};

// A tensor kept for backward. It remembers the storage version at save time, so a
// later in-place write is caught with a clear error instead of a wrong gradient.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const char* op, const Tensor& t);
  const Tensor& get() const;

 private:
  const char* op_ = "";
  Tensor t_;
  uint64_t version_ = 0;
};
inline SavedTensor save(const char* op, const Tensor& t) { return SavedTensor(op, t); }

// True when grad mode is on and any input requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const TensorList& inputs);
// Attaches a Node to `out` (see the file comment). `out` must be a fresh result.
void record(const char* name, const TensorList& inputs, Tensor& out, BackwardFn backward);

// The engine: runs backward from `root` with `grad` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

// ---------------------------------------------------------------------------
// Anomaly mode (docs/reliability.md). Off by default; on when the environment has
// EMBER_DETECT_ANOMALY=1 (read once), or inside a DetectAnomalyGuard (per thread).
// When on, record() checks every recorded op's output for NaN/Inf, and the engine checks
// every grad a backward returns; the first bad one throws ember::Error naming the op, its
// input shapes and the module it ran in:
//   anomaly: forward of 'log' produced 1 NaN of 4 elements (output [4], inputs [4]; the inputs
//   were finite) in head.1 (LogLayer)
// When off, the only cost is one bool test per recorded op.
bool anomaly_enabled();
void set_anomaly_enabled(bool on);  // this thread
struct DetectAnomalyGuard {
  explicit DetectAnomalyGuard(bool on = true) : prev_(anomaly_enabled()) { set_anomaly_enabled(on); }
  ~DetectAnomalyGuard() { set_anomaly_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

// Where ops run, for anomaly messages: a per-thread stack of frames, pushed by
// nn::Module::operator() while anomaly mode is on ("layer4.1.bn2 (BatchNorm2d)"). `owner`
// identifies who pushed the frame (nn uses the Module*). record() keeps the innermost frame's
// text on the Node, so a backward anomaly can say where its forward ran.
class AnomalyScope {
 public:
  AnomalyScope(const void* owner, std::string where);
  ~AnomalyScope();
  AnomalyScope(const AnomalyScope&) = delete;
  AnomalyScope& operator=(const AnomalyScope&) = delete;
  static const AnomalyScope* current();  // innermost frame of this thread, or null
  const void* owner() const { return owner_; }
  const std::string& where() const { return *where_; }
  const std::shared_ptr<const std::string>& where_ptr() const { return where_; }

 private:
  const void* owner_;
  std::shared_ptr<const std::string> where_;
  AnomalyScope* parent_;
};

}  // namespace ember
