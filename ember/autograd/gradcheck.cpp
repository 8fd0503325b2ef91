// autograd/gradcheck.cpp: finite-difference gradient checking (see gradcheck.h).
#include "ember/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "ember/tensor/Random.h"

namespace ember {

namespace {
std::string index_str(int64_t flat, const Shape& shape) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return fmt(idx);
}
}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                          GradcheckOptions opt) {
  // f64 CPU leaf copies of the inputs.
  TensorList xs;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().to(Device::cpu());
    c = is_floating(c.dtype()) ? c.to(DType::f64).clone() : c.clone();
    if (is_floating(c.dtype())) c.requires_grad_(true);
    xs.push_back(c);
  }
  Generator saved = default_generator();
  Tensor out0;
  {
    NoGradGuard ng;
    out0 = fn(xs);
  }
  EMBER_CHECK(out0.defined() && is_floating(out0.dtype()), "gradcheck: fn must return a float tensor");

  for (int dir = 0; dir < opt.directions; ++dir) {
    manual_seed(opt.seed + static_cast<uint64_t>(dir));
    Tensor v = randn(out0.shape(), DType::f64);
    default_generator() = saved;
    auto loss = [&](const TensorList& in) { return (fn(in) * v).sum(); };

    for (Tensor& x : xs)
      if (x.requires_grad()) x.set_grad(Tensor());
    default_generator() = saved;
    // backward(v) gives v^T J = dL/dx directly, so gradcheck runs only fn's own backward
    // (not those of * and sum): a student workspace can check exercise 1 before 2 and 4.
    Tensor y = fn(xs);
    if (!y.requires_grad()) return {false, "gradcheck: the output does not depend on any float input"};
    y.backward(v);

    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor& x = xs[i];
      if (!x.requires_grad()) continue;
      Tensor analytic = x.grad().defined() ? x.grad().contiguous() : zeros_like(x);
      const double* ga = analytic.data<double>();
      double* px = x.data<double>();
      for (int64_t e = 0; e < x.numel(); ++e) {
        const double orig = px[e];
        double lp, lm;
        {
          NoGradGuard ng;
          px[e] = orig + opt.eps;
          default_generator() = saved;
          lp = loss(xs).item();
          px[e] = orig - opt.eps;
          default_generator() = saved;
          lm = loss(xs).item();
          px[e] = orig;
        }
        const double numeric = (lp - lm) / (2 * opt.eps);
        if (!(std::fabs(ga[e] - numeric) <= opt.atol + opt.rtol * std::fabs(numeric))) {
          std::ostringstream os;
          os.precision(10);
          os << "gradcheck: input " << i << " " << fmt(x.shape()) << ", element " << index_str(e, x.shape())
             << ": analytic " << ga[e] << " vs numeric " << numeric << " (direction " << dir << ")";
          default_generator() = saved;
          return {false, os.str()};
        }
      }
    }
  }
  default_generator() = saved;
  return {};
}

}  // namespace ember
