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
//
// Anomaly mode (see Node.h) adds a NaN/Inf check of each recorded output (in record) and
// of each grad a node's backward returns (in run_backward).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

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
// Anomaly mode
namespace {
bool anomaly_from_env() {
  const char* v = std::getenv("EMBER_DETECT_ANOMALY");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}
// -1: not set on this thread, follow the environment (read once).
thread_local signed char t_anomaly = -1;
thread_local AnomalyScope* t_scope = nullptr;

// True when every element is finite: sum(x * 0) is NaN exactly when some x is NaN or Inf.
// One kernel pair and a one-element read on any device.
bool all_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype()) || t.numel() == 0) return true;
  Dims dims;
  for (int64_t d = 0; d < t.dim(); ++d) dims.push_back(d);
  Tensor z = raw::unary(UnaryOp::MulScalar, t, 0.0);
  if (!dims.empty()) z = raw::reduce(ReduceOp::Sum, z, dims, false);
  return z.item() == 0.0;
}

// "3 NaN and 1 Inf" (error path only: copies to the CPU).
std::string count_bad(const Tensor& t) {
  Tensor c = t.detach().cpu().to(DType::f64).contiguous();
  const double* p = c.data<double>();
  int64_t nan = 0, inf = 0;
  for (int64_t i = 0; i < c.numel(); ++i) {
    if (std::isnan(p[i])) ++nan;
    else if (std::isinf(p[i])) ++inf;
  }
  std::string s;
  if (nan) s += std::to_string(nan) + " NaN";
  if (inf) s += std::string(nan ? " and " : "") + std::to_string(inf) + " Inf";
  return s + " of " + std::to_string(c.numel()) + " elements";
}

std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + fmt(shapes[i]);
  return s.empty() ? "none" : s;
}

std::string scope_text(const std::shared_ptr<const std::string>& where) {
  return where ? " in " + *where : " (outside any module; call modules through operator() to name them)";
}

void check_forward(const char* name, const TensorList& inputs, const Tensor& out) {
  if (all_finite(out)) return;
  std::vector<Shape> shapes;
  std::string bad_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    shapes.push_back(inputs[i].defined() ? inputs[i].shape() : Shape{});
    if (!all_finite(inputs[i])) bad_inputs += (bad_inputs.empty() ? "" : ", ") + std::to_string(i);
  }
  const AnomalyScope* sc = AnomalyScope::current();
  EMBER_FAIL("anomaly: forward of '", name, "' produced ", count_bad(out), " (output ", fmt(out.shape()),
             ", inputs ", shapes_text(shapes), "; ",
             bad_inputs.empty() ? std::string("the inputs were finite")
                                : "input " + bad_inputs + " already held NaN/Inf, so look before this op",
             ")", scope_text(sc ? sc->where_ptr() : nullptr));
}

void check_backward(const Node& n, const Tensor& grad_out, const TensorList& grads) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (all_finite(grads[i])) continue;
    EMBER_FAIL("anomaly: backward of '", n.name, "' returned ", count_bad(grads[i]), " in the grad of input ", i,
               " (input shapes ", shapes_text(n.input_shapes), "; grad_out ", fmt(grad_out.shape()),
               all_finite(grad_out) ? " was finite" : " already held NaN/Inf", ");", " its forward ran",
               scope_text(n.scope));
  }
}
}  // namespace

bool anomaly_enabled() {
  if (t_anomaly < 0) {
    static const bool from_env = anomaly_from_env();
    t_anomaly = from_env ? 1 : 0;
  }
  return t_anomaly != 0;
}
void set_anomaly_enabled(bool on) { t_anomaly = on ? 1 : 0; }

AnomalyScope::AnomalyScope(const void* owner, std::string where)
    : owner_(owner), where_(std::make_shared<const std::string>(std::move(where))), parent_(t_scope) {
  t_scope = this;
}
AnomalyScope::~AnomalyScope() { t_scope = parent_; }
const AnomalyScope* AnomalyScope::current() { return t_scope; }

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

// Lets Tensor::str() name a result's grad_fn ("grad_fn=<LogBackward>").
namespace {
[[maybe_unused]] const bool g_node_name_set = (detail::node_name = [](const Node& n) { return n.name; }, true);
}  // namespace

void record(const char* name, const TensorList& inputs, Tensor& out, BackwardFn backward) {
  const bool anomaly = anomaly_enabled();
  if (anomaly) check_forward(name, inputs, out);
  auto node = std::make_shared<Node>();
  if (anomaly && t_scope) node->scope = t_scope->where_ptr();
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
  const bool anomaly = anomaly_enabled();
  EMBER_CHECK(!anomaly || all_finite(grad), "anomaly: backward: the grad passed in holds ", count_bad(grad));

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
      if (anomaly) check_backward(*n, g, in_grads);
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
