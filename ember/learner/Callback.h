// learner/Callback.h: the training-loop events, the Callback base, and the
// Cancel*Exception family that callbacks throw to skip part of the loop.
//
// Events fire in fastai's order (see Learner.h for the loop). Each phase X runs as
//   before_X; body; [after_cancel_X if the body threw CancelXException]; after_X
// A CancelX thrown inside a nested phase unwinds the inner phases without their
// after_ events, up to X, which then fires after_cancel_X and after_X.
#pragma once

#include <exception>
#include <string>

namespace ember {
namespace learner {

class Learner;

enum class Event {
  before_fit, before_epoch, before_train, before_batch, after_pred, after_loss,
  before_backward, after_cancel_backward, after_backward,
  before_step, after_cancel_step, after_step,
  after_cancel_batch, after_batch, after_cancel_train, after_train,
  before_validate, after_cancel_validate, after_validate,
  after_cancel_epoch, after_epoch, after_cancel_fit, after_fit,
};
const char* event_name(Event e);  // "before_fit"

// ---------------------------------------------------------------------------
// Control flow: throw from a callback to cancel the enclosing phase.
struct CancelFitException : std::exception {
  const char* what() const noexcept override { return "CancelFitException"; }
};
struct CancelEpochException : std::exception {
  const char* what() const noexcept override { return "CancelEpochException"; }
};
struct CancelTrainException : std::exception {
  const char* what() const noexcept override { return "CancelTrainException"; }
};
struct CancelValidException : std::exception {
  const char* what() const noexcept override { return "CancelValidException"; }
};
struct CancelBatchException : std::exception {
  const char* what() const noexcept override { return "CancelBatchException"; }
};
struct CancelBackwardException : std::exception {
  const char* what() const noexcept override { return "CancelBackwardException"; }
};
struct CancelStepException : std::exception {
  const char* what() const noexcept override { return "CancelStepException"; }
};

// ---------------------------------------------------------------------------
// A callback overrides the events it cares about and reads or changes the
// learner's state through learn() (xb, yb, pred, loss, epoch, iter, training, ...).
// Callbacks run sorted by order (stable): TrainEval -10, user 0, Recorder 50,
// schedulers 60, progress 70.
class Callback {
 public:
  explicit Callback(std::string name = "Callback", int order = 0) : name_(std::move(name)), order_(order) {}
  virtual ~Callback() = default;

  const std::string& name() const { return name_; }
  int order() const { return order_; }
  Learner& learn() const;  // throws when the callback is not attached to a learner
  bool attached() const { return learn_ != nullptr; }
  void call(Event e);  // runs the method for e

  virtual void before_fit() {}
  virtual void before_epoch() {}
  virtual void before_train() {}
  virtual void before_batch() {}
  virtual void after_pred() {}
  virtual void after_loss() {}
  virtual void before_backward() {}
  virtual void after_cancel_backward() {}
  virtual void after_backward() {}
  virtual void before_step() {}
  virtual void after_cancel_step() {}
  virtual void after_step() {}
  virtual void after_cancel_batch() {}
  virtual void after_batch() {}
  virtual void after_cancel_train() {}
  virtual void after_train() {}
  virtual void before_validate() {}
  virtual void after_cancel_validate() {}
  virtual void after_validate() {}
  virtual void after_cancel_epoch() {}
  virtual void after_epoch() {}
  virtual void after_cancel_fit() {}
  virtual void after_fit() {}

 private:
  friend class Learner;
  std::string name_;
  int order_;
  Learner* learn_ = nullptr;
};

}  // namespace learner
}  // namespace ember
