// nn/Pickle.cpp: the opcode loop of the state_dict unpickler (see nn/Pickle.h).
#include "ember/nn/Pickle.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "ember/tensor/Error.h"

namespace ember {
namespace nn {
namespace pickle {

Object::~Object() {
  // Move children to a worklist; a child we hold the last reference to gives up its
  // own children before it dies, so no destructor recurses.
  std::vector<Ref> pending;
  auto take = [&](Object& o) {
    for (auto& r : o.items) pending.push_back(std::move(r));
    for (auto& [k, v] : o.dict) {
      pending.push_back(std::move(k));
      pending.push_back(std::move(v));
    }
    o.items.clear();
    o.dict.clear();
  };
  take(*this);
  while (!pending.empty()) {
    Ref r = std::move(pending.back());
    pending.pop_back();
    if (r && r.use_count() == 1) take(*r);
  }
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Opaque: return "object";
  }
  return "?";
}

Ref make(Kind k) {
  auto r = std::make_shared<Object>();
  r->kind = k;
  return r;
}

bool MemorySource::read(void* dst, size_t n) {
  if (n > size_ - pos_) return false;
  if (n) std::memcpy(dst, data_ + pos_, n);
  pos_ += n;
  return true;
}

namespace {

class Machine {
 public:
  Machine(Source& src, const std::string& context, const Hooks& hooks, const PickleLimits& limits)
      : src_(src), context_(context), hooks_(hooks), limits_(limits) {}
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;
  ~Machine() {
    if (done_) return;
    for (auto& c : mutated_) {  // cut every edge a cycle could use, so shared_ptr frees it all
      c->items.clear();
      c->dict.clear();
    }
  }

  Ref run() {
    for (;;) {
      op_pos_ = src_.pos();
      op_ = u8("an opcode");
      if (op_ == '.') {  // STOP
        if (stack_.size() != 1) fail("STOP with ", stack_.size(), " values on the stack (expected 1)");
        if (has_cycle())
          fail("holds a container that contains itself (a cycle, made with DUP or the memo); a state_dict has none");
        done_ = true;
        return stack_.back();
      }
      step();
    }
  }

 private:
  Source& src_;
  const std::string& context_;
  const Hooks& hooks_;
  const PickleLimits& limits_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
  uint64_t op_pos_ = 0;
  uint8_t op_ = 0;
  // Containers changed after they were made (APPEND(S), SETITEM(S)). Only such a change can close a
  // cycle (a list appended to itself through DUP or the memo; found by fuzz/fuzz_pth.cpp as a leak,
  // since shared_ptr never frees a cycle). run() refuses a result with a cycle, and unless run()
  // returned, the destructor empties these containers, which breaks every cycle.
  std::vector<Ref> mutated_;
  std::unordered_set<const Object*> mutated_set_;
  bool done_ = false;

  void mutating(const Ref& c) {
    if (mutated_set_.insert(c.get()).second) mutated_.push_back(c);
  }
  static const Object* child(const Object& o, size_t j) {
    if (j < o.items.size()) return o.items[j].get();
    j -= o.items.size();
    return j % 2 ? o.dict[j / 2].second.get() : o.dict[j / 2].first.get();
  }
  // Depth-first search from the changed containers, without recursion (1: on the path, 2: done).
  bool has_cycle() const {
    std::unordered_map<const Object*, int> colour;
    for (const Ref& root : mutated_) {
      if (colour[root.get()]) continue;
      colour[root.get()] = 1;
      std::vector<std::pair<const Object*, size_t>> path{{root.get(), 0}};
      while (!path.empty()) {
        const Object* o = path.back().first;
        size_t j = path.back().second++;
        if (j == o->items.size() + 2 * o->dict.size()) {
          colour[o] = 2;
          path.pop_back();
          continue;
        }
        const Object* c = child(*o, j);
        int& cc = colour[c];
        if (cc == 1) return true;
        if (cc == 0 && (!c->items.empty() || !c->dict.empty())) {
          cc = 1;
          path.emplace_back(c, 0);
        }
      }
    }
    return false;
  }

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) {
    EMBER_FAIL(context_, ": pickle ", parts...);
  }

  // --- reading ---------------------------------------------------------------------
  void bytes(void* dst, size_t n, const char* what) {
    if (!src_.read(dst, n))
      fail("is truncated: ", what, " at byte ", src_.pos(), " needs ", n, " bytes but only ", src_.remaining(),
           " are left (truncated file?)");
  }
  template <class T>
  T le(const char* what) {  // little-endian integer
    unsigned char b[sizeof(T)];
    bytes(b, sizeof(T), what);
    uint64_t v = 0;
    for (int i = int(sizeof(T)) - 1; i >= 0; --i) v = (v << 8) | b[i];
    return static_cast<T>(v);
  }
  uint8_t u8(const char* what) { return le<uint8_t>(what); }
  std::string text(uint64_t n, const char* what) {
    if (n > src_.remaining())
      fail("is truncated: ", what, " at byte ", src_.pos(), " claims ", n, " bytes but only ", src_.remaining(),
           " are left (truncated file?)");
    std::string s(static_cast<size_t>(n), '\0');
    bytes(s.data(), s.size(), what);
    return s;
  }
  std::string line(const char* what) {  // GLOBAL's newline-terminated names
    std::string s;
    for (;;) {
      char c = static_cast<char>(u8(what));
      if (c == '\n') return s;
      if (s.size() >= 256) fail(what, " at byte ", op_pos_, " is longer than 256 characters");
      s += c;
    }
  }

