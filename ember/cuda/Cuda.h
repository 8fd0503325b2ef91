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
//   EMBER_TF32=1        let cuBLAS (f32 matmul) and cuDNN (f32 convolution) use TF32
//                       tensor cores (off by default: results then match the CPU to
//                       ~1e-6, not ~1e-3)
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
