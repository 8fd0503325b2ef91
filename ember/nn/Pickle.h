// nn/Pickle.h: a small unpickler for PyTorch state_dicts (used by nn/Pth.h).
//
// It runs no code. It implements the opcodes that torch.save writes for a state_dict
// (protocols 2-5): PROTO, FRAME, STOP, MARK, POP, POP_MARK, DUP, NONE, NEWTRUE,
// NEWFALSE, BININT, BININT1, BININT2, LONG1, LONG4, BINFLOAT, BINUNICODE,
// SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING, BINBYTES,
// SHORT_BINBYTES, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, TUPLE, TUPLE1-3, LIST, DICT,
// APPEND(S), SETITEM(S), BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET, GLOBAL,
// STACK_GLOBAL, REDUCE, BUILD and BINPERSID. Any other opcode is an error naming it.
//
// What a global means, what calling one (REDUCE) makes and what a persistent id
// (BINPERSID) refers to is decided by the caller's Hooks: the .pth reader allows a
// short list of torch globals and refuses every other one. BUILD keeps the object and
// drops the state (an OrderedDict's `_metadata`).
//
// Hostile input: every length is checked against the bytes left before anything is
// allocated; the MARK nesting, the stack, the nesting of containers and the memo are
// bounded by PickleLimits; objects are freed without recursion, so a deep chain built
// through the memo cannot overflow the C++ stack.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ember {
namespace nn {
namespace pickle {

struct Object;
using Ref = std::shared_ptr<Object>;

enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Dict, Global, Opaque };

struct Object {
  Kind kind = Kind::None;
  int64_t i = 0;                         // Bool, Int
  double f = 0;                          // Float
  std::string s;                         // String, Bytes, BigInt (little-endian bytes),
                                         // Global ("module.name"), Opaque (its tag)
  std::vector<Ref> items;                // Tuple, List
  std::vector<std::pair<Ref, Ref>> dict; // Dict, in insertion order
  std::shared_ptr<void> payload;         // Opaque: what a hook made
  int depth = 0;                         // container nesting below this object
  ~Object();                             // frees children iteratively
};

const char* kind_name(Kind k);  // "int", "tuple", ...
Ref make(Kind k);

struct PickleLimits {
  size_t max_depth = 1000;       // MARK nesting and container nesting
  size_t max_stack = 1'000'000;  // values on the stack
  size_t max_memo = 10'000'000;  // memo entries
};

struct Hooks {
  std::function<Ref(const std::string& module, const std::string& name)> find_class;  // GLOBAL
  std::function<Ref(const Ref& callable, const Ref& args)> reduce;                     // REDUCE
  std::function<Ref(const Ref& pid)> persistent_load;                                  // BINPERSID
};

// Where the pickle bytes come from: memory, or a file read in order (legacy .pth).
class Source {
 public:
  virtual ~Source() = default;
  virtual bool read(void* dst, size_t n) = 0;  // false when fewer than n bytes are left
  virtual uint64_t remaining() const = 0;
  virtual uint64_t pos() const = 0;
};

class MemorySource : public Source {
 public:
  MemorySource(const char* data, size_t size) : data_(data), size_(size) {}
  bool read(void* dst, size_t n) override;
  uint64_t remaining() const override { return size_ - pos_; }
  uint64_t pos() const override { return pos_; }

 private:
  const char* data_;
  size_t size_, pos_ = 0;
};

// Unpickles one pickle (up to its STOP). `context` starts every error message, e.g.
// "load_pth: /x/w.pth"; errors read "<context>: pickle ...".
Ref unpickle(Source& src, const std::string& context, const Hooks& hooks, const PickleLimits& limits = {});

}  // namespace pickle
}  // namespace nn
}  // namespace ember
