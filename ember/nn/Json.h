// nn/Json.h: JSON from files Ember did not write (safetensors headers, checkpoint metadata).
//   * Nesting is limited (checked in one pass before parsing), so a hostile header can neither
//     exhaust the stack nor build a value whose destruction or printing would.
//   * Objects are sorted maps: a header of n tensors parses in O(n log n). Insertion-ordered
//     objects (nlohmann::ordered_json) search their keys linearly, O(n^2): 300k tensors took 75 s.
//   * Errors name `who` and cut what they quote (clip, tensor/Error.h).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ember {
namespace nn {

constexpr int kMaxJsonDepth = 32;

nlohmann::json parse_untrusted_json(const std::string& text, const std::string& who, int max_depth = kMaxJsonDepth);

}  // namespace nn
}  // namespace ember
