// cuda/CudaBackend.cu: the CUDA kernel table (see tensor/Backend.h) for one device.
//
//   backend(i)        the table of device i, made on first use (throws without a GPU)
//   device_count()    0 when there is no driver or no device; never throws
//
// What is here: the caching allocator, error helpers, host<->device copies, gemm
// through cuBLAS, gather/scatter_add, random, and the device's cuBLAS and cuDNN
// handles. Elementwise kernels are in cuda/Elementwise.cu, reductions and softmax in
// cuda/Reduce.cu, convolution, pooling and batch norm in cuda/ConvNet.cu (cuda/Launch.h).
//
// Every op runs on the legacy default stream of its device, so kernels run in the
// order they are issued, and cudaMemcpy to the host waits for them. That is what
// lets the allocator hand a freed block to the next op at once.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
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

#include "cuda/Cuda.h"
#include "cuda/Launch.h"
#include "tensor/Dispatch.h"
#include "tensor/Random.h"
#include "tensor/Tensor.h"

namespace ember {
namespace cuda {

// ---------------------------------------------------------------------------
// Errors
namespace detail {

void throw_cuda_error(int code, const char* expr, const char* file, int line) {
  const auto e = static_cast<cudaError_t>(code);
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  EMBER_FAIL("CUDA error: ", expr, " failed at ", file, ":", line, ": ", cudaGetErrorName(e), " (",
             cudaGetErrorString(e), ")");
}

void throw_cublas_error(int code, const char* expr, const char* file, int line) {
  EMBER_FAIL("cuBLAS error: ", expr, " failed at ", file, ":", line, ": ",
             cublasGetStatusString(static_cast<cublasStatus_t>(code)));
}

void throw_cudnn_error(int code, const char* expr, const char* file, int line) {
  char why[512] = {};
  cudnnGetLastErrorString(why, sizeof why);  // cuDNN's own account of this thread's last failure
  EMBER_FAIL("cuDNN error: ", expr, " failed at ", file, ":", line, ": ",
             cudnnGetErrorString(static_cast<cudnnStatus_t>(code)), why[0] ? " (" : "", why, why[0] ? ")" : "");
}

namespace {
bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}
}  // namespace

// TF32 rounds f32 inputs to 10 mantissa bits: faster, but ~1e-3 relative error.
bool tf32_enabled() {
  static const bool on = env_on("EMBER_TF32");
  return on;
}

// On a GPU a grid-stride launch uses up to 2^20 blocks; a loop takes a second turn only past
// 2^28 elements. The simulation build uses 5 blocks, so that every grid-stride loop of the tests
// takes several turns (and the simulator switches between far fewer threads).
int64_t max_grid() {
#ifdef EMBER_CUDA_SIM
  return 5;
#else
  return int64_t{1} << 20;
#endif
}

unsigned int blocks_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(blocks, max_grid())));
}

void after_launch(const char* op) {
  static const bool sync = env_on("EMBER_CUDA_SYNC");
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && sync) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    cudaGetLastError();
    EMBER_FAIL("cuda: ", op, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")",
               sync ? "" : "; the error may come from an earlier kernel, rerun with EMBER_CUDA_SYNC=1 to find it");
  }
}

}  // namespace detail

