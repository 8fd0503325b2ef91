// tests/cudasim/Cudnn.cpp: the cuDNN calls Ember makes, for the CUDA simulator.
//
// Handles and descriptors store what they are set to; the three convolutions (forward,
// backward data, backward filter) run as direct reference loops on the calling host thread:
// NCHW, float or double, with stride, padding, dilation and groups, summed in double. Bad
// arguments give the status cuDNN gives (BAD_PARAM, NOT_SUPPORTED) with a message for
// cudnnGetLastErrorString; a data region outside simulated device memory is reported as a
// fault (cudasim::last_fault) and the call returns CUDNN_STATUS_EXECUTION_FAILED.
//
// The algorithm queries (cudnnGet*Algorithm_v7) report a fixed list per direction, each with
// its workspace size, determinism and the descriptor's math type. Every algorithm computes
// the same reference, but those reported as CUDNN_NON_DETERMINISTIC add up their partial sums
// as atomics would (each rounded to the data type) in an order that changes from call to
// call, so two calls differ in the last bits, reproducibly from run to run. The lists, first
// entry first:
//   forward          FFT, IMPLICIT_PRECOMP_GEMM, IMPLICIT_GEMM, GEMM, WINOGRAD_NONFUSED (all deterministic)
//   backward data    ALGO_0 (nondeterministic), ALGO_1, FFT
//   backward filter  ALGO_0 (nondeterministic), ALGO_3 (nondeterministic), ALGO_1
// Any other algorithm is refused with CUDNN_STATUS_NOT_SUPPORTED. TF32 (CUDNN_TENSOR_OP_MATH)
// is only recorded, not emulated.
//
// Test hooks, defined here (declared in tests/cudasim/cudasim.h):
//
//   namespace cudasim {
//   // Makes algorithm `algo` of `direction` (0 forward, 1 backward data, 2 backward filter)
//   // report and require a workspace of `bytes` (any size, SIZE_MAX included) from now on.
//   void set_conv_workspace(int direction, int algo, size_t bytes);
//   // Back to the built-in workspace sizes.
//   void reset_conv_workspaces();
//   }
#include "SimInternal.h"  // first: cudasim.h defines the qualifiers before CUDA's headers do

#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>


// ---------------------------------------------------------------------------
// The opaque objects behind cuDNN's handle and descriptor types

struct cudnnContext {
  int device = 0;  // current when cudnnCreate ran; the data of every call must live there
  cudaStream_t stream = nullptr;
};

struct cudnnTensorStruct {  // n x c x h x w, NCHW
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
};

struct cudnnFilterStruct {  // k x c x h x w (output channels, input channels per group, rows, columns)
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, h = 0, w = 0;
};

struct cudnnConvolutionStruct {
  bool set = false;  // by cudnnSetConvolution2dDescriptor
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  int groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace {

using cudasim::detail::device_of_range;
using cudasim::detail::report_fault;

template <class... A>
std::string cat(const A&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

// ---------------------------------------------------------------------------
// Errors: this thread's last failure, for cudnnGetLastErrorString

thread_local std::string t_last_error;

cudnnStatus_t fail(cudnnStatus_t status, std::string message) {
  t_last_error = std::move(message);
  return status;
}

// Runs body(), turning an exception (none is expected) into a status, as a C API must.
template <class Body>
cudnnStatus_t guarded(const char* fn, Body&& body) {
  bool out_of_memory = false;
  try {
    return body();
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  } catch (...) {
  }
  try {
    t_last_error = cat(fn, out_of_memory ? ": out of host memory" : ": internal error", " in the simulator");
  } catch (...) {
  }
  return out_of_memory ? CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED : CUDNN_STATUS_INTERNAL_ERROR;
}

// ---------------------------------------------------------------------------
// Live objects: a destroyed (or never created) handle or descriptor is refused, not read.

std::mutex& objects_mutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::set<const void*>& live_objects() {
  static auto* s = new std::set<const void*>;
  return *s;
}
bool is_live(const void* p) {
  std::lock_guard<std::mutex> lock(objects_mutex());
  return live_objects().count(p) != 0;
}

template <class S>
cudnnStatus_t create_object(const char* fn, S** out) {
  if (!out) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": the output pointer is null"));
  S* s = new S;
  std::lock_guard<std::mutex> lock(objects_mutex());
  live_objects().insert(s);
  *out = s;
  return CUDNN_STATUS_SUCCESS;
}

template <class S>
cudnnStatus_t destroy_object(const char* fn, S* s) {
  if (!s) return CUDNN_STATUS_SUCCESS;  // as cuDNN: destroying a null descriptor does nothing
  {
    std::lock_guard<std::mutex> lock(objects_mutex());
    if (live_objects().erase(s) == 0)
      return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", static_cast<const void*>(s),
                                              " was already destroyed or never created"));
  }
  delete s;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t check_handle(const char* fn, cudnnHandle_t h) {
  if (!h) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": the handle is null"));
  if (!is_live(h))
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": handle ", static_cast<const void*>(h),
                                            " was destroyed or never created"));
  return CUDNN_STATUS_SUCCESS;
}

// A descriptor a call reads: created, not destroyed, and set (`what` names the argument).
template <class S>
cudnnStatus_t check_set(const char* fn, const char* what, const S* s) {
  if (!s) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", what, " is null"));
  if (!is_live(s))
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", what, " (", static_cast<const void*>(s),
                                            ") was destroyed or never created"));
  if (!s->set) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", what, " was never set"));
  return CUDNN_STATUS_SUCCESS;
}

// A descriptor a call writes: created and not destroyed.
template <class S>
cudnnStatus_t check_created(const char* fn, const S* s) {
  if (!s) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": the descriptor is null"));
  if (!is_live(s))
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": descriptor ", static_cast<const void*>(s),
                                            " was destroyed or never created"));
  return CUDNN_STATUS_SUCCESS;
}

