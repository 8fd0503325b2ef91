// tensor/Random.h: the Philox 4x32-10 counter-based generator (Salmon et al. 2011).
//
// Element i of a random tensor is a pure function of (seed, offset + i), so CPU
// loops and CUDA threads produce identical numbers for the same seed, in any order.
#pragma once

#include <cstdint>

#include "ember/tensor/Math.h"

namespace ember {
namespace philox {

struct U32x4 {
  uint32_t v[4];
};

EMBER_HD inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Ten rounds over a 128-bit counter with a 64-bit key.
EMBER_HD inline U32x4 philox4x32(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// 24 random bits -> [0, 1) exactly representable in f32.
EMBER_HD inline double to_unit(uint32_t x) { return (x >> 8) * (1.0 / 16777216.0); }

EMBER_HD inline double uniform(uint64_t counter, uint64_t seed) {
  return to_unit(philox4x32(counter, seed).v[0]);
}

// Box-Muller from two words of the same counter.
EMBER_HD inline double normal(uint64_t counter, uint64_t seed) {
  U32x4 r = philox4x32(counter, seed);
  double u1 = 1.0 - to_unit(r.v[0]);  // (0, 1]
  double u2 = to_unit(r.v[1]);
  return math::sqrt(-2.0 * math::log(u1)) * ::cos(6.283185307179586 * u2);
}

EMBER_HD inline uint64_t bits64(uint64_t counter, uint64_t seed) {
  U32x4 r = philox4x32(counter, seed);
  return (static_cast<uint64_t>(r.v[2]) << 32) | r.v[3];
}

}  // namespace philox

// The process-wide generator: a seed plus how many counters were used so far.
struct Generator {
  uint64_t seed = 0x853c49e6748fea9bULL;
  uint64_t offset = 0;
  // Reserves n counters and returns the first.
  uint64_t take(uint64_t n) {
    uint64_t o = offset;
    offset += n;
    return o;
  }
};
Generator& default_generator();

}  // namespace ember
