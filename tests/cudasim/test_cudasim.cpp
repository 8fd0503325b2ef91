// tests/cudasim/test_cudasim.cpp: the CUDA simulator's own tests (ctest -L cuda, simulation
// build only). Each planted bug is one a GPU would punish and the simulator must catch:
//   - a block reduction without its __syncthreads gives a wrong sum in one of the thread orders;
//   - a full-mask shuffle in a divergent branch, a barrier that some threads skip, threads
//     waiting at two different barriers: reported as faults, the launch fails;
//   - an out-of-bounds store to device memory: AddressSanitizer stops the program;
//   - a wrong gemm leading dimension: cuBLAS's argument check, or a wrong product.
// The kernels here are compiled exactly as cuda/*.cu are in this build (cudasim.h first) and
// start through the same launch() as Ember's.
#include "cudasim.h"  // first, as in the cuda/ sources of this build

#include <cublas_v2.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/cuda/Launch.h"
#include "ember/ember.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_TEST_ASAN 1
#endif
#endif

namespace {

using ember::cuda::launch;

// Device buffers with host copies, for the kernels below.
template <class T>
struct DeviceVec {
  T* p = nullptr;
  size_t n;
  explicit DeviceVec(size_t count) : n(count) { EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess); }
  DeviceVec(const std::vector<T>& v) : DeviceVec(v.size()) {
    EXPECT_EQ(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceVec() { cudaFree(p); }
  std::vector<T> host() const {
    std::vector<T> v(n);
    EXPECT_EQ(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
};

// Runs f once per thread order and restores the order the process started with.
template <class F>
void in_each_order(F&& f) {
  const cudasim::Order before = cudasim::order();
  for (cudasim::Order o :
       {cudasim::Order::Forward, cudasim::Order::Reverse, cudasim::Order::Shuffle, cudasim::Order::Warps}) {
    cudasim::set_order(o, 7);
    f(o);
  }
  cudasim::set_order(before);
}
const char* name(cudasim::Order o) {
  switch (o) {
    case cudasim::Order::Forward: return "forward";
    case cudasim::Order::Reverse: return "reverse";
    case cudasim::Order::Shuffle: return "shuffle";
    case cudasim::Order::Warps: return "warps";
  }
  return "?";
}

// Expects the last launch to have failed with a fault that mentions every string in `want`.
void expect_fault(std::initializer_list<const char*> want) {
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  const std::string fault = cudasim::last_fault();
  for (const char* w : want) EXPECT_NE(fault.find(w), std::string::npos) << "fault: " << fault << "\nwanted: " << w;
  cudasim::clear_fault();
}

// ---------------------------------------------------------------------------
// Block reduction as cuda/Reduce.cu writes it: warp shuffles, then one value per warp in
// shared memory. SYNC = false plants the bug of a missing __syncthreads.
__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
template <bool SYNC>
__global__ void block_sum_kernel(const float* x, float* out, int n) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float v = 0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  if (SYNC) __syncthreads();
  v = static_cast<int>(threadIdx.x) < static_cast<int>(blockDim.x >> 5) ? partial[lane] : 0.f;
  if (warp == 0) v = warp_sum(v);
  if (threadIdx.x == 0) out[blockIdx.x] = v;
  __syncthreads();
}

std::vector<float> block_sums(bool sync, const std::vector<float>& x, int blocks) {
  DeviceVec<float> dx(x), out(static_cast<size_t>(blocks));
  if (sync) launch(block_sum_kernel<true>, blocks, 256, dx.p, out.p, static_cast<int>(x.size()));
  else launch(block_sum_kernel<false>, blocks, 256, dx.p, out.p, static_cast<int>(x.size()));
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << cudasim::last_fault();
  return out.host();
}

TEST(CudaSim, BlockReductionIsRightInEveryOrder) {
  std::vector<float> x(4096);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  std::vector<float> want(2, 0.f);
  for (size_t i = 0; i < x.size(); ++i) want[(i / 256) % 2] += x[i];
  in_each_order([&](cudasim::Order o) { EXPECT_EQ(block_sums(true, x, 2), want) << name(o); });
}

TEST(CudaSim, PlantedMissingSyncthreadsChangesTheResult) {
  std::vector<float> x(4096, 1.f);
  const std::vector<float> want(2, 2048.f);
  int wrong = 0;
  in_each_order([&](cudasim::Order) { wrong += block_sums(false, x, 2) != want; });
  EXPECT_GE(wrong, 1) << "without the barrier, some order must read a partial sum before it is written";
}

// ---------------------------------------------------------------------------
__global__ void divergent_shuffle_kernel(float* x) {
  float v = x[threadIdx.x];
  if (threadIdx.x % 32 < 16) v = __shfl_down_sync(0xffffffffu, v, 1);  // half the lanes are absent
  x[threadIdx.x] = v;
}

TEST(CudaSim, PlantedShuffleInADivergentBranchIsAFault) {
  DeviceVec<float> x(std::vector<float>(64, 1.f));
  launch(divergent_shuffle_kernel, 1, 64, x.p);
  expect_fault({"mask names lanes that never reach it", "__shfl_down_sync", "threads 16-31", "returned"});
}

__global__ void partial_mask_shuffle_kernel(int* x) {
  // Lanes 0-15 shuffle among themselves: a correct use of a partial mask.
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x < 16) v = __shfl_xor_sync(0x0000ffffu, v, 1);
  x[threadIdx.x] = v;
}

TEST(CudaSim, PartialMaskShuffleIsFine) {
  DeviceVec<int> x(32);
  launch(partial_mask_shuffle_kernel, 1, 32, x.p);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess) << cudasim::last_fault();
  const std::vector<int> got = x.host();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i < 16 ? (i ^ 1) : i);
}

