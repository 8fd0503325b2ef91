// nn/Safetensors.cpp: the safetensors writer and the checking reader (format notes
// in nn/Safetensors.h).
#include "ember/nn/Safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "ember/nn/Json.h"
#include "ember/tensor/AtomicFile.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace nn {

namespace {
using json = nlohmann::json;          // reading: sorted objects (nn/Json.h)
using ojson = nlohmann::ordered_json;  // writing: the header in the order written

// --- dtypes ----------------------------------------------------------------------
// `rank` is the position in the reference's Dtype enum; files are laid out by
// descending rank, then by name.
struct FileDType {
  const char* name;
  size_t size;
  int rank;
};
constexpr FileDType kDTypes[] = {
    {"BOOL", 1, 0}, {"U8", 1, 1},   {"I8", 1, 2},    {"I16", 2, 5},  {"U16", 2, 6},  {"F16", 2, 7},
    {"BF16", 2, 8}, {"I32", 4, 9},  {"U32", 4, 10},  {"F32", 4, 11}, {"F64", 8, 12}, {"I64", 8, 13},
};

const FileDType* find_dtype(const std::string& name) {
  for (auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const char* file_dtype_of(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

// The dtypes Ember holds as they are in the file.
bool native_dtype(const std::string& name, DType& out) {
  if (name == "F32") out = DType::f32;
  else if (name == "F64") out = DType::f64;
  else if (name == "I64") out = DType::i64;
  else if (name == "U8") out = DType::u8;
  else return false;
  return true;
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (exp == 0 && man == 0) {
    bits = sign;
  } else if (exp == 0) {  // subnormal: normalise the mantissa
    uint32_t shift = 0;
    while (!(man & 0x400u)) man <<= 1, ++shift;
    bits = sign | ((113u - shift) << 23) | ((man & 0x3ffu) << 13);
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <class Src, class Dst, class F>
void convert(const void* bytes, Dst* out, int64_t n, F f) {
  const char* p = static_cast<const char*>(bytes);
  for (int64_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, p + i * sizeof(Src), sizeof(Src));
    out[i] = f(v);
  }
}

// --- reading helpers -------------------------------------------------------------------
struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

[[noreturn]] void fail_at(const std::string& path, const std::string& msg) {
  EMBER_FAIL("load_safetensors: ", path, ": ", msg);
}

uint64_t get_offset(const std::string& path, const std::string& name, const json& v) {
  if (!v.is_number_unsigned()) fail_at(path, "tensor '" + clip(name) + "': data_offsets must be non-negative integers");
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& path, const std::string& name, const json& info) {
  auto bad = [&](const std::string& what) { fail_at(path, "tensor '" + clip(name) + "': " + what); };
  if (!info.is_object()) bad("its header entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) bad(std::string("its header entry has no \"") + key + "\"");
  Entry e;
  e.name = name;
  if (!info["dtype"].is_string()) bad("dtype is not a string");
  e.dtype = info["dtype"].get<std::string>();
  if (!find_dtype(e.dtype))
    bad("unknown dtype '" + clip(e.dtype) + "' (Ember reads F64, F32, F16, BF16, I64, I32, I16, I8, U32, U16, U8, BOOL)");
  const json& shape = info["shape"];
  if (!shape.is_array() || shape.size() > 64) bad("shape is not a list of at most 64 sizes");
  for (auto& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      bad("shape " + clip(shape.dump()) + " has a size that is not a non-negative integer");
    e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  const json& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2) bad("data_offsets is not a pair [begin, end]");
  e.begin = get_offset(path, name, off[0]);
  e.end = get_offset(path, name, off[1]);
  return e;
}

// Element count of `shape`, refusing counts above `limit` (and so any overflow).
uint64_t checked_numel(const std::string& path, const Entry& e, uint64_t limit) {
  // A zero size makes the count 0, but the other sizes still multiply into the strides, so
  // [0, 2^40, 2^40] is refused too (its strides overflow int64).
  uint64_t n = 1;
  bool zero = std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end();
  for (int64_t d : e.shape) {
    if (d == 0) continue;
    if (n > limit / static_cast<uint64_t>(d))
      fail_at(path, "tensor '" + e.name + "': shape " + fmt(e.shape) + " has more elements than the limit of " +
                        std::to_string(limit) + " (SafetensorsLimits::max_elements)");
    n *= static_cast<uint64_t>(d);
  }
  return zero ? 0 : n;
}

// Parses and checks the header; no tensor memory is allocated here.
std::vector<Entry> read_header(const std::string& path, std::ifstream& f, uint64_t file_size,
                               const SafetensorsLimits& limits, Metadata& metadata, uint64_t& data_start) {
  if (file_size < 8)
    fail_at(path, "the file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
  unsigned char len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > limits.max_header_bytes)
    fail_at(path, "header length " + std::to_string(n) + " is more than the limit of " +
                      std::to_string(limits.max_header_bytes) + " bytes (SafetensorsLimits::max_header_bytes)");
  if (n > file_size - 8)
    fail_at(path, "header length " + std::to_string(n) + " runs past the end of the " + std::to_string(file_size) +
                      "-byte file (truncated, or not a safetensors file)");
  std::string text(n, '\0');
  f.read(text.data(), static_cast<std::streamsize>(n));
  if (!f) fail_at(path, "reading the header failed");
  const json header = parse_untrusted_json(text, "load_safetensors: " + path + ": the header");
  if (!header.is_object()) fail_at(path, "the header is not a JSON object");
  data_start = 8 + n;
  uint64_t buffer = file_size - data_start;
  std::vector<Entry> entries;
  uint64_t total = 0;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail_at(path, "__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) fail_at(path, "__metadata__ value '" + clip(m.key()) + "' is not a string");
        metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    Entry e = parse_entry(path, it.key(), it.value());
    uint64_t numel = checked_numel(path, e, limits.max_elements - total);
    total += numel;
    std::string at = "tensor '" + clip(e.name) + "': ";
    std::string offs = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) fail_at(path, at + offs + " end before they begin");
    uint64_t nbytes = numel * find_dtype(e.dtype)->size;
    if (e.end - e.begin != nbytes)
      fail_at(path, at + "shape " + fmt(e.shape) + " of " + e.dtype + " needs " + std::to_string(nbytes) +
                        " bytes but " + offs + " hold " + std::to_string(e.end - e.begin));
    if (e.end > buffer)
      fail_at(path, at + offs + " past the end of the " + std::to_string(buffer) + "-byte buffer (truncated file?)");
    entries.push_back(std::move(e));
  }
  // The tensors must tile the buffer, as the reference requires.
  std::vector<const Entry*> order;
  for (auto& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin != covered)
      fail_at(path, "tensor '" + clip(e->name) + "': data starts at byte " + std::to_string(e->begin) + " but " +
                        (prev ? "the previous tensor '" + clip(prev->name) + "' ends" : std::string("the buffer starts")) +
                        " at byte " + std::to_string(covered) +
                        " (tensors must cover the buffer with no gaps or overlaps)");
    covered = e->end;
    prev = e;
  }
  if (covered != buffer)
    fail_at(path, "the tensors cover " + std::to_string(covered) + " bytes of the " + std::to_string(buffer) +
                      "-byte buffer; the rest is unaccounted for");
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  return entries;
}
}  // namespace

// ---------------------------------------------------------------------------
size_t safetensors_dtype_size(const std::string& dtype) {
  const FileDType* d = find_dtype(dtype);
  return d ? d->size : 0;
}

Tensor tensor_from_bytes(const void* bytes, const std::string& dtype, const Shape& shape) {
  int64_t n = numel_of(shape);
  auto to_i64 = [](auto v) { return static_cast<int64_t>(v); };
  DType t;
  if (native_dtype(dtype, t)) {
    Tensor out = empty(shape, t);
    if (n) std::memcpy(out.raw_data(), bytes, static_cast<size_t>(n) * dtype_size(t));
    return out;
  }
  if (dtype == "F16" || dtype == "BF16") {
    Tensor out = empty(shape, DType::f32);
    if (dtype == "F16") convert<uint16_t>(bytes, out.data<float>(), n, half_to_float);
    else convert<uint16_t>(bytes, out.data<float>(), n, bf16_to_float);
    return out;
  }
  if (dtype == "BOOL") {
    Tensor out = empty(shape, DType::u8);
    convert<uint8_t>(bytes, out.data<uint8_t>(), n, [](uint8_t v) { return uint8_t(v != 0); });
    return out;
  }
  Tensor out = empty(shape, DType::i64);
  int64_t* o = out.data<int64_t>();
  if (dtype == "I32") convert<int32_t>(bytes, o, n, to_i64);
  else if (dtype == "I16") convert<int16_t>(bytes, o, n, to_i64);
  else if (dtype == "I8") convert<int8_t>(bytes, o, n, to_i64);
  else if (dtype == "U32") convert<uint32_t>(bytes, o, n, to_i64);
  else if (dtype == "U16") convert<uint16_t>(bytes, o, n, to_i64);
  else EMBER_FAIL("tensor_from_bytes: unknown dtype '", dtype, "'");
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<std::pair<std::string, Tensor>> sorted;
  for (auto& [name, t] : tensors) {
    EMBER_CHECK(t.defined(), "save_safetensors: ", path, ": tensor '", name, "' is undefined");
    EMBER_CHECK(name != "__metadata__", "save_safetensors: ", path, ": '__metadata__' cannot name a tensor");
    sorted.emplace_back(name, t.detach().cpu().contiguous());
  }
  auto rank = [](const Tensor& t) { return find_dtype(file_dtype_of(t.dtype()))->rank; };
  std::stable_sort(sorted.begin(), sorted.end(), [&](auto& a, auto& b) {
    int ra = rank(a.second), rb = rank(b.second);
    return ra != rb ? ra > rb : a.first < b.first;
  });
  for (size_t i = 1; i < sorted.size(); ++i)
    EMBER_CHECK(sorted[i].first != sorted[i - 1].first, "save_safetensors: ", path, ": tensor name '",
                sorted[i].first, "' appears twice");
  ojson header = ojson::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (auto& [name, t] : sorted) {
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    ojson info = ojson::object();
    info["dtype"] = file_dtype_of(t.dtype());
    info["shape"] = t.shape();
    info["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(info);
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL("save_safetensors: ", path, ": a tensor name or metadata string is not valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  AtomicFile f(path, "save_safetensors");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
  f.write(len, 8);
  f.write(text.data(), text.size());
  for (auto& [name, t] : sorted) f.write(t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  f.commit();
}

SafetensorsFile load_safetensors(const std::string& path, const SafetensorsLimits& limits) {
  check_input_file(path, "load_safetensors");
  std::ifstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), "load_safetensors: cannot open '", path, "'");
  f.seekg(0, std::ios::end);
  auto file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  SafetensorsFile out;
  uint64_t data_start = 0;
  std::vector<Entry> entries = read_header(path, f, file_size, limits, out.metadata, data_start);
  std::vector<char> scratch;
  for (auto& e : entries) {
    size_t nbytes = static_cast<size_t>(e.end - e.begin);
    Tensor t;
    f.seekg(static_cast<std::streamoff>(data_start + e.begin));
    DType native;
    if (native_dtype(e.dtype, native)) {  // straight into the tensor
      t = empty(e.shape, native);
      f.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(nbytes));
    } else {
      scratch.resize(nbytes);
      f.read(scratch.data(), static_cast<std::streamsize>(nbytes));
      t = tensor_from_bytes(scratch.data(), e.dtype, e.shape);
    }
    if (!f) fail_at(path, "tensor '" + e.name + "': reading its data failed");
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

}  // namespace nn
}  // namespace ember
