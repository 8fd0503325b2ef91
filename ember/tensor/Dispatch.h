// tensor/Dispatch.h: run a generic lambda with the C++ type that matches a DType.
//
//   dispatch_float(t.dtype(), "exp", [&](auto tag) { using T = decltype(tag); ... });
//
// An unsupported dtype throws "<op>: dtype i64 is not supported".
#pragma once

#include <cstdint>

#include "ember/tensor/Device.h"
#include "ember/tensor/Error.h"

namespace ember {

template <class F>
decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: EMBER_FAIL(op, ": dtype ", dtype_name(t), " is not supported (needs f32 or f64)");
  }
}

// f32, f64, i64: arithmetic and comparisons.
template <class F>
decltype(auto) dispatch_numeric(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    default: EMBER_FAIL(op, ": dtype ", dtype_name(t), " is not supported (needs f32, f64 or i64)");
  }
}

template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
  }
  return f(float{});
}

}  // namespace ember
