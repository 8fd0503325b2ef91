// tensor/Device.cpp: device and dtype names, and the backend a device's work goes to.
#include <algorithm>
#include <string>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Device.h"
#include "ember/tensor/Error.h"
#include "ember/tensor/Tensor.h"

namespace ember {

// ---------------------------------------------------------------------------
// Device and dtype names
Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
      std::all_of(text.begin() + 5, text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() < 10)
    return cuda(std::stoi(text.substr(5)));
  EMBER_FAIL("device: cannot parse '", text, "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Backend registry
Backend& cpu_backend();  // tensor/cpu/CpuBackend.cpp

void Backend::not_implemented(const char* op) const {
  EMBER_FAIL(op, ": not implemented for ", device_.str());
}

Backend& backend_for(Device d) {
  if (d.is_cpu()) return cpu_backend();
#ifdef EMBER_WITH_CUDA
  return cuda::backend(d.index);
#else
  EMBER_FAIL("device ", d.str(), ": Ember was built without CUDA (configure with -DEMBER_CUDA=ON)");
#endif
}

#ifndef EMBER_WITH_CUDA
int cuda::device_count() { return 0; }
#endif

}  // namespace ember
