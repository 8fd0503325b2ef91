// tests/op_cases.cpp: the rows of the op-case table (see op_cases.h).
#include "op_cases.h"

#include <cmath>
#include <ostream>

namespace ember {
namespace testing {

namespace {
InputSpec S(Shape s, double lo = -2, double hi = 2) { return {std::move(s), lo, hi}; }
using L = const TensorList&;

// Fixed class-index targets for the loss rows (batch of 4, 5 classes).
Tensor labels4() { return from_vector<int64_t>({1, 0, 4, 2}); }
}  // namespace

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

TensorList make_inputs(const OpCase& c, DType dtype, Device device) {
  manual_seed(42);
  TensorList xs;
  for (const InputSpec& in : c.inputs) xs.push_back(uniform(in.shape, in.lo, in.hi, DType::f64).to(dtype).to(device));
  return xs;
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> v;
    auto unary = [&](std::string name, double lo, double hi, std::function<Tensor(const Tensor&)> f,
                     std::function<double(double)> ref) {
      OpCase c;
      c.name = std::move(name);
      c.inputs = {S({3, 4}, lo, hi)};
      c.fn = [f](L in) { return f(in[0]); };
      c.unary_ref = std::move(ref);
      v.push_back(c);
    };
    auto binary = [&](std::string name, InputSpec a, InputSpec b, std::function<Tensor(const Tensor&, const Tensor&)> f,
                      std::function<double(double, double)> ref) {
      OpCase c;
      c.name = std::move(name);
      c.inputs = {std::move(a), std::move(b)};
      c.fn = [f](L in) { return f(in[0], in[1]); };
      c.binary_ref = std::move(ref);
      v.push_back(c);
    };
    auto row = [&](std::string name, std::vector<InputSpec> inputs, std::function<Tensor(L)> f) {
      OpCase c;
      c.name = std::move(name);
      c.inputs = std::move(inputs);
      c.fn = std::move(f);
      v.push_back(c);
    };

    // --- unary ---------------------------------------------------------------
    unary("neg", -2, 2, [](const Tensor& x) { return -x; }, [](double x) { return -x; });
    unary("exp", -2, 2, [](const Tensor& x) { return x.exp(); }, [](double x) { return std::exp(x); });
    unary("log", 0.2, 3, [](const Tensor& x) { return x.log(); }, [](double x) { return std::log(x); });
    unary("log1p", -0.5, 2, [](const Tensor& x) { return log1p(x); }, [](double x) { return std::log1p(x); });
    unary("sqrt", 0.2, 3, [](const Tensor& x) { return x.sqrt(); }, [](double x) { return std::sqrt(x); });
    unary("abs", -2, 2, [](const Tensor& x) { return x.abs(); }, [](double x) { return std::fabs(x); });
    unary("sigmoid", -4, 4, [](const Tensor& x) { return x.sigmoid(); }, [](double x) { return 1 / (1 + std::exp(-x)); });
    unary("tanh", -2, 2, [](const Tensor& x) { return x.tanh(); }, [](double x) { return std::tanh(x); });
    unary("relu", -2, 2, [](const Tensor& x) { return x.relu(); }, [](double x) { return x > 0 ? x : 0; });
    unary("pow_scalar", 0.3, 2, [](const Tensor& x) { return x.pow(2.5); }, [](double x) { return std::pow(x, 2.5); });
    unary("square", -2, 2, [](const Tensor& x) { return x.pow(2); }, [](double x) { return x * x; });
    unary("clamp", -2, 2, [](const Tensor& x) { return x.clamp(-0.5, 0.7); },
          [](double x) { return std::min(std::max(x, -0.5), 0.7); });
    unary("add_scalar", -2, 2, [](const Tensor& x) { return x + 1.5; }, [](double x) { return x + 1.5; });
    unary("rsub_scalar", -2, 2, [](const Tensor& x) { return 1.5 - x; }, [](double x) { return 1.5 - x; });
    unary("mul_scalar", -2, 2, [](const Tensor& x) { return x * -3.0; }, [](double x) { return -3 * x; });
    unary("div_scalar", -2, 2, [](const Tensor& x) { return x / 4.0; }, [](double x) { return x / 4; });
    unary("rdiv_scalar", 0.5, 2, [](const Tensor& x) { return 2.0 / x; }, [](double x) { return 2 / x; });

    // --- binary with broadcasting ------------------------------------------------
    auto add = [](const Tensor& a, const Tensor& b) { return a + b; };
    auto sub = [](const Tensor& a, const Tensor& b) { return a - b; };
    auto mul = [](const Tensor& a, const Tensor& b) { return a * b; };
    auto divf = [](const Tensor& a, const Tensor& b) { return a / b; };
    binary("add", S({3, 4}), S({3, 4}), add, [](double a, double b) { return a + b; });
    binary("add_bcast_row", S({3, 4}), S({4}), add, [](double a, double b) { return a + b; });
    binary("add_bcast_both", S({2, 1, 3}), S({4, 1}), add, [](double a, double b) { return a + b; });
    binary("add_bcast_scalar", S({3, 4}), S({}), add, [](double a, double b) { return a + b; });
    binary("sub", S({3, 4}), S({3, 1}), sub, [](double a, double b) { return a - b; });
    binary("mul", S({2, 3}), S({2, 3}), mul, [](double a, double b) { return a * b; });
    binary("mul_bcast", S({4, 1}), S({1, 5}), mul, [](double a, double b) { return a * b; });
    binary("div", S({3, 4}), S({4}, 0.5, 2), divf, [](double a, double b) { return a / b; });
    binary("div_bcast_lhs", S({1, 4}, 0.5, 2), S({3, 4}, 0.5, 2), divf, [](double a, double b) { return a / b; });
    binary("pow", S({3, 4}, 0.5, 2), S({4}, -1, 2), [](const Tensor& a, const Tensor& b) { return pow(a, b); },
           [](double a, double b) { return std::pow(a, b); });
    binary("maximum", S({3, 4}), S({4}), [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
           [](double a, double b) { return std::max(a, b); });
    binary("minimum", S({3, 4}), S({3, 1}), [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
           [](double a, double b) { return std::min(a, b); });
    binary("xlogy", S({3, 4}, 0.1, 1), S({3, 4}, 0.5, 2), [](const Tensor& a, const Tensor& b) { return xlogy(a, b); },
           [](double a, double b) { return a == 0 ? 0 : a * std::log(b); });
    row("where", {S({3, 4}), S({3, 4}), S({4})},
        [](L in) { return where(gt(in[0], zeros_like(in[0])), in[1], in[2]); });
    row("masked_fill", {S({3, 4})}, [](L in) { return masked_fill(in[0], gt(in[0], zeros_like(in[0])), 0.25); });

    // --- reductions --------------------------------------------------------------
    row("sum_all", {S({3, 4})}, [](L in) { return in[0].sum(); });
    row("sum_dim0", {S({3, 4})}, [](L in) { return in[0].sum({0}); });
    row("sum_dim1_keep", {S({3, 4})}, [](L in) { return in[0].sum({1}, true); });
    row("sum_dims_02", {S({2, 3, 4})}, [](L in) { return in[0].sum({0, 2}); });
    row("mean_all", {S({3, 4})}, [](L in) { return in[0].mean(); });
    row("mean_dim_neg1", {S({2, 3, 4})}, [](L in) { return in[0].mean({-1}, true); });
    row("max_all", {S({3, 4})}, [](L in) { return in[0].max(); });
    row("max_dim1", {S({3, 4})}, [](L in) { return in[0].max({1}); });
    row("min_dim0_keep", {S({3, 4})}, [](L in) { return in[0].min({0}, true); });
    row("logsumexp_dim1", {S({3, 4})}, [](L in) { return in[0].logsumexp({1}); });
    row("logsumexp_dims", {S({2, 3, 4})}, [](L in) { return in[0].logsumexp({0, 2}, true); });

    // --- linear algebra ------------------------------------------------------------
    row("matmul_2d", {S({3, 4}), S({4, 5})}, [](L in) { return matmul(in[0], in[1]); });
    row("matmul_transposed", {S({4, 3}), S({5, 4})}, [](L in) { return matmul(in[0].t(), in[1].t()); });
    row("matmul_vec_mat", {S({4}), S({4, 5})}, [](L in) { return matmul(in[0], in[1]); });
    row("matmul_mat_vec", {S({3, 4}), S({4})}, [](L in) { return matmul(in[0], in[1]); });
    row("matmul_batched", {S({2, 3, 4}), S({2, 4, 5})}, [](L in) { return matmul(in[0], in[1]); });
    row("matmul_bcast_batch", {S({2, 1, 3, 4}), S({3, 4, 2})}, [](L in) { return matmul(in[0], in[1]); });
    row("matmul_3d_2d", {S({2, 3, 4}), S({4, 5})}, [](L in) { return matmul(in[0], in[1]); });
    row("linear", {S({3, 4}), S({5, 4}), S({5})}, [](L in) { return linear(in[0], in[1], in[2]); });
    row("linear_no_bias", {S({3, 4}), S({5, 4})}, [](L in) { return linear(in[0], in[1]); });
    row("linear_3d", {S({2, 3, 4}), S({5, 4}), S({5})}, [](L in) { return linear(in[0], in[1], in[2]); });

    // --- conv nets (NCHW) -------------------------------------------------------------
    auto conv = [](Size2 stride, Size2 pad, Size2 dil, int64_t groups) {
      Conv2dParams p;
      p.stride = stride, p.padding = pad, p.dilation = dil, p.groups = groups;
      return p;
    };
    row("conv2d", {S({2, 3, 5, 6}), S({4, 3, 3, 3}), S({4})},
        [=](L in) { return conv2d(in[0], in[1], in[2], conv({1, 1}, {0, 0}, {1, 1}, 1)); });
    row("conv2d_stride_pad", {S({2, 3, 7, 6}), S({4, 3, 3, 2})},
        [=](L in) { return conv2d(in[0], in[1], Tensor(), conv({2, 1}, {1, 2}, {1, 1}, 1)); });
    row("conv2d_dilation", {S({1, 2, 7, 7}), S({3, 2, 3, 3}), S({3})},
        [=](L in) { return conv2d(in[0], in[1], in[2], conv({1, 2}, {2, 1}, {2, 2}, 1)); });
    row("conv2d_groups", {S({2, 4, 5, 5}), S({6, 2, 3, 3}), S({6})},
        [=](L in) { return conv2d(in[0], in[1], in[2], conv({2, 2}, {1, 1}, {1, 1}, 2)); });
    row("conv2d_1x1", {S({2, 3, 4, 4}), S({5, 3, 1, 1})},
        [=](L in) { return conv2d(in[0], in[1], Tensor(), conv({1, 1}, {0, 0}, {1, 1}, 1)); });
    row("conv2d_1x1_stride2", {S({2, 3, 5, 5}), S({5, 3, 1, 1})},
        [=](L in) { return conv2d(in[0], in[1], Tensor(), conv({2, 2}, {0, 0}, {1, 1}, 1)); });
    row("conv2d_unbatched", {S({3, 5, 5}), S({2, 3, 3, 3})},
        [=](L in) { return conv2d(in[0], in[1], Tensor(), conv({1, 1}, {1, 1}, {1, 1}, 1)); });
    auto pool = [](Size2 k, Size2 s, Size2 p, bool ceil, bool count_pad) {
      Pool2dParams o;
      o.kernel = k, o.stride = s, o.padding = p, o.ceil_mode = ceil, o.count_include_pad = count_pad;
      return o;
    };
    row("max_pool2d", {S({2, 3, 7, 7})}, [=](L in) { return max_pool2d(in[0], pool({3, 3}, {2, 2}, {1, 1}, false, true)); });
    row("max_pool2d_ceil", {S({1, 2, 6, 7})}, [=](L in) { return max_pool2d(in[0], pool({2, 3}, {2, 2}, {0, 1}, true, true)); });
    row("avg_pool2d", {S({2, 3, 6, 6})}, [=](L in) { return avg_pool2d(in[0], pool({2, 2}, {0, 0}, {0, 0}, false, true)); });
    row("avg_pool2d_pad", {S({1, 2, 5, 6})}, [=](L in) { return avg_pool2d(in[0], pool({3, 3}, {2, 2}, {1, 1}, true, true)); });
    row("avg_pool2d_no_count_pad", {S({1, 2, 5, 6})},
        [=](L in) { return avg_pool2d(in[0], pool({3, 3}, {2, 2}, {1, 1}, false, false)); });
    row("adaptive_avg_pool2d", {S({2, 3, 5, 7})}, [](L in) { return adaptive_avg_pool2d(in[0], {3, 2}); });
    row("adaptive_avg_pool2d_1", {S({2, 3, 4, 4})}, [](L in) { return adaptive_avg_pool2d(in[0], {1, 1}); });
    row("adaptive_max_pool2d", {S({2, 3, 5, 7})}, [](L in) { return adaptive_max_pool2d(in[0], {2, 3}); });
    row("batch_norm_train", {S({4, 3, 2, 3}), S({3}, 0.5, 2), S({3})},
        [](L in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); });
    row("batch_norm_train_1d", {S({5, 4}), S({4}, 0.5, 2), S({4})},
        [](L in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); });
    row("batch_norm_train_no_affine", {S({3, 2, 4})}, [](L in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); });
    row("batch_norm_eval", {S({2, 3, 2, 2}), S({3}, 0.5, 2), S({3})}, [](L in) {
      Tensor rm = from_vector<double>({0.1, -0.2, 0.3}).to(in[0].dtype()).to(in[0].device());
      Tensor rv = from_vector<double>({0.5, 1.2, 2.0}).to(in[0].dtype()).to(in[0].device());
      return batch_norm(in[0], in[1], in[2], rm, rv, false);
    });

