// fuzz/fuzz_idx.cpp: datasets/Idx.h read_idx on any bytes (raw or gzipped IDX), default limits.
// ember::Error is the expected outcome for bad input; anything else is a finding.
#include <cstdint>
#include <exception>

#include "FuzzFile.h"
#include "ember/datasets/Idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = ember_fuzz::write_input("idx", data, size);
  try {
    ember::Tensor t = ember::read_idx(path);
    (void)t;
  } catch (const std::exception&) {
  }
  return 0;
}
