// learner/Checkpoint.h: a small binary file of named tensors (Learner::save/load).
//
// Format (little-endian, as the host writes it):
//   magic "EMBERCK1" (8 bytes), u32 version (1), u64 count, then count entries:
//   u32 name_len, name bytes, u8 dtype (0 f32, 1 f64, 2 i64, 3 u8), u32 ndim,
//   i64 dims[ndim], u64 nbytes, nbytes of contiguous row-major data.
// Files are written to path + ".tmp" and renamed, so a crash never leaves half a file
// under the real name. Reading checks every length against the file size and names
// the file and the entry in the error.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tensor/Tensor.h"

namespace ember {
namespace learner {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_tensors(const std::string& path, const NamedTensors& tensors);
NamedTensors load_tensors(const std::string& path);  // cpu tensors

}  // namespace learner
}  // namespace ember
