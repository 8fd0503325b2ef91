// learner/Checkpoint.cpp: writing and reading the named-tensor file.
#include "learner/Checkpoint.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace ember {
namespace learner {

namespace {
constexpr char kMagic[8] = {'E', 'M', 'B', 'E', 'R', 'C', 'K', '1'};
constexpr uint32_t kVersion = 1;

template <class T>
void put(std::string& buf, T v) {
  buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

uint8_t dtype_code(DType t) {
  switch (t) {
    case DType::f32: return 0;
    case DType::f64: return 1;
    case DType::i64: return 2;
    case DType::u8: return 3;
  }
  return 255;
}

// Reads from an in-memory copy of the file, checking each length.
struct Reader {
  const std::string& path;
  const std::string& data;
  size_t pos = 0;
  void need(size_t n, const std::string& what) {
    EMBER_CHECK(n <= data.size() - pos, "load: '", path, "' is truncated: ", what, " needs ", n, " bytes at offset ",
                pos, " but the file has ", data.size(), " bytes");
  }
  template <class T>
  T get(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
};
}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  std::string buf(kMagic, sizeof kMagic);
  put<uint32_t>(buf, kVersion);
  put<uint64_t>(buf, tensors.size());
  for (auto& [name, t] : tensors) {
    EMBER_CHECK(t.defined(), "save: '", path, "': tensor '", name, "' is undefined");
    Tensor c = t.detach().cpu().contiguous();
    put<uint32_t>(buf, static_cast<uint32_t>(name.size()));
    buf += name;
    put<uint8_t>(buf, dtype_code(c.dtype()));
    put<uint32_t>(buf, static_cast<uint32_t>(c.dim()));
    for (int64_t d : c.shape()) put<int64_t>(buf, d);
    auto nbytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    put<uint64_t>(buf, nbytes);
    if (nbytes) buf.append(static_cast<const char*>(c.raw_data()), nbytes);
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    EMBER_CHECK(f.good(), "save: cannot open '", tmp, "' for writing");
    f.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    f.flush();
    EMBER_CHECK(f.good(), "save: writing '", tmp, "' failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    EMBER_FAIL("save: cannot rename '", tmp, "' to '", path, "'");
  }
}

NamedTensors load_tensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), "load: cannot open '", path, "'");
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Reader r{path, data};
  EMBER_CHECK(data.size() >= sizeof kMagic && std::memcmp(data.data(), kMagic, sizeof kMagic) == 0, "load: '", path,
              "' is not an Ember checkpoint (bad magic; expected \"EMBERCK1\")");
  r.pos = sizeof kMagic;
  auto version = r.get<uint32_t>("the version");
  EMBER_CHECK(version == kVersion, "load: '", path, "' has format version ", version, "; this Ember reads version ",
              kVersion);
  auto count = r.get<uint64_t>("the entry count");
  NamedTensors out;
  for (uint64_t i = 0; i < count; ++i) {
    std::string entry = "entry " + std::to_string(i);
    auto name_len = r.get<uint32_t>(entry + " name length");
    r.need(name_len, entry + " name");
    std::string name = data.substr(r.pos, name_len);
    r.pos += name_len;
    entry = "tensor '" + name + "'";
    auto code = r.get<uint8_t>(entry + " dtype");
    EMBER_CHECK(code <= 3, "load: '", path, "': ", entry, " has unknown dtype code ", int(code));
    DType dt = code == 0 ? DType::f32 : code == 1 ? DType::f64 : code == 2 ? DType::i64 : DType::u8;
    auto ndim = r.get<uint32_t>(entry + " ndim");
    EMBER_CHECK(ndim <= 16, "load: '", path, "': ", entry, " has ", ndim, " dims (corrupt file?)");
    Shape shape;
    for (uint32_t d = 0; d < ndim; ++d) {
      shape.push_back(r.get<int64_t>(entry + " shape"));
      EMBER_CHECK(shape.back() >= 0, "load: '", path, "': ", entry, " has a negative dim (corrupt file?)");
    }
    auto nbytes = r.get<uint64_t>(entry + " byte count");
    uint64_t expect = static_cast<uint64_t>(numel_of(shape)) * dtype_size(dt);
    EMBER_CHECK(nbytes == expect, "load: '", path, "': ", entry, " of shape ", fmt(shape), " says ", nbytes,
                " bytes, expected ", expect);
    r.need(nbytes, entry + " data");
    Tensor t = empty(shape, dt);
    if (nbytes) std::memcpy(t.raw_data(), data.data() + r.pos, nbytes);
    r.pos += nbytes;
    out.emplace_back(name, t);
  }
  EMBER_CHECK(r.pos == data.size(), "load: '", path, "' has ", data.size() - r.pos,
              " unexpected bytes after the last tensor");
  return out;
}

}  // namespace learner
}  // namespace ember