const char* type_name(cudnnDataType_t t) {
  switch (t) {
    case CUDNN_DATA_FLOAT: return "CUDNN_DATA_FLOAT";
    case CUDNN_DATA_DOUBLE: return "CUDNN_DATA_DOUBLE";
    case CUDNN_DATA_HALF: return "CUDNN_DATA_HALF";
    case CUDNN_DATA_BFLOAT16: return "CUDNN_DATA_BFLOAT16";
    default: return "a data type other than float and double";
  }
}

bool simulated_type(cudnnDataType_t t) { return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_DOUBLE; }

// The checks cudnnSetTensor4dDescriptor and cudnnSetFilter4dDescriptor share.
cudnnStatus_t check_4d(const char* fn, cudnnTensorFormat_t format, cudnnDataType_t type, const char* dims, int a,
                       int b, int c, int d) {
  if (format != CUDNN_TENSOR_NCHW)
    return fail(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT,
                cat(fn, ": format ", static_cast<int>(format), " (the simulator implements CUDNN_TENSOR_NCHW only)"));
  if (!simulated_type(type))
    return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
                cat(fn, ": ", type_name(type), " (the simulator implements float and double only)"));
  const std::string shape = cat(dims[0], "=", a, " ", dims[1], "=", b, " ", dims[2], "=", c, " ", dims[3], "=", d);
  if (a <= 0 || b <= 0 || c <= 0 || d <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", shape, ": every dimension must be positive"));
  if (int64_t{a} * b * c * d > INT_MAX)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", shape, ": more than 2^31 - 1 elements"));
  return CUDNN_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------
// A convolution's geometry, checked for consistency

// Output size along one axis: (in + 2 pad - dilation (filter - 1) - 1) / stride + 1, or 0
// when the dilated filter is larger than the padded input.
int64_t output_size(int in, int pad, int stride, int dilation, int filter) {
  const int64_t span = int64_t{in} + 2 * int64_t{pad} - int64_t{dilation} * (filter - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

struct Conv {
  cudnnDataType_t type;
  int64_t n, c, h, w;     // x (and dx): n x c x h x w
  int64_t k, cg, kh, kw;  // w (and dw): k x cg x kh x kw, cg = c / groups
  int64_t oh, ow;         // y (and dy): n x k x oh x ow
  int64_t ph, pw, sh, sw, dh, dw;
  int64_t groups;
  bool flip;  // CUDNN_CONVOLUTION: the filter is applied mirrored (cross-correlation is not)
  cudnnMathType_t math;

  int64_t kg() const { return k / groups; }  // output channels per group
  size_t elem() const { return type == CUDNN_DATA_DOUBLE ? sizeof(double) : sizeof(float); }
  int64_t x_count() const { return n * c * h * w; }
  int64_t w_count() const { return k * cg * kh * kw; }
  int64_t y_count() const { return n * k * oh * ow; }
  size_t x_bytes() const { return static_cast<size_t>(x_count()) * elem(); }
  size_t w_bytes() const { return static_cast<size_t>(w_count()) * elem(); }
  size_t y_bytes() const { return static_cast<size_t>(y_count()) * elem(); }
  int64_t x_at(int64_t i, int64_t ch, int64_t row, int64_t col) const { return ((i * c + ch) * h + row) * w + col; }
  int64_t w_at(int64_t ko, int64_t ci, int64_t r, int64_t s) const { return ((ko * cg + ci) * kh + r) * kw + s; }
  int64_t y_at(int64_t i, int64_t ko, int64_t row, int64_t col) const { return ((i * k + ko) * oh + row) * ow + col; }
  // The filter tap stored for window offset (r, s); mirroring is its own inverse.
  int64_t tap_h(int64_t r) const { return flip ? kh - 1 - r : r; }
  int64_t tap_w(int64_t s) const { return flip ? kw - 1 - s : s; }
};

std::string tensor_shape(const cudnnTensorStruct* t) {
  return cat("[", t->n, " x ", t->c, " x ", t->h, " x ", t->w, "]");
}
std::string filter_shape(const cudnnFilterStruct* f) {
  return cat("[", f->k, " x ", f->c, " x ", f->h, " x ", f->w, "]");
}

// Checks that x, w and conv (and y, unless null) describe one convolution and fills g.
cudnnStatus_t make_conv(const char* fn, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                        const cudnnConvolutionStruct* conv, const cudnnTensorStruct* y, Conv& g) {
  cudnnStatus_t s = check_set(fn, "the x descriptor", x);
  if (s == CUDNN_STATUS_SUCCESS) s = check_set(fn, "the filter descriptor", w);
  if (s == CUDNN_STATUS_SUCCESS) s = check_set(fn, "the convolution descriptor", conv);
  if (s == CUDNN_STATUS_SUCCESS && y) s = check_set(fn, "the y descriptor", y);
  if (s != CUDNN_STATUS_SUCCESS) return s;

  if (x->type != w->type)
    return fail(CUDNN_STATUS_BAD_PARAM,
                cat(fn, ": x is ", type_name(x->type), " but the filter is ", type_name(w->type)));
  if (conv->compute != x->type)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": the convolution's compute type ", type_name(conv->compute),
                                            " does not fit ", type_name(x->type), " data"));
  if (w->k % conv->groups != 0)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": the filter's ", w->k, " output channels do not divide into ",
                                            conv->groups, " groups"));
  if (x->c != int64_t{w->c} * conv->groups)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": x ", tensor_shape(x), " has ", x->c, " channels, but the filter ",
                                            filter_shape(w), " with ", conv->groups, " groups takes ",
                                            int64_t{w->c} * conv->groups));
  const int64_t oh = output_size(x->h, conv->pad_h, conv->stride_h, conv->dilation_h, w->h);
  const int64_t ow = output_size(x->w, conv->pad_w, conv->stride_w, conv->dilation_w, w->w);
  if (oh <= 0 || ow <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM,
                cat(fn, ": the filter ", filter_shape(w), " with dilation ", conv->dilation_h, " x ", conv->dilation_w,
                    " is larger than x ", tensor_shape(x), " padded by ", conv->pad_h, " x ", conv->pad_w));
  if (y) {
    if (y->type != x->type)
      return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": x is ", type_name(x->type), " but y is ", type_name(y->type)));
    if (y->n != x->n || y->c != w->k || y->h != oh || y->w != ow)
      return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": y is ", tensor_shape(y), " but the convolution of x ",
                                              tensor_shape(x), " with the filter ", filter_shape(w), " gives [", x->n,
                                              " x ", w->k, " x ", oh, " x ", ow, "]"));
  }
  g.type = x->type;
  g.n = x->n; g.c = x->c; g.h = x->h; g.w = x->w;
  g.k = w->k; g.cg = w->c; g.kh = w->h; g.kw = w->w;
  g.oh = oh; g.ow = ow;
  g.ph = conv->pad_h; g.pw = conv->pad_w; g.sh = conv->stride_h; g.sw = conv->stride_w;
  g.dh = conv->dilation_h; g.dw = conv->dilation_w;
  g.groups = conv->groups;
  g.flip = conv->mode == CUDNN_CONVOLUTION;
  g.math = conv->math;
  return CUDNN_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------
