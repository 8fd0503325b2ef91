// learner/Checkpoint.cpp: Learner checkpoints as safetensors, and the reader of the
// earlier EMBERCK1 files.
#include "ember/learner/Checkpoint.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "ember/nn/Json.h"
#include "ember/nn/Safetensors.h"
#include "ember/nn/Weights.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace learner {

namespace {
constexpr char kMagicV1[8] = {'E', 'M', 'B', 'E', 'R', 'C', 'K', '1'};
constexpr uint32_t kVersion = 1;

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

// The EMBERCK1 reader, kept so checkpoints from before safetensors still load.
NamedTensors load_v1(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), "load: cannot open '", path, "'");
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Reader r{path, data};
  EMBER_CHECK(data.size() >= sizeof kMagicV1 && std::memcmp(data.data(), kMagicV1, sizeof kMagicV1) == 0, "load: '", path,
              "' is not an Ember checkpoint (bad magic; expected \"EMBERCK1\")");
  r.pos = sizeof kMagicV1;
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

// The names in the order they were saved, when the file records them.
void restore_order(NamedTensors& tensors, const nn::Metadata& md) {
  auto it = md.find("ember.order");
  if (it == md.end()) return;
  nlohmann::json names;
  try {
    names = nn::parse_untrusted_json(it->second, "load: ember.order");
  } catch (const Error&) {
    return;  // not Ember's list: keep the file's order
  }
  if (!names.is_array() || names.size() != tensors.size()) return;
  std::map<std::string, size_t> rank;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].is_string()) rank[names[i].get<std::string>()] = i;
  for (auto& kv : tensors)
    if (!rank.count(kv.first)) return;
  std::stable_sort(tensors.begin(), tensors.end(),
                   [&](const auto& a, const auto& b) { return rank[a.first] < rank[b.first]; });
}
}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  nlohmann::json names = nlohmann::json::array();
  for (auto& kv : tensors) names.push_back(kv.first);
  nn::save_safetensors(path, tensors, {{"format", "ember"}, {"ember.order", names.dump()}});
}

NamedTensors load_tensors(const std::string& path) {
  check_input_file(path, "load");
  char head[8] = {0};
  {
    std::ifstream f(path, std::ios::binary);
    EMBER_CHECK(f.good(), "load: cannot open '", path, "'");
    f.read(head, sizeof head);
  }
  if (std::memcmp(head, kMagicV1, sizeof kMagicV1) == 0) return load_v1(path);
  EMBER_CHECK(nn::detect_weights_format(path) == nn::WeightsFormat::Safetensors, "load: '", path,
              "' is not an Ember checkpoint (expected a safetensors file)");
  nn::SafetensorsFile file = nn::load_safetensors(path);
  restore_order(file.tensors, file.metadata);
  return std::move(file.tensors);
}

}  // namespace learner
}  // namespace ember
