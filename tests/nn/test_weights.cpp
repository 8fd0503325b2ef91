// tests/nn/test_weights.cpp: weights in and out: safetensors round trips and the
// reference layout, the committed PyTorch fixtures (tests/nn/make_weights_fixtures.py)
// loading with exact values, loading into a Module, and hostile or broken files
// failing with the file named: truncated .pth (zip and legacy), forbidden globals,
// nesting bombs, safetensors headers with bad offsets or huge shapes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "ember/ember.h"
#include "ember/learner/Checkpoint.h"
#include "ember/nn/Pth.h"
#include "ember/nn/Weights.h"
#include "lib/temp_files.h"

using namespace ember;
using namespace ember::nn;
using json = nlohmann::json;
using namespace std::string_literals;  // "..."s keeps embedded NULs

namespace {
std::string fixture(const std::string& name) { return std::string(EMBER_SOURCE_DIR) + "/tests/nn/fixtures/" + name; }

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/ember_weights_" + std::to_string(getpid()) + "_" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

const json& expected() {
  static json j = json::parse(read_file(fixture("weights_expected.json")));
  return j;
}

// Every tensor of `got` has exactly the expected dtype, shape and values.
void expect_tensors(const NamedTensors& got, const json& want, const json& order, bool check_order) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    auto& [name, t] = got[i];
    if (check_order) {
      EXPECT_EQ(name, order[i].get<std::string>());
    }
    ASSERT_TRUE(want.contains(name)) << name;
    const json& w = want[name];
    EXPECT_EQ(dtype_name(t.dtype()), w["dtype"].get<std::string>()) << name;
    EXPECT_EQ(t.shape(), w["shape"].get<Shape>()) << name;
    if (t.dtype() == DType::f32 || t.dtype() == DType::f64) {
      auto v = t.to(DType::f64).to_vector<double>();
      EXPECT_EQ(v, w["values"].get<std::vector<double>>()) << name;
    } else {
      auto v = t.to(DType::i64).to_vector<int64_t>();
      EXPECT_EQ(v, w["values"].get<std::vector<int64_t>>()) << name;
    }
  }
}

// The error `fn` throws; fails the test when it throws none.
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// A legacy torch.save file around `pickle`: magic, protocol 1001, sys info, then it.
std::string legacy_file(const std::string& pickle) {
  std::string magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."s;
  return magic + "\x80\x02M\xe9\x03."s + "\x80\x02}."s + pickle;
}

// A safetensors file from a header text and a buffer of `buffer_bytes` zero bytes.
std::string safetensors_file(const std::string& header, size_t buffer_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(buffer_bytes, '\0');
}

// Stand-in for BatchNorm2d's parameters and buffers (nn/ has no BatchNorm yet).
struct BatchNormStandIn : Module {
  explicit BatchNormStandIn(int64_t c) : Module("BatchNorm2d") {
    register_parameter("weight", ones({c}));
    register_parameter("bias", zeros({c}));
    register_buffer("running_mean", zeros({c}));
    register_buffer("running_var", ones({c}));
    register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
  Tensor forward(const Tensor& x) override { return x; }
};

// The fixtures' model: Conv2d(3,4,3) "0", BatchNorm2d(4) "1", Linear(16,5) "4".
struct Tiny : Module {
  explicit Tiny(int64_t out = 5, const std::string& fc = "4") : Module("Tiny") {
    register_module("0", std::make_shared<Conv2d>(3, 4, 3));
    register_module("1", std::make_shared<BatchNormStandIn>(4));
    register_module(fc, std::make_shared<Linear>(16, out));
  }
  Tensor forward(const Tensor& x) override { return x; }
};
}  // namespace

