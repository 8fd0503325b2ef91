// fuzz/fuzz_safetensors.cpp: nn/Safetensors.h load_safetensors on any bytes, default limits.
// ember::Error is the expected outcome for bad input; anything else is a finding.
#include <cstdint>
#include <exception>

#include "FuzzFile.h"
#include "ember/nn/Safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = ember_fuzz::write_input("safetensors", data, size);
  try {
    ember::nn::SafetensorsFile f = ember::nn::load_safetensors(path);
    (void)f;
  } catch (const std::exception&) {
  }
  return 0;
}
