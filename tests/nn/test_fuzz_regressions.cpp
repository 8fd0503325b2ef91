// tests/nn/test_fuzz_regressions.cpp: inputs found by the fuzzers (fuzz/, docs/security.md) for
// the safetensors, .pth/pickle and ClassTree/cost-matrix parsers, each refused with a clear
// ember::Error; and hostile headers refused under an address-space cap (as `ulimit -v`), which
// shows no large allocation happens before the refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ember/datasets/Files.h"
#include "lib/address_cap.h"
#include "ember/nn/Hierarchy.h"
#include "ember/nn/Pth.h"
#include "ember/nn/Safetensors.h"

using namespace ember;
namespace fs = std::filesystem;

namespace {
const std::string kFixtures = std::string(EMBER_SOURCE_DIR) + "/tests/nn/fixtures/fuzz";

std::vector<std::string> fuzz_inputs(const std::string& prefix) {
  std::vector<std::string> out;
  if (fs::is_directory(kFixtures))
    for (auto& e : fs::directory_iterator(kFixtures))
      if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_all(const std::string& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

template <class F>
void expect_refused(F f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected ember::Error containing '" << part << "'";
  } catch (const ember::Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

std::string safetensors_bytes(const std::string& header, size_t buffer) {
  std::string b(8, '\0');
  for (int i = 0; i < 8; ++i) b[size_t(i)] = char(uint64_t(header.size()) >> (8 * i));
  return b + header + std::string(buffer, '\0');
}
}  // namespace

TEST(FuzzRegressions, SafetensorsInputsAreRefused) {
  for (const std::string& p : fuzz_inputs("safetensors-")) {
    SCOPED_TRACE(p);
    expect_refused([&] { nn::load_safetensors(p); }, p);
  }
}

TEST(FuzzRegressions, PthInputsAreRefused) {
  for (const std::string& p : fuzz_inputs("pth-")) {
    SCOPED_TRACE(p);
    expect_refused([&] { nn::load_pth(p); }, p);
  }
}

TEST(FuzzRegressions, ClassTreeAndCostInputsAreRefused) {
  // As fuzz/fuzz_class_tree.cpp: the first byte picks the parser (even: parent file; odd: cost
  // matrix with N = byte / 2 classes), the rest is the file.
  TempDir tmp;
  for (const std::string& p : fuzz_inputs("class_tree-")) {
    SCOPED_TRACE(p);
    std::string b = read_all(p);
    ASSERT_FALSE(b.empty());
    std::string file = tmp / fs::path(p).filename().string();
    write_all(file, b.substr(1));
    auto mode = static_cast<uint8_t>(b[0]);
    if (mode % 2 == 0) expect_refused([&] { hier::ClassTree::from_file(file); }, file);
    else expect_refused([&] { hier::load_cost_matrix(file, int64_t(mode / 2)); }, file);
  }
}

TEST(FuzzRegressions, PickleCycleIsRefused) {
  // A list appended to itself (EMPTY_LIST, DUP, APPEND): shared_ptr cannot free the cycle, so the
  // unpickler refuses it and breaks it (LeakSanitizer checks the freeing in the sanitizer builds).
  TempDir tmp;
  std::string p = tmp / "cycle.pth";
  write_all(p, std::string("\x80\x02]2a.", 6));
  expect_refused([&] { nn::load_pth(p); }, "contains itself");
  // Through the memo, and via a dict: {} BINPUT 0, key, BINGET 0, SETITEM.
  write_all(p, std::string("\x80\x02}q\x00X\x01\x00\x00\x00kh\x00s.", 15));
  expect_refused([&] { nn::load_pth(p); }, "contains itself");
}

// --- hostile headers ---------------------------------------------------------------------
TEST(HostileHeaders, SafetensorsHugeShapesAreRefusedUnderACap) {
  TempDir tmp;
  std::string p = tmp / "huge.safetensors";
  // 2^40 f32 elements (4 TiB) claimed, within max_elements when it is raised, but far past the
  // 4-byte buffer: the offsets are checked against the file before anything is allocated.
  write_all(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}})", 4));
  nn::SafetensorsLimits big;
  big.max_elements = uint64_t(1) << 50;
  expect_refused([&] { nn::load_safetensors(p, big); }, "past the end");
  expect_refused([&] { nn::load_safetensors(p); }, "SafetensorsLimits::max_elements");
  if (!ember_test::asan_build()) {
    EXPECT_REFUSED_UNDER_CAP(512, [&] { nn::load_safetensors(p, big); }, "past the end");
    EXPECT_REFUSED_UNDER_CAP(512, [&] { nn::load_safetensors(p); }, "max_elements");
  }
}

TEST(HostileHeaders, PickleNestingBombIsRefusedUnderACap) {
  TempDir tmp;
  // Legacy-layout .pth whose first pickle nests 100000 lists, and one with 100000 MARKs.
  std::string lists = std::string("\x80\x02", 2) + std::string(100000, ']');
  for (int i = 0; i < 100000; ++i) lists += 'a';  // APPEND each into the one below
  lists += '.';
  std::string marks = std::string("\x80\x02", 2) + std::string(100000, '(') + '.';
  for (auto& [name, bytes, expect] : {std::tuple<std::string, std::string, std::string>{"lists.pth", lists, "nests containers deeper"},
                                      {"marks.pth", marks, "nests MARKs deeper"}}) {
    std::string p = tmp / name;
    write_all(p, bytes);
    expect_refused([&] { nn::load_pth(p); }, expect);
    expect_refused([&] { nn::load_pth(p); }, "PickleLimits::max_depth");
    if (!ember_test::asan_build()) EXPECT_REFUSED_UNDER_CAP(512, [&] { nn::load_pth(p); }, "max_depth");
  }
  // The limit is configurable.
  std::string p = tmp / "lists.pth";
  nn::PthLimits small;
  small.pickle.max_depth = 10;
  write_all(p, std::string("\x80\x02", 2) + std::string(20, ']') + std::string(19, 'a') + '.');
  expect_refused([&] { nn::load_pth(p, small); }, "deeper than 10");
}