// Algorithms: what the queries report, and the workspace each needs

enum Dir { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };
const char* const kDirName[3] = {"forward", "backward data", "backward filter"};
const int kAlgoCount[3] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};

struct AlgoInfo {
  int algo;
  const char* name;
  cudnnDeterminism_t determinism;
};

// The lists the *_v7 queries report, in this order. Nondeterministic algorithms come first
// where they exist, as cuDNN often ranks its atomics-based kernels: Ember must sort.
const std::vector<AlgoInfo>& algorithms(Dir d) {
  static const std::vector<AlgoInfo> lists[3] = {
      {{CUDNN_CONVOLUTION_FWD_ALGO_FFT, "CUDNN_CONVOLUTION_FWD_ALGO_FFT", CUDNN_DETERMINISTIC},
       {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, "CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM",
        CUDNN_DETERMINISTIC},
       {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, "CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM", CUDNN_DETERMINISTIC},
       {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, "CUDNN_CONVOLUTION_FWD_ALGO_GEMM", CUDNN_DETERMINISTIC},
       {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, "CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED",
        CUDNN_DETERMINISTIC}},
      {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, "CUDNN_CONVOLUTION_BWD_DATA_ALGO_0", CUDNN_NON_DETERMINISTIC},
       {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "CUDNN_CONVOLUTION_BWD_DATA_ALGO_1", CUDNN_DETERMINISTIC},
       {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, "CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT", CUDNN_DETERMINISTIC}},
      {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, "CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0", CUDNN_NON_DETERMINISTIC},
       {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, "CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3", CUDNN_NON_DETERMINISTIC},
       {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, "CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1", CUDNN_DETERMINISTIC}},
  };
  return lists[d];
}

const AlgoInfo* find_algorithm(Dir d, int algo) {
  for (const AlgoInfo& a : algorithms(d))
    if (a.algo == algo) return &a;
  return nullptr;
}

// Checks that `algo` is one the simulator runs for direction d.
cudnnStatus_t check_algorithm(const char* fn, Dir d, int algo, const AlgoInfo** info) {
  if (algo < 0 || algo >= kAlgoCount[d])
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", algo, " is not a ", kDirName[d], " algorithm"));
  *info = find_algorithm(d, algo);
  if (!*info)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, cat(fn, ": ", kDirName[d], " algorithm ", algo,
                                                " is not supported (the simulator runs the ones its query reports)"));
  return CUDNN_STATUS_SUCCESS;
}

// set_conv_workspace's overrides, by (direction, algorithm).
std::mutex& overrides_mutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<std::pair<int, int>, size_t>& overrides() {
  static auto* m = new std::map<std::pair<int, int>, size_t>;
  return *m;
}

// The workspace algorithm `algo` of direction d needs for geometry g: an override, else a
// made-up size of the kind cuDNN asks for (nothing, a little per image, a lowered copy).
size_t workspace_bytes(Dir d, int algo, const Conv& g) {
  {
    std::lock_guard<std::mutex> lock(overrides_mutex());
    const auto it = overrides().find({static_cast<int>(d), algo});
    if (it != overrides().end()) return it->second;
  }
  const size_t e = g.elem(), per_image = 1024 * static_cast<size_t>(g.n);
  const size_t x = g.x_bytes(), w = g.w_bytes(), y = g.y_bytes();
  const size_t lowered = static_cast<size_t>(g.cg * g.kh * g.kw * g.oh * g.ow) * e;  // one image's im2col
  switch (d) {
    case kForward:
      switch (algo) {
        case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return 0;
        case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return per_image;
        case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return lowered;
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return 2 * (x + w + y);
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return x + y;
        default: return 0;
      }
    case kBackwardData:
      switch (algo) {
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0: return 0;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1: return per_image;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT: return 2 * (x + w + y);
        default: return 0;
      }
    case kBackwardFilter:
      switch (algo) {
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0: return 0;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3: return per_image;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1: return w + per_image;
        default: return 0;
      }
  }
  return 0;
}

