// nn/Module.h: the base of every layer: named parameters, buffers and children,
// train/eval, device moves, state_dict with PyTorch's dotted names, and a repr.
//
//   struct Net : Module {
//     std::shared_ptr<Linear> fc1, fc2;
//     Net() : Module("Net") {
//       fc1 = register_module("fc1", std::make_shared<Linear>(784, 100));
//       fc2 = register_module("fc2", std::make_shared<Linear>(100, 10));
//     }
//     Tensor forward(const Tensor& x) override { return fc2->forward(fc1->forward(x).sigmoid()); }
//   };
//
// Modules are held by std::shared_ptr; there is no holder/Impl split.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;  // ordered, like PyTorch's OrderedDict
using StateDict = NamedTensors;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The module's output. Every layer defines it; a model with several outputs (two heads)
  // defines forward_outputs instead, and forward(x) then fails saying so.
  virtual Tensor forward(const Tensor& x);
  // Every output, in a fixed order: {forward(x)} unless overridden. A two-headed model returns
  // {breed_logits, species_logits}; the Learner calls this, and hands all the outputs to the
  // loss (nn::Loss::forward_outputs) and output k to a metric (learner::Metric::output).
  virtual TensorList forward_outputs(const Tensor& x) { return {forward(x)}; }
  // forward(x), inside a module scope when anomaly mode is on (autograd/Node.h), so an
  // anomaly names the module: "in layer4.1.bn2 (BatchNorm2d)". Call children through it
  // ((*child)(x)) for their names to show; Sequential, ResNet and the Learner do.
  Tensor operator()(const Tensor& x);
  TensorList outputs(const Tensor& x);  // forward_outputs(x) in the same scope

  // --- structure -----------------------------------------------------------
  const std::string& type_name() const { return type_name_; }
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Every module below this one (depth first), with dotted names; this one is "".
  std::vector<std::pair<std::string, Module*>> named_modules();

  // --- modes and devices ---------------------------------------------------------
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves parameters and buffers in place: handles held by layers and optimizers follow.
  void to(Device d);
  void zero_grad();  // drops every parameter's grad

  // --- state -----------------------------------------------------------------------
  StateDict state_dict() const;  // parameters, then buffers, depth first: "0.weight", "layer1.0.bn1.running_mean"
  // Copies values in. strict: the key sets must match exactly; the error lists missing and unexpected keys.
  void load_state_dict(const StateDict& sd, bool strict = true);

  // --- printing ----------------------------------------------------------------------
  virtual std::string extra_repr() const { return ""; }  // "in_features=784, out_features=100, bias=True"
  std::string repr() const;                                // PyTorch's nested module printout

 protected:
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> m);

 private:
  class CallFrame;  // the anomaly scope of one call (Module.cpp)
  std::string type_name_;
  bool training_ = true;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// Replaces t's contents in place by src's (storage, layout, dtype), so every handle
// to t sees src. Used by Module::to and by optimizers' state moves.
void assign_in_place(const Tensor& t, const Tensor& src);

}  // namespace nn
}  // namespace ember
