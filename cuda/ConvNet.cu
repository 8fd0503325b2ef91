// cuda/ConvNet.cu: the conv-net entries of tensor/Backend.h on the GPU.
//
//   conv2d, conv2d_backward_input, conv2d_backward_weight    cuDNN 9
//   pool2d, pool2d_backward                                  own kernels (fixed and adaptive)
//   channel_stats, channel_affine, channel_grad_sums,
//   batch_norm_backward_input                                own kernels
//
// tensor/cpu/ConvKernels.cpp is the reference for every formula here.
//
// Convolution uses cuDNN's descriptor API (cudnnConvolutionForward and the two backward
// calls; marked legacy in cuDNN 9 but supported). Per geometry (device, dtype, sizes) a
// plan holds the descriptors and, per direction, the algorithms that cuDNN's heuristics
// (cudnnGet*Algorithm_v7) rank, filtered for parity with the CPU:
//   - without EMBER_TF32=1, f32 runs with CUDNN_FMA_MATH (no TF32) and the FFT and
//     Winograd algorithms are left out (they trade accuracy for speed);
//   - deterministic algorithms come first, then the rest, in cuDNN's order;
//   - the first one that runs is remembered; one cuDNN reports as not supported is
//     skipped (the next call starts at the one that worked).
// The workspace comes from Ember's caching allocator and goes back to it right after the
// call: everything runs on the legacy default stream, so the next user of the block is
// ordered after cuDNN's kernels. A batch whose tensors would pass 2^31 elements is run in
// chunks of images (cuDNN's descriptors take int sizes).
//
// Pooling: forward is one thread per output (the CPU's window, NaN wins a max and stops
// the scan). Backward is one thread per input element that sums, in the CPU's order, the
// outputs whose window covers it (max: those whose argmax is this element), so the result
// is deterministic and matches the CPU's scatter bit for bit.
//
// Batch norm: per-channel sums run in double (as on the CPU), each channel split over
// several blocks that write partial sums; a second kernel adds a channel's partials in a
// fixed order. channel_stats is two passes (mean, then the biased variance about it).
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/Cuda.h"
#include "cuda/Launch.h"
#include "tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

// ---------------------------------------------------------------------------
// Small helpers

// Scratch device memory, given back to the caching allocator when it goes out of scope.
class Scratch {
 public:
  explicit Scratch(size_t nbytes) : n_(nbytes), p_(nbytes ? scratch_allocate(nbytes) : nullptr) {}
  ~Scratch() {
    if (p_) scratch_free(p_, n_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  size_t n_;
  void* p_;
};

void zero(void* p, int64_t count, DType t) {
  if (count > 0) CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(count) * dtype_size(t), nullptr));
}

// ---------------------------------------------------------------------------
// Convolution through cuDNN

enum Dir { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };
const char* const kDirName[3] = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData",
                                 "cudnnConvolutionBackwardFilter"};

struct Candidate {
  int algo;
  cudnnMathType_t math;
  bool deterministic;  // as cuDNN reports it: false for the algorithms that add with atomics
};

// Set once a convolution has run an algorithm that is not deterministic (cuda/Cuda.h).
std::atomic<bool> g_ran_nondeterministic{false};

// Descriptors of one geometry (with n = the images per call) and the ranked algorithms
// of each direction. Plans live until the process ends (never destroyed: cuDNN may be
// unloaded before static destructors run).
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool ranked[3] = {false, false, false};
  std::vector<Candidate> cands[3];
  size_t first[3] = {0, 0, 0};  // the candidate to try first (the one that ran last time)
};

using PlanKey = std::array<int64_t, 18>;

// Guards the plan cache and serialises the calls that use a plan (they set its
// descriptor's math type); the calls only queue work, so this is held briefly.
std::mutex& plans_mutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<PlanKey, std::unique_ptr<ConvPlan>>& plans() {
  static auto* m = new std::map<PlanKey, std::unique_ptr<ConvPlan>>;
  return *m;
}

cudnnDataType_t dnn_type(DType t) { return t == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }

// The math type the descriptor starts with; without TF32, f32 is held to FMA kernels.
cudnnMathType_t base_math(DType t) {
  if (t == DType::f32) return tf32_enabled() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  return CUDNN_DEFAULT_MATH;
}

