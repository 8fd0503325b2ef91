// autograd/gradcheck.h: check an op's backward against finite differences.
//
//   auto r = ember::gradcheck([](const TensorList& in) { return my_op(in[0], in[1]); },
//                             {randn({3, 4}), randn({4})});
//   EXPECT_TRUE(r.ok) << r.message;
//
// Inputs are copied to f64 on the CPU. For a few fixed random directions v the
// scalar L = sum(v * fn(inputs)) is differentiated twice: by backward (analytic:
// fn(inputs).backward(v), so only fn's own backward runs) and by central differences
// (L(x + eps) - L(x - eps)) / 2 eps per input element (numeric). Integer inputs (labels) are passed through unchanged and not checked.
#pragma once

#include <functional>
#include <string>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int directions = 2;  // random output directions v
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // on failure: "input 1, element [2, 0]: analytic 0.5 vs numeric 0.25 (direction 0)"
  explicit operator bool() const { return ok; }
};

GradcheckResult gradcheck(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                          GradcheckOptions opt = {});

}  // namespace ember