namespace {

// ---------------------------------------------------------------------------
// Devices
struct DeviceQuery {
  int count = 0;
  cudaError_t error = cudaSuccess;
};
const DeviceQuery& query_devices() {
  static const DeviceQuery q = [] {
    DeviceQuery r;
    r.error = cudaGetDeviceCount(&r.count);
    if (r.error != cudaSuccess) {
      cudaGetLastError();
      r.count = 0;
    }
    return r;
  }();
  return q;
}

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

std::string human_bytes(size_t n) {
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
void sim_mark(void* p, size_t used, size_t block) {
#if defined(__SANITIZE_ADDRESS__) || defined(EMBER_SIM_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p, block);
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + used, block - used);
#else
  (void)p, (void)used, (void)block;
#endif
}
void sim_fill_unwritten(void* p, size_t n) { std::memset(p, 0xFF, n); }
#else
void sim_mark(void*, size_t, size_t) {}
void sim_fill_unwritten(void*, size_t) {}
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

// ---------------------------------------------------------------------------
// gather / scatter_add. A bad index cannot throw inside a kernel: the first one is
// written to a small device buffer, which the host reads after the launch.
__device__ void report_bad_index(unsigned long long* err, int64_t v) {
  if (atomicCAS(&err[0], 0ULL, 1ULL) == 0ULL) err[1] = static_cast<unsigned long long>(v);
}

// U: an unsigned type as wide as one element (gather only moves bits).
template <class U>
__global__ void gather_kernel(KView dst, KView src, KView index, int dim, int64_t n,
                              unsigned long long* err) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t doff = 0, ioff = 0, soff = 0, rem = i;
    for (int d = dst.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % dst.shape[d];
      rem /= dst.shape[d];
      doff += c * dst.strides[d];
      ioff += c * index.strides[d];
      if (d != dim) soff += c * src.strides[d];
    }
    const int64_t v = reinterpret_cast<const int64_t*>(index.data)[ioff];
    if (v < 0 || v >= src.shape[dim]) {
      report_bad_index(err, v);
      continue;
    }
    reinterpret_cast<U*>(dst.data)[doff] = reinterpret_cast<const U*>(src.data)[soff + v * src.strides[dim]];
  }
}

__device__ inline void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ inline void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ inline void atomic_add(int64_t* p, int64_t v) {
  // Two's complement: adding the bits as unsigned gives the signed sum.
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

template <class T>
__global__ void scatter_add_kernel(KView dst, KView src, KView index, int dim, int64_t n,
                                   unsigned long long* err) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t doff = 0, ioff = 0, soff = 0, rem = i;
    for (int d = src.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % src.shape[d];
      rem /= src.shape[d];
      soff += c * src.strides[d];
      ioff += c * index.strides[d];
      if (d != dim) doff += c * dst.strides[d];
    }
    const int64_t v = reinterpret_cast<const int64_t*>(index.data)[ioff];
    if (v < 0 || v >= dst.shape[dim]) {
      report_bad_index(err, v);
      continue;
    }
    atomic_add(reinterpret_cast<T*>(dst.data) + doff + v * dst.strides[dim],
               reinterpret_cast<const T*>(src.data)[soff]);
  }
}

// ---------------------------------------------------------------------------
// random: element i is a function of (seed, offset + i), the formulas of the CPU
// backend (tensor/Random.h), so one seed gives the same numbers on both.
template <class T>
__global__ void random_kernel(T* out, int64_t n, RandomDist dist, uint64_t seed, uint64_t offset,
                              double a, double b) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const uint64_t c = offset + static_cast<uint64_t>(i);
    out[i] = static_cast<T>(dist == RandomDist::Uniform ? a + (b - a) * philox::uniform(c, seed)
                                                       : a + b * philox::normal(c, seed));
  }
}

__global__ void random_bits_kernel(int64_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = static_cast<int64_t>(philox::bits64(offset + static_cast<uint64_t>(i), seed));
}

