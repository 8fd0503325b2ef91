// autograd/ops/index.cpp: gather, scatter_add, index_select, one_hot, topk, masked_fill.
//
//   gather:       out[i][j] = x[i][index[i][j]]          (dim = 1)
//   backward:     dx[i][index[i][j]] += dout[i][j]       (a scatter_add)
// index_select is gather with a broadcast index, so both share the two kernels.
#include "ember/autograd/ops/index.h"

#include <algorithm>
#include <numeric>

#include "ember/autograd/Ops.h"
#include "ember/autograd/Node.h"
#include "ember/tensor/Raw.h"

namespace ember {

namespace {

void check_index(const char* op, const Tensor& x, const Tensor& index) {
  raw::check_same_device(op, x, index);
  EMBER_CHECK(index.dtype() == DType::i64, op, ": index must have dtype i64, got ", dtype_name(index.dtype()));
}

// x narrowed to `shape` in every dim but `dim` (gather/scatter only read that part);
// with dim = -1, in every dim (scatter_add's src is read only where index has entries).
Tensor fit_to(const char* op, const Tensor& x, const Shape& shape, int64_t dim, const char* what) {
  EMBER_CHECK(x.dim() == static_cast<int64_t>(shape.size()), op, ": index ", fmt(shape), " and ", what, " ",
              fmt(x.shape()), " need the same number of dims");
  Tensor v = x;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim) continue;
    EMBER_CHECK(shape[d] <= x.shape()[d], op, ": index ", fmt(shape), " is larger than ", what, " ",
                fmt(x.shape()), " in dim ", d);
    if (shape[d] != x.shape()[d]) {
      Shape s = v.shape();
      s[d] = shape[d];
      v = raw::as_view(v, s, v.strides(), v.offset());
    }
  }
  return v;
}

// dst (a fresh tensor) += scatter of src by index along dim; no history.
void scatter_add_into(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  if (index.numel() == 0) return;
  Tensor d = fit_to("scatter_add", dst, index.shape(), dim, "input");
  Tensor s = fit_to("scatter_add", src, index.shape(), -1, "src");
  Shape ds = index.shape();
  ds[dim] = dst.shape()[dim];
  d = raw::as_view(d, ds, d.strides(), d.offset());
  backend_for(dst.device()).scatter_add(kview(d), kview(s), kview(index), static_cast<int>(dim));
  raw::bump_version(dst);
}

Tensor gather_raw(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = empty(index.shape(), TensorOptions(x.dtype(), x.device()));
  if (out.numel() == 0) return out;
  Tensor src = fit_to("gather", x, index.shape(), dim, "input");
  Shape ss = index.shape();
  ss[dim] = x.shape()[dim];
  src = raw::as_view(src, ss, src.strides(), src.offset());
  backend_for(x.device()).gather(kview(out), kview(src), kview(index), static_cast<int>(dim));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index("gather", x, index);
  dim = wrap_dim(dim, x.dim(), "gather");
  Tensor y = gather_raw(x, dim, index);
  if (needs_grad({x}))
    record("gather", {x}, y, [shape = x.shape(), dim, idx = save("gather", index)](const Tensor& g) {
      Tensor gx = zeros(shape, TensorOptions(g.dtype(), g.device()));
      scatter_add_into(gx, dim, idx.get(), g);
      return TensorList{gx};
    });
  return y;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index("scatter_add", x, index);
  raw::check_same_dtype("scatter_add", x, src);
  dim = wrap_dim(dim, x.dim(), "scatter_add");
  Tensor y = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  raw::copy(y, x);
  scatter_add_into(y, dim, index, src);
  if (needs_grad({x, src}))
    record("scatter_add", {x, Tensor(), src}, y, [dim, idx = save("scatter_add", index), src_shape = src.shape()](const Tensor& g) {
      Tensor gs = gather_raw(g, dim, idx.get());
      if (gs.shape() != src_shape) {  // src larger than index: zero grads outside it
        Tensor full_gs = zeros(src_shape, TensorOptions(g.dtype(), g.device()));
        raw::copy(fit_to("scatter_add", full_gs, gs.shape(), -1, "src"), gs);
        gs = full_gs;
      }
      return TensorList{g, Tensor(), gs};
    });
  return y;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index("index_select", x, index);
  EMBER_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got ", fmt(index.shape()));
  dim = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = index.reshape({index.numel()});
  // [n] -> [1, .., n, .., 1] -> broadcast to the output's shape.
  Shape one(static_cast<size_t>(x.dim()), 1), out_shape = x.shape();
  one[dim] = idx.numel();
  out_shape[dim] = idx.numel();
  Tensor full_idx = raw::expand(raw::as_view(idx, one, contiguous_strides(one), idx.offset()), out_shape);
  return gather(x, dim, full_idx);
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
  EMBER_CHECK(labels.dtype() == DType::i64, "one_hot: labels must have dtype i64, got ", dtype_name(labels.dtype()));
  EMBER_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got ", num_classes);
  // On a GPU checked on the device, reported at the next read from it (Backend::check_range).
  backend_for(labels.device())
      .check_range(kview(labels), 0, num_classes,
                   "one_hot: label {} is out of range: labels must be in [0, " + std::to_string(num_classes) + ")");
  Shape s = labels.shape();
  s.push_back(num_classes);
  Tensor out = zeros(s, TensorOptions(DType::i64, labels.device()));
  Tensor idx = labels.unsqueeze(-1).detach();
  scatter_add_into(out, out.dim() - 1, idx, raw::expand(ones({}, TensorOptions(DType::i64, labels.device())), idx.shape()));
  return out.to(dtype);
}

// topk runs on the host (k is small in practice): a partial sort per row.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest) {
  dim = wrap_dim(dim, x.dim(), "topk");
  const int64_t n = x.dim() ? x.shape()[dim] : 1;
  EMBER_CHECK(k >= 0 && k <= n, "topk: k = ", k, " is out of range for dim ", dim, " of size ", n);
  const int64_t last = x.dim() - 1;
  Tensor xt = x.dim() ? x.detach().transpose(dim, last) : x.detach().reshape({1});
  Tensor h = raw::contiguous(xt.to(Device::cpu()).to(DType::f64));
  const int64_t rows = n ? h.numel() / n : 0;
  Shape s = h.shape();
  s.back() = k;
  Tensor idx = empty(s, DType::i64);
  const double* v = h.data<double>();
  int64_t* out = idx.data<int64_t>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = v + r * n;
    std::iota(order.begin(), order.end(), 0);
    auto better = [&](int64_t a, int64_t b) {
      if (row[a] != row[b]) return largest ? row[a] > row[b] : row[a] < row[b];
      return a < b;
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
    std::copy(order.begin(), order.begin() + k, out + r * k);
  }
  Tensor index = idx.to(x.device());
  if (x.dim()) index = index.transpose(dim, last).contiguous();
  else index = index.reshape({});
  Tensor values = x.dim() ? gather(x, dim, index) : x.clone();
  return {values, index};
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  return where(mask, full({}, value, TensorOptions(x.dtype(), x.device())), x);
}

}  // namespace ember
