// tensor/cpu/CpuBackend.cpp: the one CPU backend (tensor/cpu/CpuBackend.h lists where each of its
// entries is defined).
#include "ember/tensor/cpu/CpuBackend.h"

namespace ember {

Backend& cpu_backend() {
  static cpu::CpuBackend backend;
  return backend;
}

}  // namespace ember