  // --- the stack ---------------------------------------------------------------------
  void push(Ref r) {
    if (stack_.size() >= limits_.max_stack)
      fail("stack holds more than ", limits_.max_stack, " values (PickleLimits::max_stack; a nesting bomb?)");
    stack_.push_back(std::move(r));
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back()))
      fail("opcode ", op_name(), " at byte ", op_pos_, " pops an empty stack (corrupt file?)");
    Ref r = std::move(stack_.back());
    stack_.pop_back();
    return r;
  }
  Ref& top() {
    if (stack_.empty()) fail("opcode ", op_name(), " at byte ", op_pos_, " needs a value on the stack (corrupt file?)");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("opcode ", op_name(), " at byte ", op_pos_, " has no MARK before it (corrupt file?)");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  // A container gets one level deeper than its deepest child.
  void nest(Object& parent, const Ref& child) {
    int d = child->depth + 1;
    if (static_cast<size_t>(d) > limits_.max_depth)
      fail("nests containers deeper than ", limits_.max_depth, " (PickleLimits::max_depth; a nesting bomb?)");
    if (d > parent.depth) parent.depth = d;
  }
  Ref container(Kind k, std::vector<Ref> items) {
    Ref r = make(k);
    for (auto& c : items) nest(*r, c);
    r->items = std::move(items);
    return r;
  }
  Ref integer(int64_t v) {
    Ref r = make(Kind::Int);
    r->i = v;
    return r;
  }
  Ref string(Kind k, std::string s) {
    Ref r = make(k);
    r->s = std::move(s);
    return r;
  }
  void memo_put(uint64_t idx) {
    if (memo_.size() >= limits_.max_memo && !memo_.count(idx))
      fail("memo holds more than ", limits_.max_memo, " entries (PickleLimits::max_memo)");
    memo_[idx] = top();
  }
  Ref memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("asks for memo entry ", idx, " at byte ", op_pos_, ", which was never stored");
    return it->second;
  }
  Object& expect(const Ref& r, Kind k, const char* what) {
    if (r->kind != k) fail(what, " at byte ", op_pos_, " needs a ", kind_name(k), ", got a ", kind_name(r->kind));
    return *r;
  }
  void set_items(Object& d, std::vector<Ref>& kv) {
    if (kv.size() % 2) fail("SETITEMS at byte ", op_pos_, " has an odd number of values");
    for (size_t j = 0; j < kv.size(); j += 2) {
      nest(d, kv[j + 1]);
      d.dict.emplace_back(std::move(kv[j]), std::move(kv[j + 1]));
    }
  }
  Ref global(const std::string& module, const std::string& name) {
    if (!hooks_.find_class) fail("asks for global '", module, ".", name, "', which is not allowed");
    return hooks_.find_class(module, name);
  }