// ---------------------------------------------------------------------------
class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index), alloc_(index) {}

  Allocator& allocator() override { return alloc_; }
  CachingAllocator& caching_allocator() { return alloc_; }
  int index() const { return index_; }

  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override {
    if (nbytes == 0) return;
    const DeviceGuard guard(index_);
    CUDA_CHECK(cudaMemcpy(host_dst, src, nbytes, cudaMemcpyDeviceToHost));
  }
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override {
    if (nbytes == 0) return;
    const DeviceGuard guard(index_);
    CUDA_CHECK(cudaMemcpy(dst, host_src, nbytes, cudaMemcpyHostToDevice));
  }

  void copy(const KView& dst, const KView& src) override {
    const DeviceGuard guard(index_);
    detail::copy(dst, src);
  }
  void fill(const KView& dst, double value) override {
    const DeviceGuard guard(index_);
    detail::fill(dst, value);
  }
  void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1) override {
    const DeviceGuard guard(index_);
    detail::unary(op, dst, x, p0, p1);
  }
  void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0,
              double p1) override {
    const DeviceGuard guard(index_);
    detail::binary(op, dst, a, b, p0, p1);
  }
  void where(const KView& dst, const KView& cond, const KView& a, const KView& b) override {
    const DeviceGuard guard(index_);
    detail::where(dst, cond, a, b);
  }
  void reduce(ReduceOp op, const KView& dst, const KView& src, double scale) override {
    const DeviceGuard guard(index_);
    detail::reduce(op, dst, src, scale);
  }
  void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim) override {
    const DeviceGuard guard(index_);
    detail::arg_reduce(is_max, dst, src, dim);
  }
  void adam_step(DType t, int64_t n, void* p, const void* g, void* m, void* v, const AdamStep& a) override {
    const DeviceGuard guard(index_);
    detail::adam_step(t, n, p, g, m, v, a);
  }
  void sgd_step(DType t, int64_t n, void* p, const void* g, void* buf, const SgdStep& a) override {
    const DeviceGuard guard(index_);
    detail::sgd_step(t, n, p, g, buf, a);
  }
  void softmax(DType t, bool log, void* y, const void* x, int64_t rows, int64_t cols) override {
    const DeviceGuard guard(index_);
    detail::softmax(t, log, y, x, rows, cols);
  }
  void softmax_backward(DType t, bool log, void* gx, const void* gy, const void* y, int64_t rows,
                        int64_t cols) override {
    const DeviceGuard guard(index_);
    detail::softmax_backward(t, log, gx, gy, y, rows, cols);
  }

  // Row-major C = op(A) @ op(B) is column-major C^T = op(B)^T @ op(A)^T, and a
  // row-major matrix read as column-major is its transpose. So cuBLAS gets B first,
  // then A, with m and n swapped; the leading dims and transpose flags stay as given.
  void gemm(DType t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void* a,
            int64_t lda, int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, double beta,
            void* c, int64_t ldc, int64_t stride_c, int64_t batch) override {
    EMBER_CHECK(t == DType::f32 || t == DType::f64, "matmul: dtype ", dtype_name(t),
                " is not supported (needs f32 or f64)");
    for (int64_t v : {m, n, k, lda, ldb, ldc, batch})
      EMBER_CHECK(v <= INT_MAX, "matmul: sizes m=", m, " n=", n, " k=", k, " batch=", batch,
                  " are too large for cuBLAS (each must fit in 32 bits)");
    if (m == 0 || n == 0 || batch == 0) return;
    const DeviceGuard guard(index_);
    cublasHandle_t h = blas();
    const cublasOperation_t op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int M = static_cast<int>(n), N = static_cast<int>(m), K = static_cast<int>(k);
    if (t == DType::f32) {
      const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
      CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_b, op_a, M, N, K, &al, static_cast<const float*>(b),
                                             static_cast<int>(ldb), stride_b, static_cast<const float*>(a),
                                             static_cast<int>(lda), stride_a, &be, static_cast<float*>(c),
                                             static_cast<int>(ldc), stride_c, static_cast<int>(batch)));
    } else {
      CUBLAS_CHECK(cublasDgemmStridedBatched(h, op_b, op_a, M, N, K, &alpha, static_cast<const double*>(b),
                                             static_cast<int>(ldb), stride_b, static_cast<const double*>(a),
                                             static_cast<int>(lda), stride_a, &beta, static_cast<double*>(c),
                                             static_cast<int>(ldc), stride_c, static_cast<int>(batch)));
    }
    detail::after_launch("matmul");
  }

  void gather(const KView& dst, const KView& src, const KView& index, int dim) override {
    const DeviceGuard guard(index_);
    const int64_t n = dst.numel();
    if (n == 0) return;
    // The flag is one per device: a launch and the check of its flag are one step, or two
    // host threads could read each other's bad index.
    std::lock_guard<std::mutex> flag_lock(index_mu_);
    unsigned long long* err = error_buffer();
    switch (dtype_size(src.dtype)) {
      case 1: launch(gather_kernel<uint8_t>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err); break;
      case 4: launch(gather_kernel<uint32_t>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err); break;
      default: launch(gather_kernel<uint64_t>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err); break;
    }
    detail::after_launch("gather");
    check_index_error("gather", dim, src.shape[dim]);
  }

  void scatter_add(const KView& dst, const KView& src, const KView& index, int dim) override {
    const DeviceGuard guard(index_);
    const int64_t n = src.numel();
    if (n == 0) return;
    // The flag is one per device: a launch and the check of its flag are one step, or two
    // host threads could read each other's bad index.
    std::lock_guard<std::mutex> flag_lock(index_mu_);
    unsigned long long* err = error_buffer();
    dispatch_numeric(src.dtype, "scatter_add", [&](auto tag) {
      using T = decltype(tag);
      launch(scatter_add_kernel<T>, detail::blocks_for(n), detail::kThreads, dst, src, index, dim, n, err);
    });
    detail::after_launch("scatter_add");
    check_index_error("scatter_add", dim, dst.shape[dim]);
  }

  void random(const KView& dst, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override {
    const DeviceGuard guard(index_);
    const int64_t n = dst.numel();
    if (n == 0) return;
    if (dist == RandomDist::Bits64) {
      EMBER_CHECK(dst.dtype == DType::i64, "random: 64-bit draws need an i64 tensor, got ",
                  dtype_name(dst.dtype));
      launch(random_bits_kernel, detail::blocks_for(n), detail::kThreads, reinterpret_cast<int64_t*>(dst.data), n,
                                                                      seed, offset);
    } else {
      dispatch_float(dst.dtype, "random", [&](auto tag) {
        using T = decltype(tag);
        launch(random_kernel<T>, detail::blocks_for(n), detail::kThreads, reinterpret_cast<T*>(dst.data), n, dist,
                                                                      seed, offset, a, b);
      });
    }
    detail::after_launch("random");
  }

  // Conv nets: convolutions through cuDNN, pooling and batch norm by cuda/ConvNet.cu's kernels.
  void conv2d(DType t, const ConvGeom& g, const void* x, const void* w, void* y) override {
    const DeviceGuard guard(index_);
    detail::conv2d(dnn(), t, g, x, w, y);
  }
  void conv2d_backward_input(DType t, const ConvGeom& g, const void* gy, const void* w, void* gx) override {
    const DeviceGuard guard(index_);
    detail::conv2d_backward_input(dnn(), t, g, gy, w, gx);
  }
  void conv2d_backward_weight(DType t, const ConvGeom& g, const void* gy, const void* x, void* gw) override {
    const DeviceGuard guard(index_);
    detail::conv2d_backward_weight(dnn(), t, g, gy, x, gw);
  }
  void pool2d(DType t, bool is_max, const PoolGeom& g, const void* x, void* y, int64_t* argmax) override {
    const DeviceGuard guard(index_);
    detail::pool2d(t, is_max, g, x, y, argmax);
  }
  void pool2d_backward(DType t, bool is_max, const PoolGeom& g, const void* gy, const int64_t* argmax,
                       void* gx) override {
    const DeviceGuard guard(index_);
    detail::pool2d_backward(t, is_max, g, gy, argmax, gx);
  }
  void channel_stats(DType t, int64_t n, int64_t c, int64_t s, const void* x, void* mean, void* var) override {
    const DeviceGuard guard(index_);
    detail::channel_stats(t, n, c, s, x, mean, var);
  }
  void channel_affine(DType t, int64_t n, int64_t c, int64_t s, const void* x, const void* scale, const void* shift,
                      void* y) override {
    const DeviceGuard guard(index_);
    detail::channel_affine(t, n, c, s, x, scale, shift, y);
  }
  void channel_grad_sums(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x, const void* mean,
                         void* sum_gy, void* sum_gy_xmu) override {
    const DeviceGuard guard(index_);
    detail::channel_grad_sums(t, n, c, s, gy, x, mean, sum_gy, sum_gy_xmu);
  }
  void batch_norm_backward_input(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x,
                                 const void* mean, const void* a, const void* b, const void* k, void* gx) override {
    const DeviceGuard guard(index_);
    detail::batch_norm_backward_input(t, n, c, s, gy, x, mean, a, b, k, gx);
  }

 private:
  cublasHandle_t blas() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!blas_) {
      CUBLAS_CHECK(cublasCreate(&blas_));
      CUBLAS_CHECK(cublasSetMathMode(blas_, detail::tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    }
    return blas_;
  }

  // One cuDNN handle per device, made on first use (the device is current). Like every
  // other op it runs on the legacy default stream, so cuDNN's kernels, Ember's kernels and
  // the allocator's block reuse stay in issue order.
  cudnnHandle_t dnn() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dnn_) {
      const size_t have = cudnnGetVersion();
      EMBER_CHECK(have / 10000 == CUDNN_MAJOR, "cuda:", index_, ": Ember was built with cuDNN ", CUDNN_MAJOR, ".",
                  CUDNN_MINOR, " but loaded libcudnn ", have / 10000, ".", have / 100 % 100,
                  " (check LD_LIBRARY_PATH; docs/gpu.md)");
      CUDNN_CHECK(cudnnCreate(&dnn_));
      CUDNN_CHECK(cudnnSetStream(dnn_, nullptr));
    }
    return dnn_;
  }

  unsigned long long* error_buffer() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!err_) {
      CUDA_CHECK(cudaMalloc(&err_, 2 * sizeof(unsigned long long)));
      CUDA_CHECK(cudaMemset(err_, 0, 2 * sizeof(unsigned long long)));
    }
    return err_;
  }

  // Reads the flag the kernel may have set (this waits for the kernel).
  void check_index_error(const char* op, int dim, int64_t size) {
    unsigned long long h[2] = {0, 0};
    CUDA_CHECK(cudaMemcpy(h, err_, sizeof h, cudaMemcpyDeviceToHost));
    if (h[0] == 0) return;
    CUDA_CHECK(cudaMemset(err_, 0, sizeof h));
    EMBER_FAIL(op, ": index ", static_cast<int64_t>(h[1]), " is out of range for dim ", dim, " of size ", size);
  }

  int index_;
  CachingAllocator alloc_;
  std::mutex mu_;
  std::mutex index_mu_;  // held from a gather/scatter_add launch to the check of its error flag
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  unsigned long long* err_ = nullptr;
};

