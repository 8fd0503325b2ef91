// cuda/CudaBackend.cu: the CUDA backend's plumbing (the class is in cuda/CudaBackend.h).
//
//   backend(i)        the table of device i, made on first use (throws without a GPU)
//   device_count()    0 when there is no driver or no device; never throws
//
// What is here: error helpers, device discovery, host<->device copies, GEMM through cuBLAS, the
// device's cuBLAS and cuDNN handles, the index-error flag, and the public entry points of
// cuda/Cuda.h. The kernels are in the family files (CudaBackend.h lists them).
//
// Every op runs on the legacy default stream of its device, so kernels run in the
// order they are issued, and cudaMemcpy to the host waits for them. That is what
// lets the allocator hand a freed block to the next op at once.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Random.h"
#include "ember/tensor/Tensor.h"

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
bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

// The settings of cuda/Cuda.h: read on every matmul and convolution, so each is an atomic.
struct SettingsCell {
  std::atomic<bool> tf32_conv, tf32_matmul, conv_benchmark, deterministic;
};
SettingsCell& settings_cell() {
  static SettingsCell* cell = [] {
    Settings s;
    if (env_set("EMBER_TF32")) s.tf32_conv = s.tf32_matmul = env_on("EMBER_TF32");
    if (env_set("EMBER_CUDNN_BENCHMARK")) s.conv_benchmark = env_on("EMBER_CUDNN_BENCHMARK");
    if (env_set("EMBER_DETERMINISTIC")) s.deterministic = env_on("EMBER_DETERMINISTIC");
    auto* c = new SettingsCell;
    c->tf32_conv = s.tf32_conv, c->tf32_matmul = s.tf32_matmul;
    c->conv_benchmark = s.conv_benchmark, c->deterministic = s.deterministic;
    return c;
  }();
  return *cell;
}
}  // namespace


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

}  // namespace

Settings settings() {
  const detail::SettingsCell& c = detail::settings_cell();
  Settings s;
  s.tf32_conv = c.tf32_conv, s.tf32_matmul = c.tf32_matmul;
  s.conv_benchmark = c.conv_benchmark, s.deterministic = c.deterministic;
  return s;
}

void set_settings(const Settings& s) {
  detail::SettingsCell& c = detail::settings_cell();
  c.tf32_conv = s.tf32_conv, c.tf32_matmul = s.tf32_matmul;
  c.conv_benchmark = s.conv_benchmark, c.deterministic = s.deterministic;
}

// ---------------------------------------------------------------------------
// The table's plumbing: host copies, GEMM, the cuBLAS and cuDNN handles, the index-error flag
void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  const DeviceGuard guard(index_);
  if (nbytes > 0) CUDA_CHECK(cudaMemcpy(host_dst, src, nbytes, cudaMemcpyDeviceToHost));
  raise_failed_checks();  // the kernels that wrote src are done: so are their checks
}

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  const DeviceGuard guard(index_);
  CUDA_CHECK(cudaMemcpy(dst, host_src, nbytes, cudaMemcpyHostToDevice));
}

// Row-major C = op(A) @ op(B) is column-major C^T = op(B)^T @ op(A)^T, and a
// row-major matrix read as column-major is its transpose. So cuBLAS gets B first,
// then A, with m and n swapped; the leading dims and transpose flags stay as given.
void CudaBackend::gemm(const GemmGeom& g, const KView& a, const KView& b, const KView& c) {
  const DType t = c.dtype;
  EMBER_CHECK(t == DType::f32 || t == DType::f64, "matmul: dtype ", dtype_name(t),
              " is not supported (needs f32 or f64)");
  for (int64_t v : {g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch})
    EMBER_CHECK(v <= INT_MAX, "matmul: sizes m=", g.m, " n=", g.n, " k=", g.k, " batch=", g.batch,
                " are too large for cuBLAS (each must fit in 32 bits)");
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const DeviceGuard guard(index_);
  cublasHandle_t h = blas();
  CUBLAS_CHECK(cublasSetMathMode(h, settings().tf32_matmul ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  const cublasOperation_t op_b = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int M = static_cast<int>(g.n), N = static_cast<int>(g.m), K = static_cast<int>(g.k);
  const int lda = static_cast<int>(g.lda), ldb = static_cast<int>(g.ldb), ldc = static_cast<int>(g.ldc);
  const int batch = static_cast<int>(g.batch);
  if (t == DType::f32) {
    const float al = static_cast<float>(g.alpha), be = static_cast<float>(g.beta);
    CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_b, op_a, M, N, K, &al, typed<const float>(b), ldb, g.stride_b,
                                           typed<const float>(a), lda, g.stride_a, &be, typed<float>(c), ldc,
                                           g.stride_c, batch));
  } else {
    CUBLAS_CHECK(cublasDgemmStridedBatched(h, op_b, op_a, M, N, K, &g.alpha, typed<const double>(b), ldb, g.stride_b,
                                           typed<const double>(a), lda, g.stride_a, &g.beta, typed<double>(c), ldc,
                                           g.stride_c, batch));
  }
  detail::after_launch("matmul");
}

