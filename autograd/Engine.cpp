// autograd/Engine.cpp: the reverse-mode engine and graph recording.
//
// backward(loss):
//   1. Walk the graph from loss.grad_fn with an explicit stack (no recursion) and
//      count, for every node, how many edges point at it.
//   2. Start from the root with grad_out = 1 and process a node only when all the
//      nodes that feed it a gradient are done (Kahn's topological order). Grads
//      arriving at the same node are summed.
//   3. At a leaf's accumulator, add the grad into leaf.grad.
//   4. Unless retain_graph, drop each node's saved tensors once it ran.
// All of it runs with grad mode off: Ember computes first derivatives.
#include <unordered_map>

#include "autograd/Node.h"
#include "tensor/Raw.h"

namespace ember {

// ---------------------------------------------------------------------------
// Node lifetime
Node::~Node() {
  // Unlink children iteratively: a node that only we hold is emptied before it dies,
  // so destruction never recurses down a long chain.
  std::vector<std::shared_ptr<Node>> stack;
  for (auto& n : next)
    if (n) stack.push_back(std::move(n));
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) {
      for (auto& c : n->next)
        if (c) stack.push_back(std::move(c));
      n->backward = nullptr;  // saved tensors may hold graphs too (they are detached, but be safe)
    }
  }
}

// ---------------------------------------------------------------------------
// Saved tensors
SavedTensor::SavedTensor(const char* op, const Tensor& t)
    : op_(op), t_(t.defined() ? t.detach() : t), version_(t.defined() ? t.impl().storage->version : 0) {}

const Tensor& SavedTensor::get() const {
  if (t_.defined())
    EMBER_CHECK(t_.impl().storage->version == version_, op_,
                ": a tensor saved for backward (shape ", fmt(t_.shape()),
                ") was modified in place after the forward pass (version ", version_, " -> ",
                t_.impl().storage->version, "); use an out-of-place op or clone() it first");
  return t_;
}

// ---------------------------------------------------------------------------
// Recording
bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}
bool needs_grad(const TensorList& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
std::shared_ptr<Node> edge_for(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  TensorImpl& impl = t.impl();
  if (!impl.grad_accumulator) {
    auto acc = std::make_shared<Node>();
    acc->name = "AccumulateGrad";
    acc->leaf = t.impl_ptr();
    impl.grad_accumulator = acc;
  }
  return impl.grad_accumulator;
}
}  // namespace

void record(const char* name, const TensorList& inputs, Tensor& out, BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->next.reserve(inputs.size());
  node->input_shapes.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    node->next.push_back(edge_for(t));
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  node->backward = std::move(backward);
  out.impl().requires_grad = true;
  out.impl().grad_fn = std::move(node);
}

// ---------------------------------------------------------------------------
// The engine
namespace {

void accumulate_into_leaf(Node& acc, Tensor g) {
  std::shared_ptr<TensorImpl> leaf = acc.leaf.lock();
  if (!leaf) return;  // the leaf died; nobody can read its grad
  Tensor lt(leaf);
  EMBER_INTERNAL_ASSERT(g.shape() == lt.shape(), "grad ", fmt(g.shape()), " for leaf ", fmt(lt.shape()));
  if (!leaf->grad) {
    // Adopt the grad if nothing else can see its storage; otherwise copy it,
    // so a later in-place accumulation cannot change another tensor.
    if (!g.is_contiguous() || g.impl().storage.use_count() > 1) g = g.clone();
    leaf->grad = g.impl_ptr();
  } else {
    Tensor cur(leaf->grad);
    cur.add_(g);
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  EMBER_CHECK(root.requires_grad(), "backward: tensor ", fmt(root.shape()),
              " does not require grad (no input of its graph has requires_grad)");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    EMBER_CHECK(root.numel() == 1, "backward: grad can be implied only for one-element outputs; "
                "this output has shape ", fmt(root.shape()), ", so pass backward(grad)");
    grad = ones(root.shape(), TensorOptions(root.dtype(), root.device()));
  }
  EMBER_CHECK(grad.shape() == root.shape(), "backward: grad shape ", fmt(grad.shape()),
              " does not match output shape ", fmt(root.shape()));
  NoGradGuard no_grad;

  std::shared_ptr<Node> start = root.grad_fn() ? root.grad_fn() : edge_for(root);

  // 1. Dependency counts, iteratively.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{start.get()};
  deps[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& c : n->next) {
      if (!c) continue;
      auto it = deps.find(c.get());
      if (it == deps.end()) {
        deps[c.get()] = 1;
        stack.push_back(c.get());
      } else {
        ++it->second;
      }
    }
  }

  // 2. Process in topological order.
  std::unordered_map<Node*, Tensor> grads;
  grads[start.get()] = grad;
  std::vector<Node*> ready{start.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(grads[n]);
    grads.erase(n);
    if (n->name == "AccumulateGrad") {
      if (g.defined()) accumulate_into_leaf(*n, g);
      continue;
    }
    EMBER_CHECK(!n->released, n->name, ": backward through a graph a second time; its saved "
                "tensors were freed. Pass retain_graph=true to the first backward");
    TensorList in_grads;
    if (g.defined()) {
      in_grads = n->backward(g);
      EMBER_INTERNAL_ASSERT(in_grads.size() == n->next.size(), n->name, " returned ",
                            in_grads.size(), " grads for ", n->next.size(), " inputs");
    }
    if (!retain_graph) {
      n->backward = nullptr;
      n->released = true;
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* c = n->next[i].get();
      if (!c) continue;
      if (i < in_grads.size() && in_grads[i].defined()) {
        EMBER_INTERNAL_ASSERT(in_grads[i].shape() == n->input_shapes[i], n->name, " grad ", i,
                              " has shape ", fmt(in_grads[i].shape()), ", input was ",
                              fmt(n->input_shapes[i]));
        Tensor& acc = grads[c];
        acc = acc.defined() ? raw::binary(BinaryOp::Add, acc, in_grads[i]) : in_grads[i];
      }
      if (--deps[c] == 0) ready.push_back(c);
    }
  }
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  run_backward(*this, grad, retain_graph);
}

}  // namespace ember
