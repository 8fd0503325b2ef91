// tests/layering/tensor_only.cpp: a program on the tensor layer alone. It links ember_tensor's
// whole archive and nothing above it (no autograd, nn, ...), so it builds only while tensor/
// references no symbol of a higher layer, and it checks that the layer works by itself:
// factories, the history-free kernels of tensor/Raw.h, casts, devices and the printout.
#include <cstdio>
#include <string>
#include <vector>

#include "ember/tensor/Raw.h"
#include "ember/tensor/Tensor.h"

using namespace ember;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tensor_only: %s\n", what);
    ++failures;
  }
}
}  // namespace

int main() {
  Tensor a = arange(6, DType::f32);
  Tensor b = full({}, 2.0);
  Tensor c = raw::binary(BinaryOp::Mul, a, b);  // broadcasts the 0-d tensor
  expect(c.to_vector<float>() == std::vector<float>{0, 2, 4, 6, 8, 10}, "arange(6) * 2");
  Tensor s = raw::reduce(ReduceOp::Sum, raw::as_view(c, {2, 3}, {3, 1}, 0), {1}, false);
  expect(s.to_vector<float>() == std::vector<float>{6, 24}, "row sums of [[0,2,4],[6,8,10]]");
  Tensor i = raw::to(s, DType::i64, Device::cpu());
  expect(i.dtype() == DType::i64 && i.to_vector<int64_t>() == std::vector<int64_t>{6, 24}, "cast to i64");
  expect(i.str() == "tensor([ 6, 24])", "printout of an i64 tensor");
  expect(randperm(5).numel() == 5, "randperm(5)");
  bool threw = false;
  try {
    raw::binary(BinaryOp::Add, zeros({3, 4}), zeros({5}));
  } catch (const Error& e) {
    threw = std::string(e.what()).find("add: cannot broadcast [3, 4] with [5]") != std::string::npos;
  }
  expect(threw, "the broadcast error names the op as users know it");
  if (failures == 0) std::printf("tensor layer alone: ok\n");
  return failures == 0 ? 0 : 1;
}
