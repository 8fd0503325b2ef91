// nn/Loss.h: loss modules wrapping the functional losses of tensor/Tensor.h.
// A loss maps (prediction, target) to a scalar (or per-element with Reduction::None).
#pragma once

#include <string>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace nn {

class Loss {
 public:
  explicit Loss(std::string name) : name_(std::move(name)) {}
  virtual ~Loss() = default;
  virtual Tensor forward(const Tensor& input, const Tensor& target);
  // The loss of a model's outputs (nn::Module::forward_outputs): forward(outputs[0], target) for
  // a model with one output. A loss over several heads overrides this instead of forward.
  virtual Tensor forward_outputs(const TensorList& outputs, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

inline Tensor Loss::forward(const Tensor&, const Tensor&) {
  EMBER_FAIL(name_, ": forward(input, target) is not defined; a loss over several model outputs defines ",
             "forward_outputs(outputs, target)");
}

inline Tensor Loss::forward_outputs(const TensorList& outputs, const Tensor& target) {
  EMBER_CHECK(outputs.size() == 1, name_, ": the model gave ", outputs.size(),
              " outputs, but this loss takes one (a loss over several outputs overrides forward_outputs)");
  return forward(outputs[0], target);
}

class L1Loss : public Loss {
 public:
  explicit L1Loss(Reduction red = Reduction::Mean) : Loss("L1Loss"), r(red) {}
  Tensor forward(const Tensor& x, const Tensor& y) override { return l1_loss(x, y, r); }
  Reduction r;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(Reduction red = Reduction::Mean) : Loss("MSELoss"), r(red) {}
  Tensor forward(const Tensor& x, const Tensor& y) override { return mse_loss(x, y, r); }
  Reduction r;
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions o = {}) : Loss("CrossEntropyLoss"), opt(o) {}
  Tensor forward(const Tensor& x, const Tensor& y) override { return cross_entropy(x, y, opt); }
  CrossEntropyOptions opt;
};

class NLLLoss : public Loss {
 public:
  explicit NLLLoss(Reduction red = Reduction::Mean, int64_t ignore = -100)
      : Loss("NLLLoss"), r(red), ignore_index(ignore) {}
  Tensor forward(const Tensor& x, const Tensor& y) override { return nll_loss(x, y, r, ignore_index); }
  Reduction r;
  int64_t ignore_index;
};

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(Reduction red = Reduction::Mean) : Loss("BCEWithLogitsLoss"), r(red) {}
  Tensor forward(const Tensor& x, const Tensor& y) override { return bce_with_logits(x, y, r); }
  Reduction r;
};

class KLDivLoss : public Loss {
 public:
  explicit KLDivLoss(KLReduction red = KLReduction::Mean) : Loss("KLDivLoss"), r(red) {}
  Tensor forward(const Tensor& x, const Tensor& y) override { return kl_div(x, y, r); }
  KLReduction r;
};

}  // namespace nn
}  // namespace ember
