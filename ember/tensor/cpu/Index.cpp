// tensor/cpu/Index.cpp: gather and scatter_add on the CPU (index_select, gather, one_hot,
// embedding-style lookups and their backward).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/cpu/CpuBackend.h"
#include "ember/tensor/cpu/DimWalk.h"
#include "ember/tensor/cpu/Loops.h"

namespace ember {
namespace cpu {

// gather and scatter_add walk `dim` in the outer loop and every other position in the
// inner one (offsets precomputed), so gathering rows of a row-major matrix reads and
// writes whole rows: index_select(x, 0, idx) runs at memory speed.
void CpuBackend::gather(const KView& dst, const KView& src, const KView& index, int dim) {
  dispatch_all(src.dtype, [&](auto tag) {
    using T = decltype(tag);
    DimWalk wd = walk(dst, dim), wi = walk(index, dim), ws = walk(src, dim);
    std::vector<int64_t> od = wd.offsets(), oi = wi.offsets(), os = ws.offsets();
    const int64_t* idx = reinterpret_cast<const int64_t*>(index.data);
    T* out = reinterpret_cast<T*>(dst.data);
    const T* in = reinterpret_cast<const T*>(src.data);
    const int64_t m = wd.outer_count;
    bool bad = false;
    // Whole rows (index_select of rows): one index per j, contiguous rows in and out.
    bool rows = true;
    for (int64_t i = 0; i < m && rows; ++i) rows = oi[i] == 0 && od[i] == i && os[i] == i;
    if (rows) {
#pragma omp parallel for if (wd.n * m >= 2 * kParallelGrain) schedule(static) reduction(|| : bad)
      for (int64_t j = 0; j < wd.n; ++j) {
        int64_t v = idx[j * wi.stride];
        if (v < 0 || v >= ws.n) { bad = true; continue; }
        std::memcpy(out + j * wd.stride, in + v * ws.stride, static_cast<size_t>(m) * sizeof(T));
      }
      if (bad) report_bad_index("gather", index, ws.n, dim);
      return;
    }
#pragma omp parallel for if (wd.n * m >= 2 * kParallelGrain) schedule(static) reduction(|| : bad)
    for (int64_t j = 0; j < wd.n; ++j) {
      T* o = out + j * wd.stride;
      const int64_t* ix = idx + j * wi.stride;
      for (int64_t i = 0; i < m; ++i) {
        int64_t v = ix[oi[i]];
        if (v < 0 || v >= ws.n) { bad = true; continue; }
        o[od[i]] = in[os[i] + v * ws.stride];
      }
    }
    if (bad) report_bad_index("gather", index, ws.n, dim);
  });
}

void CpuBackend::scatter_add(const KView& dst, const KView& src, const KView& index, int dim) {
  dispatch_numeric(src.dtype, "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    DimWalk wd = walk(dst, dim), wi = walk(index, dim), ws = walk(src, dim);
    std::vector<int64_t> od = wd.offsets(), oi = wi.offsets(), os = ws.offsets();
    const int64_t* idx = reinterpret_cast<const int64_t*>(index.data);
    T* out = reinterpret_cast<T*>(dst.data);
    const T* in = reinterpret_cast<const T*>(src.data);
    for (int64_t j = 0; j < ws.n; ++j) {
      const T* s = in + j * ws.stride;
      const int64_t* ix = idx + j * wi.stride;
      for (int64_t i = 0; i < ws.outer_count; ++i) {
        int64_t v = ix[oi[i]];
        if (v < 0 || v >= wd.n) report_bad_index("scatter_add", index, wd.n, dim);
        out[od[i] + v * wd.stride] += s[os[i]];
      }
    }
  });
}

void CpuBackend::check_range(const KView& values, int64_t lo, int64_t hi, const std::string& message) {
  EMBER_CHECK(values.dtype == DType::i64, "check_range: values must be i64, got ", dtype_name(values.dtype));
  const int64_t n = values.numel();
  const int64_t* base = reinterpret_cast<const int64_t*>(values.data);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0, rem = i;
    for (int d = values.ndim - 1; d >= 0; --d) {
      off += (rem % values.shape[d]) * values.strides[d];
      rem /= values.shape[d];
    }
    const int64_t v = base[off];
    if (v < lo || v >= hi) EMBER_FAIL(format_check_message(message, v));
  }
}

}  // namespace cpu
}  // namespace ember
