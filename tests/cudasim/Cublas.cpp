// tests/cudasim/Cublas.cpp: the cuBLAS calls Ember makes, for the CUDA simulator.
//
// Handles, streams and math modes are stored and handed back; gemm is a column-major
// reference (C = alpha * op(A) op(B) + beta * C, summed in double) run on the calling host
// thread. Arguments are validated the way cuBLAS does (NOT_INITIALIZED for a bad handle,
// INVALID_VALUE for bad sizes or leading dimensions), and every matrix region a call would
// touch must lie in simulated device memory: one that does not is reported as a fault
// (cudasim::last_fault) and the call returns CUBLAS_STATUS_EXECUTION_FAILED, as a kernel
// reading a host pointer would fail on a GPU. The math mode is only recorded (TF32 is not
// emulated: results are the full-precision reference).
#include "SimInternal.h"  // first: cudasim.h defines the qualifiers before CUDA's headers do

#include <cublas_v2.h>

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <utility>


// The handle: what cublasCreate made on which device, and what was set on it since.
struct cublasContext {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

using cudasim::detail::device_of_range;
using cudasim::detail::report_fault;

// ---------------------------------------------------------------------------
// Live handles: a destroyed (or never created) handle is refused, not dereferenced.

std::mutex& handles_mutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::set<const cublasContext*>& live_handles() {
  static auto* s = new std::set<const cublasContext*>;
  return *s;
}

bool handle_ok(const cublasContext* h) {
  if (!h) return false;
  std::lock_guard<std::mutex> lock(handles_mutex());
  return live_handles().count(h) != 0;
}

// Runs body(), turning an exception (none is expected) into a status, as a C API must.
template <class Body>
cublasStatus_t guarded(Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return CUBLAS_STATUS_ALLOC_FAILED;
  } catch (...) {
    return CUBLAS_STATUS_INTERNAL_ERROR;
  }
}

// ---------------------------------------------------------------------------
// gemm

// op(X) for a real type: N is X itself, T and C its transpose.
bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }
bool transposed(cublasOperation_t op) { return op != CUBLAS_OP_N; }

int64_t at_least_one(int64_t v) { return v > 1 ? v : 1; }

// One stored matrix operand: `rows` x `cols` column-major with leading dimension `ld`,
// batch b starting `stride` elements after batch b - 1.
struct Operand {
  const char* name;  // "A", "B" or "C"
  const void* base;
  int64_t rows, cols, ld, stride;
};

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

// Checks that every batch of `op` lies in device memory of the handle's device; reports a
// fault naming the operand and returns false when one does not.
bool operand_on_device(const char* fn, const Operand& op, size_t elem, int batch, int device) {
  if (op.rows == 0 || op.cols == 0) return true;
  const int64_t extent = (op.cols - 1) * op.ld + op.rows;  // elements from the first to the last one read
  const size_t bytes = static_cast<size_t>(extent) * elem;
  for (int b = 0; b < batch; ++b) {
    const void* p = static_cast<const char*>(op.base) + b * op.stride * static_cast<int64_t>(elem);
    const int on = device_of_range(p, bytes);
    if (on == device) continue;
    std::string what = std::string(fn) + ": " + op.name + " [" + std::to_string(op.rows) + " x " +
                       std::to_string(op.cols) + ", ld " + std::to_string(op.ld) + ", stride " +
                       std::to_string(op.stride) + ", batch " + std::to_string(b) + " of " +
                       std::to_string(batch) + "] = " + std::to_string(bytes) + " bytes at " + hex(p);
    if (on < 0)
      what += " is not device memory (a host pointer, a freed block, or a range past the end of its allocation)";
    else
      what += " is on device " + std::to_string(on) + ", but the cuBLAS handle belongs to device " +
              std::to_string(device);
    report_fault(what);
    return false;
  }
  return true;
}

// The bytes [first, last) that `op`'s batches span (stride >= 0 in Ember's calls).
std::pair<uintptr_t, uintptr_t> span(const Operand& op, size_t elem, int batch) {
  const int64_t extent = (op.cols - 1) * op.ld + op.rows;
  const auto first = reinterpret_cast<uintptr_t>(op.base);
  return {first, first + static_cast<uintptr_t>(((batch - 1) * op.stride + extent) * static_cast<int64_t>(elem))};
}

// cuBLAS computes C in place from A and B: C must not overlap A or B, nor its own batches
// (a GPU's blocks would read what others already wrote). Reports a fault and returns false.
bool output_is_separate(const char* fn, const Operand& c, const Operand* a, const Operand* b, size_t elem,
                        int batch) {
  const int64_t extent = (c.cols - 1) * c.ld + c.rows;
  if (batch > 1 && c.stride < extent) {
    report_fault(std::string(fn) + ": the " + std::to_string(batch) + " batches of C overlap (strideC " +
                 std::to_string(c.stride) + " < " + std::to_string(extent) + " elements per matrix)");
    return false;
  }
  const auto sc = span(c, elem, batch);
  for (const Operand* in : {a, b}) {
    if (!in || in->rows == 0 || in->cols == 0) continue;
    const auto si = span(*in, elem, batch);
    if (sc.first < si.second && si.first < sc.second) {
      report_fault(std::string(fn) + ": C (" + hex(c.base) + ") overlaps " + in->name + " (" + hex(in->base) +
                   "): cuBLAS needs the output apart from its inputs");
      return false;
    }
  }
  return true;
}

