// cuda/Conv.cu: 2-D convolution on the GPU (conv2d and its two backwards), through cuDNN 9.
// tensor/cpu/Conv.cpp is its twin and the reference for every formula here.
//
// Convolution uses cuDNN's descriptor API (cudnnConvolutionForward and the two backward
// calls; marked legacy in cuDNN 9 but supported). Per geometry (device, dtype, sizes) a
// plan holds the descriptors and, per direction, the algorithms that cuDNN's heuristics
// (cudnnGet*Algorithm_v7) rank, filtered by the settings of cuda/Cuda.h:
//   - with tf32_conv off, f32 runs with CUDNN_FMA_MATH (no TF32) and the FFT and
//     Winograd algorithms are left out (they trade accuracy for speed): results then match
//     the CPU to ~1e-6;
//   - with deterministic on, deterministic algorithms come first, then the rest, in cuDNN's
//     order; off, cuDNN's order alone;
//   - with conv_benchmark on, the first call of each direction times the leading candidates
//     (the deterministic ones, when deterministic is on) and starts with the fastest;
//   - the first one that runs is remembered; one cuDNN reports as not supported is
//     skipped (the next call starts at the one that worked).
// Plans are kept per settings, so changing them never reuses another setting's choice.
// The workspace comes from Ember's caching allocator and goes back to it right after the
// call: everything runs on the legacy default stream, so the next user of the block is
// ordered after cuDNN's kernels. A batch whose tensors would pass 2^31 elements is run in
// chunks of images (cuDNN's descriptors take int sizes).
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ember/cuda/Cuda.h"
#include "ember/cuda/CudaBackend.h"
#include "ember/cuda/Launch.h"
#include "ember/tensor/Dispatch.h"

namespace ember {
namespace cuda {
namespace detail {
namespace {

void zero(void* p, int64_t count, DType t) {
  if (count > 0) CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(count) * dtype_size(t), nullptr));
}

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
  bool timed[3] = {false, false, false};  // conv_benchmark: the candidates were timed
  std::vector<Candidate> cands[3];
  size_t first[3] = {0, 0, 0};  // the candidate to try first (the one that ran last time)
  // The workspace size cuDNN gave for candidate ws_for[d] (SIZE_MAX: none asked yet): a plan's
  // geometry is fixed, so the next call of the same candidate skips the query.
  size_t ws_for[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
  size_t ws_bytes[3] = {0, 0, 0};
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // what the descriptor holds now
};

// Sets the descriptor's math type only when it changes: cuDNN may key its own caches on the
// descriptor, so an unchanged descriptor is left alone.
void set_math(ConvPlan& p, cudnnMathType_t m) {
  if (p.math == m) return;
  CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, m));
  p.math = m;
}

using PlanKey = std::array<int64_t, 21>;

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
  if (t == DType::f32) return settings().tf32_conv ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  return CUDNN_DEFAULT_MATH;
}

int as_int(int64_t v) { return static_cast<int>(v); }

