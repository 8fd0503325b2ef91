// nn/Safetensors.h: reading and writing HuggingFace's safetensors format, which is
// also the format of Ember's own checkpoints (learner/Checkpoint.h).
//
// A safetensors file is
//   u64 N (little-endian), N bytes of JSON header, then the byte buffer.
// The header maps each tensor name to {"dtype": "F32", "shape": [4, 3],
// "data_offsets": [begin, end]} (offsets into the buffer, row-major contiguous data,
// little-endian), plus an optional "__metadata__": {string: string}.
//
// Writing follows the reference implementation (the `safetensors` Rust crate): the
// tensors are laid out sorted by dtype (widest first: I64, F64, F32, ..., U8) and
// then by name, the header lists them in that order after "__metadata__", and the
// header is padded with spaces to a multiple of 8 bytes. The file is written to
// path + ".tmp" and renamed, so a crash never leaves half a file under the real name.
// Tensors on any device are moved to the CPU and made contiguous first.
//
// Reading checks everything before allocating tensor memory: the header length
// against the file size and against SafetensorsLimits::max_header_bytes, the JSON,
// every dtype (an unknown one is named), shape x itemsize == end - begin, the
// offsets against the buffer, the element counts against
// SafetensorsLimits::max_elements, and, as the reference does, that the tensors
// cover the buffer exactly: no gaps, no overlaps, no bytes left over. Errors read
//   load_safetensors: /x/w.safetensors: tensor 'fc.weight': data_offsets [0, 400] past
//   the end of the 120-byte buffer (truncated file?)
//
// Ember computes in f32, f64, i64 and u8. Other dtypes are converted on read:
// F16 and BF16 -> f32; I32, I16, I8, U32, U16 -> i64; BOOL -> u8. Other dtypes
// (U64, F8_*, ...) are refused with their name. Tensors come back on the CPU, in the
// order their data lies in the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ember/nn/Module.h"

namespace ember {
namespace nn {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsLimits {
  uint64_t max_header_bytes = 100'000'000;     // the reference's limit
  uint64_t max_elements = uint64_t(1) << 36;   // all tensors together (256 GiB of f32)
};

struct SafetensorsFile {
  NamedTensors tensors;
  Metadata metadata;
};

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});
SafetensorsFile load_safetensors(const std::string& path, const SafetensorsLimits& limits = {});

// --- shared with the .pth reader (nn/Pth.cpp) -------------------------------------
// Bytes per element of a safetensors dtype name ("F16" -> 2); 0 when Ember cannot read it.
size_t safetensors_dtype_size(const std::string& dtype);
// A new cpu tensor of `shape` from numel(shape) little-endian elements of `dtype` at
// `bytes`, converted to Ember's dtype as listed above.
Tensor tensor_from_bytes(const void* bytes, const std::string& dtype, const Shape& shape);

}  // namespace nn
}  // namespace ember
