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

#include "tensor/Tensor.h"

namespace ember {

struct Node;
using BackwardFn = std::function<TensorList(const Tensor& grad_out)>;

struct Node {
  std::string name;                          // the op, for errors: "matmul"
  std::vector<std::shared_ptr<Node>> next;   // one per input; null if that input needs no grad
  std::vector<Shape> input_shapes;           // to check the grads backward returns
  BackwardFn backward;                       // empty once released (after backward)
  std::weak_ptr<TensorImpl> leaf;            // set only on a leaf's grad accumulator
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

}  // namespace ember