// plans_mutex() held. g.n is ignored: nb images per call.
ConvPlan& plan_for(DType t, const ConvGeom& g, int64_t nb) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const Settings set = settings();
  const PlanKey key = {device, static_cast<int64_t>(t), nb,   g.c,  g.h,  g.w,  g.k,  g.kh, g.kw,
                       g.oh,   g.ow,                    g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups,
                       set.tf32_conv, set.deterministic, set.conv_benchmark};
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
  p->math = base_math(t);
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
  const Settings set = settings();
  const bool fast = set.tf32_conv;
  std::vector<Candidate> out;
  // Four tiers: deterministic + small workspace, nondeterministic + small, then the big ones
  // (without the deterministic setting, determinism does not count).
  for (int tier = 0; tier < 4; ++tier)
    for (int i = 0; i < count; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      const int algo = static_cast<int>(p.algo);
      if (!fast && approximate(d, algo)) continue;
      const bool det = p.determinism == CUDNN_DETERMINISTIC, big = p.memory > kBigWorkspace;
      const bool first_tier = det || !set.deterministic;
      if ((tier & 1) != (first_tier ? 0 : 1) || (tier >> 1) != (big ? 1 : 0)) continue;
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

// conv_benchmark: runs each leading candidate twice (the second run timed with events) and
// makes the fastest the first to try. The leading candidates are the deterministic ones when the
// deterministic setting is on and one exists, else all. Only for calls that overwrite their
// output (the runs here write it too). One synchronisation per plan and direction.
template <class WsSize, class Run>
void time_candidates(ConvPlan& p, Dir d, WsSize&& ws_size, Run&& run) {
  p.timed[d] = true;
  const std::vector<Candidate>& cands = p.cands[d];
  bool any_det = false;
  for (const Candidate& c : cands) any_det = any_det || c.deterministic;
  const bool only_det = settings().deterministic && any_det;
  cudaEvent_t start = nullptr, stop = nullptr;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  float best = -1;
  for (size_t i = 0; i < cands.size(); ++i) {
    if (only_det && !cands[i].deterministic) continue;
    set_math(p, cands[i].math);
    size_t bytes = 0;
    if (ws_size(cands[i], &bytes) != CUDNN_STATUS_SUCCESS) continue;
    std::unique_ptr<Scratch> ws;
    try {
      ws = std::make_unique<Scratch>(bytes);
    } catch (const Error&) {
      continue;  // its workspace does not fit
    }
    if (run(cands[i], ws->get(), bytes) != CUDNN_STATUS_SUCCESS) continue;  // warm-up
    CUDA_CHECK(cudaEventRecord(start, nullptr));
    const cudnnStatus_t s = run(cands[i], ws->get(), bytes);
    CUDA_CHECK(cudaEventRecord(stop, nullptr));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (s == CUDNN_STATUS_SUCCESS && (best < 0 || ms < best)) best = ms, p.first[d] = i;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

// plans_mutex() held. Runs direction d with the first candidate cuDNN accepts:
// ws_size(c, &bytes) and run(c, workspace, bytes) return cuDNN statuses. may_time: the call
// overwrites its output, so conv_benchmark may run candidates into it first.
template <class WsSize, class Run>
void run_plan(cudnnHandle_t h, DType t, ConvPlan& p, Dir d, WsSize&& ws_size, Run&& run, bool may_time = true) {
  rank_plan(h, t, p, d);
  if (may_time && !p.timed[d] && settings().conv_benchmark) time_candidates(p, d, ws_size, run);
  const std::vector<Candidate>& cands = p.cands[d];
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  std::string no_memory;  // the allocator's message when a workspace did not fit
  for (size_t k = 0; k < cands.size(); ++k) {
    const size_t i = (p.first[d] + k) % cands.size();
    set_math(p, cands[i].math);
    size_t bytes = 0;
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    if (p.ws_for[d] == i) {
      bytes = p.ws_bytes[d];
    } else {
      s = ws_size(cands[i], &bytes);
      if (s == CUDNN_STATUS_SUCCESS) p.ws_for[d] = i, p.ws_bytes[d] = bytes;
    }
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
}  // namespace detail

using namespace detail;  // the kernels and helpers above

void CudaBackend::conv2d(const ConvGeom& g, const KView& xv, const KView& wv, const KView& yv) {
  const DType t = xv.dtype;
  const void *x = xv.data, *w = wv.data;
  void* y = yv.data;
  const DeviceGuard guard(index_);
  cudnnHandle_t h = dnn();
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

void CudaBackend::conv2d_backward_input(const ConvGeom& g, const KView& gyv, const KView& wv, const KView& gxv) {
  const DType t = gyv.dtype;
  const void *gy = gyv.data, *w = wv.data;
  void* gx = gxv.data;
  const DeviceGuard guard(index_);
  cudnnHandle_t h = dnn();
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

void CudaBackend::conv2d_backward_weight(const ConvGeom& g, const KView& gyv, const KView& xv, const KView& gwv) {
  const DType t = gyv.dtype;
  const void *gy = gyv.data, *x = xv.data;
  void* gw = gwv.data;
  const DeviceGuard guard(index_);
  cudnnHandle_t h = dnn();
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
        },
        n0 == 0);
  }
}

bool conv_ran_nondeterministic() { return detail::g_ran_nondeterministic.load(); }

}  // namespace cuda
}  // namespace ember