// A block of 48 threads: its second warp has 16 lanes, so a full mask there names absent lanes.
__global__ void partial_warp_kernel(int* x, bool exact_mask) {
  const unsigned mask = threadIdx.x < 32 || !exact_mask ? 0xffffffffu : 0x0000ffffu;
  x[threadIdx.x] = __shfl_xor_sync(mask, static_cast<int>(threadIdx.x), 1);
}

TEST(CudaSim, PartialWarpTakesAMaskOfItsLanes) {
  DeviceVec<int> x(48);
  launch(partial_warp_kernel, 1, 48, x.p, false);
  expect_fault({"mask names lanes that never reach it", "__shfl_xor_sync"});
  launch(partial_warp_kernel, 1, 48, x.p, true);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess) << cudasim::last_fault();
  const std::vector<int> got = x.host();
  for (int i = 0; i < 48; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i ^ 1);
}

__global__ void early_return_kernel(float* x, int n) {
  if (static_cast<int>(threadIdx.x) >= n) return;  // the last threads leave before the barrier
  x[threadIdx.x] = 1;
  __syncthreads();
}

TEST(CudaSim, PlantedBarrierAfterAnEarlyReturnIsAFault) {
  DeviceVec<float> x(128);
  launch(early_return_kernel, 1, 128, x.p, 100);
  expect_fault({"__syncthreads is not reached by every thread", "threads 100-127 returned", "test_cudasim.cpp"});
  launch(early_return_kernel, 1, 128, x.p, 128);  // every thread reaches it: fine
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << cudasim::last_fault();
}

__global__ void two_barriers_kernel(float* x) {
  if (threadIdx.x % 2) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  x[threadIdx.x] = 0;
}

TEST(CudaSim, PlantedThreadsAtDifferentBarriersAreAFault) {
  DeviceVec<float> x(64);
  launch(two_barriers_kernel, 1, 64, x.p);
  expect_fault({"__syncthreads is not reached by every thread"});
}

// ---------------------------------------------------------------------------
__global__ void store_kernel(float* x, int i) { x[i] = 1.f; }
template <class V>
__global__ void view_kernel(V v) { v.data[0] = static_cast<float>(v.n); }

TEST(CudaSim, PlantedOutOfBoundsStoreIsCaught) {
#ifndef SIM_TEST_ASAN
  GTEST_SKIP() << "needs AddressSanitizer (the CI simulator stage builds with -DEMBER_SANITIZE=address;undefined)";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        float* x = nullptr;
        cudaMalloc(&x, 100 * sizeof(float));
        launch(store_kernel, 1, 1, x, 100);  // one past the end
      },
      "heap-buffer-overflow");
  DeviceVec<float> ok(100);
  launch(store_kernel, 1, 1, ok.p, 99);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  // Through Ember's caching allocator, whose blocks are rounded up (100 floats take 512 bytes):
  // the slack past a tensor, and a freed tensor's cached block, are off limits too.
  EXPECT_DEATH(
      {
        ember::Tensor t = ember::zeros({100}, ember::Device::cuda(0));
        launch(store_kernel, 1, 1, static_cast<float*>(t.raw_data()), 100);
      },
      "use-after-poison");
  EXPECT_DEATH(
      {
        float* p = nullptr;
        {
          ember::Tensor t = ember::zeros({100}, ember::Device::cuda(0));
          p = static_cast<float*>(t.raw_data());
        }
        launch(store_kernel, 1, 1, p, 0);  // the tensor is gone; its block sits in the cache
      },
      "use-after-poison");
