// tensor/Raw.h: tensor computations without autograd.
//
// The differentiable ops in autograd/ops/ do their forward work through these
// functions and then record a backward. Nothing here records history, so these
// are also what backward functions and the printer use.
#pragma once

#include "ember/tensor/Backend.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace raw {

// A new tensor with the given layout over `base`'s storage (no history).
Tensor as_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// Broadcast view: stride 0 on new or size-1 dims. Caller has checked compatibility.
Tensor expand(const Tensor& t, const Shape& shape);
Tensor contiguous(const Tensor& t);
// A copy with another dtype and/or on another device; `t` itself when both already match.
Tensor to(const Tensor& t, DType dtype, Device device);
// dst and src have the same shape; any dtypes; any devices.
void copy(const Tensor& dst, const Tensor& src);
void bump_version(const Tensor& t);

Tensor unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
// Broadcasts a and b; both must have the same dtype. `name` is used in errors.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, double p0 = 0, double p1 = 0);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// dims already wrapped and sorted; empty means all dims.
Tensor reduce(ReduceOp op, const Tensor& x, const Dims& dims, bool keepdim, double scale = 1.0);
Tensor arg_reduce(bool is_max, const Tensor& x, int64_t dim, bool keepdim);

// The fused optimizer steps of tensor/OptimMath.h, in place on contiguous p (and its state):
// SGD with an optional momentum buffer (undefined when momentum is 0), Adam with m and v.
// They bump p's version.
void sgd_step(const Tensor& p, const Tensor& grad, const Tensor& buf, const SgdStep& a);
void adam_step(const Tensor& p, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamStep& a);

// Checks every tensor sits on the same device; names the op and both devices otherwise.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
// Wraps, sorts and de-duplicates dims; {} means all.
Dims normalize_dims(const Dims& dims, int64_t ndim, const char* op);

}  // namespace raw
}  // namespace ember