// ---------------------------------------------------------------------------
// safetensors
TEST(Safetensors, RoundTripKeepsValuesDtypesShapesAndMetadata) {
  std::string path = temp_path("rt.safetensors");
  Tensor base = arange(12.0).reshape({3, 4});
  NamedTensors in = {{"w.t", base.t()},  // non-contiguous: written contiguous
                     {"d", from_vector<double>({1.5, -2.25})},
                     {"i", from_vector<int64_t>({-7, 1LL << 40}, {2, 1})},
                     {"u", from_vector<uint8_t>({0, 255, 3})},
                     {"scalar", scalar_tensor(4.0)},
                     {"empty", zeros({0, 3})}};
  save_safetensors(path, in, {{"format", "pt"}, {"note", "hé \"quoted\""}});
  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata, (Metadata{{"format", "pt"}, {"note", "hé \"quoted\""}}));
  // Laid out widest dtype first, then by name, as the reference does.
  std::vector<std::string> names;
  for (auto& kv : f.tensors) names.push_back(kv.first);
  EXPECT_EQ(names, (std::vector<std::string>{"i", "d", "empty", "scalar", "w.t", "u"}));
  for (auto& [name, t] : in) {
    auto it = std::find_if(f.tensors.begin(), f.tensors.end(), [&](auto& kv) { return kv.first == name; });
    ASSERT_NE(it, f.tensors.end()) << name;
    EXPECT_EQ(it->second.dtype(), t.dtype()) << name;
    EXPECT_EQ(it->second.shape(), t.shape()) << name;
    EXPECT_EQ(it->second.to(DType::f64).to_vector<double>(), t.to(DType::f64).to_vector<double>()) << name;
  }
  EXPECT_TRUE(ember_test::temp_leftovers(path).empty());  // renamed into place
  std::remove(path.c_str());
}

TEST(Safetensors, WritesTheReferenceLayoutByteForByte) {
  // tiny.safetensors was written by the fixture script the way the Rust crate writes.
  SafetensorsFile f = load_safetensors(fixture("tiny.safetensors"));
  std::string path = temp_path("ref.safetensors");
  save_safetensors(path, f.tensors, f.metadata);
  EXPECT_EQ(read_file(path), read_file(fixture("tiny.safetensors")));
  std::remove(path.c_str());
}

TEST(Safetensors, OffsetsPastTheEndNameTheFileAndTensor) {
  std::string path = temp_path("past.safetensors");
  write_file(path, safetensors_file(R"({"fc.weight":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", 120));
  EXPECT_EQ(error_of([&] { load_safetensors(path); }),
            "load_safetensors: " + path +
                ": tensor 'fc.weight': data_offsets [0, 400] past the end of the 120-byte buffer (truncated file?)");
  std::remove(path.c_str());
}

TEST(Safetensors, HugeShapesAreRefusedByTheLimitBeforeAllocating) {
  std::string path = temp_path("huge.safetensors");
  write_file(path, safetensors_file(
                       R"({"w":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,4]}})", 4));
  std::string m = error_of([&] { load_safetensors(path); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("tensor 'w': shape [1000000, 1000000, 1000000] has more elements than the limit"),
            std::string::npos) << m;
  EXPECT_NE(m.find("SafetensorsLimits::max_elements"), std::string::npos) << m;
  // The limit is configurable and counts all tensors together.
  write_file(path, safetensors_file(R"({"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},)"
                                    R"("b":{"dtype":"U8","shape":[6],"data_offsets":[6,12]}})", 12));
  EXPECT_EQ(load_safetensors(path).tensors.size(), 2u);
  SafetensorsLimits small;
  small.max_elements = 10;
  m = error_of([&] { load_safetensors(path, small); });
  EXPECT_NE(m.find("tensor 'b'"), std::string::npos) << m;
  // A header length beyond the header limit is refused before the header is read.
  std::string bytes = safetensors_file("{}", 0);
  bytes[5] = 1;  // 2^40 + 2 bytes of header
  write_file(path, bytes);
  m = error_of([&] { load_safetensors(path); });
  EXPECT_NE(m.find("SafetensorsLimits::max_header_bytes"), std::string::npos) << m;
  std::remove(path.c_str());
}

TEST(Safetensors, BadHeadersGiveClearErrors) {
  std::string path = temp_path("bad.safetensors");
  auto err = [&](const std::string& header, size_t buffer) {
    write_file(path, safetensors_file(header, buffer));
    std::string m = error_of([&] { load_safetensors(path); });
    EXPECT_EQ(m.rfind("load_safetensors: " + path + ": ", 0), 0u) << m;
    return m;
  };
  EXPECT_NE(err("{not json", 0).find("not valid JSON"), std::string::npos);
  EXPECT_NE(err(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1).find("unknown dtype 'F8_E4M3'"),
            std::string::npos);
  EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4).find("needs 8 bytes"),
            std::string::npos);
  EXPECT_NE(err(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],)"
                R"("data_offsets":[2,6]}})", 6)
                .find("tensor 'b': data starts at byte 2 but the previous tensor 'a' ends at byte 4"),
            std::string::npos);
  EXPECT_NE(err(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 6).find("cover 4 bytes of the 6-byte"),
            std::string::npos);
  EXPECT_NE(err(R"({"a":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}})", 4).find("not a non-negative"),
            std::string::npos);
  EXPECT_NE(err(R"({"__metadata__":{"k":3}})", 0).find("__metadata__ value 'k' is not a string"), std::string::npos);
  std::remove(path.c_str());
}

