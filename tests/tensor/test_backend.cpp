// tests/tensor/test_backend.cpp: the kernel table's defaults. A backend that implements only
// memory and copies (tensor/Backend.h's pure entries) still links, and each entry it lacks
// fails with the op and the device named.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Tensor.h"

using namespace ember;

namespace {

class MemoryOnly : public Backend {
 public:
  MemoryOnly() : Backend(Device::cuda(7)) {}
  Allocator& allocator() override { throw Error("allocator: not used by this test"); }
  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_from_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy(const KView&, const KView&) override {}
  void fill(const KView&, double) override {}
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Backend, MissingEntriesNameTheOpAndTheDevice) {
  MemoryOnly be;
  KView v;
  EXPECT_EQ(be.device(), Device::cuda(7));
  EXPECT_EQ(message_of([&] { be.layer_norm(v, v, v, v, v, v, 1e-5); }), "layer_norm: not implemented for cuda:7");
  EXPECT_EQ(message_of([&] { be.conv2d(ConvGeom{}, v, v, v); }),
            "conv2d: not implemented for cuda:7");
  EXPECT_EQ(message_of([&] { be.unary(UnaryOp::Exp, v, v, 0, 0); }), "unary: not implemented for cuda:7");
  EXPECT_EQ(message_of([&] { be.random(v, RandomDist::Uniform, 0, 0, 0, 1); }), "random: not implemented for cuda:7");
}

TEST(Backend, TheCpuTableNamesItsDevice) { EXPECT_EQ(backend_for(Device::cpu()).device(), Device::cpu()); }
