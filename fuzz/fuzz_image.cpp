// fuzz/fuzz_image.cpp: datasets/Image.h decode_image (stb_image through Ember's wrapper), in memory.
// The first byte picks the requested channel count (0 = as stored, 1..4 converts); the rest is
// the file. ember::Error is the expected outcome for bad input; anything else is a finding.
#include <cstdint>
#include <exception>

#include "ember/datasets/Image.h"

// The pixel limit is lowered from 2^25 to 2^22 so that a small input claiming a large image (which
// stb then fills in) does not slow the fuzzer to a few executions a second; the default limit's
// memory use is what the HostileHeaders tests check.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ember::set_max_image_pixels(int64_t(1) << 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  int channels = data[0] % 5;
  try {
    ember::Tensor t = ember::decode_image(data + 1, size - 1, "fuzz", channels);
    (void)t;
  } catch (const std::exception&) {
  }
  return 0;
}