int as_int(int64_t v) { return static_cast<int>(v); }

// plans_mutex() held. g.n is ignored: nb images per call.
ConvPlan& plan_for(DType t, const ConvGeom& g, int64_t nb) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const PlanKey key = {device, static_cast<int64_t>(t), nb,   g.c,  g.h,  g.w,  g.k,  g.kh, g.kw,
                       g.oh,   g.ow,                    g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups};
  auto& slot = plans()[key];
  if (slot) return *slot;
  auto p = std::make_unique<ConvPlan>();
  const cudnnDataType_t dt = dnn_type(t);
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, dt, as_int(nb), as_int(g.c), as_int(g.h),
                                         as_int(g.w)));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NCHW, as_int(g.k), as_int(g.c / g.groups),
                                         as_int(g.kh), as_int(g.kw)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, as_int(g.ph), as_int(g.pw), as_int(g.sh), as_int(g.sw),
                                              as_int(g.dh), as_int(g.dw), CUDNN_CROSS_CORRELATION, dt));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, as_int(g.groups)));
  CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, base_math(t)));
  int on = 0, oc = 0, oh = 0, ow = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &oc, &oh, &ow));
  EMBER_INTERNAL_ASSERT(on == nb && oc == g.k && oh == g.oh && ow == g.ow, "conv2d: cuDNN's output [", on, ", ",
                        oc, ", ", oh, ", ", ow, "] differs from the geometry's [", nb, ", ", g.k, ", ", g.oh, ", ",
                        g.ow, "]");
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, dt, as_int(nb), as_int(g.k), as_int(g.oh),
                                         as_int(g.ow)));
  slot = std::move(p);
  return *slot;
}

// FFT and Winograd: faster on some shapes, but less accurate than a direct sum.
bool approximate(Dir d, int algo) {
  switch (d) {
    case kForward:
      return algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT || algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
    case kBackwardData:
      return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
    case kBackwardFilter:
      return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
  }
  return false;
}

// A workspace above this is tried only after every algorithm that needs less.
constexpr size_t kBigWorkspace = size_t{1} << 30;

// cuDNN's ranking (perf[0..count)) -> the candidates Ember tries, best first.
template <class Perf>
std::vector<Candidate> rank(Dir d, DType t, const Perf* perf, int count, std::initializer_list<int> fallbacks) {
  const bool fast = tf32_enabled();
  std::vector<Candidate> out;
  // Four tiers: deterministic + small workspace, nondeterministic + small, then the big ones.
  for (int tier = 0; tier < 4; ++tier)
    for (int i = 0; i < count; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      const int algo = static_cast<int>(p.algo);
      if (!fast && approximate(d, algo)) continue;
      const bool det = p.determinism == CUDNN_DETERMINISTIC, big = p.memory > kBigWorkspace;
      if ((tier & 1) != (det ? 0 : 1) || (tier >> 1) != (big ? 1 : 0)) continue;
      // With TF32 allowed, run with the math type cuDNN ranked; else f32 stays on FMA kernels.
      const cudnnMathType_t math = (fast || t != DType::f32) ? p.mathType : CUDNN_FMA_MATH;
      bool seen = false;
      for (const Candidate& c : out) seen = seen || (c.algo == algo && c.math == math);
      if (!seen) out.push_back({algo, math, det});
    }
  // The plain implicit-GEMM kernels, should the heuristics offer nothing usable. Backward
  // ALGO_0 (data and filter) adds with atomics.
  for (int algo : fallbacks) {
    bool seen = false;
    for (const Candidate& c : out) seen = seen || c.algo == algo;
    if (!seen) out.push_back({algo, base_math(t), d == kForward || algo != 0});
  }
  return out;
}

// plans_mutex() held. Ranks direction d of plan p on first use.
void rank_plan(cudnnHandle_t h, DType t, ConvPlan& p, Dir d) {
  if (p.ranked[d]) return;
  int count = 0, max_count = 0;
  if (d == kForward) {
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(1, max_count)));
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, max_count, &count, perf.data()));
    p.cands[d] = rank(d, t, perf.data(), count,
                      {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM});
  } else if (d == kBackwardData) {
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(std::max(1, max_count)));
    CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, max_count, &count, perf.data()));
    p.cands[d] = rank(d, t, perf.data(), count,
                      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0});
  } else {
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(std::max(1, max_count)));
    CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, max_count, &count, perf.data()));
    p.cands[d] = rank(d, t, perf.data(), count,
                      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0});
  }
  p.ranked[d] = true;
}

