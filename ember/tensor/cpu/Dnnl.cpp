// tensor/cpu/Dnnl.cpp: convolution through oneDNN (see Dnnl.h).
//
// For each geometry we build, once, the three primitives (forward, backward data, backward
// weights; the backward ones take the forward as their hint, as oneDNN asks) with format
// `any`, so oneDNN chooses its fastest (blocked) layouts, plus the reorders between those and
// Ember's plain NCHW / OIHW, and the blocked scratch buffers. A call then runs: reorder the
// inputs in, run the primitive, reorder the result out. Calls are serialised by a mutex (the
// cached buffers are shared); each primitive itself runs on all OpenMP threads.
#include "ember/tensor/cpu/Dnnl.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "ember/tensor/Error.h"

namespace ember {
namespace cpu {
namespace dnnl_conv {

namespace {
std::atomic<int> g_enabled{-1};  // -1: not decided yet (read EMBER_CPU_CONV)
}  // namespace

bool available() {
#ifdef EMBER_WITH_DNNL
  return true;
#else
  return false;
#endif
}

bool enabled() {
  int v = g_enabled.load();
  if (v < 0) {
    const char* env = std::getenv("EMBER_CPU_CONV");
    v = available() && !(env && std::strcmp(env, "im2col") == 0);
    g_enabled.store(v);
  }
  return v == 1;
}

void set_enabled(bool on) { g_enabled.store(on && available()); }

}  // namespace dnnl_conv
}  // namespace cpu
}  // namespace ember

#ifdef EMBER_WITH_DNNL
#include <oneapi/dnnl/dnnl.hpp>

namespace ember {
namespace cpu {
namespace dnnl_conv {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// A tensor seen plain (user_md, Ember's layout) and as the primitive wants it (prim_md).
// When they differ, calls go through `buf` and a cached reorder.
struct Operand {
  memory::desc user_md, prim_md;
  bool needs_reorder = false;
  memory buf;                   // in prim_md, owned, when needs_reorder
  dnnl::reorder to_prim, to_user;
  void init(const memory::desc& user, const memory::desc& prim, bool in, bool out) {
    user_md = user, prim_md = prim;
    needs_reorder = user != prim;
    if (!needs_reorder) return;
    buf = memory(prim, engine());
    memory u(user, engine(), DNNL_MEMORY_NONE);
    if (in) to_prim = dnnl::reorder(u, buf);
    if (out) to_user = dnnl::reorder(buf, u);
  }
  // The memory the primitive reads or writes, after bringing `user` in when `in`.
  memory bind(dnnl::stream& s, void* user, bool in) {
    memory u(user_md, engine(), user);
    if (!needs_reorder) return u;
    if (in) to_prim.execute(s, u, buf);
    return buf;
  }
  void write_back(dnnl::stream& s, void* user) {
    if (!needs_reorder) return;
    memory u(user_md, engine(), user);
    to_user.execute(s, buf, u);
  }
};

struct Plans {
  memory::desc x_md, w_md, y_md;  // plain
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  Operand fx, fw, fy;
  bool have_bwd_data = false, have_bwd_weights = false;
  dnnl::convolution_backward_data bwd_data;
  Operand dgy, dw, dgx;
  dnnl::convolution_backward_weights bwd_weights;
  Operand wgy, wx, wgw;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t>;
Key key_of(const ConvGeom& g) { return {g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups}; }

std::mutex g_mu;
std::map<Key, std::unique_ptr<Plans>> g_plans;

memory::dims strides_of(const ConvGeom& g) { return {g.sh, g.sw}; }
memory::dims dilates_of(const ConvGeom& g) { return {g.dh - 1, g.dw - 1}; }
memory::dims pad_l(const ConvGeom& g) { return {g.ph, g.pw}; }
// Symmetric padding: oneDNN's output size (h + pl + pr - dilated kernel) / stride + 1, with
// floor division, is then ours.
memory::dims pad_r(const ConvGeom& g) { return pad_l(g); }

memory::desc weights_md(const ConvGeom& g, tag t) {
  if (g.groups == 1) return memory::desc({g.k, g.c, g.kh, g.kw}, dt::f32, t);
  return memory::desc({g.groups, g.k / g.groups, g.c / g.groups, g.kh, g.kw}, dt::f32, t == tag::any ? tag::any : tag::goihw);
}

Plans& plans_for(const ConvGeom& g) {
  auto& slot = g_plans[key_of(g)];
  if (slot) return *slot;
  auto p = std::make_unique<Plans>();
  p->x_md = memory::desc({g.n, g.c, g.h, g.w}, dt::f32, tag::nchw);
  p->y_md = memory::desc({g.n, g.k, g.oh, g.ow}, dt::f32, tag::nchw);
  p->w_md = weights_md(g, tag::oihw);
  const memory::desc x_any({g.n, g.c, g.h, g.w}, dt::f32, tag::any), y_any({g.n, g.k, g.oh, g.ow}, dt::f32, tag::any);
  const memory::desc w_any = weights_md(g, tag::any);
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, x_any, w_any,
                                     memory::desc(), y_any, strides_of(g), dilates_of(g), pad_l(g), pad_r(g));
  p->fwd_pd = dnnl::convolution_forward::primitive_desc(fd, engine());
  p->fwd = dnnl::convolution_forward(p->fwd_pd);
  p->fx.init(p->x_md, p->fwd_pd.src_desc(), true, false);
  p->fw.init(p->w_md, p->fwd_pd.weights_desc(), true, false);
  p->fy.init(p->y_md, p->fwd_pd.dst_desc(), false, true);
  slot = std::move(p);
  return *slot;
}

void ensure_bwd_data(const ConvGeom& g, Plans& p) {
  if (p.have_bwd_data) return;
  const memory::desc x_any({g.n, g.c, g.h, g.w}, dt::f32, tag::any), y_any({g.n, g.k, g.oh, g.ow}, dt::f32, tag::any);
  dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, x_any, weights_md(g, tag::any), y_any,
                                           strides_of(g), dilates_of(g), pad_l(g), pad_r(g));
  dnnl::convolution_backward_data::primitive_desc pd(bd, engine(), p.fwd_pd);
  p.bwd_data = dnnl::convolution_backward_data(pd);
  p.dgy.init(p.y_md, pd.diff_dst_desc(), true, false);
  p.dw.init(p.w_md, pd.weights_desc(), true, false);
  p.dgx.init(p.x_md, pd.diff_src_desc(), false, true);
  p.have_bwd_data = true;
}

void ensure_bwd_weights(const ConvGeom& g, Plans& p) {
  if (p.have_bwd_weights) return;
  const memory::desc x_any({g.n, g.c, g.h, g.w}, dt::f32, tag::any), y_any({g.n, g.k, g.oh, g.ow}, dt::f32, tag::any);
  dnnl::convolution_backward_weights::desc bd(dnnl::algorithm::convolution_direct, x_any, weights_md(g, tag::any), y_any,
                                              strides_of(g), dilates_of(g), pad_l(g), pad_r(g));
  dnnl::convolution_backward_weights::primitive_desc pd(bd, engine(), p.fwd_pd);
  p.bwd_weights = dnnl::convolution_backward_weights(pd);
  p.wgy.init(p.y_md, pd.diff_dst_desc(), true, false);
  p.wx.init(p.x_md, pd.src_desc(), true, false);
  p.wgw.init(p.w_md, pd.diff_weights_desc(), false, true);
  p.have_bwd_weights = true;
}

// Runs `body` under the lock, turning oneDNN's errors into Ember's (naming the geometry).
template <class F>
bool guarded(const char* what, const ConvGeom& g, F&& body) {
  if (!enabled() || g.n * g.c * g.h * g.w == 0 || g.k == 0) return false;
  std::lock_guard<std::mutex> lock(g_mu);
  try {
    body();
  } catch (const dnnl::error& e) {
    EMBER_FAIL("conv2d (oneDNN ", what, "): input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "], weight [", g.k, ", ",
               g.c / g.groups, ", ", g.kh, ", ", g.kw, "]: ", e.what(), " (EMBER_CPU_CONV=im2col avoids oneDNN)");
  }
  return true;
}

}  // namespace

bool forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  return guarded("forward", g, [&] {
    Plans& p = plans_for(g);
    dnnl::stream s(engine());
    memory mx = p.fx.bind(s, const_cast<float*>(x), true);
    memory mw = p.fw.bind(s, const_cast<float*>(w), true);
    memory my = p.fy.bind(s, y, false);
    p.fwd.execute(s, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}});
    p.fy.write_back(s, y);
    s.wait();
  });
}