// C = alpha * op(A) op(B) + beta * C for each of `batch` matrices, column-major; the sums
// run in double, in a fixed order (bit-identical every call). With beta == 0, C is only
// written (it may hold NaN). With alpha == 0 or k == 0, A and B are not read.
template <class T>
cublasStatus_t gemm(const char* fn, cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                    int m, int n, int k, const T* alpha, const T* A, int lda, long long stride_a, const T* B,
                    int ldb, long long stride_b, const T* beta, T* C, int ldc, long long stride_c, int batch) {
  if (!handle_ok(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(transa) || !valid_op(transb)) return CUBLAS_STATUS_INVALID_VALUE;
  if (m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const bool ta = transposed(transa), tb = transposed(transb);
  if (lda < at_least_one(ta ? k : m) || ldb < at_least_one(tb ? n : k) || ldc < at_least_one(m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;  // nothing to compute

  const double al = static_cast<double>(*alpha), be = static_cast<double>(*beta);
  const bool reads_ab = al != 0.0 && k > 0;
  // As stored: A is m x k (k x m when transposed), B is k x n (n x k), C is m x n.
  const Operand a{"A", A, ta ? k : m, ta ? m : k, lda, stride_a};
  const Operand b{"B", B, tb ? n : k, tb ? k : n, ldb, stride_b};
  const Operand c{"C", C, m, n, ldc, stride_c};
  const int device = handle->device;
  if (reads_ab && (!operand_on_device(fn, a, sizeof(T), batch, device) ||
                   !operand_on_device(fn, b, sizeof(T), batch, device)))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  if (!operand_on_device(fn, c, sizeof(T), batch, device)) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (!output_is_separate(fn, c, reads_ab ? &a : nullptr, reads_ab ? &b : nullptr, sizeof(T), batch))
    return CUBLAS_STATUS_EXECUTION_FAILED;

  for (int64_t bi = 0; bi < batch; ++bi) {
    const T* Ab = A + bi * stride_a;
    const T* Bb = B + bi * stride_b;
    T* Cb = C + bi * stride_c;
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        double sum = 0.0;
        if (reads_ab)
          for (int64_t p = 0; p < k; ++p) {
            const T a_ip = ta ? Ab[p + i * lda] : Ab[i + p * lda];  // op(A)(i, p)
            const T b_pj = tb ? Bb[j + p * ldb] : Bb[p + j * ldb];  // op(B)(p, j)
            sum += static_cast<double>(a_ip) * static_cast<double>(b_pj);
          }
        T& out = Cb[i + j * ldc];
        const double old = be == 0.0 ? 0.0 : be * static_cast<double>(out);
        out = static_cast<T>(al * sum + old);
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

// ---------------------------------------------------------------------------
// The C API (cublas_v2.h renames cublasCreate to cublasCreate_v2 and so on)

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  return guarded([&] {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    auto* h = new cublasContext;
    h->device = cudasim::detail::current_device();
    std::lock_guard<std::mutex> lock(handles_mutex());
    live_handles().insert(h);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
  });
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  return guarded([&] {
    {
      std::lock_guard<std::mutex> lock(handles_mutex());
      if (!handle || live_handles().erase(handle) == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
  });
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId) {
  if (!handle_ok(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = streamId;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* streamId) {
  if (!handle_ok(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!streamId) return CUBLAS_STATUS_INVALID_VALUE;
  *streamId = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle_ok(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  // A base mode, optionally with the one flag cuBLAS defines on top of it.
  const int flags = static_cast<int>(mode) & ~0xf, base = static_cast<int>(mode) & 0xf;
  const bool base_ok = base == CUBLAS_DEFAULT_MATH || base == CUBLAS_TENSOR_OP_MATH || base == CUBLAS_PEDANTIC_MATH ||
                       base == CUBLAS_TF32_TENSOR_OP_MATH || base == CUBLAS_FP32_EMULATED_BF16X9_MATH ||
                       base == CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH;
  if (!base_ok || (flags & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) != 0)
    return CUBLAS_STATUS_INVALID_VALUE;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (!handle_ok(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math;
  return CUBLAS_STATUS_SUCCESS;
}

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "<unknown>";
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const float* alpha, const float* A, int lda,
                                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  return guarded([&] {
    return gemm<float>("cublasSgemm", handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0,
                       1);
  });
}

cublasStatus_t CUBLASWINAPI cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const double* alpha, const double* A, int lda,
                                           const double* B, int ldb, const double* beta, double* C, int ldc) {
  return guarded([&] {
    return gemm<double>("cublasDgemm", handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc,
                        0, 1);
  });
}

cublasStatus_t CUBLASWINAPI cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                                      cublasOperation_t transb, int m, int n, int k,
                                                      const float* alpha, const float* A, int lda,
                                                      long long int strideA, const float* B, int ldb,
                                                      long long int strideB, const float* beta, float* C, int ldc,
                                                      long long int strideC, int batchCount) {
  return guarded([&] {
    return gemm<float>("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb,
                       strideB, beta, C, ldc, strideC, batchCount);
  });
}

cublasStatus_t CUBLASWINAPI cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                                      cublasOperation_t transb, int m, int n, int k,
                                                      const double* alpha, const double* A, int lda,
                                                      long long int strideA, const double* B, int ldb,
                                                      long long int strideB, const double* beta, double* C, int ldc,
                                                      long long int strideC, int batchCount) {
  return guarded([&] {
    return gemm<double>("cublasDgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, lda, strideA, B,
                        ldb, strideB, beta, C, ldc, strideC, batchCount);
  });
}