// Fills perf[0..min(requested, list size)) from direction d's list.
template <class Perf>
cudnnStatus_t report_algorithms(const char* fn, Dir d, const Conv& g, int requested, int* returned, Perf* perf) {
  if (requested < 1 || !returned || !perf)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": requestedAlgoCount=", requested,
                                            " must be positive and the result pointers non-null"));
  const std::vector<AlgoInfo>& list = algorithms(d);
  const int count = std::min(requested, static_cast<int>(list.size()));
  for (int i = 0; i < count; ++i) {
    Perf p{};
    p.algo = static_cast<decltype(p.algo)>(list[i].algo);
    p.status = CUDNN_STATUS_SUCCESS;
    p.time = 0.01f * static_cast<float>(i + 1);  // "measured" in list order
    p.memory = workspace_bytes(d, list[i].algo, g);
    p.determinism = list[i].determinism;
    p.mathType = g.math;
    perf[i] = p;
  }
  *returned = count;
  return CUDNN_STATUS_SUCCESS;
}

template <class AlgoT>
cudnnStatus_t report_workspace(const char* fn, Dir d, const Conv& g, AlgoT algo, size_t* bytes) {
  if (!bytes) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": sizeInBytes is null"));
  const AlgoInfo* info = nullptr;
  const cudnnStatus_t s = check_algorithm(fn, d, static_cast<int>(algo), &info);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  *bytes = workspace_bytes(d, info->algo, g);
  return CUDNN_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------
// The reference convolutions

// out = alpha * result + beta * out; with beta == 0, out is not read (it may hold NaN).
template <class T>
void store(T& out, double result, double alpha, double beta) {
  const double old = beta == 0.0 ? 0.0 : beta * static_cast<double>(out);
  out = static_cast<T>(alpha * result + old);
}

// How the partial sums of one output element are added up. A deterministic algorithm adds
// them in double, in order. A nondeterministic one does what atomicAdd into T does: each
// partial is rounded to T and added to a T total, here starting at a partial that moves with
// the call (salt) and the element, so two calls round differently.
struct Summation {
  bool nondeterministic = false;
  uint64_t salt = 0;

  template <class T>
  double total(const std::vector<double>& partials, int64_t element) const {
    if (!nondeterministic) {
      double sum = 0.0;
      for (double p : partials) sum += p;
      return sum;
    }
    const size_t count = partials.size();
    if (count == 0) return 0.0;
    const size_t start = static_cast<size_t>((salt + static_cast<uint64_t>(element)) % count);
    T sum = 0;
    for (size_t i = 0; i < count; ++i) sum += static_cast<T>(partials[(start + i) % count]);
    return static_cast<double>(sum);
  }
};

// Forward: y[n][ko][oy][ox] = sum over the input channels ci of ko's group and the taps (r, s)
// of x[n][ci][oy*sh - ph + r*dh][ox*sw - pw + s*dw] * w[ko][ci][r][s] (taps outside x are 0).
template <class T>
void conv_forward(const Conv& g, const T* x, const T* w, T* y, double alpha, double beta) {
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t ko = 0; ko < g.k; ++ko) {
      const int64_t c0 = ko / g.kg() * g.cg;  // the first input channel of ko's group
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          double sum = 0.0;
          for (int64_t ci = 0; ci < g.cg; ++ci)
            for (int64_t r = 0; r < g.kh; ++r) {
              const int64_t iy = oy * g.sh - g.ph + r * g.dh;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t s = 0; s < g.kw; ++s) {
                const int64_t ix = ox * g.sw - g.pw + s * g.dw;
                if (ix < 0 || ix >= g.w) continue;
                sum += static_cast<double>(x[g.x_at(i, c0 + ci, iy, ix)]) *
                       static_cast<double>(w[g.w_at(ko, ci, g.tap_h(r), g.tap_w(s))]);
              }
            }
          store(y[g.y_at(i, ko, oy, ox)], sum, alpha, beta);
        }
    }
}

// Backward data, the transposed convolution: each dx[n][c][iy][ix] gathers dy[n][ko][oy][ox]
// * w[ko][ci][r][s] over the outputs (oy, ox) whose tap (r, s) lands on it: iy = oy*sh - ph +
// r*dh, so oy = (iy + ph - r*dh) / sh when that divides exactly. Partial sums: one per
// (output channel, tap row).
template <class T>
void conv_backward_data(const Conv& g, const T* w, const T* dy, T* dx, double alpha, double beta,
                        const Summation& summation) {
  std::vector<double> partials;
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t c = 0; c < g.c; ++c) {
      const int64_t ci = c % g.cg, k0 = c / g.cg * g.kg();  // c's index in its group, the group's first output
      for (int64_t iy = 0; iy < g.h; ++iy)
        for (int64_t ix = 0; ix < g.w; ++ix) {
          partials.clear();
          for (int64_t ko = k0; ko < k0 + g.kg(); ++ko)
            for (int64_t r = 0; r < g.kh; ++r) {
              double part = 0.0;
              const int64_t ty = iy + g.ph - r * g.dh;  // oy * sh
              if (ty >= 0 && ty % g.sh == 0 && ty / g.sh < g.oh)
                for (int64_t s = 0; s < g.kw; ++s) {
                  const int64_t tx = ix + g.pw - s * g.dw;  // ox * sw
                  if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
                  part += static_cast<double>(dy[g.y_at(i, ko, ty / g.sh, tx / g.sw)]) *
                          static_cast<double>(w[g.w_at(ko, ci, g.tap_h(r), g.tap_w(s))]);
                }
              partials.push_back(part);
            }
          const int64_t at = g.x_at(i, c, iy, ix);
          store(dx[at], summation.total<T>(partials, at), alpha, beta);
        }
    }
}

