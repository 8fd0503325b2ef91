// tests/cudasim/Runtime.cpp: the fake CUDA runtime of the simulator.
//
// It defines the cudart functions Ember calls, with the signatures of CUDA's own
// cuda_runtime_api.h, so the simulation build links this instead of libcudart:
//   - devices: EMBER_SIM_DEVICES of them (default 2, so code that switches devices is
//     exercised; 0 simulates a machine without a GPU), each with EMBER_SIM_MEMORY_MB of
//     memory (default 4096) and an H100-like cudaDeviceProp;
//   - device memory is host heap memory (malloc), so AddressSanitizer sees every access out
//     of bounds. A new block is filled with 0xFF bytes (NaN as float or double, -1 as an
//     integer), so a kernel that reads memory nobody wrote gives NaN instead of a lucky 0;
//   - copies and memsets check that the device side of the range lies inside one live block
//     (cudaErrorInvalidValue otherwise, as a bad pointer is on a GPU), and run at once;
//   - streams and events exist, are ordered and complete at once (all work is synchronous);
//   - errors: a launch or call that fails sets the error that cudaGetLastError returns (and
//     clears); cudaErrorLaunchFailure's message carries the simulator's fault report;
//   - device->host synchronisations are counted (cudasim::device_to_host_syncs()): every
//     synchronous cudaMemcpy but device-to-device and pinned-to-device ones, the synchronize
//     calls and cudaFree;
//   - kernel parameters are checked before a launch: pointers into the current device's blocks
//     (or pinned host memory) only.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "SimInternal.h"
#include "cudasim.h"

struct CUstream_st {
  int device;
};
struct CUevent_st {
  int device;
  bool recorded = false;
  double time_ms = 0;
};

namespace cudasim {
namespace detail {
namespace {

int env_int(const char* name, int fallback) {
  const char* e = std::getenv(name);
  return e && *e ? std::atoi(e) : fallback;
}

struct Block {
  size_t size;
  int device;
};

struct Devices {
  int count = env_int("EMBER_SIM_DEVICES", 2);
  size_t memory = static_cast<size_t>(env_int("EMBER_SIM_MEMORY_MB", 4096)) << 20;
  std::mutex mu;
  std::map<uintptr_t, Block> blocks;  // start -> block, every live cudaMalloc
  std::map<uintptr_t, size_t> pinned;  // start -> size, every live cudaMallocHost
  size_t used[16] = {};
};
Devices& devices() {
  static Devices* d = new Devices;  // never destroyed: tensors may be freed during exit
  return *d;
}

thread_local int t_device = 0;
thread_local cudaError_t t_error = cudaSuccess;
std::atomic<uint64_t> g_syncs{0};

bool valid_device(int d) { return d >= 0 && d < devices().count && d < 16; }

// mu held. The block that holds [p, p + n), or nullptr.
const Block* find_block(const void* p, size_t n, uintptr_t* start = nullptr) {
  auto& bl = devices().blocks;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = bl.upper_bound(a);
  if (it == bl.begin()) return nullptr;
  --it;
  if (a + n > it->first + it->second.size || a + n < a) return nullptr;
  if (start) *start = it->first;
  return &it->second;
}

// mu held. Whether p lies in (or just past) a block of `pinned`.
bool in_pinned(const void* p) {
  auto& pn = devices().pinned;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = pn.upper_bound(a);
  if (it == pn.begin()) return false;
  --it;
  return a <= it->first + it->second;
}

// mu held. The device whose block holds p, or just ends at p (a pointer one past the end); -1 if none.
int device_of_pointer(const void* p) {
  auto& bl = devices().blocks;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = bl.upper_bound(a);
  if (it == bl.begin()) return -1;
  --it;
  return a <= it->first + it->second.size ? it->second.device : -1;
}

cudaError_t fail(cudaError_t e) {
  t_error = e;
  return e;
}

// Where a copy's side of kind k points: true for device memory.
bool dst_on_device(cudaMemcpyKind k) { return k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice; }
bool src_on_device(cudaMemcpyKind k) { return k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice; }

cudaError_t copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, const char* call) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  {
    std::lock_guard<std::mutex> lock(devices().mu);
    if (kind == cudaMemcpyDefault) {  // unified addressing: the pointers say where they are
      const bool d_dev = find_block(dst, n) != nullptr, s_dev = find_block(src, n) != nullptr;
      kind = d_dev ? (s_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                   : (s_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    }
    const bool bad_dst = dst_on_device(kind) && !find_block(dst, n);
    const bool bad_src = src_on_device(kind) && !find_block(src, n);
    if (bad_dst || bad_src) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s of %zu bytes: the %s pointer %p is not inside a live device block", call, n,
                    bad_dst ? "destination" : "source", bad_dst ? dst : src);
      report_fault(buf);
      return fail(cudaErrorInvalidValue);
    }
  }
  std::memmove(dst, src, n);
  return cudaSuccess;
}

cudaError_t set(void* p, int value, size_t n, const char* call) {
  if (n == 0) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(devices().mu);
    if (!find_block(p, n)) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "%s of %zu bytes: %p is not inside a live device block", call, n, p);
      report_fault(buf);
      return fail(cudaErrorInvalidValue);
    }
  }
  std::memset(p, value, n);
  return cudaSuccess;
}

}  // namespace

