// fuzz/fuzz_pth.cpp: nn/Pth.h load_pth on any bytes: the zip layout, the legacy layout and the
// unpickler (nn/Pickle.h) under both, default limits.
// ember::Error is the expected outcome for bad input; anything else is a finding.
#include <cstdint>
#include <exception>

#include "FuzzFile.h"
#include "ember/nn/Pth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = ember_fuzz::write_input("pth", data, size);
  try {
    ember::nn::NamedTensors t = ember::nn::load_pth(path);
    (void)t;
  } catch (const std::exception&) {
  }
  return 0;
}