// Backward filter: dw[ko][ci][r][s] = sum over images n and outputs (oy, ox) of
// x[n][c][oy*sh - ph + r*dh][ox*sw - pw + s*dw] * dy[n][ko][oy][ox], c = ci's channel in ko's
// group. Partial sums: one per (image, output row).
template <class T>
void conv_backward_filter(const Conv& g, const T* x, const T* dy, T* dw, double alpha, double beta,
                          const Summation& summation) {
  std::vector<double> partials;
  for (int64_t ko = 0; ko < g.k; ++ko)
    for (int64_t ci = 0; ci < g.cg; ++ci) {
      const int64_t c = ko / g.kg() * g.cg + ci;
      for (int64_t tr = 0; tr < g.kh; ++tr)
        for (int64_t ts = 0; ts < g.kw; ++ts) {
          const int64_t r = g.tap_h(tr), s = g.tap_w(ts);  // the window offset that uses tap (tr, ts)
          partials.clear();
          for (int64_t i = 0; i < g.n; ++i)
            for (int64_t oy = 0; oy < g.oh; ++oy) {
              double part = 0.0;
              const int64_t iy = oy * g.sh - g.ph + r * g.dh;
              if (iy >= 0 && iy < g.h)
                for (int64_t ox = 0; ox < g.ow; ++ox) {
                  const int64_t ix = ox * g.sw - g.pw + s * g.dw;
                  if (ix < 0 || ix >= g.w) continue;
                  part += static_cast<double>(x[g.x_at(i, c, iy, ix)]) *
                          static_cast<double>(dy[g.y_at(i, ko, oy, ox)]);
                }
              partials.push_back(part);
            }
          const int64_t at = g.w_at(ko, ci, tr, ts);
          store(dw[at], summation.total<T>(partials, at), alpha, beta);
        }
    }
}

// ---------------------------------------------------------------------------
// What every convolution call checks before it runs

// Calls of nondeterministic algorithms so far: each gets its own summation order.
std::atomic<uint64_t> g_nondeterministic_calls{0};

struct Region {
  const char* name;   // "x", "dy", ...
  const void* p;
  size_t bytes;
  std::string shape;  // for the fault message
};

double scalar(const void* p, cudnnDataType_t t) {
  return t == CUDNN_DATA_DOUBLE ? *static_cast<const double*>(p) : static_cast<double>(*static_cast<const float*>(p));
}

// The checks after the geometry's: the algorithm, the workspace, alpha and beta, and that the
// data (and a workspace in use) lie in device memory of the handle's device. Sets *summation.
cudnnStatus_t check_call(const char* fn, Dir d, cudnnHandle_t h, const Conv& g, int algo, const void* workspace,
                         size_t workspace_size, const void* alpha, const void* beta,
                         const std::vector<Region>& regions, Summation* summation) {
  const AlgoInfo* info = nullptr;
  cudnnStatus_t s = check_algorithm(fn, d, algo, &info);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  const size_t needed = workspace_bytes(d, algo, g);
  if (needed > 0 && !workspace)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", info->name, " needs a workspace of ", needed,
                                            " bytes, but workSpace is null"));
  if (workspace_size < needed)
    return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", info->name, " needs a workspace of ", needed,
                                            " bytes, but workSpaceSizeInBytes is ", workspace_size));
  if (!alpha || !beta) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": alpha or beta is null"));

  std::vector<Region> all = regions;
  if (needed > 0) all.push_back({"workSpace", workspace, needed, cat("[", needed, "]")});
  for (const Region& r : all) {
    const int on = device_of_range(r.p, r.bytes);
    if (on == h->device) continue;
    std::string what = cat(fn, ": ", r.name, " ", r.shape, " = ", r.bytes, " bytes at ", r.p);
    if (on < 0)
      what += " is not device memory (a host pointer, a freed block, or a range past the end of its allocation)";
    else
      what += cat(" is on device ", on, ", but the cuDNN handle belongs to device ", h->device);
    report_fault(what);
    return fail(CUDNN_STATUS_EXECUTION_FAILED, what);
  }
  // A real algorithm leaves its workspace as garbage: scribble on it, so a workspace that
  // aliases x, w or y (or one still in use elsewhere) changes a result.
  if (needed > 0) std::memset(const_cast<void*>(workspace), 0xFF, needed);
  summation->nondeterministic = info->determinism == CUDNN_NON_DETERMINISTIC;
  summation->salt = summation->nondeterministic ? g_nondeterministic_calls.fetch_add(1) : 0;
  return CUDNN_STATUS_SUCCESS;
}

std::string x_shape(const Conv& g) { return cat("[", g.n, " x ", g.c, " x ", g.h, " x ", g.w, "]"); }
std::string w_shape(const Conv& g) { return cat("[", g.k, " x ", g.cg, " x ", g.kh, " x ", g.kw, "]"); }
std::string y_shape(const Conv& g) { return cat("[", g.n, " x ", g.k, " x ", g.oh, " x ", g.ow, "]"); }

}  // namespace

// ---------------------------------------------------------------------------
// Test hooks

namespace cudasim {

void set_conv_workspace(int direction, int algo, size_t bytes) {
  std::lock_guard<std::mutex> lock(overrides_mutex());
  overrides()[{direction, algo}] = bytes;
}

void reset_conv_workspaces() {
  std::lock_guard<std::mutex> lock(overrides_mutex());
  overrides().clear();
}

}  // namespace cudasim

// ---------------------------------------------------------------------------
// The C API: library, handle, errors

size_t CUDNNWINAPI cudnnGetVersion(void) { return CUDNN_VERSION; }

