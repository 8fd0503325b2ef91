// datasets/Idx.h: the IDX format of MNIST and Fashion-MNIST, raw or gzipped.
//
// An IDX file is big-endian: two zero bytes, a type byte (0x08 = unsigned byte), a
// dimension count, one u32 per dimension, then the elements in row-major order:
//   images  00 00 08 03 | N | 28 | 28 | N*28*28 pixels   -> u8 [N, 28, 28]
//   labels  00 00 08 01 | N | N labels                   -> u8 [N]
// Only type 0x08 is read. gzip is detected by content (1f 8b), not by the ".gz" name.
//
// read_idx checks, and names the file in every error: the magic, the type byte, the
// dimension count, a header that claims more than `max_bytes` (refused before allocating),
// data shorter than the header says (truncated) and bytes after the data (trailing garbage).
#pragma once

#include <cstdint>
#include <string>

#include "ember/tensor/Tensor.h"

namespace ember {

struct IdxOptions {
  // Refuse files whose header claims more data than this (default 2 GiB).
  uint64_t max_bytes = uint64_t(2) << 30;
};

// u8 tensor with the file's dims, e.g. [60000, 28, 28] or [60000].
Tensor read_idx(const std::string& path, IdxOptions opt = {});

// Writes a u8 tensor (1 to 255 dims) as IDX, gzipped when `gzip`; atomic (temp file + rename).
void write_idx(const std::string& path, const Tensor& t, bool gzip = false);

}  // namespace ember