bool backward_input(const ConvGeom& g, const float* gy, const float* w, float* gx) {
  return guarded("backward data", g, [&] {
    Plans& p = plans_for(g);
    ensure_bwd_data(g, p);
    dnnl::stream s(engine());
    memory mgy = p.dgy.bind(s, const_cast<float*>(gy), true);
    memory mw = p.dw.bind(s, const_cast<float*>(w), true);
    memory mgx = p.dgx.bind(s, gx, false);
    p.bwd_data.execute(s, {{DNNL_ARG_DIFF_DST, mgy}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mgx}});
    p.dgx.write_back(s, gx);
    s.wait();
  });
}

bool backward_weight(const ConvGeom& g, const float* gy, const float* x, float* gw) {
  return guarded("backward weights", g, [&] {
    Plans& p = plans_for(g);
    ensure_bwd_weights(g, p);
    dnnl::stream s(engine());
    memory mgy = p.wgy.bind(s, const_cast<float*>(gy), true);
    memory mx = p.wx.bind(s, const_cast<float*>(x), true);
    memory mgw = p.wgw.bind(s, gw, false);
    p.bwd_weights.execute(s, {{DNNL_ARG_DIFF_DST, mgy}, {DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_WEIGHTS, mgw}});
    p.wgw.write_back(s, gw);
    s.wait();
  });
}

}  // namespace dnnl_conv
}  // namespace cpu
}  // namespace ember

#else  // without oneDNN: every call declines, and Conv.cpp's im2col path runs

namespace ember {
namespace cpu {
namespace dnnl_conv {
bool forward(const ConvGeom&, const float*, const float*, float*) { return false; }
bool backward_input(const ConvGeom&, const float*, const float*, float*) { return false; }
bool backward_weight(const ConvGeom&, const float*, const float*, float*) { return false; }
}  // namespace dnnl_conv
}  // namespace cpu
}  // namespace ember

#endif
