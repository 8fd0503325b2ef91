// tensor/cpu/Allocator.cpp: the CPU allocator (64-byte aligned blocks, large ones cached).
#include <algorithm>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <new>

#include "ember/tensor/Error.h"
#include "ember/tensor/cpu/CpuBackend.h"

namespace ember {
namespace cpu {

namespace {

// Allocator: 64-byte aligned, so vector loads never split cache lines.
//
// Large blocks are cached. glibc serves a block of 32 MiB or more straight from mmap
// and unmaps it on free, so every new large tensor is fresh memory whose first write
// takes a page fault per 4 KiB: for the 64 MiB result of an op on 16M floats that is
// 16k faults and about as long as the op itself (PyTorch pays the same). Freed blocks
// of kCacheMin bytes or more are kept, up to a cap (EMBER_CPU_CACHE_MB, default 256;
// 0 turns the cache off; off under AddressSanitizer so use-after-free stays visible),
// and handed back for the next request of the same size, rounded up to kCacheRound.
// When the cap would be passed, the blocks freed longest ago go back to the OS.
constexpr size_t kCacheMin = size_t{1} << 20;
constexpr size_t kCacheRound = size_t{64} << 10;

class BlockCache {
 public:
  static BlockCache& get() {
    static BlockCache* c = new BlockCache;  // never destroyed: tensors may die after exit starts
    return *c;
  }
  bool caches(size_t nbytes) const { return cap_ > 0 && nbytes >= kCacheMin; }
  static size_t rounded(size_t nbytes) { return (nbytes + kCacheRound - 1) / kCacheRound * kCacheRound; }

  void* take(size_t size) {  // size already rounded; nullptr when none is cached
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_size_.find(size);
    if (it == by_size_.end()) return nullptr;
    void* p = it->second->second;
    lru_.erase(it->second);
    by_size_.erase(it);
    cached_ -= size;
    return p;
  }
  void put(void* p, size_t size) {
    if (size > cap_) return std::free(p);
    std::lock_guard<std::mutex> lock(mu_);
    while (cached_ + size > cap_ && !lru_.empty()) {  // evict the oldest
      auto& [old_size, old_p] = lru_.front();
      for (auto it = by_size_.find(old_size); it != by_size_.end(); ++it)
        if (it->second == lru_.begin()) { by_size_.erase(it); break; }
      cached_ -= old_size;
      std::free(old_p);
      lru_.pop_front();
    }
    lru_.emplace_back(size, p);
    by_size_.emplace(size, std::prev(lru_.end()));
    cached_ += size;
  }

 private:
  BlockCache() {
#if defined(__SANITIZE_ADDRESS__)
    cap_ = 0;
#else
    const char* e = std::getenv("EMBER_CPU_CACHE_MB");
    cap_ = (e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : size_t{256}) << 20;
#endif
  }
  using Lru = std::list<std::pair<size_t, void*>>;  // (size, block), oldest first
  std::mutex mu_;
  Lru lru_;
  std::multimap<size_t, Lru::iterator> by_size_;
  size_t cached_ = 0;
  size_t cap_ = 0;
};

class CpuAllocator : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    BlockCache& cache = BlockCache::get();
    const bool cached = cache.caches(nbytes);
    const size_t size = cached ? BlockCache::rounded(nbytes) : std::max<size_t>(nbytes, 64);
    if (cached)
      if (void* p = cache.take(size)) return p;
    void* p = nullptr;
    if (posix_memalign(&p, 64, size) != 0)
      EMBER_FAIL("cpu allocator: out of memory allocating ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* p, size_t nbytes) override {
    BlockCache& cache = BlockCache::get();
    if (cache.caches(nbytes)) cache.put(p, BlockCache::rounded(nbytes));
    else std::free(p);
  }
};

}  // namespace

Allocator& cpu_allocator() {
  static CpuAllocator* a = new CpuAllocator;  // never destroyed: tensors may die after exit starts
  return *a;
}

}  // namespace cpu
}  // namespace ember