// Headers written to hurt: deep nesting, huge names, many tensors (nn/Json.h).
TEST(Safetensors, HostileHeadersAreRefusedOrReadInTime) {
  std::string path = temp_path("hostile.safetensors");
  auto err = [&](const std::string& header, size_t buffer) {
    write_file(path, safetensors_file(header, buffer));
    return error_of([&] { load_safetensors(path); });
  };
  // 100000 levels of nesting: refused at depth 32, with no stack overflow and no echo of it.
  std::string m = err(R"({"w":)" + std::string(100000, '[') + std::string(100000, ']') + "}", 0);
  EXPECT_NE(m.find("the header: the JSON nests deeper than 32 levels"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 300u);
  // 20 levels parse; the entry is then refused for what it is.
  m = err(R"({"w":)" + std::string(20, '[') + std::string(20, ']') + "}", 0);
  EXPECT_NE(m.find("tensor 'w': its header entry is not an object"), std::string::npos) << m;
  // A 1 MiB tensor name is cut to 80 characters in the message.
  const std::string name(1 << 20, 'n');
  m = err(R"({")" + name + R"(":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_NE(m.find("... (1048576 characters)': unknown dtype 'F8'"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 400u);
  // Invalid JSON with a long token: the parser's message is cut too.
  m = err(R"({"w":")" + std::string(1 << 20, 'x'), 0);
  EXPECT_NE(m.find("not valid JSON"), std::string::npos);
  EXPECT_LT(m.size(), 400u);
  // 100000 tensors load (sorted objects: O(n log n); bench_data's safetensors_header_100k times it).
  std::string header = "{";
  for (int i = 0; i < 100000; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"U8","shape":[1],"data_offsets":[)" +
              std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  header += "}";
  write_file(path, safetensors_file(header, 100000));
  SafetensorsFile f = load_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 100000u);
  EXPECT_EQ(f.tensors[12345].first, "t12345");  // in the order of the buffer
  std::remove(path.c_str());
}

TEST(Safetensors, ReadsHalfAndBFloat16AsF32) {
  std::string path = temp_path("half.safetensors");
  std::string bytes = safetensors_file(R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}})", 10);
  const uint16_t h[5] = {0x3c00, 0xc100, 0x0001, 0x7c00, 0x3f80};  // 1, -2.5, 2^-24, inf | bf16 1
  size_t at = bytes.size() - 10;
  std::memcpy(&bytes[at], h, 10);
  write_file(path, bytes);
  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.tensors[0].second.dtype(), DType::f32);
  EXPECT_EQ(f.tensors[0].second.to_vector<float>(),
            (std::vector<float>{1.0f, -2.5f, std::ldexp(1.0f, -24), INFINITY}));
  EXPECT_EQ(f.tensors[1].second.to_vector<float>(), std::vector<float>{1.0f});
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// the PyTorch fixtures
TEST(PthFixtures, TinyModelLoadsWithExactValuesFromEveryFormat) {
  const json& e = expected();
  for (const char* name : {"tiny_zip.pth", "tiny_zip64.pth", "tiny_legacy.pth", "tiny_ckpt.pth"}) {
    SCOPED_TRACE(name);
    expect_tensors(load_pth(fixture(name)), e["tiny"], e["tiny_order"], true);
  }
  expect_tensors(load_safetensors(fixture("tiny.safetensors")).tensors, e["tiny"], e["tiny_order"], false);
  EXPECT_EQ(load_safetensors(fixture("tiny.safetensors")).metadata, (Metadata{{"format", "pt"}}));
}

TEST(PthFixtures, ViewsSharedStoragesAndOtherDtypes) {
  const json& e = expected();
  for (const char* name : {"views_zip.pth", "views_legacy.pth"}) {
    SCOPED_TRACE(name);
    NamedTensors t = load_pth(fixture(name));
    expect_tensors(t, e["views"], e["views_order"], true);
    for (auto& kv : t) EXPECT_TRUE(kv.second.is_contiguous()) << kv.first;
  }
}