bool not_supported(cudnnStatus_t s) { return CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED; }

// plans_mutex() held. Runs direction d with the first candidate cuDNN accepts:
// ws_size(c, &bytes) and run(c, workspace, bytes) return cuDNN statuses.
template <class WsSize, class Run>
void run_plan(cudnnHandle_t h, DType t, ConvPlan& p, Dir d, WsSize&& ws_size, Run&& run) {
  rank_plan(h, t, p, d);
  const std::vector<Candidate>& cands = p.cands[d];
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  std::string no_memory;  // the allocator's message when a workspace did not fit
  for (size_t k = 0; k < cands.size(); ++k) {
    const size_t i = (p.first[d] + k) % cands.size();
    CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, cands[i].math));
    size_t bytes = 0;
    cudnnStatus_t s = ws_size(cands[i], &bytes);
    if (s == CUDNN_STATUS_SUCCESS) {
      std::unique_ptr<Scratch> ws;
      try {
        ws = std::make_unique<Scratch>(bytes);
      } catch (const Error& e) {  // this algorithm's workspace does not fit: try the next one
        no_memory = e.what();
        continue;
      }
      s = run(cands[i], ws->get(), bytes);
    }
    if (s == CUDNN_STATUS_SUCCESS) {
      p.first[d] = i;
      if (!cands[i].deterministic) g_ran_nondeterministic = true;
      after_launch("conv2d");
      return;
    }
    if (!not_supported(s)) throw_cudnn_error(s, kDirName[d], __FILE__, __LINE__);
    last = s;
  }
  if (!no_memory.empty())
    EMBER_FAIL("conv2d: ", kDirName[d], ": no algorithm's workspace fits in device memory (the last one tried: ",
               no_memory, ")");
  throw_cudnn_error(last, kDirName[d], __FILE__, __LINE__);  // no algorithm supports this geometry
}

// Checks what cuDNN's int descriptors need; returns the images per call (chunks keep
// each call's x and y under 2^31 elements).
int64_t images_per_call(DType t, const ConvGeom& g) {
  dispatch_float(t, "conv2d", [](auto) {});
  EMBER_CHECK(g.groups >= 1 && g.c % g.groups == 0 && g.k % g.groups == 0, "conv2d: groups=", g.groups,
              " must divide the input channels (", g.c, ") and the output channels (", g.k, ")");
  for (int64_t v : {g.c, g.h, g.w, g.k, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups})
    EMBER_CHECK(v <= INT_MAX, "conv2d: size ", v, " is too large for cuDNN (each size must fit in 32 bits)");
  const int64_t per_image = std::max({g.c * g.h * g.w, g.k * g.oh * g.ow, int64_t{1}});
  EMBER_CHECK(per_image <= INT_MAX, "conv2d: one image of input [", g.c, ", ", g.h, ", ", g.w, "] or output [",
              g.k, ", ", g.oh, ", ", g.ow, "] has more than 2^31 elements, too many for cuDNN");
  return std::max<int64_t>(1, std::min<int64_t>(g.n, INT_MAX / per_image));
}

// 1 and 0 in the type cuDNN wants for alpha/beta (float for f32 data, double for f64).
struct Scalars {
  float f[2] = {0.f, 1.f};
  double d[2] = {0.0, 1.0};
  const void* get(DType t, int v) const { return t == DType::f64 ? static_cast<const void*>(&d[v]) : &f[v]; }
};
const Scalars kScalars;

size_t elem(DType t) { return dtype_size(t); }

}  // namespace

