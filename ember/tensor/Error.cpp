// tensor/Error.cpp: formatting helpers for ember::Error.
#include "ember/tensor/Error.h"

namespace ember {

std::string fmt(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return s.substr(0, n) + "... (" + std::to_string(s.size()) + " characters)";
}

namespace detail {
void throw_error(const std::string& msg) { throw Error(msg); }
void throw_internal(const char* expr, const char* file, int line, const std::string& msg) {
  throw Error(concat("internal error (a bug in Ember, please report it): ", expr, " failed at ",
                     file, ":", line, msg.empty() ? "" : ": ", msg));
}
}  // namespace detail

void exercise_not_implemented(const char* id, const char* title) {
  throw Error(detail::concat("not implemented: exercise ", id, " (", title, ")"));
}

}  // namespace ember
