// cuda/Launch.h: the kernel launchers that cuda/CudaBackend.cu calls, one per
// Backend entry that runs a hand-written kernel (internal to cuda/).
//
//   cuda/Elementwise.cu   copy, fill, unary, binary, where
//   cuda/Reduce.cu        reduce, arg_reduce, softmax, softmax_backward
//   cuda/ConvNet.cu       conv2d (+ backward, through cuDNN), pool2d (+ backward),
//                         the batch-norm channel kernels
//   cuda/Optim.cu         adam_step, sgd_step (fused optimizer steps)
//   cuda/CudaBackend.cu   the Backend class, allocator, gemm (cuBLAS), gather,
//                         scatter_add, random, and the helpers declared here
//
// Launchers run on the current device and the legacy default stream; the caller
// has made the backend's device current. Views follow tensor/Backend.h.
//
// Every kernel starts through launch() below, never through <<<>>> directly: the
// simulation build (-DEMBER_CUDA_SIM=ON, tests/cudasim) compiles these files with the
// host compiler, and there launch() hands the kernel to the CPU simulator.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "tensor/Backend.h"

// cuDNN's handle type (cudnn_graph.h declares the same), so this header needs no cuDNN include.
struct cudnnContext;
typedef struct cudnnContext* cudnnHandle_t;

namespace ember {
namespace cuda {

// kernel<<<grid, block>>>(args...) on the legacy default stream of the current device.
template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A&&... args) {
#ifdef EMBER_CUDA_SIM
  cudasim::launch(grid, block, kernel, std::forward<A>(args)...);
#else
  kernel<<<grid, block>>>(std::forward<A>(args)...);
#endif
}

namespace detail {

constexpr int kThreads = 256;  // threads per block of the grid-stride loops

// Blocks for a grid-stride loop over n items (at least 1, at most max_grid()).
unsigned int blocks_for(int64_t n, int threads = kThreads);
int64_t max_grid();

// Checks the launch just made; with EMBER_CUDA_SYNC=1 also waits for it, so an
// asynchronous fault is reported as "cuda: <op> failed: ...".
void after_launch(const char* op);

// EMBER_TF32=1 (read once): cuBLAS and cuDNN may use TF32 tensor cores for f32.
bool tf32_enabled();

// Scratch device memory from the caching allocator of the current backend.
void* scratch_allocate(size_t nbytes);
void scratch_free(void* p, size_t nbytes);

// --- cuda/Optim.cu -------------------------------------------------------------
void adam_step(DType t, int64_t n, void* p, const void* g, void* m, void* v, const AdamStep& a);
void sgd_step(DType t, int64_t n, void* p, const void* g, void* buf, const SgdStep& a);

// --- cuda/Elementwise.cu ------------------------------------------------------
void copy(const KView& dst, const KView& src);
void fill(const KView& dst, double value);
void unary(UnaryOp op, const KView& dst, const KView& x, double p0, double p1);
void binary(BinaryOp op, const KView& dst, const KView& a, const KView& b, double p0, double p1);
void where(const KView& dst, const KView& cond, const KView& a, const KView& b);

// --- cuda/Reduce.cu -----------------------------------------------------------
void reduce(ReduceOp op, const KView& dst, const KView& src, double scale);
void arg_reduce(bool is_max, const KView& dst, const KView& src, int dim);
void softmax(DType t, bool log, void* y, const void* x, int64_t rows, int64_t cols);
void softmax_backward(DType t, bool log, void* gx, const void* gy, const void* y, int64_t rows,
                      int64_t cols);

// --- cuda/ConvNet.cu ----------------------------------------------------------
// Convolutions run on `dnn`, the backend's cuDNN handle for the current device.
void conv2d(cudnnHandle_t dnn, DType t, const ConvGeom& g, const void* x, const void* w, void* y);
void conv2d_backward_input(cudnnHandle_t dnn, DType t, const ConvGeom& g, const void* gy, const void* w,
                           void* gx);
void conv2d_backward_weight(cudnnHandle_t dnn, DType t, const ConvGeom& g, const void* gy, const void* x,
                            void* gw);
void pool2d(DType t, bool is_max, const PoolGeom& g, const void* x, void* y, int64_t* argmax);
void pool2d_backward(DType t, bool is_max, const PoolGeom& g, const void* gy, const int64_t* argmax, void* gx);
void channel_stats(DType t, int64_t n, int64_t c, int64_t s, const void* x, void* mean, void* var);
void channel_affine(DType t, int64_t n, int64_t c, int64_t s, const void* x, const void* scale, const void* shift,
                    void* y);
void channel_grad_sums(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x, const void* mean,
                       void* sum_gy, void* sum_gy_xmu);
void batch_norm_backward_input(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x,
                               const void* mean, const void* a, const void* b, const void* k, void* gx);

}  // namespace detail
}  // namespace cuda
}  // namespace ember