    row("layer_norm", {S({4, 3, 5}), S({3, 5}, 0.5, 2), S({3, 5})},
        [](L in) { return layer_norm(in[0], {3, 5}, in[1], in[2]); });
    row("layer_norm_last_dim", {S({6, 7})}, [](L in) { return layer_norm(in[0], {7}); });
    row("layer_norm_weight_only", {S({2, 3, 4}), S({4}, 0.5, 2)},
        [](L in) { return layer_norm(in[0], {4}, in[1], Tensor(), 1e-3); });

    // --- softmax family ------------------------------------------------------------
    row("softmax_dim1", {S({3, 5})}, [](L in) { return softmax(in[0], 1); });
    row("softmax_dim0", {S({3, 5})}, [](L in) { return softmax(in[0], 0); });
    row("log_softmax_dim1", {S({3, 5})}, [](L in) { return log_softmax(in[0], 1); });
    row("log_softmax_dim_mid", {S({2, 3, 4})}, [](L in) { return log_softmax(in[0], 1); });

    // --- losses --------------------------------------------------------------------
    row("cross_entropy", {S({4, 5})}, [](L in) { return cross_entropy(in[0], labels4().to(in[0].device())); });
    row("cross_entropy_sum", {S({4, 5})}, [](L in) {
      CrossEntropyOptions o;
      o.reduction = Reduction::Sum;
      return cross_entropy(in[0], labels4().to(in[0].device()), o);
    });
    row("cross_entropy_none", {S({4, 5})}, [](L in) {
      CrossEntropyOptions o;
      o.reduction = Reduction::None;
      return cross_entropy(in[0], labels4().to(in[0].device()), o);
    });
    row("cross_entropy_smoothing", {S({4, 5})}, [](L in) {
      CrossEntropyOptions o;
      o.label_smoothing = 0.1;
      return cross_entropy(in[0], labels4().to(in[0].device()), o);
    });
    row("cross_entropy_ignore", {S({4, 5})}, [](L in) {
      CrossEntropyOptions o;
      o.ignore_index = 4;
      return cross_entropy(in[0], labels4().to(in[0].device()), o);
    });
    row("cross_entropy_probs", {S({4, 5}), S({4, 5})}, [](L in) { return cross_entropy(in[0], softmax(in[1], 1)); });
    row("cross_entropy_spatial", {S({2, 5, 3})}, [](L in) {
      return cross_entropy(in[0], from_vector<int64_t>({0, 4, 2, 1, 1, 3}, {2, 3}).to(in[0].device()));
    });
    row("nll_loss", {S({4, 5})}, [](L in) { return nll_loss(log_softmax(in[0], 1), labels4().to(in[0].device())); });
    row("l1_loss", {S({3, 4}), S({3, 4})}, [](L in) { return l1_loss(in[0], in[1]); });
    row("l1_loss_sum", {S({3, 4}), S({3, 4})}, [](L in) { return l1_loss(in[0], in[1], Reduction::Sum); });
    row("mse_loss", {S({3, 4}), S({3, 4})}, [](L in) { return mse_loss(in[0], in[1]); });
    row("bce_with_logits", {S({3, 4}, -4, 4), S({3, 4}, 0, 1)}, [](L in) { return bce_with_logits(in[0], in[1]); });
    row("kl_div", {S({3, 4}), S({3, 4})}, [](L in) { return kl_div(log_softmax(in[0], 1), softmax(in[1], 1)); });
    row("kl_div_batchmean", {S({3, 4}), S({3, 4})},
        [](L in) { return kl_div(log_softmax(in[0], 1), softmax(in[1], 1), KLReduction::BatchMean); });

