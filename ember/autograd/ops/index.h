// autograd/ops/index.h: indexing: index_select, gather, scatter_add, one_hot, topk, masked_fill.
// Defined, with their backward, in autograd/ops/index.cpp.
#pragma once

#include <cstdint>
#include <utility>

#include "ember/tensor/Tensor.h"

namespace ember {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: 1-D i64
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);        // index: same ndim, i64
// out = x with out[...index[i]...] += src[i] along dim (not in place).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::f32);
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

}  // namespace ember
