// nn/Module.cpp: parameter registry, modes, device moves, state_dict, repr.
#include "ember/nn/Module.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>

#include "ember/autograd/Node.h"

namespace ember {
namespace nn {

// ---------------------------------------------------------------------------
// The call operator: forward inside a module scope while anomaly mode is on. The dotted
// path is found from the enclosing module's frame: a direct child by pointer, else any
// descendant (a parent that called forward() directly skips a level); a module with no
// enclosing frame is the root, named by its type.
namespace {
thread_local std::vector<std::string> t_paths;  // dotted path of each open module frame

std::string path_in(Module* parent, const std::string& parent_path, const Module* m) {
  auto join = [&](const std::string& n) { return parent_path.empty() ? n : parent_path + "." + n; };
  for (auto& [n, c] : parent->named_children())
    if (c.get() == m) return join(n);
  for (auto& [n, d] : parent->named_modules())
    if (d == m && !n.empty()) return join(n);
  return "";
}
}  // namespace

// The frame of one call: an anomaly scope naming the module, and its path for the children.
class Module::CallFrame {
 public:
  explicit CallFrame(Module* m) {
    if (!anomaly_enabled()) return;
    const AnomalyScope* top = AnomalyScope::current();
    std::string path;
    if (top != nullptr && !t_paths.empty())
      path = path_in(static_cast<Module*>(const_cast<void*>(top->owner())), t_paths.back(), m);
    scope_ = std::make_unique<AnomalyScope>(m, path.empty() ? m->type_name_ : path + " (" + m->type_name_ + ")");
    t_paths.push_back(path);
  }
  ~CallFrame() {
    if (scope_) t_paths.pop_back();
  }
  CallFrame(const CallFrame&) = delete;
  CallFrame& operator=(const CallFrame&) = delete;

 private:
  std::unique_ptr<AnomalyScope> scope_;
};

Tensor Module::operator()(const Tensor& x) {
  CallFrame frame(this);
  return forward(x);
}

TensorList Module::outputs(const Tensor& x) {
  CallFrame frame(this);
  return forward_outputs(x);
}

Tensor Module::forward(const Tensor&) {
  EMBER_FAIL(type_name_, ": forward(x) is not defined; a model with several outputs defines forward_outputs(x) ",
             "(call that, or outputs(x))");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  EMBER_CHECK(t.defined(), type_name_, ": parameter '", name, "' is undefined");
  if (requires_grad && !t.requires_grad()) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  EMBER_CHECK(m != nullptr, type_name_, ": child module '", name, "' is null");
  for (auto& c : children_) EMBER_CHECK(c.first != name, type_name_, ": child module '", name, "' registered twice");
  children_.emplace_back(name, std::move(m));
}

namespace {
void collect(const Module& m, const std::string& prefix, bool recurse, bool params, NamedTensors& out,
             const NamedTensors& own) {
  for (auto& [n, t] : own) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (auto& [n, c] : m.named_children()) {
    NamedTensors sub = params ? c->named_parameters(true) : c->named_buffers(true);
    for (auto& [sn, t] : sub) out.emplace_back(prefix + n + "." + sn, t);
  }
}
}  // namespace

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect(*this, "", recurse, true, out, params_);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& p : named_parameters(recurse)) out.push_back(p.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect(*this, "", recurse, false, out, buffers_);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_)
    for (auto& [sn, m] : c->named_modules()) out.emplace_back(sn.empty() ? n : n + "." + sn, m);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void assign_in_place(const Tensor& t, const Tensor& src) {
  TensorImpl& d = t.impl();
  const TensorImpl& s = src.impl();
  d.storage = s.storage;
  d.shape = s.shape;
  d.strides = s.strides;
  d.offset = s.offset;
  d.dtype = s.dtype;
}

void Module::to(Device dev) {
  NoGradGuard ng;
  for (auto& [n, t] : named_parameters()) {
    if (t.device() == dev) continue;
    assign_in_place(t, t.detach().to(dev));
    if (t.grad().defined()) t.set_grad(t.grad().to(dev));
  }
  for (auto& [n, t] : named_buffers())
    if (t.device() != dev) assign_in_place(t, t.to(dev));
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.set_grad(Tensor());
}

StateDict Module::state_dict() const {
  // PyTorch order: a module's own parameters, then its buffers, then each child's.
  StateDict out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& prefix) {
    for (auto& [n, t] : m.params_) out.emplace_back(prefix + n, t);
    for (auto& [n, t] : m.buffers_) out.emplace_back(prefix + n, t);
    for (auto& [n, c] : m.children_) walk(*c, prefix + n + ".");
  };
  walk(*this, "");
  return out;
}

void Module::load_state_dict(const StateDict& sd, bool strict) {
  StateDict mine = state_dict();
  std::set<std::string> have, given;
  for (auto& kv : mine) have.insert(kv.first);
  for (auto& kv : sd) given.insert(kv.first);
  std::vector<std::string> missing, unexpected;
  for (auto& k : have) if (!given.count(k)) missing.push_back(k);
  for (auto& k : given) if (!have.count(k)) unexpected.push_back(k);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::ostringstream os;
    os << "load_state_dict: " << type_name_ << ": keys do not match.";
    auto list = [&](const char* what, const std::vector<std::string>& ks) {
      if (ks.empty()) return;
      os << " " << what << " (" << ks.size() << "):";
      for (size_t i = 0; i < ks.size(); ++i) os << (i ? ", " : " ") << ks[i];
      os << ".";
    };
    list("Missing keys", missing);
    list("Unexpected keys", unexpected);
    EMBER_FAIL(os.str());
  }
  NoGradGuard ng;
  for (auto& [k, src] : sd) {
    const std::string& key = k;  // clang < 16 cannot capture a structured binding (fuzz build)
    auto it = std::find_if(mine.begin(), mine.end(), [&](auto& kv) { return kv.first == key; });
    if (it == mine.end()) continue;
    Tensor dst = it->second;
    EMBER_CHECK(dst.shape() == src.shape(), "load_state_dict: ", type_name_, ": '", k, "' has shape ",
                fmt(src.shape()), " in the state dict but ", fmt(dst.shape()), " in the model");
    dst.copy_(src);
  }
}

std::string Module::repr() const {
  std::ostringstream os;
  os << type_name_ << "(" << extra_repr();
  if (!children_.empty()) {
    os << "\n";
    for (auto& [n, c] : children_) {
      std::string sub = c->repr();
      // indent nested lines by two spaces
      std::string ind;
      for (char ch : sub) {
        ind += ch;
        if (ch == '\n') ind += "  ";
      }
      os << "  (" << n << "): " << ind << "\n";
    }
  }
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace nn
}  // namespace ember