  std::string op_name() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%02x", op_);
    return buf;
  }

  void step() {
    switch (op_) {
      case 0x80: {  // PROTO
        uint8_t v = u8("the protocol");
        if (v < 2 || v > 5) fail("protocol ", int(v), " is not supported (torch.save writes 2)");
        return;
      }
      case 0x95: le<uint64_t>("FRAME"); return;
      case '(':
        if (marks_.size() >= limits_.max_depth)
          fail("nests MARKs deeper than ", limits_.max_depth, " (PickleLimits::max_depth; a nesting bomb?)");
        marks_.push_back(stack_.size());
        return;
      case '0': pop(); return;                  // POP
      case '1': pop_mark(); return;             // POP_MARK
      case '2': push(top()); return;            // DUP
      case 'N': push(make(Kind::None)); return;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Ref r = make(Kind::Bool);
        r->i = op_ == 0x88;
        push(r);
        return;
      }
      case 'J': push(integer(le<int32_t>("BININT"))); return;
      case 'K': push(integer(u8("BININT1"))); return;
      case 'M': push(integer(le<uint16_t>("BININT2"))); return;
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        uint64_t n = op_ == 0x8a ? u8("LONG1") : le<uint32_t>("LONG4");
        std::string b = text(n, "a LONG");
        if (n > 8) {
          push(string(Kind::BigInt, std::move(b)));
          return;
        }
        uint64_t v = 0;
        for (size_t j = n; j-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[j]);
        if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);
        push(integer(static_cast<int64_t>(v)));
        return;
      }
      case 'G': {  // BINFLOAT, big-endian
        unsigned char b[8];
        bytes(b, 8, "BINFLOAT");
        uint64_t v = 0;
        for (unsigned char c : b) v = (v << 8) | c;
        Ref r = make(Kind::Float);
        std::memcpy(&r->f, &v, 8);
        push(r);
        return;
      }
      case 'X': push(string(Kind::String, text(le<uint32_t>("BINUNICODE"), "a string"))); return;
      case 0x8c: push(string(Kind::String, text(u8("SHORT_BINUNICODE"), "a string"))); return;
      case 0x8d: push(string(Kind::String, text(le<uint64_t>("BINUNICODE8"), "a string"))); return;
      case 'T': push(string(Kind::String, text(le<uint32_t>("BINSTRING"), "a string"))); return;
      case 'U': push(string(Kind::String, text(u8("SHORT_BINSTRING"), "a string"))); return;
      case 'B': push(string(Kind::Bytes, text(le<uint32_t>("BINBYTES"), "bytes"))); return;
      case 'C': push(string(Kind::Bytes, text(u8("SHORT_BINBYTES"), "bytes"))); return;
      case '}': push(make(Kind::Dict)); return;
      case ']': push(make(Kind::List)); return;
      case ')': push(make(Kind::Tuple)); return;
      case 't': push(container(Kind::Tuple, pop_mark())); return;
      case 'l': push(container(Kind::List, pop_mark())); return;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1-3
        std::vector<Ref> items(op_ - 0x84);
        for (size_t j = items.size(); j-- > 0;) items[j] = pop();
        push(container(Kind::Tuple, std::move(items)));
        return;
      }
      case 'd': {  // DICT
        std::vector<Ref> kv = pop_mark();
        Ref d = make(Kind::Dict);
        set_items(*d, kv);
        push(d);
        return;
      }
      case 'a': {  // APPEND
        Ref v = pop();
        Object& l = expect(top(), Kind::List, "APPEND");
        mutating(top());
        nest(l, v);
        l.items.push_back(std::move(v));
        return;
      }
      case 'e': {  // APPENDS
        std::vector<Ref> vs = pop_mark();
        Object& l = expect(top(), Kind::List, "APPENDS");
        mutating(top());
        for (auto& v : vs) {
          nest(l, v);
          l.items.push_back(std::move(v));
        }
        return;
      }
      case 's': {  // SETITEM
        std::vector<Ref> kv(2);
        kv[1] = pop();
        kv[0] = pop();
        set_items(expect(top(), Kind::Dict, "SETITEM"), kv);
        mutating(top());
        return;
      }
      case 'u': {  // SETITEMS
        std::vector<Ref> kv = pop_mark();
        set_items(expect(top(), Kind::Dict, "SETITEMS"), kv);
        mutating(top());
        return;
      }
      case 'q': memo_put(u8("BINPUT")); return;
      case 'r': memo_put(le<uint32_t>("LONG_BINPUT")); return;
      case 0x94: memo_put(memo_.size()); return;  // MEMOIZE
      case 'h': push(memo_get(u8("BINGET"))); return;
      case 'j': push(memo_get(le<uint32_t>("LONG_BINGET"))); return;
      case 'c': {  // GLOBAL
        std::string module = line("a GLOBAL module name");
        std::string name = line("a GLOBAL name");
        push(global(module, name));
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        Ref name = pop(), module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String)
          fail("STACK_GLOBAL at byte ", op_pos_, " needs two strings");
        push(global(module->s, name->s));
        return;
      }
      case 'R': {  // REDUCE
        Ref args = pop(), callable = pop();
        expect(args, Kind::Tuple, "REDUCE's arguments");
        if (callable->kind != Kind::Global || !hooks_.reduce)
          fail("REDUCE at byte ", op_pos_, " calls a ", kind_name(callable->kind), ", not an allowed global");
        Ref r = hooks_.reduce(callable, args);
        nest(*r, args);
        push(r);
        return;
      }
      case 'b': pop(); top(); return;  // BUILD: the state is dropped
      case 'Q': {  // BINPERSID
        Ref pid = pop();
        if (!hooks_.persistent_load) fail("has a persistent id, which is not allowed here");
        push(hooks_.persistent_load(pid));
        return;
      }
      default: {
        char c = (op_ >= 0x20 && op_ < 0x7f) ? static_cast<char>(op_) : '?';
        fail("opcode ", op_name(), " ('", c, "') at byte ", op_pos_,
             " is not one a state_dict uses (or the file is corrupt)");
      }
    }
  }
};

}  // namespace

Ref unpickle(Source& src, const std::string& context, const Hooks& hooks, const PickleLimits& limits) {
  Machine m(src, context, hooks, limits);
  return m.run();
}

}  // namespace pickle
}  // namespace nn
}  // namespace ember