void conv2d(cudnnHandle_t h, DType t, const ConvGeom& g, const void* x, const void* w, void* y) {
  const int64_t chunk = images_per_call(t, g);
  if (g.n * g.k * g.oh * g.ow == 0) return;
  if (g.c * g.h * g.w == 0 || g.kh * g.kw == 0) {  // nothing to sum over: zeros
    zero(y, g.n * g.k * g.oh * g.ow, t);
    return;
  }
  std::lock_guard<std::mutex> lock(plans_mutex());
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.n - n0);
    ConvPlan& p = plan_for(t, g, nb);
    const char* xs = static_cast<const char*>(x) + n0 * g.c * g.h * g.w * elem(t);
    char* ys = static_cast<char*>(y) + n0 * g.k * g.oh * g.ow * elem(t);
    run_plan(
        h, t, p, kForward,
        [&](const Candidate& c, size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y,
                                                         static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), bytes);
        },
        [&](const Candidate& c, void* ws, size_t bytes) {
          return cudnnConvolutionForward(h, kScalars.get(t, 1), p.x, xs, p.w, w, p.conv,
                                         static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws, bytes,
                                         kScalars.get(t, 0), p.y, ys);
        });
  }
}

void conv2d_backward_input(cudnnHandle_t h, DType t, const ConvGeom& g, const void* gy, const void* w, void* gx) {
  const int64_t chunk = images_per_call(t, g);
  if (g.n * g.c * g.h * g.w == 0) return;
  if (g.k * g.oh * g.ow == 0 || g.kh * g.kw == 0) {
    zero(gx, g.n * g.c * g.h * g.w, t);
    return;
  }
  std::lock_guard<std::mutex> lock(plans_mutex());
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.n - n0);
    ConvPlan& p = plan_for(t, g, nb);
    const char* gys = static_cast<const char*>(gy) + n0 * g.k * g.oh * g.ow * elem(t);
    char* gxs = static_cast<char*>(gx) + n0 * g.c * g.h * g.w * elem(t);
    run_plan(
        h, t, p, kBackwardData,
        [&](const Candidate& c, size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(
              h, p.w, p.y, p.conv, p.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), bytes);
        },
        [&](const Candidate& c, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardData(h, kScalars.get(t, 1), p.w, w, p.y, gys, p.conv,
                                              static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ws, bytes,
                                              kScalars.get(t, 0), p.x, gxs);
        });
  }
}

void conv2d_backward_weight(cudnnHandle_t h, DType t, const ConvGeom& g, const void* gy, const void* x, void* gw) {
  const int64_t chunk = images_per_call(t, g);
  const int64_t wnumel = g.k * (g.c / g.groups) * g.kh * g.kw;
  if (wnumel == 0) return;
  if (g.n * g.oh * g.ow == 0 || g.h * g.w == 0) {
    zero(gw, wnumel, t);
    return;
  }
  std::lock_guard<std::mutex> lock(plans_mutex());
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.n - n0);
    ConvPlan& p = plan_for(t, g, nb);
    const char* gys = static_cast<const char*>(gy) + n0 * g.k * g.oh * g.ow * elem(t);
    const char* xs = static_cast<const char*>(x) + n0 * g.c * g.h * g.w * elem(t);
    const void* beta = kScalars.get(t, n0 == 0 ? 0 : 1);  // later chunks add to the first
    run_plan(
        h, t, p, kBackwardFilter,
        [&](const Candidate& c, size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(
              h, p.x, p.y, p.conv, p.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), bytes);
        },
        [&](const Candidate& c, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardFilter(h, kScalars.get(t, 1), p.x, xs, p.y, gys, p.conv,
                                                static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws, bytes,
                                                beta, p.w, gw);
        });
  }
}

