// tests/cudasim/cudasim.h: the CUDA simulator's device side, test infrastructure only.
//
// The simulation build (-DEMBER_CUDA_SIM=ON) compiles the real cuda/*.cu sources with the host
// compiler, with this header force-included (-include). It keeps CUDA's own headers for every
// type and declaration (cuda_runtime.h, cublas_v2.h, cudnn.h) and supplies what only nvcc
// knows: the execution-space qualifiers, threadIdx/blockIdx/blockDim/gridDim, __syncthreads,
// the warp collectives, atomics and a few device intrinsics. Kernels are launched through
// cuda/Launch.h's launch(), which in this build calls cudasim::launch below.
//
// How a launch runs (tests/cudasim/Sim.cpp): blocks one after another on the calling host
// thread; the threads of a block as cooperative fibers, each running until it reaches a
// barrier (__syncthreads, a warp collective) or returns. When every thread has stopped, the
// scheduler releases complete barriers, or reports a fault: a barrier that some thread of the
// block never reaches, a warp collective whose mask names lanes that are not there, threads
// waiting at different barriers (a deadlock on a GPU). Threads run between barriers in the
// order EMBER_SIM_ORDER chooses (forward, reverse, shuffle[:seed]), so a missing barrier
// changes a result. docs/gpu.md says what this verifies and what only a GPU can.
#pragma once