TEST(PthFixtures, FormatIsDetectedByContent) {
  EXPECT_EQ(detect_weights_format(fixture("tiny_zip.pth")), WeightsFormat::PthZip);
  EXPECT_EQ(detect_weights_format(fixture("tiny_legacy.pth")), WeightsFormat::PthLegacy);
  EXPECT_EQ(detect_weights_format(fixture("tiny.safetensors")), WeightsFormat::Safetensors);
  EXPECT_EQ(detect_weights_format(fixture("weights_expected.json")), WeightsFormat::Unknown);
  // A safetensors header of 128 + 256k bytes starts with 0x80, like a pickle: still safetensors.
  std::string header = R"({"__metadata__":{"pad":")";
  header += std::string(0x780 - header.size() - 3, 'x') + "\"}}";
  ASSERT_EQ(header.size(), 0x780u);
  const std::string path = temp_path("x80.safetensors");
  write_file(path, safetensors_file(header, 0));
  EXPECT_EQ(static_cast<unsigned char>(read_file(path)[0]), 0x80);
  EXPECT_EQ(detect_weights_format(path), WeightsFormat::Safetensors);
  EXPECT_EQ(load_weights_file(path).size(), 0u);
  std::remove(path.c_str());
  std::string m = error_of([&] { load_weights_file(fixture("weights_expected.json")); });
  EXPECT_NE(m.find("weights_expected.json' is neither safetensors nor a torch.save .pth file"), std::string::npos);
}

// ---------------------------------------------------------------------------
// modules
TEST(Weights, LoadIntoAModuleFromPthAndSafetensorsAndSaveBack) {
  const json& e = expected();
  for (const char* name : {"tiny_zip.pth", "tiny_legacy.pth", "tiny.safetensors"}) {
    SCOPED_TRACE(name);
    Tiny m;
    load_weights(m, fixture(name));
    for (auto& [k, t] : m.state_dict()) {
      auto want = e["tiny"][k]["values"];
      if (t.dtype() == DType::i64) {
        EXPECT_EQ(t.to_vector<int64_t>(), want.get<std::vector<int64_t>>()) << k;
      } else {
        EXPECT_EQ(t.to(DType::f64).to_vector<double>(), want.get<std::vector<double>>()) << k;
      }
    }
    std::string path = temp_path("tiny.safetensors");
    save_weights(m, path);
    Tiny back;
    load_weights(back, path);
    auto a = m.state_dict(), b = back.state_dict();
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(a[i].second.to(DType::f64).to_vector<double>(), b[i].second.to(DType::f64).to_vector<double>());
    std::remove(path.c_str());
  }
}