// ---------------------------------------------------------------------------
// Pooling
namespace {

template <class T> __device__ T neg_inf();
template <> __device__ float neg_inf<float>() { return __int_as_float(static_cast<int>(0xff800000u)); }
template <> __device__ double neg_inf<double>() { return __longlong_as_double(static_cast<long long>(0xfff0000000000000ull)); }

__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

struct Win {
  int64_t lo, hi, size;  // clipped [lo, hi), and the divisor of an average
};

// Output i's window along one dim (tensor/Backend.h, PoolGeom; the CPU's window()).
__device__ __forceinline__ Win pool_window(bool adaptive, int64_t i, int64_t in, int64_t out, int64_t k, int64_t s,
                                           int64_t p, bool count_pad) {
  if (adaptive) {
    const int64_t lo = (i * in) / out, hi = ((i + 1) * in + out - 1) / out;
    return {lo, hi, hi - lo};
  }
  int64_t lo = i * s - p, hi = imin(lo + k, in + p);
  const int64_t padded = hi - lo;
  lo = imax(lo, 0);
  hi = imin(hi, in);
  return {lo, hi, count_pad ? padded : hi - lo};
}

// The outputs [lo, hi) along one dim whose windows can hold input position i.
//   adaptive: floor(o*in/out) <= i < ceil((o+1)*in/out)  <=>  floor(i*out/in) <= o < ceil((i+1)*out/in)
//   fixed:    o*s - p <= i < o*s - p + k                  <=>  (i+p-k)/s < o <= (i+p)/s
__device__ __forceinline__ void covering(bool adaptive, int64_t i, int64_t in, int64_t out, int64_t k, int64_t s,
                                         int64_t p, int64_t& lo, int64_t& hi) {
  if (adaptive) {
    lo = (i * out) / in;
    hi = ((i + 1) * out + in - 1) / in;
  } else {
    lo = i + p < k ? 0 : (i + p - k) / s + 1;
    hi = (i + p) / s + 1;
  }
  lo = imax(lo, 0);
  hi = imin(hi, out);
}

template <class T, bool MAX>
__global__ void pool_forward_kernel(PoolGeom g, const T* x, T* y, int64_t* argmax, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += step) {
    const int64_t ow = idx % g.ow, oh = (idx / g.ow) % g.oh, plane = idx / (g.ow * g.oh);
    const T* in = x + plane * g.h * g.w;
    const Win wh = pool_window(g.adaptive, oh, g.h, g.oh, g.kh, g.sh, g.ph, g.count_include_pad);
    const Win ww = pool_window(g.adaptive, ow, g.w, g.ow, g.kw, g.sw, g.pw, g.count_include_pad);
    if (MAX) {
      T best = neg_inf<T>();
      int64_t at = wh.lo * g.w + ww.lo;
      bool nan = false;
      for (int64_t ih = wh.lo; ih < wh.hi && !nan; ++ih)
        for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
          const T v = in[ih * g.w + iw];
          if (v > best || v != v) {  // NaN wins and stays, as on the CPU
            best = v;
            at = ih * g.w + iw;
            if (v != v) {
              nan = true;
              break;
            }
          }
        }
      y[idx] = best;
      argmax[idx] = at;
    } else {
      T sum = 0;
      for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
        for (int64_t iw = ww.lo; iw < ww.hi; ++iw) sum += in[ih * g.w + iw];
      y[idx] = sum / static_cast<T>(imax(1, wh.size * ww.size));
    }
  }
}

// One thread per input element: the sum over the outputs that reach it, in the order
// the CPU adds them (output rows, then columns).
template <class T, bool MAX>
__global__ void pool_backward_kernel(PoolGeom g, const T* gy, const int64_t* argmax, T* gx, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += step) {
    const int64_t iw = idx % g.w, ih = (idx / g.w) % g.h, plane = idx / (g.w * g.h);
    const int64_t self = ih * g.w + iw, out0 = plane * g.oh * g.ow;
    int64_t oh0, oh1, ow0, ow1;
    covering(g.adaptive, ih, g.h, g.oh, g.kh, g.sh, g.ph, oh0, oh1);
    covering(g.adaptive, iw, g.w, g.ow, g.kw, g.sw, g.pw, ow0, ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const Win wh = pool_window(g.adaptive, oh, g.h, g.oh, g.kh, g.sh, g.ph, g.count_include_pad);
      if (ih < wh.lo || ih >= wh.hi) continue;
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const Win ww = pool_window(g.adaptive, ow, g.w, g.ow, g.kw, g.sw, g.pw, g.count_include_pad);
        if (iw < ww.lo || iw >= ww.hi) continue;
        const int64_t o = out0 + oh * g.ow + ow;
        if (MAX) {
          if (argmax[o] == self) acc += gy[o];
        } else {
          acc += gy[o] / static_cast<T>(imax(1, wh.size * ww.size));
        }
      }
    }
    gx[idx] = acc;
  }
}

}  // namespace

void pool2d(DType t, bool is_max, const PoolGeom& g, const void* x, void* y, int64_t* argmax) {
  const char* op = is_max ? "max_pool2d" : "avg_pool2d";
  dispatch_float(t, op, [&](auto tag) {
    using T = decltype(tag);
    const int64_t total = g.n * g.c * g.oh * g.ow;
    if (total == 0) return;
    const T* xs = static_cast<const T*>(x);
    T* ys = static_cast<T*>(y);
    if (is_max)
      launch(pool_forward_kernel<T, true>, blocks_for(total), kThreads, g, xs, ys, argmax, total);
    else
      launch(pool_forward_kernel<T, false>, blocks_for(total), kThreads, g, xs, ys, argmax, total);
    after_launch(op);
  });
}

