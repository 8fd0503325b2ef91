// tensor/cpu/Gemm.cpp: batched matrix multiply on the CPU, through OpenBLAS.
#include <cblas.h>

#include "ember/tensor/Error.h"
#include "ember/tensor/cpu/CpuBackend.h"

namespace ember {
namespace cpu {

// GEMM threading is OpenBLAS's own (OPENBLAS_NUM_THREADS), as in PyTorch. Splitting
// C over Ember's OpenMP threads with one single-threaded OpenBLAS call each was
// tried (bench/results/cpu.md): no faster on a quiet machine, and on a loaded one a
// fork/join waiting on a descheduled thread cost ~8 ms per call.
void CpuBackend::gemm(DType t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void* a,
          int64_t lda, int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, double beta,
          void* c, int64_t ldc, int64_t stride_c, int64_t batch) {
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  for (int64_t i = 0; i < batch; ++i) {
    if (t == DType::f32)
      cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, static_cast<float>(alpha),
                  static_cast<const float*>(a) + i * stride_a, static_cast<blasint>(lda),
                  static_cast<const float*>(b) + i * stride_b, static_cast<blasint>(ldb),
                  static_cast<float>(beta), static_cast<float*>(c) + i * stride_c, static_cast<blasint>(ldc));
    else if (t == DType::f64)
      cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, alpha, static_cast<const double*>(a) + i * stride_a,
                  static_cast<blasint>(lda), static_cast<const double*>(b) + i * stride_b,
                  static_cast<blasint>(ldb), beta, static_cast<double*>(c) + i * stride_c,
                  static_cast<blasint>(ldc));
    else EMBER_FAIL("matmul: dtype ", dtype_name(t), " is not supported (needs f32 or f64)");
  }
}

}  // namespace cpu
}  // namespace ember
