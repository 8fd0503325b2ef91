// tests/datasets/helpers.h: fixtures shared by the datasets tests (tiny files in temp folders).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "ember/datasets/Files.h"
#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember_test {

// Runs f, expects an ember::Error whose message contains every part.
template <class F>
void expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected ember::Error containing '" << *parts.begin() << "'";
  } catch (const ember::Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "missing '" << p << "' in: " << e.what();
  }
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  return ember::read_file_bytes(path, /*gunzip=*/false);
}

// u8 tensor [shape] with element i = (i * mul + add) % 256.
inline ember::Tensor pattern_u8(ember::Shape shape, int mul = 7, int add = 3) {
  ember::Tensor t = ember::empty(shape, ember::DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<uint8_t>((i * mul + add) % 256);
  return t;
}

// The env variable set to `value` (or unset when nullptr) for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

}  // namespace ember_test