void pool2d_backward(DType t, bool is_max, const PoolGeom& g, const void* gy, const int64_t* argmax, void* gx) {
  const char* op = is_max ? "max_pool2d" : "avg_pool2d";
  dispatch_float(t, op, [&](auto tag) {
    using T = decltype(tag);
    const int64_t total = g.n * g.c * g.h * g.w;
    if (total == 0) return;
    const T* gys = static_cast<const T*>(gy);
    T* gxs = static_cast<T*>(gx);
    if (is_max)
      launch(pool_backward_kernel<T, true>, blocks_for(total), kThreads, g, gys, argmax, gxs, total);
    else
      launch(pool_backward_kernel<T, false>, blocks_for(total), kThreads, g, gys, argmax, gxs, total);
    after_launch(op);
  });
}

// ---------------------------------------------------------------------------
// Batch norm
namespace {

enum class ChannelSum { Mean, SqDev, Grad };

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

// Every thread of the block calls it; thread 0 gets the block's sum.
__device__ double block_sum(double v) {
  __shared__ double part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const int nwarps = (blockDim.x + 31) >> 5;
  v = lane < nwarps ? part[lane] : 0.0;
  if (warp == 0) v = warp_sum(v);
  __syncthreads();  // part is reused by the next call
  return v;
}

// Block b sums chunk (b % chunks) of channel (b / chunks) over the n * s elements of
// the channel, into partial[2b] (and partial[2b + 1] for Grad):
//   Mean:  x           SqDev: (x - mean)^2, mean in double     Grad: gy, gy * (x - mean)
template <class T, ChannelSum KIND>
__global__ void channel_partial_kernel(int64_t n, int64_t c, int64_t s, const T* x, const T* gy, const double* dmean,
                                       const T* mean, int chunks, double* partial) {
  const int64_t ch = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const int64_t len = n * s, j0 = len * chunk / chunks, j1 = len * (chunk + 1) / chunks;
  double a = 0, b = 0;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const int64_t bi = j / s, off = (bi * c + ch) * s + (j - bi * s);
    if (KIND == ChannelSum::Mean) {
      a += static_cast<double>(x[off]);
    } else if (KIND == ChannelSum::SqDev) {
      const double d = static_cast<double>(x[off]) - dmean[ch];
      a += d * d;
    } else {
      const T g = gy[off];
      a += static_cast<double>(g);
      b += static_cast<double>(g * (x[off] - mean[ch]));  // the product in T, as on the CPU
    }
  }
  a = block_sum(a);
  if (KIND == ChannelSum::Grad) b = block_sum(b);
  if (threadIdx.x == 0) {
    partial[2 * static_cast<int64_t>(blockIdx.x)] = a;
    partial[2 * static_cast<int64_t>(blockIdx.x) + 1] = b;
  }
}

// One thread per channel adds its chunks in order.
//   Mean: dmean = out0 = sum / count    SqDev: out0 = sum / count    Grad: out0, out1 = the two sums
template <class T, ChannelSum KIND>
__global__ void channel_finish_kernel(int64_t c, int chunks, double count, const double* partial, double* dmean,
                                      T* out0, T* out1) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; ch < c; ch += step) {
    double a = 0, b = 0;
    for (int k = 0; k < chunks; ++k) {
      a += partial[2 * (ch * chunks + k)];
      b += partial[2 * (ch * chunks + k) + 1];
    }
    if (KIND == ChannelSum::Mean) {
      dmean[ch] = a / count;
      out0[ch] = static_cast<T>(a / count);
    } else if (KIND == ChannelSum::SqDev) {
      out0[ch] = static_cast<T>(a / count);
    } else {
      out0[ch] = static_cast<T>(a);
      out1[ch] = static_cast<T>(b);
    }
  }
}

constexpr int kSumThreads = 256;

