// tensor/cpu/Gemm.cpp: batched matrix multiply on the CPU, through OpenBLAS.
#include <type_traits>

#include "ember/tensor/cpu/Blas.h"
#include "ember/tensor/cpu/CpuBackend.h"

namespace ember {
namespace cpu {

// GEMM threading is OpenBLAS's own (OPENBLAS_NUM_THREADS), as in PyTorch. Splitting
// C over Ember's OpenMP threads with one single-threaded OpenBLAS call each was
// tried (bench/results/cpu.md): no faster on a quiet machine, and on a loaded one a
// fork/join waiting on a descheduled thread cost ~8 ms per call.
void CpuBackend::gemm(const GemmGeom& g, const KView& a, const KView& b, const KView& c) {
  on_float("matmul", [&](auto* as, auto* bs, auto* cs) {
    using T = std::remove_pointer_t<decltype(cs)>;
    for (int64_t i = 0; i < g.batch; ++i)
      blas_gemm(g.ta, g.tb, g.m, g.n, g.k, static_cast<T>(g.alpha), as + i * g.stride_a, g.lda, bs + i * g.stride_b,
                g.ldb, static_cast<T>(g.beta), cs + i * g.stride_c, g.ldc);
  }, a, b, c);
}

}  // namespace cpu
}  // namespace ember
