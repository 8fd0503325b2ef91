// datasets/Idx.cpp: IDX reader and writer (see Idx.h for the format).
#include "ember/datasets/Idx.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "ember/datasets/Files.h"

namespace ember {

namespace {
constexpr int kMaxDims = 16;
constexpr uint64_t kGzipChunk = uint64_t(64) << 20;  // gzip data is read in 64 MiB steps

const char* idx_type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// "60000x28x28"
std::string dims_text(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}
}  // namespace

Tensor read_idx(const std::string& path, IdxOptions opt) {
  ByteReader in(path, "idx");
  const char* data_word = in.gzip() ? "decompressed bytes" : "bytes";

  // --- magic: 00 00 <type> <ndims> ------------------------------------------------
  uint8_t magic[4] = {0, 0, 0, 0};
  size_t got = in.read(magic, 4);
  EMBER_CHECK(got == 4, "idx: ", path, ": file too short for an IDX header (", got, " ",
              data_word, ", need at least 4)");
  uint32_t m = be32(magic);
  EMBER_CHECK(magic[0] == 0 && magic[1] == 0, "idx: ", path, ": bad magic number ", hex32(m),
              ": not an IDX file (expected 00 00 <type> <ndims>, e.g. 0x00000803 for images or "
              "0x00000801 for labels)");
  EMBER_CHECK(magic[2] == 0x08, "idx: ", path, ": magic ", hex32(m), " has element type 0x",
              std::hex, int(magic[2]), std::dec, " (", idx_type_name(magic[2]),
              "); only 0x08 (unsigned byte) IDX files are supported");
  int ndims = magic[3];
  EMBER_CHECK(ndims >= 1 && ndims <= kMaxDims, "idx: ", path, ": magic ", hex32(m), " says ", ndims,
              " dims; expected 1 to ", kMaxDims);

  // --- dims and the size they claim --------------------------------------------------
  std::vector<uint8_t> raw_dims(static_cast<size_t>(4 * ndims));
  got = in.read(raw_dims.data(), raw_dims.size());
  EMBER_CHECK(got == raw_dims.size(), "idx: ", path, ": truncated header: magic ", hex32(m),
              " announces ", ndims, " dims (", raw_dims.size(), " bytes) but only ", got,
              " bytes follow");
  std::vector<uint32_t> dims(static_cast<size_t>(ndims));
  Shape shape;
  uint64_t total = 1, span = 1;  // span: the product of the nonzero dims (a 0 dim still leaves strides)
  bool overflow = false, span_overflow = false;
  for (int d = 0; d < ndims; ++d) {
    dims[size_t(d)] = be32(&raw_dims[size_t(4 * d)]);
    shape.push_back(dims[size_t(d)]);
    overflow = overflow || __builtin_mul_overflow(total, uint64_t(dims[size_t(d)]), &total);
    span_overflow = span_overflow || __builtin_mul_overflow(span, std::max<uint64_t>(dims[size_t(d)], 1), &span);
  }
  if (overflow || total > opt.max_bytes) {
    EMBER_FAIL("idx: ", path, ": header claims ", dims_text(dims), " = ",
               overflow ? std::string("more than 2^64") : std::to_string(total),
               " bytes, over the limit of ", opt.max_bytes,
               " bytes (IdxOptions::max_bytes); refusing to allocate: the header is probably "
               "corrupt");
  }
  EMBER_CHECK(!span_overflow && span <= opt.max_bytes, "idx: ", path, ": header claims ", dims_text(dims),
              ": no data, but the nonzero dims multiply to ",
              span_overflow ? std::string("more than 2^64") : std::to_string(span), ", over the limit of ",
              opt.max_bytes, " (IdxOptions::max_bytes); the header is probably corrupt");
  uint64_t header_bytes = 4 + 4 * uint64_t(ndims);

  // A raw file's size is known: catch truncation before allocating.
  if (!in.gzip()) {
    uint64_t have = in.file_size() >= header_bytes ? in.file_size() - header_bytes : 0;
    EMBER_CHECK(have >= total, "idx: ", path, ": truncated: header says ", dims_text(dims), " = ",
                total, " bytes, file has ", have, " (after the ", header_bytes, "-byte header)");
  }

  // --- data ------------------------------------------------------------------------
  Tensor t;
  if (!in.gzip() || total <= kGzipChunk) {
    t = empty(shape, DType::u8);
    got = total ? in.read(t.data<uint8_t>(), total) : 0;
  } else {
    // A gzip file's size says nothing about what it inflates to, so a 100-byte file may claim
    // 2 GiB: read in chunks and grow, so such a file fails as truncated having allocated only
    // about what it really holds.
    auto buf = std::make_unique<std::vector<uint8_t>>();
    got = 0;
    while (got < total) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kGzipChunk, total - got));
      buf->resize(got + n);
      size_t r = in.read(buf->data() + got, n);
      got += r;
      if (r < n) break;
    }
    if (got == total) {
      std::vector<uint8_t>* v = buf.release();
      t = from_blob(v->data(), shape, DType::u8, [v](void*) { delete v; });
    }
  }
  EMBER_CHECK(got == total, "idx: ", path, ": truncated: header says ", dims_text(dims), " = ", total,
              " bytes, file has ", got, " (", data_word, " after the ", header_bytes,
              "-byte header)");
  uint8_t extra[4096];
  uint64_t trailing = 0;
  while ((got = in.read(extra, sizeof extra)) > 0) {
    trailing += got;
    if (trailing > (uint64_t(1) << 30)) break;  // enough to report it
  }
  EMBER_CHECK(trailing == 0, "idx: ", path, ": trailing garbage: header says ", dims_text(dims),
              " = ", total, " bytes, but ", trailing, trailing > (uint64_t(1) << 30) ? "+" : "",
              " more ", data_word, " follow the data");
  return t;
}

void write_idx(const std::string& path, const Tensor& t, bool gzip) {
  EMBER_CHECK(t.defined(), "write_idx: ", path, ": undefined tensor");
  EMBER_CHECK(t.dtype() == DType::u8, "write_idx: ", path, ": needs a u8 tensor, got ",
              dtype_name(t.dtype()), " ", fmt(t.shape()));
  EMBER_CHECK(t.dim() >= 1 && t.dim() <= kMaxDims, "write_idx: ", path, ": needs 1 to ", kMaxDims,
              " dims, got ", fmt(t.shape()));
  Tensor c = t.cpu().contiguous();
  std::vector<uint8_t> bytes{0, 0, 0x08, static_cast<uint8_t>(t.dim())};
  for (int64_t d : c.shape()) {
    EMBER_CHECK(d <= 0xffffffffLL, "write_idx: ", path, ": dim ", d, " does not fit in 32 bits");
    auto v = static_cast<uint32_t>(d);
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
  }
  const auto* p = c.data<uint8_t>();
  bytes.insert(bytes.end(), p, p + c.numel());
  if (gzip) write_gzip_file_atomic(path, bytes.data(), bytes.size(), "write_idx");
  else write_file_atomic(path, bytes.data(), bytes.size(), "write_idx");
}

}  // namespace ember