    // --- views, copies and indexing -------------------------------------------------
    row("reshape", {S({3, 4})}, [](L in) { return in[0].reshape({2, -1}) * 2.0; });
    row("reshape_noncontig", {S({3, 4})}, [](L in) { return in[0].t().reshape({12}); });
    row("permute", {S({2, 3, 4})}, [](L in) { return in[0].permute({2, 0, 1}).contiguous(); });
    row("transpose", {S({2, 3, 4})}, [](L in) { return in[0].transpose(0, 2) * 1.0; });
    row("narrow", {S({5, 4})}, [](L in) { return in[0].narrow(0, 1, 3); });
    row("slice_step", {S({3, 7})}, [](L in) { return in[0].slice(1, 1, 7, 2); });
    row("select", {S({3, 4})}, [](L in) { return in[0].select(1, -1); });
    row("expand", {S({3, 1})}, [](L in) { return in[0].expand({2, 3, 4}); });
    row("squeeze_unsqueeze", {S({3, 1, 4})}, [](L in) { return in[0].squeeze(1).unsqueeze(0) * 1.0; });
    row("flatten", {S({2, 3, 4})}, [](L in) { return in[0].flatten(1); });
    row("clone", {S({3, 4})}, [](L in) { return in[0].clone(); });
    row("cat", {S({2, 3}), S({4, 3})}, [](L in) { return cat({in[0], in[1]}, 0); });
    row("cat_dim1", {S({2, 3}), S({2, 1})}, [](L in) { return cat({in[0], in[1]}, 1); });
    row("stack", {S({2, 3}), S({2, 3})}, [](L in) { return stack({in[0], in[1]}, 1); });
    row("index_select", {S({4, 3})}, [](L in) { return index_select(in[0], 0, from_vector<int64_t>({3, 0, 3}).to(in[0].device())); });
    row("gather", {S({3, 4})},
        [](L in) { return gather(in[0], 1, from_vector<int64_t>({0, 3, 1, 1, 2, 2}, {3, 2}).to(in[0].device())); });
    row("scatter_add", {S({3, 4}), S({3, 2})}, [](L in) {
      return scatter_add(in[0], 1, from_vector<int64_t>({0, 3, 1, 1, 2, 0}, {3, 2}).to(in[0].device()), in[1]);
    });
    row("topk_values", {S({3, 5})}, [](L in) { return topk(in[0], 2, 1).first; });
    return v;
  }();
  return cases;
}

}  // namespace testing
}  // namespace ember