#endif
}

// ---------------------------------------------------------------------------
// Row-major C[m, n] = A[m, k] @ B[k, n], as cuda/CudaBackend.cu's gemm maps it onto
// column-major cuBLAS: B first, m and n swapped. `planted` swaps the leading dimensions.
std::vector<float> gemm_rowmajor(int m, int n, int k, bool planted) {
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 5) - 2;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 3) - 1;
  DeviceVec<float> da(a), db(b), dc(static_cast<size_t>(m * n));
  cublasHandle_t h = nullptr;
  EXPECT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const float one = 1, zero = 0;
  const int lda = planted ? n : k, ldb = planted ? k : n;
  const cublasStatus_t st =
      cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, db.p, ldb, da.p, lda, &zero, dc.p, n);
  cublasDestroy(h);
  if (st != CUBLAS_STATUS_SUCCESS) return {};
  return dc.host();
}

TEST(CudaSim, PlantedWrongGemmLeadingDimensionIsCaught) {
  const int m = 3, n = 5, k = 4;
  std::vector<float> want(static_cast<size_t>(m * n), 0.f);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p)
        want[static_cast<size_t>(i * n + j)] +=
            (static_cast<float>((i * k + p) % 5) - 2) * (static_cast<float>((p * n + j) % 3) - 1);
  EXPECT_EQ(gemm_rowmajor(m, n, k, false), want);
  // ldb = 4 < n = 5 rows of B^T: cuBLAS refuses it (an empty result here).
  EXPECT_NE(gemm_rowmajor(m, n, k, true), want);
}

// ---------------------------------------------------------------------------
// The runtime
__global__ void read_kernel(const float* x, float* y) { y[threadIdx.x] = x[threadIdx.x]; }

TEST(CudaSim, UnwrittenDeviceMemoryReadsAsNaN) {
  DeviceVec<float> x(32), y(32);
  launch(read_kernel, 1, 32, x.p, y.p);
  for (float v : y.host()) EXPECT_TRUE(std::isnan(v));
}

