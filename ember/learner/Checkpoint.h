// learner/Checkpoint.h: the file of named tensors behind Learner::save/load.
//
// Checkpoints are safetensors files (nn/Safetensors.h), so PyTorch and other tools
// read them. The file lays tensors out by dtype and name, as the reference does;
// save_tensors records the names in their given order in the metadata
// ("ember.order", a JSON list, next to "format": "ember") and load_tensors gives them
// back in that order. Files are written to path + ".tmp" and renamed, so a crash never
// leaves half a file under the real name. Reading checks every length and names the
// file and the tensor in the error.
//
// load_tensors still reads the earlier EMBERCK1 format: magic "EMBERCK1", u32 version 1,
// u64 count, then per entry u32 name_len, name, u8 dtype (0 f32, 1 f64, 2 i64, 3 u8),
// u32 ndim, i64 dims[ndim], u64 nbytes, the contiguous data (little-endian).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_tensors(const std::string& path, const NamedTensors& tensors);
NamedTensors load_tensors(const std::string& path);  // cpu tensors

}  // namespace learner
}  // namespace ember
