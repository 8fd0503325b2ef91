// cuda/Cuda.h: what the CUDA backend shows outside cuda/: memory statistics of the
// caching allocator, and the CUDA_CHECK / CUBLAS_CHECK / CUDNN_CHECK macros.
//
// This header is plain C++ (no CUDA headers), so tests and programs compiled by the
// host compiler can include it. The backend itself is reached through
// backend_for(Device::cuda(i)) (tensor/Backend.h); its kernels live in cuda/*.cu.
//
// Environment switches read by the backend:
//   EMBER_CUDA_SYNC=1   synchronise after every kernel, so an asynchronous error
//                       (an illegal address, say) names the op that caused it
// and the starting values of the settings below (Settings):
//   EMBER_TF32=0|1      TF32 off for both f32 matmul and f32 convolution, or on for both
//   EMBER_CUDNN_BENCHMARK=1, EMBER_DETERMINISTIC=0
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember {
namespace cuda {

// ---------------------------------------------------------------------------
// Caching allocator statistics, one set per device. Sizes are in bytes and count
// the rounded block sizes the allocator hands out.
struct CudaMemoryStats {
  size_t allocated = 0;       // in blocks that tensors hold now
  size_t reserved = 0;        // taken from cudaMalloc: allocated + cached free blocks
  size_t peak_allocated = 0;  // the most `allocated` has been (see reset_peak_memory_stats)
  uint64_t num_device_mallocs = 0;  // cudaMalloc calls so far
  uint64_t num_device_frees = 0;    // cudaFree calls so far
  uint64_t num_cache_hits = 0;      // allocations served from the cache, no cudaMalloc
};

// ---------------------------------------------------------------------------
// Speed against exactness, for the whole process (every device). The defaults are PyTorch's
// (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
// torch.backends.cudnn.benchmark), except that convolutions keep to deterministic algorithms
// while one of them can run (PyTorch's default takes whichever cuDNN ranks first).
struct Settings {
  // f32 convolutions may use TF32 tensor cores (inputs rounded to 10 mantissa bits: ~1e-3
  // relative error against the CPU instead of ~1e-6), and then cuDNN's Winograd and FFT
  // algorithms too. PyTorch's default: on.
  bool tf32_conv = true;
  // f32 matmul (cuBLAS) may use TF32 tensor cores. PyTorch's default: off.
  bool tf32_matmul = false;
  // The first convolution of each shape times every candidate algorithm and keeps the fastest,
  // instead of taking cuDNN's heuristic ranking (costs a little time once per shape).
  bool conv_benchmark = false;
  // Convolutions use algorithms that cuDNN does not promise to be deterministic (they add with
  // atomics) only when no deterministic one can run. Off: any algorithm, the fastest first.
  bool deterministic = true;
};
// The settings now; at start the defaults above, changed by EMBER_TF32, EMBER_CUDNN_BENCHMARK
// and EMBER_DETERMINISTIC. set_settings applies to the calls that follow (cached convolution
// plans are kept per setting).
Settings settings();
void set_settings(const Settings& s);

// Both throw ember::Error when `device` does not exist (like backend_for does).
CudaMemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Returns every cached free block of `device` to the driver (cudaFree).
void empty_cache(int device = 0);
// Waits for all work queued on `device`.
void synchronize(int device = 0);

// Whether any convolution so far ran a cuDNN algorithm that cuDNN does not promise to be
// deterministic (one that adds with atomics, so its last bits can change from run to run).
// Ember tries deterministic algorithms first and uses another only when none of them can run.
bool conv_ran_nondeterministic();

// ---------------------------------------------------------------------------
// Error checks: throw ember::Error naming the failing call, file and line, e.g.
//   "CUDA error: cudaMemcpy(...) failed at cuda/CudaBackend.cu:120:
//    cudaErrorIllegalAddress (an illegal memory access was encountered)"
namespace detail {
[[noreturn]] void throw_cuda_error(int code, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(int code, const char* expr, const char* file, int line);
[[noreturn]] void throw_cudnn_error(int code, const char* expr, const char* file, int line);
}  // namespace detail

}  // namespace cuda
}  // namespace ember

// cudaSuccess, CUBLAS_STATUS_SUCCESS and CUDNN_STATUS_SUCCESS are all 0.
#define CUDA_CHECK(expr)                                                                   \
  do {                                                                                     \
    const int ember_cuda_status_ = static_cast<int>(expr);                                 \
    if (ember_cuda_status_ != 0)                                                           \
      ::ember::cuda::detail::throw_cuda_error(ember_cuda_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                   \
  do {                                                                                       \
    const int ember_cublas_status_ = static_cast<int>(expr);                                 \
    if (ember_cublas_status_ != 0)                                                           \
      ::ember::cuda::detail::throw_cublas_error(ember_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// "cuDNN error: cudnnConvolutionForward(...) failed at cuda/Conv.cu:210:
//  CUDNN_STATUS_NOT_SUPPORTED (<cuDNN's own message for the last failure>)"
#define CUDNN_CHECK(expr)                                                                   \
  do {                                                                                      \
    const int ember_cudnn_status_ = static_cast<int>(expr);                                 \
    if (ember_cudnn_status_ != 0)                                                           \
      ::ember::cuda::detail::throw_cudnn_error(ember_cudnn_status_, #expr, __FILE__, __LINE__); \
  } while (0)