// CUDA's headers define these only when they are not defined yet (crt/host_defines.h), so
// ours come first: a __shared__ variable is one object per kernel function, which is the
// block's shared memory because the simulator runs one block at a time.
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __constant__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cudasim {

// ---------------------------------------------------------------------------
// Settings and results a test can read (tests/cudasim/Sim.cpp)
// The order in which a block's threads run between barriers (blocks follow it too): 0, 1, 2, ...;
// reversed; a seeded shuffle; or one warp at a time, the last warp first, each until it waits at
// a __syncthreads (warps run in lockstep otherwise, so only this order lets one warp race ahead).
enum class Order { Forward, Reverse, Shuffle, Warps };
void set_order(Order order, uint64_t seed = 0);  // also EMBER_SIM_ORDER=forward|reverse|warps|shuffle[:seed]
Order order();
// The last fault the scheduler found ("" when none since clear_fault()); a faulting launch
// also makes cudaGetLastError return cudaErrorLaunchFailure.
const char* last_fault();
void clear_fault();
// Launches since the process started, and device->host synchronisations (a synchronous
// cudaMemcpy other than device-to-device or from pinned memory to the device,
// cudaDeviceSynchronize, cudaStreamSynchronize, cudaEventSynchronize, cudaFree).
uint64_t launches();
uint64_t device_to_host_syncs();
// cuDNN (tests/cudasim/Cudnn.cpp): make algorithm `algo` of a direction (0 forward, 1 backward
// data, 2 backward filter) report a workspace of `bytes`, e.g. one too big to allocate.
void set_conv_workspace(int direction, int algo, size_t bytes);
void reset_conv_workspaces();

namespace detail {

struct Builtins {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
extern thread_local Builtins* current;  // those of the simulated thread running now

// The type-erased launch: body(ctx) runs one thread's kernel call.
void run_grid(dim3 grid, dim3 block, void (*body)(void*), void* ctx);

// Kernel parameters (tests/cudasim/Runtime.cpp). A pointer must be null or point into (or just
// past) a live block of the current device, or into pinned host memory; no 8-byte word of a
// struct may point into another device's memory. Otherwise: a fault, cudaErrorIllegalAddress,
// and the kernel does not run (a GPU would fault on the access).
bool check_pointer_param(const void* p, int index);
bool check_struct_param(const void* bytes, size_t n, int index);
template <class T>
bool check_param(const T& v, int index) {
  if constexpr (std::is_pointer<T>::value) return check_pointer_param(static_cast<const void*>(v), index);
  else return check_struct_param(&v, sizeof(T), index);
}

// Block-wide and warp-wide barriers; `site` is "file:line" of the call.
void block_barrier(const char* file, int line);
enum class Collective { Shfl, ShflUp, ShflDown, ShflXor, Ballot, Any, All, SyncWarp };
uint64_t warp_collective(Collective kind, unsigned mask, uint64_t bits, int arg, int width, const char* file,
                         int line);

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp shuffles move at most 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace detail

// kernel<<<grid, block>>>(args...): the arguments are converted to the kernel's parameter
// types once, as a launch does, and every thread gets its own copy.
template <class... P, class... A>
void launch(dim3 grid, dim3 block, void (*kernel)(P...), A&&... args) {
  struct Call {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> params;
  } call{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  bool ok = true;
  int index = 0;
  std::apply([&](const auto&... p) { ((ok = detail::check_param(p, index++) && ok), ...); }, call.params);
  if (!ok) return;
  detail::run_grid(grid, block, [](void* ctx) {
    Call& c = *static_cast<Call*>(ctx);
    std::apply(c.kernel, c.params);
  }, &call);
}

}  // namespace cudasim

// ---------------------------------------------------------------------------
// Built-in variables
#define threadIdx (::cudasim::detail::current->thread_idx)
#define blockIdx (::cudasim::detail::current->block_idx)
#define blockDim (::cudasim::detail::current->block_dim)
#define gridDim (::cudasim::detail::current->grid_dim)
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------
// Barriers and warp collectives. The call site (file and line, through GCC's __builtin_FILE
// and __builtin_LINE default arguments) names a barrier in fault reports.
#define CUDASIM_SITE const char *file = __builtin_FILE(), int line = __builtin_LINE()
inline void __syncthreads(CUDASIM_SITE) { ::cudasim::detail::block_barrier(file, line); }
inline void __syncwarp(unsigned mask = 0xffffffffu, CUDASIM_SITE) {
  ::cudasim::detail::warp_collective(::cudasim::detail::Collective::SyncWarp, mask, 0, 0, 32, file, line);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return from_bits<T>(warp_collective(Collective::Shfl, mask, to_bits(v), src_lane, width, file, line));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return from_bits<T>(warp_collective(Collective::ShflUp, mask, to_bits(v), static_cast<int>(delta), width, file, line));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return from_bits<T>(warp_collective(Collective::ShflDown, mask, to_bits(v), static_cast<int>(delta), width, file, line));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return from_bits<T>(warp_collective(Collective::ShflXor, mask, to_bits(v), lane_mask, width, file, line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return static_cast<unsigned>(warp_collective(Collective::Ballot, mask, pred != 0, 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int pred, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return static_cast<int>(warp_collective(Collective::Any, mask, pred != 0, 0, 32, file, line));
}
inline int __all_sync(unsigned mask, int pred, CUDASIM_SITE) {
  using namespace ::cudasim::detail;
  return static_cast<int>(warp_collective(Collective::All, mask, pred != 0, 0, 32, file, line));
}
#undef CUDASIM_SITE

// ---------------------------------------------------------------------------
// Atomics. All threads of a launch run on one host thread, one at a time, so a plain
// read-modify-write is atomic here; the order of competing updates follows the thread order.
template <class T>
inline T cudasim_atomic_update(T* p, T v, int op) {
  const T old = *p;
  switch (op) {
    case 0: *p = old + v; break;
    case 1: *p = old > v ? old : v; break;
    case 2: *p = old < v ? old : v; break;
    default: *p = v; break;
  }
  return old;
}
template <class T>
inline T atomicAdd(T* p, T v) {
  return cudasim_atomic_update(p, v, 0);
}
template <class T>
inline T atomicMax(T* p, T v) {
  static_assert(std::is_integral<T>::value, "atomicMax takes integer types");
  return cudasim_atomic_update(p, v, 1);
}
template <class T>
inline T atomicMin(T* p, T v) {
  static_assert(std::is_integral<T>::value, "atomicMin takes integer types");
  return cudasim_atomic_update(p, v, 2);
}
template <class T>
inline T atomicExch(T* p, T v) {
  return cudasim_atomic_update(p, v, 3);
}
template <class T>
inline T atomicCAS(T* p, T compare, T v) {
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}

// ---------------------------------------------------------------------------
// Device intrinsics Ember uses (bit casts); the math functions are the host's libm.
inline float __int_as_float(int v) { return ::cudasim::detail::from_bits<float>(static_cast<uint32_t>(v)); }
inline int __float_as_int(float v) { return static_cast<int>(static_cast<uint32_t>(::cudasim::detail::to_bits(v))); }
inline double __longlong_as_double(long long v) { return ::cudasim::detail::from_bits<double>(static_cast<uint64_t>(v)); }
inline long long __double_as_longlong(double v) { return static_cast<long long>(::cudasim::detail::to_bits(v)); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
