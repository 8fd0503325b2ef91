// cuda/Launch.h: what every kernel file of cuda/ shares (internal to cuda/): launch(), the
// grid-stride helpers, the after-launch check, TF32 and scratch memory. The backend's entries
// themselves are declared in cuda/CudaBackend.h and defined in the family files.
//
// Every kernel starts through launch() below, never through <<<>>> directly: the
// simulation build (-DEMBER_CUDA_SIM=ON, tests/cudasim) compiles these files with the
// host compiler, and there launch() hands the kernel to the CPU simulator.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "ember/tensor/Backend.h"

// cuDNN's handle type (cudnn_graph.h declares the same), so this header needs no cuDNN include.
struct cudnnContext;
typedef struct cudnnContext* cudnnHandle_t;

namespace ember {
namespace cuda {

// kernel<<<grid, block>>>(args...) on the legacy default stream of the current device.
template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A&&... args) {
#ifdef EMBER_CUDA_SIM
  cudasim::launch(grid, block, kernel, std::forward<A>(args)...);
#else
  kernel<<<grid, block>>>(std::forward<A>(args)...);
#endif
}

namespace detail {

constexpr int kThreads = 256;  // threads per block of the grid-stride loops

// n / d and n % d for 0 <= n < 2^31 by a multiply and a shift instead of a division (the
// "round-up" magic number: m = 2^32 * (2^s - d) / d + 1 with 2^s >= d; Hacker's Delight 10-9).
// Kernels that turn a flat index into coordinates use it instead of 64-bit division.
struct FastDivider {
  uint32_t d = 1, m = 0, s = 0;
  FastDivider() = default;
  explicit FastDivider(uint32_t divisor) : d(divisor) {
    while ((uint64_t{1} << s) < d) ++s;
    m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1);
  }
  __host__ __device__ uint32_t div(uint32_t n) const {
    const uint32_t hi = static_cast<uint32_t>((static_cast<uint64_t>(n) * m) >> 32);  // mul.hi
    return (hi + n) >> s;  // no overflow: n < 2^31 and hi <= n
  }
};

// Blocks for a grid-stride loop over n items (at least 1, at most max_grid()).
unsigned int blocks_for(int64_t n, int threads = kThreads);
int64_t max_grid();

// Checks the launch just made; with EMBER_CUDA_SYNC=1 also waits for it, so an
// asynchronous fault is reported as "cuda: <op> failed: ...".
void after_launch(const char* op);


// Scratch device memory from the caching allocator of the current backend.
void* scratch_allocate(size_t nbytes);
void scratch_free(void* p, size_t nbytes);

// Scratch device memory, given back to the caching allocator when it goes out of scope.
class Scratch {
 public:
  explicit Scratch(size_t nbytes) : n_(nbytes), p_(nbytes ? scratch_allocate(nbytes) : nullptr) {}
  ~Scratch() {
    if (p_) scratch_free(p_, n_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  size_t n_;
  void* p_;
};

}  // namespace detail
}  // namespace cuda
}  // namespace ember
