// tests/exercises/ex_helpers.h: small helpers shared by the exercise tests (Ex<id>_*).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember {
namespace ex {

// Every element of a and b within atol + rtol |b|; names the first bad element.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol = 1e-5,
                                            double rtol = 1e-5) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << fmt(a.shape()) << " vs " << fmt(b.shape());
  std::vector<double> va = a.to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> vb = b.to(DType::f64).contiguous().to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    const bool both_nan = std::isnan(va[i]) && std::isnan(vb[i]);
    if (!both_nan && !(std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i])))
      return ::testing::AssertionFailure() << "element " << i << ": got " << va[i] << ", expected " << vb[i];
  }
  return ::testing::AssertionSuccess();
}

// fn() throws ember::Error whose message contains `part`.
template <class F>
::testing::AssertionResult throws_with(F&& fn, const std::string& part) {
  try {
    fn();
  } catch (const Error& e) {
    if (std::string(e.what()).find(part) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "threw \"" << e.what() << "\", expected a message with \"" << part << "\"";
  }
  return ::testing::AssertionFailure() << "did not throw (expected \"" << part << "\")";
}

inline std::vector<float> values(const Tensor& t) { return t.contiguous().to_vector<float>(); }

}  // namespace ex
}  // namespace ember
