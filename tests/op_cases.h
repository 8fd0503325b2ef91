// tests/op_cases.h: the one table of op cases that drives the op tests.
//
// Each row names an op, the shapes and value ranges of its float inputs, and a
// function of those inputs. The table drives:
//   - GradCheck/<name>: backward vs central finite differences in f64 (every row);
//   - OpForward/<name>: forward vs a closed-form scalar formula (rows that have one);
//   - CUDA parity (tests/cuda/), the same rows on the GPU vs the CPU.
// Adding an op adds a row here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember {
namespace testing {

struct InputSpec {
  Shape shape;
  double lo = -2, hi = 2;
};

struct OpCase {
  std::string name;
  std::vector<InputSpec> inputs;
  std::function<Tensor(const TensorList&)> fn;
  // Closed-form forward for elementwise rows: applied per element after broadcasting.
  std::function<double(double)> unary_ref;
  std::function<double(double, double)> binary_ref;
  double atol = 1e-5, rtol = 1e-3;  // gradcheck tolerances
};

const std::vector<OpCase>& op_cases();
// gtest prints a row by its name (not as 168 raw bytes).
void PrintTo(const OpCase& c, std::ostream* os);
// The inputs of a case: uniform in each input's range, fixed seed, given dtype and device.
TensorList make_inputs(const OpCase& c, DType dtype = DType::f64, Device device = Device::cpu());

}  // namespace testing
}  // namespace ember