// Blocks per channel: about 16 elements per thread, at most ~1024 blocks in all.
int channel_chunks(int64_t n, int64_t c, int64_t s) {
  const int64_t per_block = int64_t{kSumThreads} * 16;
  const int64_t want = (n * s + per_block - 1) / per_block;
  const int64_t cap = std::max<int64_t>(1, 1024 / std::max<int64_t>(1, c));
  return static_cast<int>(std::clamp<int64_t>(want, 1, cap));
}

template <class T, ChannelSum KIND>
void channel_pass(int64_t n, int64_t c, int64_t s, const T* x, const T* gy, const T* mean, double* dmean,
                  double* partial, int chunks, T* out0, T* out1) {
  EMBER_CHECK(c * chunks <= INT_MAX, "batch_norm: ", c, " channels are too many for one launch");
  launch(channel_partial_kernel<T, KIND>, static_cast<unsigned int>(c * chunks), kSumThreads, n, c, s, x, gy, dmean, mean,
                                                                                          chunks, partial);
  after_launch("batch_norm");
  const double count = static_cast<double>(std::max<int64_t>(1, n * s));
  launch(channel_finish_kernel<T, KIND>, blocks_for(c), kThreads, c, chunks, count, partial, dmean, out0, out1);
  after_launch("batch_norm");
}

template <class T>
__global__ void channel_affine_kernel(int64_t total, int64_t c, int64_t s, const T* x, const T* scale, const T* shift,
                                      T* y) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t ch = (i / s) % c;
    y[i] = x[i] * scale[ch] + shift[ch];
  }
}

template <class T>
__global__ void bn_backward_input_kernel(int64_t total, int64_t c, int64_t s, const T* gy, const T* x, const T* mean,
                                         const T* a, const T* b, const T* k, T* gx) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t ch = (i / s) % c;
    gx[i] = (gy[i] - a[ch] - (x[i] - mean[ch]) * b[ch]) * k[ch];
  }
}

}  // namespace

void channel_stats(DType t, int64_t n, int64_t c, int64_t s, const void* x, void* mean, void* var) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    if (c == 0) return;
    const int chunks = channel_chunks(n, c, s);
    Scratch buf(static_cast<size_t>(c * chunks * 2 + c) * sizeof(double));
    double* partial = static_cast<double*>(buf.get());
    double* dmean = partial + c * chunks * 2;
    const T* xs = static_cast<const T*>(x);
    channel_pass<T, ChannelSum::Mean>(n, c, s, xs, nullptr, nullptr, dmean, partial, chunks, static_cast<T*>(mean),
                                      nullptr);
    channel_pass<T, ChannelSum::SqDev>(n, c, s, xs, nullptr, nullptr, dmean, partial, chunks, static_cast<T*>(var),
                                       nullptr);
  });
}

void channel_grad_sums(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x, const void* mean,
                       void* sum_gy, void* sum_gy_xmu) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    if (c == 0) return;
    const int chunks = channel_chunks(n, c, s);
    Scratch buf(static_cast<size_t>(c * chunks * 2) * sizeof(double));
    channel_pass<T, ChannelSum::Grad>(n, c, s, static_cast<const T*>(x), static_cast<const T*>(gy),
                                      static_cast<const T*>(mean), nullptr, static_cast<double*>(buf.get()), chunks,
                                      static_cast<T*>(sum_gy), static_cast<T*>(sum_gy_xmu));
  });
}

void channel_affine(DType t, int64_t n, int64_t c, int64_t s, const void* x, const void* scale, const void* shift,
                    void* y) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t total = n * c * s;
    if (total == 0) return;
    launch(channel_affine_kernel<T>, blocks_for(total), kThreads, total, c, s, static_cast<const T*>(x),
                                                              static_cast<const T*>(scale),
                                                              static_cast<const T*>(shift), static_cast<T*>(y));
    after_launch("batch_norm");
  });
}

void batch_norm_backward_input(DType t, int64_t n, int64_t c, int64_t s, const void* gy, const void* x,
                               const void* mean, const void* a, const void* b, const void* k, void* gx) {
  dispatch_float(t, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t total = n * c * s;
    if (total == 0) return;
    launch(bn_backward_input_kernel<T>, blocks_for(total), kThreads,
        total, c, s, static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(mean),
        static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(k), static_cast<T*>(gx));
    after_launch("batch_norm");
  });
}

}  // namespace detail

bool conv_ran_nondeterministic() { return detail::g_ran_nondeterministic.load(); }

}  // namespace cuda
}  // namespace ember