bool check_pointer_param(const void* p, int index) {
  if (!p) return true;
  int on = -1;
  {
    std::lock_guard<std::mutex> lock(devices().mu);
    on = device_of_pointer(p);
    if (on == t_device || (on < 0 && in_pinned(p))) return true;
  }
  char buf[200];
  if (on < 0)
    std::snprintf(buf, sizeof buf, "kernel parameter %d (%p) is not device memory: a host pointer or a freed block",
                  index, p);
  else
    std::snprintf(buf, sizeof buf, "kernel parameter %d (%p) points into cuda:%d's memory, but the kernel runs on cuda:%d",
                  index, p, on, t_device);
  report_fault(buf);
  t_error = cudaErrorIllegalAddress;
  return false;
}

bool check_struct_param(const void* bytes, size_t n, int index) {
  std::lock_guard<std::mutex> lock(devices().mu);
  for (size_t off = 0; off + sizeof(uint64_t) <= n; off += sizeof(uint64_t)) {
    uint64_t word = 0;
    std::memcpy(&word, static_cast<const char*>(bytes) + off, sizeof word);
    if (word == 0) continue;
    const int on = device_of_pointer(reinterpret_cast<const void*>(static_cast<uintptr_t>(word)));
    if (on < 0 || on == t_device) continue;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "kernel parameter %d holds at byte %zu a pointer (0x%llx) into cuda:%d's memory, but the kernel "
                  "runs on cuda:%d",
                  index, off, static_cast<unsigned long long>(word), on, t_device);
    report_fault(buf);
    t_error = cudaErrorIllegalAddress;
    return false;
  }
  return true;
}

void set_last_error(cudaError_t e) { t_error = e; }
void count_sync() { ++g_syncs; }
int current_device() { return t_device; }
int device_of_range(const void* p, size_t n) {
  std::lock_guard<std::mutex> lock(devices().mu);
  const Block* b = find_block(p, n == 0 ? 1 : n);
  return b ? b->device : -1;
}

}  // namespace detail

uint64_t device_to_host_syncs() { return detail::g_syncs.load(); }

}  // namespace cudasim

using namespace cudasim::detail;

// ---------------------------------------------------------------------------
// Devices
extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = std::min(devices().count, 16);
  if (*count <= 0) {
    *count = 0;
    return fail(cudaErrorNoDevice);
  }
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = t_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue);
  if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "Ember CUDA simulator (device %d)", device);
  prop->totalGlobalMem = devices().memory;
  prop->sharedMemPerBlock = 48 << 10;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  prop->pciDeviceID = device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue);
  if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    default: *value = 0; break;
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  count_sync();
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}

// ---------------------------------------------------------------------------
// Memory
cudaError_t cudaMalloc(void** p, size_t size) {
  if (!p) return fail(cudaErrorInvalidValue);
  *p = nullptr;
  if (size == 0) return cudaSuccess;
  Devices& d = devices();
  const int dev = t_device;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (size > d.memory - d.used[dev]) return fail(cudaErrorMemoryAllocation);
    d.used[dev] += size;
  }
  void* mem = nullptr;  // exactly `size` bytes: AddressSanitizer stops at the first byte past them
  if (posix_memalign(&mem, 256, size) != 0) mem = nullptr;
  if (!mem) {
    std::lock_guard<std::mutex> lock(d.mu);
    d.used[dev] -= size;
    return fail(cudaErrorMemoryAllocation);
  }
  std::memset(mem, 0xFF, size);  // "uninitialised": NaN as floats
  std::lock_guard<std::mutex> lock(d.mu);
  d.blocks[reinterpret_cast<uintptr_t>(mem)] = Block{size, dev};
  *p = mem;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  count_sync();  // cudaFree waits for the device
  Devices& d = devices();
  {
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = d.blocks.find(reinterpret_cast<uintptr_t>(p));
    if (it == d.blocks.end()) {
      char buf[120];
      std::snprintf(buf, sizeof buf, "cudaFree(%p): not the start of a live device block", p);
      report_fault(buf);
      return fail(cudaErrorInvalidValue);
    }
    d.used[it->second.device] -= it->second.size;
    d.blocks.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  Devices& d = devices();
  std::lock_guard<std::mutex> lock(d.mu);
  if (free_bytes) *free_bytes = d.memory - d.used[t_device];
  if (total) *total = d.memory;
  return cudaSuccess;
}