cublasHandle_t CudaBackend::blas() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!blas_) {
    CUBLAS_CHECK(cublasCreate(&blas_));
  }
  return blas_;
}

// One cuDNN handle per device, made on first use (the device is current). Like every
// other op it runs on the legacy default stream, so cuDNN's kernels, Ember's kernels and
// the allocator's block reuse stay in issue order.
cudnnHandle_t CudaBackend::dnn() {
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

// ---------------------------------------------------------------------------
// Lazy device checks (CudaBackend.h, DeviceCheck)
namespace {
constexpr int kCheckSlots = 64;  // host threads beyond 64 share slots

struct PendingCheck {
  int device;
  unsigned long long id;
  std::string message;
};
// This host thread's outstanding checks (all devices), oldest first.
thread_local std::vector<PendingCheck> t_pending;
int thread_slot() {
  static std::atomic<int> next{0};
  thread_local const int slot = next++ % kCheckSlots;
  return slot;
}
std::atomic<unsigned long long> g_next_check{1};
}  // namespace

CudaBackend::DeviceCheck CudaBackend::begin_check(std::string message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!checks_) {
      CUDA_CHECK(cudaMalloc(&checks_, kCheckSlots * 2 * sizeof(unsigned long long)));
      CUDA_CHECK(cudaMemset(checks_, 0, kCheckSlots * 2 * sizeof(unsigned long long)));
    }
  }
  // A thread that never reads from the device would collect checks without end: read them now
  // and then (one synchronisation per 65536 checks).
  if (t_pending.size() >= 65536) raise_failed_checks();
  const unsigned long long id = g_next_check++;
  t_pending.push_back({index_, id, std::move(message)});
  return {checks_ + 2 * thread_slot(), id};
}

void CudaBackend::raise_failed_checks() {
  bool mine = false;
  for (const PendingCheck& c : t_pending) mine = mine || c.device == index_;
  if (!mine) return;
  const DeviceGuard guard(index_);
  unsigned long long* slot = checks_ + 2 * thread_slot();
  unsigned long long h[2] = {0, 0};
  CUDA_CHECK(cudaMemcpy(h, slot, sizeof h, cudaMemcpyDeviceToHost));  // after every queued kernel
  std::string failed;
  for (const PendingCheck& c : t_pending)
    if (c.device == index_ && c.id == h[0]) failed = format_check_message(c.message, static_cast<int64_t>(h[1]));
  t_pending.erase(std::remove_if(t_pending.begin(), t_pending.end(),
                                 [&](const PendingCheck& c) { return c.device == index_; }),
                  t_pending.end());
  if (h[0] == 0) return;
  CUDA_CHECK(cudaMemset(slot, 0, sizeof h));
  // An id of no check of this thread: another thread sharing the slot (past 64 threads) failed.
  if (!failed.empty()) EMBER_FAIL(failed, " (cuda:", index_, ", found by a device check and reported at this synchronisation)");
}

namespace {

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
  CudaBackend& b = backend_impl(device);
  const DeviceGuard guard(b.index());
  CUDA_CHECK(cudaDeviceSynchronize());
  b.raise_failed_checks();
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