TEST(Weights, WrongShapeOrKeyNamesTheFileAndTheKey) {
  std::string path = fixture("tiny_zip.pth");
  Tiny wide(6);
  std::string m = error_of([&] { load_weights(wide, path); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("'4.weight' has shape [5, 16] in the state dict but [6, 16] in the model"), std::string::npos) << m;
  Tiny renamed(5, "fc");
  m = error_of([&] { load_weights(renamed, path); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("Missing keys (2): fc.bias, fc.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("Unexpected keys (2): 4.bias, 4.weight"), std::string::npos) << m;
  load_weights(renamed, path, /*strict=*/false);  // loads what matches
}

// ---------------------------------------------------------------------------
// broken and hostile files
TEST(PthBadFiles, EveryTruncationFailsCleanlyNamingTheFile) {
  for (const char* name : {"tiny_zip.pth", "tiny_legacy.pth", "tiny.safetensors"}) {
    std::string bytes = read_file(fixture(name));
    std::string path = temp_path(std::string("cut_") + name);
    for (size_t len = 0; len < bytes.size(); len += len < 200 ? 1 : 29) {  // every cut early on, then a sample
      write_file(path, bytes.substr(0, len));
      std::string m = error_of([&] { load_weights_file(path); });
      ASSERT_NE(m.find(path), std::string::npos) << name << " cut at " << len << ": " << m;
    }
    std::remove(path.c_str());
  }
}

TEST(PthBadFiles, TruncatedZipAndLegacySayTruncated) {
  std::string path = temp_path("trunc.pth");
  std::string zip = read_file(fixture("tiny_zip.pth"));
  write_file(path, zip.substr(0, zip.size() - 30));
  std::string m = error_of([&] { load_pth(path); });
  EXPECT_EQ(m, "load_pth: " + path +
                   ": no zip end-of-central-directory record (truncated file, or not a torch.save zip)");
  std::string legacy = read_file(fixture("tiny_legacy.pth"));
  write_file(path, legacy.substr(0, legacy.size() - 10));  // inside the last storage
  m = error_of([&] { load_pth(path); });
  EXPECT_EQ(m.rfind("load_pth: " + path + ": storage '", 0), 0u) << m;
  EXPECT_NE(m.find("runs past the end of the " + std::to_string(legacy.size() - 10) + "-byte file (truncated file?)"),
            std::string::npos) << m;
  write_file(path, legacy.substr(0, 200));  // inside the state_dict pickle
  m = error_of([&] { load_pth(path); });
  EXPECT_EQ(m.rfind("load_pth: " + path + ": pickle is truncated", 0), 0u) << m;
  std::remove(path.c_str());
}

TEST(PthBadFiles, CompressedZipEntriesAreRefusedByName) {
  std::string bytes = read_file(fixture("tiny_zip.pth"));
  size_t cd = bytes.find("PK\x01\x02");
  ASSERT_NE(cd, std::string::npos);
  bytes[cd + 10] = 8;  // deflate
  std::string path = temp_path("deflate.pth");
  write_file(path, bytes);
  std::string m = error_of([&] { load_pth(path); });
  EXPECT_NE(m.find("zip entry 'tiny_zip/data.pkl' is compressed (method 8)"), std::string::npos) << m;
  std::remove(path.c_str());
}

TEST(PthBadFiles, ForbiddenGlobalsAreRefusedByName) {
  std::string path = temp_path("evil.pth");
  // GLOBAL 'os system', then calling it: refused at the GLOBAL, before any REDUCE.
  write_file(path, legacy_file("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R."s));
  EXPECT_EQ(error_of([&] { load_pth(path); }),
            "load_pth: " + path + ": pickle asks for global 'os.system', which is not allowed in a state_dict");
  // The same through STACK_GLOBAL (protocol 4).
  write_file(path, legacy_file("\x80\x04\x8c\x02os\x8c\x06system\x93X\x02\x00\x00\x00ls\x85R."s));
  EXPECT_EQ(error_of([&] { load_pth(path); }),
            "load_pth: " + path + ": pickle asks for global 'os.system', which is not allowed in a state_dict");
  // torch.storage._load_from_bytes runs torch.load on its argument: refused too.
  write_file(path, legacy_file("\x80\x02" "ctorch.storage\n_load_from_bytes\n."));
  EXPECT_NE(error_of([&] { load_pth(path); }).find("global 'torch.storage._load_from_bytes', which is not allowed"),
            std::string::npos);
  // An allowed global called in a way a state_dict never does.
  write_file(path, legacy_file("\x80\x02" "ctorch\nFloatStorage\n)R."));
  EXPECT_NE(error_of([&] { load_pth(path); }).find("pickle calls 'torch.FloatStorage', which a state_dict does not do"),
            std::string::npos);
  std::remove(path.c_str());
}

TEST(PthBadFiles, NestingBombsAreRefusedWithoutCrashing) {
  std::string path = temp_path("bomb.pth");
  // 100000 MARKs
  write_file(path, legacy_file("\x80\x02" + std::string(100000, '(') + "."));
  EXPECT_NE(error_of([&] { load_pth(path); }).find("nests MARKs deeper than 1000 (PickleLimits::max_depth"),
            std::string::npos);
  // ((((...)))) built with TUPLE1: a short stack but deep containers
  write_file(path, legacy_file("\x80\x02)" + std::string(100000, '\x85') + "."));
  EXPECT_NE(error_of([&] { load_pth(path); }).find("nests containers deeper than 1000"), std::string::npos);
  // 2 million empty lists on the stack
  write_file(path, legacy_file("\x80\x02" + std::string(2'000'000, ']') + "."));
  EXPECT_NE(error_of([&] { load_pth(path); }).find("stack holds more than 1000000 values"), std::string::npos);
  // A 300000-deep chain of lists built through the memo: loads, frees without
  // recursion, and is then refused as not a state_dict.
  std::string chain = "\x80\x02]q";
  chain += '\0';
  for (int i = 0; i < 300000; ++i) chain += "h\0]q\0a0"s;
  write_file(path, legacy_file(chain + "."));
  std::string m = error_of([&] { load_pth(path); });
  EXPECT_NE(m.find("the file holds a list, not a state_dict"), std::string::npos) << m;
  std::remove(path.c_str());
}

// A legacy storage whose view names itself (or a view) as its root is refused, and nothing leaks
// (a cycle of shared roots would: the sanitizer stage runs this test with LeakSanitizer on).
TEST(PthBadFiles, StorageViewCyclesAreRefusedWithoutLeaking) {
  auto pid = [](const std::string& key, const std::string& view_key) {
    return "(X\x07\x00\x00\x00storage" "ctorch\nFloatStorage\n" "X\x01\x00\x00\x00"s + key +
           "X\x03\x00\x00\x00" "cpu" "K\x04" "(X\x01\x00\x00\x00"s + view_key + "K\x00K\x04t" "tQ"s;
  };
  auto rebuild = [&](const std::string& key, const std::string& view_key) {
    return "ctorch._utils\n_rebuild_tensor_v2\n(" + pid(key, view_key) + "K\x00K\x04\x85K\x01\x85\x89}tR"s;
  };
  std::string path = temp_path("viewcycle.pth");
  write_file(path, legacy_file("\x80\x02}X\x01\x00\x00\x00w"s + rebuild("0", "0") + "s."s));
  std::string m = error_of([&] { load_pth(path); });
  EXPECT_NE(m.find("storage '0' names itself as the root of its view"), std::string::npos) << m;
  // '0' is a view of '1', then '1' a view of '0': a cycle of two.
  write_file(path, legacy_file("\x80\x02}(X\x01\x00\x00\x00" "a"s + rebuild("0", "1") + "X\x01\x00\x00\x00" "b"s +
                               rebuild("1", "0") + "u."s));
  m = error_of([&] { load_pth(path); });
  EXPECT_NE(m.find("storage '1' is a view of '0' and cannot be the root of view '0'"), std::string::npos) << m;
  std::remove(path.c_str());
}

TEST(PthBadFiles, ViewsOutsideTheirStorageAreRefused) {
  // _rebuild_tensor_v2(storage of 4 floats, offset 2, size (3,), stride (1,)) reaches element 4.
  std::string pkl = "\x80\x02}X\x01\x00\x00\x00w" "ctorch._utils\n_rebuild_tensor_v2\n("
                    "(X\x07\x00\x00\x00storage" "ctorch\nFloatStorage\n" "X\x01\x00\x00\x00" "0"
                    "X\x03\x00\x00\x00" "cpu" "K\x04tQ" "K\x02K\x03\x85K\x01\x85\x89}tRs."s;
  std::string keys = "\x80\x02]X\x01\x00\x00\x00" "0a."s;
  std::string data = "\x04\0\0\0\0\0\0\0"s + std::string(16, '\0');
  std::string path = temp_path("view.pth");
  write_file(path, legacy_file(pkl + keys + data));
  std::string m = error_of([&] { load_pth(path); });
  EXPECT_EQ(m, "load_pth: " + path +
                   ": tensor 'w': size [3], stride [1] at offset 2 reaches past the end of its 4-element storage '0'");
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Learner checkpoints (learner/Checkpoint.h) are safetensors
TEST(Checkpoint, SaveTensorsWritesSafetensorsAndKeepsTheOrder) {
  std::string path = temp_path("ckpt.safetensors");
  learner::NamedTensors in = {{"model.w", ones({2})}, {"model.b", zeros({1})}, {"opt.step", zeros({}, DType::i64)}};
  learner::save_tensors(path, in);
  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata.at("format"), "ember");
  EXPECT_EQ(f.tensors[0].first, "opt.step");  // laid out by dtype, then name
  learner::NamedTensors back = learner::load_tensors(path);
  ASSERT_EQ(back.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(back[i].first, in[i].first);
  std::remove(path.c_str());
}

TEST(Checkpoint, EarlierEmberck1FilesStillLoad) {
  std::string bytes = "EMBERCK1"s + "\x01\0\0\0"s + "\x01\0\0\0\0\0\0\0"s;  // version 1, one entry
  bytes += "\x01\0\0\0w"s + "\x00"s + "\x01\0\0\0"s + "\x02\0\0\0\0\0\0\0"s + "\x08\0\0\0\0\0\0\0"s;
  float v[2] = {1.5f, -2.0f};
  bytes.append(reinterpret_cast<const char*>(v), 8);
  std::string path = temp_path("old.bin");
  write_file(path, bytes);
  learner::NamedTensors t = learner::load_tensors(path);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].first, "w");
  EXPECT_EQ(t[0].second.to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  std::remove(path.c_str());
}
