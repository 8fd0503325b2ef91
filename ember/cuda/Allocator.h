// cuda/Allocator.h: the CUDA caching allocator of one device, and the device guard it and the
// backend use (internal to cuda/; cuda/CudaBackend.cu holds one allocator per device).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(EMBER_CUDA_SIM) && defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_SIM_ASAN 1
#endif
#endif
#if defined(EMBER_CUDA_SIM) && (defined(__SANITIZE_ADDRESS__) || defined(EMBER_SIM_ASAN))
#include <sanitizer/asan_interface.h>
#endif

#include "ember/cuda/Cuda.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace cuda {

// Makes `device` current for a scope and gives the caller back its own current device at
// the end, as PyTorch's device guard does: an op on cuda:1 leaves a caller on cuda:0 there.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) : want_(device) {
    CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != want_) CUDA_CHECK(cudaSetDevice(want_));
  }
  ~DeviceGuard() {
    if (prev_ != want_) cudaSetDevice(prev_);  // never throws (destructor); prev_ was valid
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0, want_;
};

inline std::string human_bytes(size_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

// In the simulation build (tests/cudasim) device memory is host memory, so the allocator helps
// the simulator find what a GPU would silently get wrong. A block handed out is filled with
// 0xFF bytes (NaN as a float), as the simulator's cudaMalloc fills new ones: a kernel that reads
// what no one wrote gets NaN, not the last tensor's values. Under AddressSanitizer the bytes of a
// block past the `used` ones are also marked unaddressable: the rounding slack of a live block
// and the whole of a cached free one, so a kernel that runs past its tensor, or writes a tensor
// that was freed, stops at once. In every other build these do nothing.
#if defined(EMBER_CUDA_SIM)
inline void sim_mark(void* p, size_t used, size_t block) {
#if defined(__SANITIZE_ADDRESS__) || defined(EMBER_SIM_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p, block);
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + used, block - used);
#else
  (void)p, (void)used, (void)block;
#endif
}
inline void sim_fill_unwritten(void* p, size_t n) { std::memset(p, 0xFF, n); }
#else
inline void sim_mark(void*, size_t, size_t) {}
inline void sim_fill_unwritten(void*, size_t) {}
#endif

// ---------------------------------------------------------------------------
// Caching allocator. Blocks are rounded (512 B steps below 1 MiB, 128 KiB steps
// above) and kept, when freed, in free lists keyed by size. An allocation takes the
// smallest cached block that fits with at most 25% waste, else calls cudaMalloc;
// when that fails it returns every cached block to the driver and tries once more.
// In a training loop the same sizes come back every step, so after the first step
// no cudaMalloc or cudaFree happens (both synchronise the device).
class CachingAllocator : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}

  void* allocate(size_t nbytes) override {
    const size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= size + size / 4) {
      void* p = it->second.back();
      const size_t block = it->first;
      it->second.pop_back();
      if (it->second.empty()) free_.erase(it);
      ++stats_.num_cache_hits;
      return hand_out(p, block, nbytes);
    }
    const DeviceGuard guard(device_);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e != cudaSuccess) {
      cudaGetLastError();
      release_cached();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
      EMBER_FAIL("cuda:", device_, ": out of memory allocating ", nbytes, " bytes (",
                 human_bytes(nbytes), "); tensors hold ", human_bytes(stats_.allocated), ", the device has ",
                 human_bytes(free_b), " free of ", human_bytes(total_b), " (", cudaGetErrorString(e), ")");
    }
    ++stats_.num_device_mallocs;
    stats_.reserved += size;
    return hand_out(p, size, nbytes);
  }

  // Never throws (it runs in Storage's destructor); the block goes back to the cache.
  void deallocate(void* p, size_t) override {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours; nothing sensible to do in a destructor
    const size_t block = it->second;
    live_.erase(it);
    stats_.allocated -= block;
    sim_mark(p, 0, block);
    free_[block].push_back(p);
  }

  CudaMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_allocated = stats_.allocated;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    const DeviceGuard guard(device_);
    release_cached();
  }

 private:
  static size_t round_size(size_t n) {
    const size_t small_step = 512, large_step = size_t{128} << 10;
    if (n < (size_t{1} << 20)) return std::max(small_step, (n + small_step - 1) / small_step * small_step);
    return (n + large_step - 1) / large_step * large_step;
  }

  void* hand_out(void* p, size_t block, size_t nbytes) {
    sim_mark(p, nbytes, block);
    sim_fill_unwritten(p, nbytes);
    live_[p] = block;
    stats_.allocated += block;
    stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
    return p;
  }

  // mu_ held. cudaFree waits for the device, so no kernel still uses these blocks.
  void release_cached() {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) {
        sim_mark(p, size, size);
        CUDA_CHECK(cudaFree(p));
        ++stats_.num_device_frees;
        stats_.reserved -= size;
      }
    }
    free_.clear();
  }

  int device_;
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // block size -> cached blocks
  std::unordered_map<void*, size_t> live_;     // block -> its size
  CudaMemoryStats stats_;
};

}  // namespace cuda
}  // namespace ember