// Pinned host memory is ordinary host memory, remembered: kernels may read it (as through
// unified addressing), and copies from it do not wait for the device.
cudaError_t cudaMallocHost(void** p, size_t size) {
  if (!p) return fail(cudaErrorInvalidValue);
  *p = size ? std::malloc(size) : nullptr;
  if (size && !*p) return fail(cudaErrorMemoryAllocation);
  if (*p) {
    std::lock_guard<std::mutex> lock(devices().mu);
    devices().pinned[reinterpret_cast<uintptr_t>(*p)] = size;
  }
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t size, unsigned int) { return cudaMallocHost(p, size); }
cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(devices().mu);
    if (devices().pinned.erase(reinterpret_cast<uintptr_t>(p)) == 0) {
      char buf[120];
      std::snprintf(buf, sizeof buf, "cudaFreeHost(%p): not a live cudaMallocHost block", p);
      report_fault(buf);
      return fail(cudaErrorInvalidValue);
    }
  }
  std::free(p);
  return cudaSuccess;
}

// A synchronous copy to the host waits for the device; so does one from pageable host memory
// to the device (CUDA stages it after a stream sync). Only pinned memory avoids the wait.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  bool pinned_src = false;
  {
    std::lock_guard<std::mutex> lock(devices().mu);
    pinned_src = in_pinned(src);
  }
  if (kind != cudaMemcpyDeviceToDevice && !(kind == cudaMemcpyHostToDevice && pinned_src)) count_sync();
  return copy(dst, src, n, kind, "cudaMemcpy");
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
  return copy(dst, src, n, kind, "cudaMemcpyAsync");
}
cudaError_t cudaMemset(void* p, int value, size_t n) { return set(p, value, n, "cudaMemset"); }
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t) { return set(p, value, n, "cudaMemsetAsync"); }

// ---------------------------------------------------------------------------
// Streams and events: everything completes when issued.
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  if (!s) return fail(cudaErrorInvalidValue);
  *s = new CUstream_st{t_device};
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  count_sync();
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (!e) return fail(cudaErrorInvalidValue);
  *e = new CUevent_st{t_device};
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  e->recorded = true;
  e->time_ms = static_cast<double>(cudasim::launches());  // a clock that only launches move
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  count_sync();
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!ms || !a || !b) return fail(cudaErrorInvalidValue);
  if (!a->recorded || !b->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = static_cast<float>(b->time_ms - a->time_ms);
  return cudaSuccess;
}

// ---------------------------------------------------------------------------
// Errors
cudaError_t cudaGetLastError(void) {
  const cudaError_t e = t_error;
  t_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return t_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define CUDASIM_ERROR(name) \
  case name: return #name;
    CUDASIM_ERROR(cudaSuccess)
    CUDASIM_ERROR(cudaErrorInvalidValue)
    CUDASIM_ERROR(cudaErrorMemoryAllocation)
    CUDASIM_ERROR(cudaErrorInitializationError)
    CUDASIM_ERROR(cudaErrorInvalidConfiguration)
    CUDASIM_ERROR(cudaErrorInvalidDevice)
    CUDASIM_ERROR(cudaErrorInvalidResourceHandle)
    CUDASIM_ERROR(cudaErrorNoDevice)
    CUDASIM_ERROR(cudaErrorLaunchFailure)
    CUDASIM_ERROR(cudaErrorIllegalAddress)
    CUDASIM_ERROR(cudaErrorNotReady)
#undef CUDASIM_ERROR
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: {
      // The fault report, kept per thread so the pointer stays valid while it is used.
      thread_local std::string msg;
      msg = std::string("unspecified launch failure; the CUDA simulator found: ") + cudasim::last_fault();
      return msg.c_str();
    }
    default: return "unknown error";
  }
}

}  // extern "C"