const char* CUDNNWINAPI cudnnGetErrorString(cudnnStatus_t status) {
  switch (static_cast<int>(status)) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH: return "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH";
    case CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH: return "CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH";
    case CUDNN_STATUS_DEPRECATED: return "CUDNN_STATUS_DEPRECATED";
    case CUDNN_STATUS_LICENSE_ERROR: return "CUDNN_STATUS_LICENSE_ERROR";
    case CUDNN_STATUS_RUNTIME_IN_PROGRESS: return "CUDNN_STATUS_RUNTIME_IN_PROGRESS";
    case CUDNN_STATUS_RUNTIME_FP_OVERFLOW: return "CUDNN_STATUS_RUNTIME_FP_OVERFLOW";
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case 2001: return "CUDNN_STATUS_INVALID_VALUE";  // deprecated name; no enumerator is spelled here
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER: return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
    case CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED: return "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED";
    case CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND: return "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND";
    case CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT: return "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT";
    case CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES: return "CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES";
    case CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE: return "CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE";
    case CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH";
    case CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE: return "CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN: return "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_NOT_SUPPORTED_LAYOUT: return "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT";
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER:
      return "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER";
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART: return "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART";
    case CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH: return "CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING:
      return "CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING";
    case CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE: return "CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE";
    case CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT:
      return "CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT";
    case CUDNN_STATUS_NOT_SUPPORTED_PADDING: return "CUDNN_STATUS_NOT_SUPPORTED_PADDING";
    case CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM: return "CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API: return "CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API";
    case CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED: return "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE: return "CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE";
    case CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM: return "CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM";
    case CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    case CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER: return "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER";
    case CUDNN_STATUS_EXECUTION_FAILED_CUBLAS: return "CUDNN_STATUS_EXECUTION_FAILED_CUBLAS";
    case CUDNN_STATUS_EXECUTION_FAILED_CUDART: return "CUDNN_STATUS_EXECUTION_FAILED_CUDART";
    case CUDNN_STATUS_EXECUTION_FAILED_CURAND: return "CUDNN_STATUS_EXECUTION_FAILED_CURAND";
  }
  return "CUDNN_STATUS_UNKNOWN";
}

// This thread's last error message (empty when none), cleared once read.
void CUDNNWINAPI cudnnGetLastErrorString(char* message, size_t max_size) {
  if (!message || max_size == 0) return;
  const size_t n = std::min(t_last_error.size(), max_size - 1);
  t_last_error.copy(message, n);
  message[n] = '\0';
  t_last_error.clear();
}

cudnnStatus_t CUDNNWINAPI cudnnCreate(cudnnHandle_t* handle) {
  return guarded("cudnnCreate", [&] {
    const cudnnStatus_t s = create_object("cudnnCreate", handle);
    if (s == CUDNN_STATUS_SUCCESS) (*handle)->device = cudasim::detail::current_device();
    return s;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnDestroy(cudnnHandle_t handle) {
  return guarded("cudnnDestroy", [&] {
    if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroy: the handle is null");
    return destroy_object("cudnnDestroy", handle);
  });
}

cudnnStatus_t CUDNNWINAPI cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  return guarded("cudnnSetStream", [&] {
    const cudnnStatus_t s = check_handle("cudnnSetStream", handle);
    if (s == CUDNN_STATUS_SUCCESS) handle->stream = streamId;
    return s;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetStream(cudnnHandle_t handle, cudaStream_t* streamId) {
  return guarded("cudnnGetStream", [&] {
    const cudnnStatus_t s = check_handle("cudnnGetStream", handle);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (!streamId) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetStream: streamId is null");
    *streamId = handle->stream;
    return CUDNN_STATUS_SUCCESS;
  });
}

// ---------------------------------------------------------------------------
// The C API: descriptors

cudnnStatus_t CUDNNWINAPI cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* tensorDesc) {
  return guarded("cudnnCreateTensorDescriptor",
                 [&] { return create_object("cudnnCreateTensorDescriptor", tensorDesc); });
}

cudnnStatus_t CUDNNWINAPI cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc) {
  return guarded("cudnnDestroyTensorDescriptor",
                 [&] { return destroy_object("cudnnDestroyTensorDescriptor", tensorDesc); });
}

cudnnStatus_t CUDNNWINAPI cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format,
                                                     cudnnDataType_t dataType, int n, int c, int h, int w) {
  const char* fn = "cudnnSetTensor4dDescriptor";
  return guarded(fn, [&] {
    cudnnStatus_t s = check_created(fn, tensorDesc);
    if (s == CUDNN_STATUS_SUCCESS) s = check_4d(fn, format, dataType, "nchw", n, c, h, w);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    *tensorDesc = cudnnTensorStruct{true, dataType, n, c, h, w};
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* filterDesc) {
  return guarded("cudnnCreateFilterDescriptor",
                 [&] { return create_object("cudnnCreateFilterDescriptor", filterDesc); });
}

cudnnStatus_t CUDNNWINAPI cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc) {
  return guarded("cudnnDestroyFilterDescriptor",
                 [&] { return destroy_object("cudnnDestroyFilterDescriptor", filterDesc); });
}

cudnnStatus_t CUDNNWINAPI cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType,
                                                     cudnnTensorFormat_t format, int k, int c, int h, int w) {
  const char* fn = "cudnnSetFilter4dDescriptor";
  return guarded(fn, [&] {
    cudnnStatus_t s = check_created(fn, filterDesc);
    if (s == CUDNN_STATUS_SUCCESS) s = check_4d(fn, format, dataType, "kchw", k, c, h, w);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    *filterDesc = cudnnFilterStruct{true, dataType, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* convDesc) {
  return guarded("cudnnCreateConvolutionDescriptor",
                 [&] { return create_object("cudnnCreateConvolutionDescriptor", convDesc); });
}

cudnnStatus_t CUDNNWINAPI cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc) {
  return guarded("cudnnDestroyConvolutionDescriptor",
                 [&] { return destroy_object("cudnnDestroyConvolutionDescriptor", convDesc); });
}

cudnnStatus_t CUDNNWINAPI cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w,
                                                          int u, int v, int dilation_h, int dilation_w,
                                                          cudnnConvolutionMode_t mode, cudnnDataType_t computeType) {
  const char* fn = "cudnnSetConvolution2dDescriptor";
  return guarded(fn, [&] {
    const cudnnStatus_t s = check_created(fn, convDesc);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0)
      return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": pad ", pad_h, " x ", pad_w, ", stride ", u, " x ", v,
                                              ", dilation ", dilation_h, " x ", dilation_w,
                                              ": padding must be >= 0, strides and dilations > 0"));
    if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
      return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": mode ", static_cast<int>(mode), " is not a convolution mode"));
    if (!simulated_type(computeType))
      return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
                  cat(fn, ": compute type ", type_name(computeType),
                      " (the simulator implements float and double only)"));
    convDesc->set = true;
    convDesc->pad_h = pad_h;
    convDesc->pad_w = pad_w;
    convDesc->stride_h = u;
    convDesc->stride_w = v;
    convDesc->dilation_h = dilation_h;
    convDesc->dilation_w = dilation_w;
    convDesc->mode = mode;
    convDesc->compute = computeType;
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t convDesc, int groupCount) {
  const char* fn = "cudnnSetConvolutionGroupCount";
  return guarded(fn, [&] {
    const cudnnStatus_t s = check_created(fn, convDesc);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (groupCount < 1) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": groupCount=", groupCount, " must be >= 1"));
    convDesc->groups = groupCount;
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,
                                                      cudnnMathType_t mathType) {
  const char* fn = "cudnnSetConvolutionMathType";
  return guarded(fn, [&] {
    const cudnnStatus_t s = check_created(fn, convDesc);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (mathType != CUDNN_DEFAULT_MATH && mathType != CUDNN_TENSOR_OP_MATH &&
        mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && mathType != CUDNN_FMA_MATH)
      return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": ", static_cast<int>(mathType), " is not a math type"));
    convDesc->math = mathType;
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                                const cudnnTensorDescriptor_t inputTensorDesc,
                                                                const cudnnFilterDescriptor_t filterDesc, int* n,
                                                                int* c, int* h, int* w) {
  const char* fn = "cudnnGetConvolution2dForwardOutputDim";
  return guarded(fn, [&] {
    if (!n || !c || !h || !w) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": an output pointer is null"));
    Conv g{};
    const cudnnStatus_t s = make_conv(fn, inputTensorDesc, filterDesc, convDesc, nullptr, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    *n = static_cast<int>(g.n);
    *c = static_cast<int>(g.k);
    *h = static_cast<int>(g.oh);
    *w = static_cast<int>(g.ow);
    return CUDNN_STATUS_SUCCESS;
  });
}

