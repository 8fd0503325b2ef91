// tensor/Functors.h: one functor per line of ElementwiseOps.def, usable on host and
// device, plus the op-id enums that backends switch on.
#pragma once

#include <cstdint>

#include "tensor/Math.h"

namespace ember {

enum class UnaryOp : uint8_t {
#define EMBER_UNARY(Name, expr) Name,
#include "tensor/ElementwiseOps.def"
};

enum class BinaryOp : uint8_t {
#define EMBER_BINARY(Name, expr) Name,
#define EMBER_BINARY_FLOAT(Name, expr) Name,
#include "tensor/ElementwiseOps.def"
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
#include "tensor/ElementwiseOps.def"
}  // namespace fn

}  // namespace ember
