// tensor/Functors.cpp: the names of the elementwise kernels of tensor/ElementwiseOps.def, as
// errors show them, and which binary kernels take float inputs only.
#include "ember/tensor/Functors.h"

#include <cctype>
#include <string>

namespace ember {
namespace {

// The name a user knows the kernel by: the list's name in snake_case ("SigmoidBackward" ->
// "sigmoid_backward"); a scalar form is reported as the op the user called ("AddScalar" ->
// "add" for `x + 2`, "RDivScalar" -> "div" for `2 / x`).
std::string user_name(const char* kernel) {
  std::string s;
  for (const char* c = kernel; *c; ++c) {
    if (std::isupper(static_cast<unsigned char>(*c)) && c != kernel) s += '_';
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  }
  const std::string scalar = "_scalar";
  if (s.size() > scalar.size() && s.compare(s.size() - scalar.size(), scalar.size(), scalar) == 0)
    s.erase(s.size() - scalar.size());
  if (s == "r_div") s = "div";
  return s;
}

}  // namespace

const char* op_name(UnaryOp op) {
  static const std::string names[] = {
#define EMBER_UNARY(Name, expr) user_name(#Name),
#include "ember/tensor/ElementwiseOps.def"
  };
  return names[static_cast<int>(op)].c_str();
}

const char* op_name(BinaryOp op) {
  static const std::string names[] = {
#define EMBER_BINARY(Name, expr) user_name(#Name),
#define EMBER_BINARY_FLOAT(Name, expr) user_name(#Name),
#include "ember/tensor/ElementwiseOps.def"
  };
  return names[static_cast<int>(op)].c_str();
}

bool binary_is_float_only(BinaryOp op) {
  switch (op) {
#define EMBER_BINARY_FLOAT(Name, expr) \
  case BinaryOp::Name: return true;
#include "ember/tensor/ElementwiseOps.def"
    default: return false;
  }
}

}  // namespace ember