TEST(CudaSim, CountsDeviceToHostSynchronisations) {
  DeviceVec<float> x(std::vector<float>(8, 1.f));
  float* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, 8 * sizeof(float)), cudaSuccess);
  const uint64_t before = cudasim::device_to_host_syncs();
  EXPECT_EQ(cudaMemcpy(x.p, pinned, 8 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(x.p, pinned, 8 * sizeof(float), cudaMemcpyHostToDevice, nullptr), cudaSuccess);
  EXPECT_EQ(cudasim::device_to_host_syncs(), before) << "copies from pinned memory do not wait for the device";
  float h[8];
  EXPECT_EQ(cudaMemcpy(x.p, h, sizeof h, cudaMemcpyHostToDevice), cudaSuccess);  // pageable: a stream sync first
  EXPECT_EQ(cudaMemcpy(h, x.p, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudasim::device_to_host_syncs(), before + 3);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
}

// ---------------------------------------------------------------------------
// Kernel parameters: a host pointer, or another device's memory, is a fault before the launch.
TEST(CudaSim, PlantedHostOrOtherDevicePointerIsCaught) {
  std::vector<float> host(32);
  launch(store_kernel, 1, 1, host.data(), 0);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_NE(std::string(cudasim::last_fault()).find("kernel parameter 0"), std::string::npos) << cudasim::last_fault();
  EXPECT_NE(std::string(cudasim::last_fault()).find("not device memory"), std::string::npos) << cudasim::last_fault();
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  float* on1 = nullptr;
  ASSERT_EQ(cudaMalloc(&on1, 32 * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  launch(store_kernel, 1, 1, on1, 0);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_NE(std::string(cudasim::last_fault()).find("points into cuda:1's memory, but the kernel runs on cuda:0"),
            std::string::npos)
      << cudasim::last_fault();
  // Inside a struct (Ember's KView, the loop plans): found too.
  struct View {
    int64_t n;
    float* data;
  };
  launch(view_kernel<View>, 1, 1, View{32, on1});
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_NE(std::string(cudasim::last_fault()).find("kernel parameter 0 holds at byte 8"), std::string::npos)
      << cudasim::last_fault();
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  launch(store_kernel, 1, 1, on1, 0);  // on its own device: fine
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << cudasim::last_fault();
  cudaFree(on1);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  cudasim::clear_fault();
}

// ---------------------------------------------------------------------------
// Two block sums that share one shared array. Without the barrier between them, a warp that
// finished the first sum overwrites `part` while warp 0 still reads it: a race on a GPU that
// only the "warps" order (one warp at a time, the last first) lets happen here.
template <bool SYNC>
__global__ void two_sums_kernel(const float* x, const float* y, float* out) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = static_cast<int>(blockDim.x >> 5);
  float a = warp_sum(x[threadIdx.x]);
  if (lane == 0) part[warp] = a;
  __syncthreads();
  a = static_cast<int>(threadIdx.x) < nwarps ? part[lane] : 0.f;
  if (warp == 0) a = warp_sum(a);
  if (SYNC) __syncthreads();
  float b = warp_sum(y[threadIdx.x]);
  if (lane == 0) part[warp] = b;
  __syncthreads();
  b = static_cast<int>(threadIdx.x) < nwarps ? part[lane] : 0.f;
  if (warp == 0) b = warp_sum(b);
  if (threadIdx.x == 0) {
    out[0] = a;
    out[1] = b;
  }
}

TEST(CudaSim, PlantedRaceOnReusedSharedMemoryIsCaughtInWarpsOrder) {
  DeviceVec<float> x(std::vector<float>(256, 1.f)), y(std::vector<float>(256, 2.f)), out(2);
  const std::vector<float> want = {256.f, 512.f};
  in_each_order([&](cudasim::Order o) {
    launch(two_sums_kernel<true>, 1, 256, x.p, y.p, out.p);
    EXPECT_EQ(out.host(), want) << name(o);
  });
  const cudasim::Order before = cudasim::order();
  cudasim::set_order(cudasim::Order::Warps);
  launch(two_sums_kernel<false>, 1, 256, x.p, y.p, out.p);
  EXPECT_NE(out.host(), want) << "the warps order must expose the missing barrier";
  cudasim::set_order(before);
}

// ---------------------------------------------------------------------------
// cuBLAS refuses an output that overlaps an input or its own batches.
TEST(CudaSim, GemmOutputMustNotOverlap) {
  DeviceVec<float> a(std::vector<float>(16, 1.f)), c(32);
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const float one = 1, zero = 0;
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a.p, 4, a.p, 4, &zero, a.p, 4),
            CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_NE(std::string(cudasim::last_fault()).find("overlaps A"), std::string::npos) << cudasim::last_fault();
  EXPECT_EQ(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a.p, 4, 0, a.p, 4, 0, &zero, c.p, 4,
                                      0, 2),
            CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_NE(std::string(cudasim::last_fault()).find("batches of C overlap"), std::string::npos)
      << cudasim::last_fault();
  EXPECT_EQ(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a.p, 4, 0, a.p, 4, 0, &zero, c.p, 4,
                                      16, 2),
            CUBLAS_STATUS_SUCCESS);
  cublasDestroy(h);
  cudasim::clear_fault();
}

TEST(CudaSim, CopiesCheckTheDeviceRange) {
  DeviceVec<float> x(8);
  float h[16] = {};
  EXPECT_EQ(cudaMemcpy(h, x.p, sizeof h, cudaMemcpyDeviceToHost), cudaErrorInvalidValue) << "16 floats from 8";
  EXPECT_NE(std::string(cudasim::last_fault()).find("not inside a live device block"), std::string::npos);
  EXPECT_EQ(cudaMemcpy(h, h + 8, 8 * sizeof(float), cudaMemcpyDeviceToHost), cudaErrorInvalidValue) << "host as device";
  cudasim::clear_fault();
  cudaGetLastError();
}

TEST(CudaSim, BadLaunchConfigurationIsAnError) {
  DeviceVec<float> x(8);
  launch(store_kernel, 1, 2048, x.p, 0);  // more than 1024 threads per block
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  cudasim::clear_fault();
}

