// tensor/Functors.h: one functor per line of ElementwiseOps.def, usable on host and
// device, plus the op-id enums that backends switch on.
#pragma once

#include <cstdint>

#include "ember/tensor/Dispatch.h"
#include "ember/tensor/Math.h"

namespace ember {

enum class UnaryOp : uint8_t {
#define EMBER_UNARY(Name, expr) Name,
#include "ember/tensor/ElementwiseOps.def"
};

enum class BinaryOp : uint8_t {
#define EMBER_BINARY(Name, expr) Name,
#define EMBER_BINARY_FLOAT(Name, expr) Name,
#include "ember/tensor/ElementwiseOps.def"
};

const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);
bool binary_is_float_only(BinaryOp op);

namespace fn {
#define EMBER_UNARY(Name, expr)                                        \
  struct Name {                                                        \
    template <class T>                                                 \
    EMBER_HD T operator()(T x, T p0, T p1) const {                     \
      (void)p0;                                                        \
      (void)p1;                                                        \
      return expr;                                                     \
    }                                                                  \
  };
#define EMBER_BINARY(Name, expr)                                       \
  struct Name {                                                        \
    template <class T>                                                 \
    EMBER_HD T operator()(T a, T b, T p0, T p1) const {                \
      (void)p0;                                                        \
      (void)p1;                                                        \
      return expr;                                                     \
    }                                                                  \
  };
#define EMBER_BINARY_FLOAT(Name, expr) EMBER_BINARY(Name, expr)
#include "ember/tensor/ElementwiseOps.def"
}  // namespace fn

// The one switch over the list, shared by both backends: runs f(T{}, fn::Name{}) with the C++
// type of dtype `t` and the functor of `op`. Float-only kernels are instantiated for f32/f64
// only; the others also for i64. An unsupported dtype throws naming the op ("exp: dtype i64 ...").
template <class F>
void dispatch_unary(UnaryOp op, DType t, F&& f) {
  dispatch_float(t, op_name(op), [&](auto tag) {
    switch (op) {
#define EMBER_UNARY(Name, expr) \
  case UnaryOp::Name: f(tag, fn::Name{}); break;
#include "ember/tensor/ElementwiseOps.def"
    }
  });
}

template <class F>
void dispatch_binary(BinaryOp op, DType t, F&& f) {
  if (binary_is_float_only(op)) {
    dispatch_float(t, op_name(op), [&](auto tag) {
      switch (op) {
#define EMBER_BINARY_FLOAT(Name, expr) \
  case BinaryOp::Name: f(tag, fn::Name{}); break;
#include "ember/tensor/ElementwiseOps.def"
        default: break;
      }
    });
    return;
  }
  dispatch_numeric(t, op_name(op), [&](auto tag) {
    switch (op) {
#define EMBER_BINARY(Name, expr) \
  case BinaryOp::Name: f(tag, fn::Name{}); break;
#include "ember/tensor/ElementwiseOps.def"
      default: break;
    }
  });
}

}  // namespace ember