// One backend per device, made on first use and never destroyed: tensors that die
// during static destruction still return their blocks to a live allocator.
CudaBackend& backend_impl(int index) {
  const DeviceQuery& q = query_devices();
  if (q.error != cudaSuccess)
    EMBER_FAIL("cuda:", index, ": no CUDA device available (cudaGetDeviceCount: ", cudaGetErrorName(q.error),
               ": ", cudaGetErrorString(q.error), ")");
  if (q.count == 0) EMBER_FAIL("cuda:", index, ": no CUDA device available (cudaGetDeviceCount: 0 devices)");
  EMBER_CHECK(index >= 0 && index < q.count, "cuda:", index, ": no such device (", q.count,
              " CUDA device", q.count == 1 ? "" : "s", " available)");
  static std::vector<CudaBackend*>* backends = [&] {
    auto* v = new std::vector<CudaBackend*>;
    for (int i = 0; i < q.count; ++i) v->push_back(new CudaBackend(i));
    return v;
  }();
  return *(*backends)[static_cast<size_t>(index)];
}

}  // namespace

// ---------------------------------------------------------------------------
// Public entry points (tensor/Backend.h, cuda/Cuda.h)
Backend& backend(int index) { return backend_impl(index); }

int device_count() { return query_devices().count; }

CudaMemoryStats memory_stats(int device) { return backend_impl(device).caching_allocator().stats(); }
void reset_peak_memory_stats(int device) { backend_impl(device).caching_allocator().reset_peak(); }
void empty_cache(int device) { backend_impl(device).caching_allocator().empty_cache(); }
void synchronize(int device) {
  const DeviceGuard guard(backend_impl(device).index());
  CUDA_CHECK(cudaDeviceSynchronize());
}

namespace detail {
void* scratch_allocate(size_t nbytes) {
  int cur = 0;
  CUDA_CHECK(cudaGetDevice(&cur));
  return backend_impl(cur).allocator().allocate(nbytes);
}
void scratch_free(void* p, size_t nbytes) {
  int cur = 0;
  CUDA_CHECK(cudaGetDevice(&cur));
  backend_impl(cur).allocator().deallocate(p, nbytes);
}
}  // namespace detail

}  // namespace cuda
}  // namespace ember