// ---------------------------------------------------------------------------
// Warp collectives and atomics
__global__ void collectives_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  int s = lane;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const unsigned odd = __ballot_sync(0xffffffffu, lane % 2);
  const int up = __shfl_up_sync(0xffffffffu, lane, 1);
  const int seg = __shfl_sync(0xffffffffu, lane, 0, 8);  // lane 0 of each 8-lane segment
  const int all = __all_sync(0xffffffffu, lane < 32), any = __any_sync(0xffffffffu, lane == 5);
  // xor within groups of 8 may read an earlier group, not a later one; offsets use 5 bits.
  const int x8 = __shfl_xor_sync(0xffffffffu, lane, 8, 8), down33 = __shfl_down_sync(0xffffffffu, lane, 33);
  out[160 + lane * 2] = x8;
  out[160 + lane * 2 + 1] = down33;
  out[lane * 5 + 0] = s;
  out[lane * 5 + 1] = static_cast<int>(odd == 0xaaaaaaaau);
  out[lane * 5 + 2] = up;
  out[lane * 5 + 3] = seg;
  out[lane * 5 + 4] = all + 2 * any;
}

TEST(CudaSim, WarpCollectivesFollowCuda) {
  in_each_order([](cudasim::Order o) {
    DeviceVec<int> out(32 * 7);
    launch(collectives_kernel, 1, 32, out.p);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess) << cudasim::last_fault();
    const std::vector<int> r = out.host();
    for (int l = 0; l < 32; ++l) {
      const size_t b = static_cast<size_t>(l) * 5;
      EXPECT_EQ(r[b], 496) << name(o);
      EXPECT_EQ(r[b + 1], 1) << name(o);
      EXPECT_EQ(r[b + 2], l == 0 ? 0 : l - 1) << name(o);
      EXPECT_EQ(r[b + 3], l / 8 * 8) << name(o);
      EXPECT_EQ(r[b + 4], 3) << name(o);
      EXPECT_EQ(r[160 + static_cast<size_t>(l) * 2], (l & 8) ? l - 8 : l) << name(o) << " xor 8, width 8";
      EXPECT_EQ(r[160 + static_cast<size_t>(l) * 2 + 1], l == 31 ? 31 : l + 1) << name(o) << " down 33 = down 1";
    }
  });
}

__global__ void count_kernel(unsigned long long* n) { atomicAdd(n, 1ull); }

TEST(CudaSim, AtomicsCountEveryThread) {
  DeviceVec<unsigned long long> n(std::vector<unsigned long long>{0});
  launch(count_kernel, dim3(3, 2), dim3(16, 4, 2), n.p);
  EXPECT_EQ(n.host()[0], 6u * 128u);
}

// ---------------------------------------------------------------------------
// Ember's convolution when cuDNN's preferred algorithm needs more workspace than the device has.
TEST(CudaSimEmber, ConvFallsBackWhenAWorkspaceDoesNotFit) {
  using namespace ember;
  const Device gpu = Device::cuda(0);
  manual_seed(5);
  // Without TF32 the candidates are the three direct algorithms below (Winograd and FFT are left out).
  const cuda::Settings saved = cuda::settings();
  cuda::Settings exact = saved;
  exact.tf32_conv = false;
  cuda::set_settings(exact);
  // A geometry no other test uses, so its plan is made (and its algorithms tried) here.
  Tensor x = randn({3, 5, 9, 7}), w = randn({6, 5, 3, 3});
  const Tensor want = conv2d(x, w);
  const size_t huge = size_t{1} << 50;
  cudasim::set_conv_workspace(0, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, huge);
  Tensor got;
  EXPECT_NO_THROW(got = conv2d(x.to(gpu), w.to(gpu))) << "the next algorithm (no workspace) must run";
  ASSERT_TRUE(got.defined());
  EXPECT_LT((got.cpu() - want).abs().max().item(), 1e-4);
  // No algorithm fits: a clear error that says so, not a crash.
  for (int algo : {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_GEMM})
    cudasim::set_conv_workspace(0, algo, huge);
  try {
    Tensor y = conv2d(randn({2, 5, 11, 7}).to(gpu), w.to(gpu));
    ADD_FAILURE() << "a convolution with no workspace that fits did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no algorithm's workspace fits in device memory"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
  }
  cudasim::reset_conv_workspaces();
  cuda::set_settings(saved);
  EXPECT_EQ(ones({10}, gpu).sum().item(), 10.0) << "the device must still work";
}

}  // namespace