// ---------------------------------------------------------------------------
// The C API: algorithm queries

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
  const char* fn = "cudnnGetConvolutionForwardAlgorithmMaxCount";
  return guarded(fn, [&] {
    const cudnnStatus_t s = check_handle(fn, handle);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (!count) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": count is null"));
    *count = static_cast<int>(algorithms(kForward).size());
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
  const char* fn = "cudnnGetConvolutionBackwardDataAlgorithmMaxCount";
  return guarded(fn, [&] {
    const cudnnStatus_t s = check_handle(fn, handle);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (!count) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": count is null"));
    *count = static_cast<int>(algorithms(kBackwardData).size());
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
  const char* fn = "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount";
  return guarded(fn, [&] {
    const cudnnStatus_t s = check_handle(fn, handle);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (!count) return fail(CUDNN_STATUS_BAD_PARAM, cat(fn, ": count is null"));
    *count = static_cast<int>(algorithms(kBackwardFilter).size());
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc, const cudnnFilterDescriptor_t filterDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults) {
  const char* fn = "cudnnGetConvolutionForwardAlgorithm_v7";
  return guarded(fn, [&] {
    Conv g{};
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, srcDesc, filterDesc, convDesc, destDesc, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    return report_algorithms(fn, kForward, g, requestedAlgoCount, returnedAlgoCount, perfResults);
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t filterDesc, const cudnnTensorDescriptor_t diffDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t gradDesc, const int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionBwdDataAlgoPerf_t* perfResults) {
  const char* fn = "cudnnGetConvolutionBackwardDataAlgorithm_v7";
  return guarded(fn, [&] {
    Conv g{};
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, gradDesc, filterDesc, convDesc, diffDesc, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    return report_algorithms(fn, kBackwardData, g, requestedAlgoCount, returnedAlgoCount, perfResults);
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc, const cudnnTensorDescriptor_t diffDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc, const int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionBwdFilterAlgoPerf_t* perfResults) {
  const char* fn = "cudnnGetConvolutionBackwardFilterAlgorithm_v7";
  return guarded(fn, [&] {
    Conv g{};
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, srcDesc, gradDesc, convDesc, diffDesc, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    return report_algorithms(fn, kBackwardFilter, g, requestedAlgoCount, returnedAlgoCount, perfResults);
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle,
                                                                  const cudnnTensorDescriptor_t xDesc,
                                                                  const cudnnFilterDescriptor_t wDesc,
                                                                  const cudnnConvolutionDescriptor_t convDesc,
                                                                  const cudnnTensorDescriptor_t yDesc,
                                                                  cudnnConvolutionFwdAlgo_t algo, size_t* sizeInBytes) {
  const char* fn = "cudnnGetConvolutionForwardWorkspaceSize";
  return guarded(fn, [&] {
    Conv g{};
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, xDesc, wDesc, convDesc, yDesc, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    return report_workspace(fn, kForward, g, algo, sizeInBytes);
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t handle,
                                                                       const cudnnFilterDescriptor_t wDesc,
                                                                       const cudnnTensorDescriptor_t dyDesc,
                                                                       const cudnnConvolutionDescriptor_t convDesc,
                                                                       const cudnnTensorDescriptor_t dxDesc,
                                                                       cudnnConvolutionBwdDataAlgo_t algo,
                                                                       size_t* sizeInBytes) {
  const char* fn = "cudnnGetConvolutionBackwardDataWorkspaceSize";
  return guarded(fn, [&] {
    Conv g{};
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, dxDesc, wDesc, convDesc, dyDesc, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    return report_workspace(fn, kBackwardData, g, algo, sizeInBytes);
  });
}

cudnnStatus_t CUDNNWINAPI cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t handle,
                                                                         const cudnnTensorDescriptor_t xDesc,
                                                                         const cudnnTensorDescriptor_t dyDesc,
                                                                         const cudnnConvolutionDescriptor_t convDesc,
                                                                         const cudnnFilterDescriptor_t gradDesc,
                                                                         cudnnConvolutionBwdFilterAlgo_t algo,
                                                                         size_t* sizeInBytes) {
  const char* fn = "cudnnGetConvolutionBackwardFilterWorkspaceSize";
  return guarded(fn, [&] {
    Conv g{};
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, xDesc, gradDesc, convDesc, dyDesc, g);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    return report_workspace(fn, kBackwardFilter, g, algo, sizeInBytes);
  });
}

// ---------------------------------------------------------------------------
// The C API: the convolutions

cudnnStatus_t CUDNNWINAPI cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha,
                                                  const cudnnTensorDescriptor_t xDesc, const void* x,
                                                  const cudnnFilterDescriptor_t wDesc, const void* w,
                                                  const cudnnConvolutionDescriptor_t convDesc,
                                                  cudnnConvolutionFwdAlgo_t algo, void* workSpace,
                                                  size_t workSpaceSizeInBytes, const void* beta,
                                                  const cudnnTensorDescriptor_t yDesc, void* y) {
  const char* fn = "cudnnConvolutionForward";
  return guarded(fn, [&] {
    Conv g{};
    Summation summation;
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, xDesc, wDesc, convDesc, yDesc, g);
    if (s == CUDNN_STATUS_SUCCESS)
      s = check_call(fn, kForward, handle, g, algo, workSpace, workSpaceSizeInBytes, alpha, beta,
                     {{"x", x, g.x_bytes(), x_shape(g)}, {"w", w, g.w_bytes(), w_shape(g)},
                      {"y", y, g.y_bytes(), y_shape(g)}},
                     &summation);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    const double al = scalar(alpha, g.type), be = scalar(beta, g.type);
    if (g.type == CUDNN_DATA_DOUBLE)
      conv_forward(g, static_cast<const double*>(x), static_cast<const double*>(w), static_cast<double*>(y), al, be);
    else
      conv_forward(g, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<float*>(y), al, be);
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha,
                                                       const cudnnFilterDescriptor_t wDesc, const void* w,
                                                       const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                                       const cudnnConvolutionDescriptor_t convDesc,
                                                       cudnnConvolutionBwdDataAlgo_t algo, void* workSpace,
                                                       size_t workSpaceSizeInBytes, const void* beta,
                                                       const cudnnTensorDescriptor_t dxDesc, void* dx) {
  const char* fn = "cudnnConvolutionBackwardData";
  return guarded(fn, [&] {
    Conv g{};
    Summation summation;
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, dxDesc, wDesc, convDesc, dyDesc, g);
    if (s == CUDNN_STATUS_SUCCESS)
      s = check_call(fn, kBackwardData, handle, g, algo, workSpace, workSpaceSizeInBytes, alpha, beta,
                     {{"w", w, g.w_bytes(), w_shape(g)}, {"dy", dy, g.y_bytes(), y_shape(g)},
                      {"dx", dx, g.x_bytes(), x_shape(g)}},
                     &summation);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    const double al = scalar(alpha, g.type), be = scalar(beta, g.type);
    if (g.type == CUDNN_DATA_DOUBLE)
      conv_backward_data(g, static_cast<const double*>(w), static_cast<const double*>(dy), static_cast<double*>(dx),
                         al, be, summation);
    else
      conv_backward_data(g, static_cast<const float*>(w), static_cast<const float*>(dy), static_cast<float*>(dx), al,
                         be, summation);
    return CUDNN_STATUS_SUCCESS;
  });
}

cudnnStatus_t CUDNNWINAPI cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha,
                                                         const cudnnTensorDescriptor_t xDesc, const void* x,
                                                         const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                                         const cudnnConvolutionDescriptor_t convDesc,
                                                         cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace,
                                                         size_t workSpaceSizeInBytes, const void* beta,
                                                         const cudnnFilterDescriptor_t dwDesc, void* dw) {
  const char* fn = "cudnnConvolutionBackwardFilter";
  return guarded(fn, [&] {
    Conv g{};
    Summation summation;
    cudnnStatus_t s = check_handle(fn, handle);
    if (s == CUDNN_STATUS_SUCCESS) s = make_conv(fn, xDesc, dwDesc, convDesc, dyDesc, g);
    if (s == CUDNN_STATUS_SUCCESS)
      s = check_call(fn, kBackwardFilter, handle, g, algo, workSpace, workSpaceSizeInBytes, alpha, beta,
                     {{"x", x, g.x_bytes(), x_shape(g)}, {"dy", dy, g.y_bytes(), y_shape(g)},
                      {"dw", dw, g.w_bytes(), w_shape(g)}},
                     &summation);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    const double al = scalar(alpha, g.type), be = scalar(beta, g.type);
    if (g.type == CUDNN_DATA_DOUBLE)
      conv_backward_filter(g, static_cast<const double*>(x), static_cast<const double*>(dy), static_cast<double*>(dw),
                           al, be, summation);
    else
      conv_backward_filter(g, static_cast<const float*>(x), static_cast<const float*>(dy), static_cast<float*>(dw),
                           al, be, summation);
    return CUDNN_STATUS_SUCCESS;
  });
}
