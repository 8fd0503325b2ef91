// tensor/Print.cpp: Tensor::str() and operator<<, the printout in PyTorch's style.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Tensor.h"

namespace ember {

// ---------------------------------------------------------------------------
// Printing, in PyTorch's style:
//   tensor([[ 0.1000, -1.2000],
//           [ 3.0000,  4.0000]], requires_grad=True)
namespace {

struct Printer {
  std::vector<double> v;
  bool is_float = true;
  bool use_sci = false;
  bool integral = false;  // floats that are all whole numbers print as "1."
  int width = 1;
  int precision = 4;

  std::string one(double x) const {
    char buf[64];
    if (!is_float) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
    else if (std::isnan(x)) std::snprintf(buf, sizeof buf, "nan");
    else if (std::isinf(x)) std::snprintf(buf, sizeof buf, x > 0 ? "inf" : "-inf");
    else if (use_sci) std::snprintf(buf, sizeof buf, "%.*e", precision, x);
    else if (integral) std::snprintf(buf, sizeof buf, "%.0f.", x);
    else std::snprintf(buf, sizeof buf, "%.*f", precision, x);
    return buf;
  }
};

void print_rec(std::ostream& os, const Printer& p, const Shape& shape, size_t d, int64_t base,
               int indent) {
  const int64_t edge = 3;
  int64_t n = shape[d];
  int64_t inner = 1;
  for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  bool summarize = p.v.size() > 1000 && n > 2 * edge;
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && i == edge) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - edge;
    }
    if (d + 1 == shape.size()) {
      std::string s = p.one(p.v[static_cast<size_t>(base + i)]);
      os << std::string(static_cast<size_t>(std::max<int>(0, p.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      print_rec(os, p, shape, d + 1, base + i * inner, indent + 1);
    }
    if (i + 1 < n) {
      if (d + 1 == shape.size()) os << ", ";
      else os << "," << std::string(shape.size() - d - 1, '\n') << std::string(indent + 1, ' ');
    }
  }
  os << "]";
}

}  // namespace

namespace detail {
std::string (*node_name)(const Node&) = nullptr;
}  // namespace detail

namespace {
// "cross_entropy" -> "CrossEntropyBackward", as PyTorch names its grad_fn classes.
std::string backward_name(const std::string& op) {
  std::string out;
  bool up = true;
  for (char c : op) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out + "Backward";
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  Printer p;
  p.is_float = is_floating(dtype());
  p.v = to_vector<double>();
  double maxabs = 0, minabs = 0;
  bool first = true;
  for (double x : p.v)
    if (std::isfinite(x) && x != 0) {
      maxabs = first ? std::fabs(x) : std::max(maxabs, std::fabs(x));
      minabs = first ? std::fabs(x) : std::min(minabs, std::fabs(x));
      first = false;
    }
  if (p.is_float && !first) p.use_sci = maxabs >= 1e8 || minabs < 1e-4;
  p.integral = p.is_float && std::all_of(p.v.begin(), p.v.end(), [](double x) {
    return !std::isfinite(x) || (x == std::floor(x) && std::fabs(x) < 1e8);
  });
  if (p.integral) p.use_sci = false;
  for (double x : p.v) p.width = std::max<int>(p.width, static_cast<int>(p.one(x).size()));
  os << "tensor(";
  if (dim() == 0) os << p.one(p.v.empty() ? 0 : p.v[0]);
  else print_rec(os, p, shape(), 0, 0, 7);
  if (numel() == 0) os << ", size=" << fmt(shape());
  if (device().is_cuda()) os << ", device='" << device().str() << "'";
  if (!p.is_float || dtype() != DType::f32) {
    if (dtype() != DType::i64) os << ", dtype=" << dtype_name(dtype());
  }
  if (grad_fn()) os << ", grad_fn=<" << backward_name(detail::node_name ? detail::node_name(*grad_fn()) : "") << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ember
