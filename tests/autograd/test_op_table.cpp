// tests/autograd/test_op_table.cpp: GradCheck/<op> and OpForward/<op> for every row
// of the op-case table (tests/op_cases.h).
#include <gtest/gtest.h>

#include <cmath>

#include "op_cases.h"

using namespace ember;
using ember::testing::OpCase;
using ember::testing::op_cases;

namespace {

class OpTable : public ::testing::TestWithParam<OpCase> {};
class OpFormula : public ::testing::TestWithParam<OpCase> {};

std::vector<OpCase> rows_with_formula() {
  std::vector<OpCase> out;
  for (const OpCase& c : op_cases())
    if (c.unary_ref || c.binary_ref) out.push_back(c);
  return out;
}

// Input i broadcast to `shape`, as doubles (the f32 values the op saw).
std::vector<double> raw_expand_values(const TensorList& in, size_t i, const Shape& shape) {
  return in[i].expand(shape).contiguous().to_vector<double>();
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) { return info.param.name; }

// backward vs central finite differences, in f64
TEST_P(OpTable, GradCheck) {
  const OpCase& c = GetParam();
  GradcheckOptions opt;
  opt.atol = c.atol;
  opt.rtol = c.rtol;
  GradcheckResult r = gradcheck(c.fn, ember::testing::make_inputs(c), opt);
  EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
}

// forward vs the closed-form scalar formula, in f32
TEST_P(OpFormula, Forward) {
  const OpCase& c = GetParam();
  TensorList in = ember::testing::make_inputs(c, DType::f32);
  Tensor out = c.fn(in);
  ASSERT_EQ(out.dtype(), DType::f32);
  std::vector<double> got = out.to_vector<double>();
  std::vector<double> a = raw_expand_values(in, 0, out.shape());
  std::vector<double> b;
  if (c.binary_ref) b = raw_expand_values(in, 1, out.shape());
  for (size_t i = 0; i < got.size(); ++i) {
    double want = c.unary_ref ? c.unary_ref(a[i]) : c.binary_ref(a[i], b[i]);
    EXPECT_NEAR(got[i], want, 1e-5 + 1e-5 * std::fabs(want)) << c.name << " element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTable, ::testing::ValuesIn(op_cases()), case_name);
// The other rows' forward values are checked against PyTorch by tests/golden.
INSTANTIATE_TEST_SUITE_P(Ops, OpFormula, ::testing::ValuesIn(rows_with_formula()), case_name);

}  // namespace
