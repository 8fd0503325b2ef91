// tensor/Error.h: the one error type of Ember, and the checks that throw it.
//
//   EMBER_CHECK(cond, "matmul", ": ", fmt(a.shape()), " @ ", ...)
//
// A user error reads "<op>: <what went wrong, with shapes or values>". Internal
// invariants use EMBER_INTERNAL_ASSERT, whose message says it is a bug in Ember.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// "[64, 784]"
std::string fmt(const std::vector<int64_t>& shape);
// Text from a file Ember did not write, cut for a message: at most `n` characters, then
// "... (<length> characters)". A hostile file's 100 MB name is not echoed in full.
std::string clip(const std::string& s, size_t n = 80);

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  ((os << parts), ...);
  return os.str();
}
[[noreturn]] void throw_error(const std::string& msg);
[[noreturn]] void throw_internal(const char* expr, const char* file, int line, const std::string& msg);
}  // namespace detail

// The stub of a student workspace (exercises/README.md): `scripts/exercise new` replaces
// each block between "// BEGIN EXERCISE <id>" and "// END EXERCISE" with
//   EMBER_EXERCISE_STUB("<id>", "<title>");
// which throws ember::Error("not implemented: exercise <id> (<title>)").
[[noreturn]] void exercise_not_implemented(const char* id, const char* title);

}  // namespace ember

// Throws ember::Error with the parts joined, e.g.
//   EMBER_CHECK(a == b, "add: cannot broadcast ", fmt(x), " with ", fmt(y));
#define EMBER_CHECK(cond, ...)                                            \
  do {                                                                    \
    if (!(cond)) ::ember::detail::throw_error(::ember::detail::concat(__VA_ARGS__)); \
  } while (0)

#define EMBER_FAIL(...) ::ember::detail::throw_error(::ember::detail::concat(__VA_ARGS__))

#define EMBER_EXERCISE_STUB(id, title) ::ember::exercise_not_implemented(id, title)

#define EMBER_INTERNAL_ASSERT(cond, ...)                                              \
  do {                                                                                \
    if (!(cond))                                                                      \
      ::ember::detail::throw_internal(#cond, __FILE__, __LINE__, ::ember::detail::concat(__VA_ARGS__)); \
  } while (0)
