// nn/Json.cpp: a depth-limited parse of untrusted JSON.
#include "ember/nn/Json.h"

#include <algorithm>

#include "ember/tensor/Error.h"

namespace ember {
namespace nn {

namespace {
// The deepest nesting of [ and { outside strings, in one pass; stops counting past `limit`.
// (nlohmann's parse callback could refuse depth too, but its parser then rescans the enclosing
// object at every object end: O(n^2) for a header of n tensors.)
int nesting(const std::string& text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}
}  // namespace

nlohmann::json parse_untrusted_json(const std::string& text, const std::string& who, int max_depth) {
  EMBER_CHECK(nesting(text, max_depth) <= max_depth, who, ": the JSON nests deeper than ", max_depth,
              " levels (a hostile or broken file)");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL(who, ": not valid JSON: ", clip(e.what(), 200));
  }
}

}  // namespace nn
}  // namespace ember
