// tensor/cpu/DimWalk.h: walking one dim of a strided view ([outer, n, inner] positions), shared by
// the CPU's arg_reduce (Reduce.cpp) and gather / scatter_add (Index.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "ember/tensor/Backend.h"
#include "ember/tensor/Error.h"

namespace ember {
namespace cpu {

// For [outer, n, inner] walks of one dim: the offsets of dim `dim`'s neighbours.
struct DimWalk {
  int64_t outer_count = 1;
  int64_t n = 1;
  int64_t stride = 0;
  // offset of the i-th (outer) position, all dims except `dim`
  const KView* v;
  int dim;
  int64_t offset(int64_t i) const {
    int64_t off = 0;
    for (int d = v->ndim - 1; d >= 0; --d) {
      if (d == dim) continue;
      off += (i % v->shape[d]) * v->strides[d];
      i /= v->shape[d];
    }
    return off;
  }
  // offset(i) for every i < outer_count, computed incrementally.
  std::vector<int64_t> offsets() const {
    std::vector<int64_t> out(static_cast<size_t>(outer_count));
    int64_t idx[kMaxDims] = {};
    int64_t off = 0;
    for (int64_t i = 0; i < outer_count; ++i) {
      out[static_cast<size_t>(i)] = off;
      for (int d = v->ndim - 1; d >= 0; --d) {  // odometer step over the dims except `dim`
        if (d == dim) continue;
        off += v->strides[d];
        if (++idx[d] < v->shape[d]) break;
        off -= v->strides[d] * v->shape[d];
        idx[d] = 0;
      }
    }
    return out;
  }
};
// Throws naming the first out-of-range index (called after the fast loop found one).
[[noreturn]] inline void report_bad_index(const char* op, const KView& index, int64_t size, int dim) {
  DimWalk w;
  w.v = &index;
  w.dim = -1;
  const int64_t* idx = reinterpret_cast<const int64_t*>(index.data);
  for (int64_t i = 0, n = index.numel(); i < n; ++i) {
    int64_t v = idx[w.offset(i)];
    if (v < 0 || v >= size) EMBER_FAIL(op, ": index ", v, " is out of range for dim ", dim, " of size ", size);
  }
  EMBER_FAIL(op, ": index out of range for dim ", dim, " of size ", size);
}

inline DimWalk walk(const KView& v, int dim) {
  DimWalk w;
  w.v = &v;
  w.dim = dim;
  w.n = v.shape[dim];
  w.stride = v.strides[dim];
  for (int d = 0; d < v.ndim; ++d)
    if (d != dim) w.outer_count *= v.shape[d];
  return w;
}

}  // namespace cpu
}  // namespace ember
