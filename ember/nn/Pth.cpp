// nn/Pth.cpp: the .pth reader: a zip central-directory reader, the legacy layout,
// the torch hooks for the unpickler, and the copy of each tensor out of its storage
// (format notes in nn/Pth.h).
#include "ember/nn/Pth.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include "ember/nn/Safetensors.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace nn {

namespace {
using pickle::Kind;
using pickle::Object;
using pickle::Ref;

// ---------------------------------------------------------------------------
// Random-access reads of the file, each checked against its size.
struct File {
  std::string ctx;  // "load_pth: <path>"
  std::ifstream f;
  uint64_t size = 0;

  File(const std::string& path) : ctx("load_pth: " + path) {
    check_input_file(path, "load_pth");
    f.open(path, std::ios::binary);
    EMBER_CHECK(f.good(), "load_pth: cannot open '", path, "'");
    f.seekg(0, std::ios::end);
    size = static_cast<uint64_t>(f.tellg());
    f.seekg(0);
  }
  void read_at(uint64_t off, void* dst, uint64_t n, const std::string& what) {
    EMBER_CHECK(off <= size && n <= size - off, ctx, ": ", what, " at byte ", off, " needs ", n,
                " bytes but the file has ", size, " (truncated file?)");
    f.clear();
    f.seekg(static_cast<std::streamoff>(off));
    f.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    EMBER_CHECK(f.good(), ctx, ": reading ", what, " failed");
  }
  std::string bytes_at(uint64_t off, uint64_t n, const std::string& what) {
    EMBER_CHECK(off <= size && n <= size - off, ctx, ": ", what, " at byte ", off, " needs ", n,
                " bytes but the file has ", size, " (truncated file?)");
    std::string s(static_cast<size_t>(n), '\0');
    read_at(off, s.data(), n, what);
    return s;
  }
};

// The file read in order, for the legacy layout's pickles.
class FileSource : public pickle::Source {
 public:
  explicit FileSource(File& file) : file_(file) {}
  bool read(void* dst, size_t n) override {
    if (n > remaining()) return false;
    file_.read_at(pos_, dst, n, "a pickle");
    pos_ += n;
    return true;
  }
  uint64_t remaining() const override { return file_.size - pos_; }
  uint64_t pos() const override { return pos_; }
  void skip_to(uint64_t p) { pos_ = p; }

 private:
  File& file_;
  uint64_t pos_ = 0;
};

uint64_t get_le(const std::string& b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t j = n; j-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[at + j]);
  return v;
}

// ---------------------------------------------------------------------------
// Zip: the central directory, zip64 fields included. Entries must be stored.
struct ZipEntry {
  uint64_t data_offset = 0, size = 0;
};

std::map<std::string, ZipEntry> read_zip(File& file) {
  const std::string& ctx = file.ctx;
  uint64_t tail_len = std::min<uint64_t>(file.size, 22 + 65535);
  std::string tail = file.bytes_at(file.size - tail_len, tail_len, "the zip end record");
  size_t eocd = std::string::npos;
  for (size_t j = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; j-- > 0;)
    if (tail.compare(j, 4, "PK\x05\x06") == 0) {
      eocd = j;
      break;
    }
  EMBER_CHECK(eocd != std::string::npos, ctx,
              ": no zip end-of-central-directory record (truncated file, or not a torch.save zip)");
  uint64_t eocd_pos = file.size - tail_len + eocd;
  uint64_t count = get_le(tail, eocd + 10, 2), cd_size = get_le(tail, eocd + 12, 4), cd_off = get_le(tail, eocd + 16, 4);
  if (count == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff) {  // zip64
    EMBER_CHECK(eocd_pos >= 20, ctx, ": zip64 locator missing (truncated file?)");
    std::string loc = file.bytes_at(eocd_pos - 20, 20, "the zip64 locator");
    EMBER_CHECK(loc.compare(0, 4, "PK\x06\x07") == 0, ctx, ": zip64 locator missing (corrupt zip?)");
    std::string rec = file.bytes_at(get_le(loc, 8, 8), 56, "the zip64 end record");
    EMBER_CHECK(rec.compare(0, 4, "PK\x06\x06") == 0, ctx, ": bad zip64 end record (corrupt zip?)");
    count = get_le(rec, 32, 8);
    cd_size = get_le(rec, 40, 8);
    cd_off = get_le(rec, 48, 8);
  }
  std::string cd = file.bytes_at(cd_off, cd_size, "the zip central directory");
  std::map<std::string, ZipEntry> entries;
  size_t p = 0;
  for (uint64_t k = 0; k < count; ++k) {
    EMBER_CHECK(cd.size() >= 46 && p <= cd.size() - 46 && cd.compare(p, 4, "PK\x01\x02") == 0, ctx,
                ": zip central directory entry ", k, " is corrupt");
    uint64_t method = get_le(cd, p + 10, 2), csize = get_le(cd, p + 20, 4), usize = get_le(cd, p + 24, 4);
    size_t name_len = get_le(cd, p + 28, 2), extra_len = get_le(cd, p + 30, 2), comment_len = get_le(cd, p + 32, 2);
    uint64_t local = get_le(cd, p + 42, 4);
    EMBER_CHECK(p + 46 + name_len + extra_len + comment_len <= cd.size(), ctx, ": zip central directory entry ", k,
                " runs past the directory (corrupt zip?)");
    std::string name = cd.substr(p + 46, name_len);
    // zip64 extra field: the 8-byte values replace those that read 0xffffffff, in order.
    for (size_t e = p + 46 + name_len; e + 4 <= p + 46 + name_len + extra_len;) {
      size_t id = get_le(cd, e, 2), len = get_le(cd, e + 2, 2), q = e + 4;
      if (id == 1) {
        for (uint64_t* v : {&usize, &csize, &local})
          if (*v == 0xffffffff) {
            EMBER_CHECK(q + 8 <= e + 4 + len && q + 8 <= cd.size(), ctx, ": entry '", name, "' has a short zip64 field");
            *v = get_le(cd, q, 8);
            q += 8;
          }
      }
      e += 4 + len;
    }
    EMBER_CHECK(method == 0, ctx, ": zip entry '", name, "' is compressed (method ", method,
                "); torch.save stores entries uncompressed, so re-save it with torch.save");
    EMBER_CHECK(csize == usize, ctx, ": zip entry '", name, "' says ", csize, " stored bytes but ", usize, " in all");
    std::string lh = file.bytes_at(local, 30, "the local header of '" + name + "'");
    EMBER_CHECK(lh.compare(0, 4, "PK\x03\x04") == 0, ctx, ": zip entry '", name, "' has a bad local header");
    uint64_t data = local + 30 + get_le(lh, 26, 2) + get_le(lh, 28, 2);
    EMBER_CHECK(data <= file.size && usize <= file.size - data, ctx, ": zip entry '", name, "' (", usize,
                " bytes at byte ", data, ") runs past the end of the ", file.size, "-byte file (truncated file?)");
    entries[name] = {data, usize};
    p += 46 + name_len + extra_len + comment_len;
  }
  return entries;
}

// ---------------------------------------------------------------------------
// What the pickle's persistent ids and tensor rebuilds turn into.
struct StorageRef {
  std::string key, dtype;  // dtype as a safetensors name ("F32")
  uint64_t numel = 0;
  std::shared_ptr<StorageRef> root;  // legacy views of another storage
  uint64_t view_offset = 0;
  std::vector<char> bytes;  // numel * itemsize once loaded
  bool loaded = false;
};

struct TensorRef {
  std::shared_ptr<StorageRef> storage;
  int64_t offset = 0;
  Shape size, stride;
};

const char* storage_dtype(const std::string& global) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"torch.FloatStorage", "F32"}, {"torch.DoubleStorage", "F64"}, {"torch.HalfStorage", "F16"},
      {"torch.BFloat16Storage", "BF16"}, {"torch.LongStorage", "I64"}, {"torch.IntStorage", "I32"},
      {"torch.ShortStorage", "I16"}, {"torch.CharStorage", "I8"}, {"torch.ByteStorage", "U8"},
      {"torch.BoolStorage", "BOOL"}};
  for (auto& [g, d] : kTypes)
    if (global == g) return d;
  return nullptr;
}

bool is_allowed_global(const std::string& g) {
  static const char* kAllowed[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor",
                                   "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
                                   "torch._tensor._rebuild_from_type_v2", "torch._tensor.Tensor",
                                   "torch.Tensor", "torch.nn.parameter.Parameter"};
  for (const char* a : kAllowed)
    if (g == a) return true;
  return storage_dtype(g) != nullptr;
}

class TorchHooks {
 public:
  explicit TorchHooks(const std::string& ctx) : ctx_(ctx) {}
  std::map<std::string, std::shared_ptr<StorageRef>> storages;

  pickle::Hooks hooks() {
    pickle::Hooks h;
    h.find_class = [this](const std::string& m, const std::string& n) { return find_class(m + "." + n); };
    h.reduce = [this](const Ref& c, const Ref& a) { return reduce(c, a); };
    h.persistent_load = [this](const Ref& pid) { return persistent_load(pid); };
    return h;
  }

 private:
  std::string ctx_;

  Ref find_class(const std::string& g) {
    EMBER_CHECK(is_allowed_global(g), ctx_, ": pickle asks for global '", g,
                "', which is not allowed in a state_dict");
    Ref r = pickle::make(Kind::Global);
    r->s = g;
    return r;
  }

  const Object& arg(const Ref& args, size_t j, Kind k, const std::string& fn) {
    EMBER_CHECK(args->items.size() > j, ctx_, ": pickle calls ", fn, " with ", args->items.size(),
                " arguments (corrupt file?)");
    const Object& a = *args->items[j];
    EMBER_CHECK(a.kind == k, ctx_, ": pickle calls ", fn, " with a ", pickle::kind_name(a.kind), " as argument ", j,
                " (expected a ", pickle::kind_name(k), ")");
    return a;
  }

  Shape int_list(const Object& o, const std::string& what) {
    EMBER_CHECK((o.kind == Kind::Tuple || o.kind == Kind::List) && o.items.size() <= 64, ctx_, ": tensor ", what,
                " is not a tuple of at most 64 ints");
    Shape s;
    for (auto& v : o.items) {
      EMBER_CHECK(v->kind == Kind::Int && v->i >= 0, ctx_, ": tensor ", what, " holds a ",
                  pickle::kind_name(v->kind), v->kind == Kind::Int ? " below 0" : "", " (corrupt file?)");
      s.push_back(v->i);
    }
    return s;
  }

  Ref make_tensor(const Ref& args, const std::string& fn) {
    const Object& st = arg(args, 0, Kind::Opaque, fn);
    EMBER_CHECK(st.s == "storage", ctx_, ": pickle calls ", fn, " on a ", st.s, ", not a storage");
    auto t = std::make_shared<TensorRef>();
    t->storage = std::static_pointer_cast<StorageRef>(st.payload);
    t->offset = arg(args, 1, Kind::Int, fn).i;
    EMBER_CHECK(t->offset >= 0, ctx_, ": tensor storage offset ", t->offset, " is negative");
    EMBER_CHECK(args->items.size() > 3, ctx_, ": pickle calls ", fn, " with too few arguments");
    t->size = int_list(*args->items[2], "size");
    t->stride = int_list(*args->items[3], "stride");
    EMBER_CHECK(t->size.size() == t->stride.size(), ctx_, ": tensor size ", fmt(t->size), " and stride ",
                fmt(t->stride), " differ in length");
    Ref r = pickle::make(Kind::Opaque);
    r->s = "tensor";
    r->payload = t;
    return r;
  }

  Ref reduce(const Ref& callable, const Ref& args) {
    const std::string& g = callable->s;
    if (g == "collections.OrderedDict") {
      Ref d = pickle::make(Kind::Dict);
      if (!args->items.empty() && args->items[0]->kind == Kind::List)
        for (auto& kv : args->items[0]->items)
          if ((kv->kind == Kind::Tuple || kv->kind == Kind::List) && kv->items.size() == 2)
            d->dict.emplace_back(kv->items[0], kv->items[1]);
      return d;
    }
    if (g == "torch._utils._rebuild_tensor_v2" || g == "torch._utils._rebuild_tensor") return make_tensor(args, g);
    if (g == "torch._utils._rebuild_parameter") {
      const Object& t = arg(args, 0, Kind::Opaque, g);
      EMBER_CHECK(t.s == "tensor", ctx_, ": pickle calls ", g, " on a ", t.s, ", not a tensor");
      return args->items[0];
    }
    if (g == "torch._tensor._rebuild_from_type_v2") {
      const Object& fn = arg(args, 0, Kind::Global, g);
      const Object& type = arg(args, 1, Kind::Global, g);
      arg(args, 2, Kind::Tuple, g);
      EMBER_CHECK(type.s == "torch._tensor.Tensor" || type.s == "torch.Tensor" ||
                      type.s == "torch.nn.parameter.Parameter",
                  ctx_, ": pickle rebuilds a tensor as '", type.s, "', which a state_dict does not hold");
      Ref callee = pickle::make(Kind::Global);
      callee->s = fn.s;
      return reduce(callee, args->items[2]);
    }
    EMBER_FAIL(ctx_, ": pickle calls '", g, "', which a state_dict does not do");
  }

  Ref persistent_load(const Ref& pid) {
    EMBER_CHECK(pid->kind == Kind::Tuple && pid->items.size() >= 5 && pid->items[0]->kind == Kind::String &&
                    pid->items[0]->s == "storage",
                ctx_, ": pickle has a persistent id that is not ('storage', type, key, location, numel)");
    const Object &type = *pid->items[1], &key = *pid->items[2], &numel = *pid->items[4];
    EMBER_CHECK(type.kind == Kind::Global && storage_dtype(type.s), ctx_, ": persistent id names a storage type that is not a torch.*Storage");
    EMBER_CHECK(key.kind == Kind::String, ctx_, ": storage key is a ", pickle::kind_name(key.kind), ", not a str");
    EMBER_CHECK(numel.kind == Kind::Int && numel.i >= 0, ctx_, ": storage '", key.s, "' has a bad element count");
    std::shared_ptr<StorageRef> s = storage(key.s, storage_dtype(type.s), static_cast<uint64_t>(numel.i));
    if (pid->items.size() > 5 && pid->items[5]->kind != Kind::None) {  // legacy view: (key, offset, size)
      const Object& v = *pid->items[5];
      EMBER_CHECK(v.kind == Kind::Tuple && v.items.size() == 3 && v.items[0]->kind == Kind::String &&
                      v.items[1]->kind == Kind::Int && v.items[2]->kind == Kind::Int && v.items[1]->i >= 0 &&
                      v.items[2]->i >= 0,
                  ctx_, ": storage '", key.s, "' has a bad view (expected (key, offset, size))");
      auto view = storage(v.items[0]->s, s->dtype, static_cast<uint64_t>(v.items[2]->i));
      EMBER_CHECK(!view->root || view->root == s, ctx_, ": storage view '", view->key, "' has two roots");
      // torch's legacy views are of a root storage, never of another view or of themselves: refused
      // before the link is made, since a cycle of shared roots would never be freed.
      EMBER_CHECK(view != s, ctx_, ": storage '", key.s, "' names itself as the root of its view");
      EMBER_CHECK(!s->root, ctx_, ": storage '", key.s, "' is a view of '", s->root->key,
                  "' and cannot be the root of view '", view->key, "'");
      view->root = s;
      view->view_offset = static_cast<uint64_t>(v.items[1]->i);
      s = view;
    }
    Ref r = pickle::make(Kind::Opaque);
    r->s = "storage";
    r->payload = s;
    return r;
  }

  std::shared_ptr<StorageRef> storage(const std::string& key, const std::string& dtype, uint64_t numel) {
    auto& s = storages[key];
    if (!s) {
      s = std::make_shared<StorageRef>();
      s->key = key;
      s->dtype = dtype;
      s->numel = numel;
    }
    EMBER_CHECK(s->dtype == dtype && s->numel == numel, ctx_, ": storage '", key, "' is named twice with different types or sizes");
    return s;
  }
};

// ---------------------------------------------------------------------------
// From the pickle's dict to contiguous cpu tensors.
const Object& state_dict_of(const std::string& ctx, const Ref& top) {
  EMBER_CHECK(top->kind == Kind::Dict, ctx, ": the file holds a ", pickle::kind_name(top->kind),
              ", not a state_dict (a dict of tensors)");
  for (const char* key : {"state_dict", "model"})
    for (auto& [k, v] : top->dict)
      if (k->kind == Kind::String && k->s == key && v->kind == Kind::Dict) return *v;
  return *top;
}

Tensor materialize(const std::string& ctx, const std::string& name, const TensorRef& t, uint64_t& budget) {
  std::string at = ctx + ": tensor '" + name + "'";
  const StorageRef* s = t.storage.get();
  uint64_t base = 0;  // element offset into the root storage
  if (s->root) {
    EMBER_CHECK(s->view_offset <= s->root->numel && s->numel <= s->root->numel - s->view_offset, at,
                ": storage view '", s->key, "' lies outside storage '", s->root->key, "'");
    base = s->view_offset;
    s = s->root.get();
  }
  EMBER_CHECK(s->loaded, at, ": its storage '", s->key, "' is missing from the file");
  size_t isz = safetensors_dtype_size(s->dtype);
  uint64_t numel = 1, span = 1;  // span: the product of the nonzero sizes, which the strides reach
  for (int64_t d : t.size) {
    EMBER_CHECK(d == 0 || numel <= budget / static_cast<uint64_t>(d), at, ": size ", fmt(t.size),
                " has more elements than the limit allows (PthLimits::max_elements)");
    numel *= static_cast<uint64_t>(d);
    if (d == 0) continue;
    EMBER_CHECK(span <= budget / static_cast<uint64_t>(d), at, ": size ", fmt(t.size),
                " has sizes whose product is over the limit (PthLimits::max_elements), even with a size of 0");
    span *= static_cast<uint64_t>(d);
  }
  budget -= numel;
  if (numel > 0) {  // the last element the view reaches must lie inside the storage
    unsigned __int128 last = static_cast<uint64_t>(t.offset);
    for (size_t j = 0; j < t.size.size(); ++j)
      last += static_cast<unsigned __int128>(t.size[j] - 1) * static_cast<uint64_t>(t.stride[j]);
    uint64_t view_numel = t.storage->root ? t.storage->numel : s->numel;
    EMBER_CHECK(last < view_numel, at, ": size ", fmt(t.size), ", stride ", fmt(t.stride), " at offset ", t.offset,
                " reaches past the end of its ", view_numel, "-element storage '", t.storage->key, "'");
  }
  const char* src = s->bytes.data() + (base + static_cast<uint64_t>(t.offset)) * isz;
  if (numel <= 1 || t.stride == contiguous_strides(t.size)) return tensor_from_bytes(src, s->dtype, t.size);
  std::vector<char> packed(numel * isz);
  std::vector<int64_t> idx(t.size.size(), 0);
  for (uint64_t k = 0; k < numel; ++k) {
    int64_t off = 0;
    for (size_t j = 0; j < idx.size(); ++j) off += idx[j] * t.stride[j];
    std::memcpy(packed.data() + k * isz, src + off * static_cast<int64_t>(isz), isz);
    for (size_t j = idx.size(); j-- > 0;) {
      if (++idx[j] < t.size[j]) break;
      idx[j] = 0;
    }
  }
  return tensor_from_bytes(packed.data(), s->dtype, t.size);
}

NamedTensors collect(const std::string& ctx, const Ref& top, const PthLimits& limits) {
  const Object& sd = state_dict_of(ctx, top);
  NamedTensors out;
  uint64_t budget = limits.max_elements;
  for (auto& [k, v] : sd.dict) {
    EMBER_CHECK(k->kind == Kind::String, ctx, ": the state_dict has a ", pickle::kind_name(k->kind),
                " key; keys must be str");
    EMBER_CHECK(v->kind == Kind::Opaque && v->s == "tensor", ctx, ": entry '", k->s, "' is a ",
                pickle::kind_name(v->kind), ", not a tensor (is this a state_dict?)");
    out.emplace_back(k->s, materialize(ctx, k->s, *std::static_pointer_cast<TensorRef>(v->payload), budget));
  }
  return out;
}

void check_bytes(const std::string& ctx, const StorageRef& s, uint64_t have) {
  uint64_t isz = safetensors_dtype_size(s.dtype);
  EMBER_CHECK(s.numel <= have / isz && s.numel * isz == have, ctx, ": storage '", s.key, "' holds ", have,
              " bytes but the pickle says ", s.numel, " elements of ", isz, " bytes");
}

// ---------------------------------------------------------------------------
NamedTensors load_zip(File& file, const PthLimits& limits) {
  auto entries = read_zip(file);
  std::string prefix;
  bool found = false;
  for (auto& [name, e] : entries) {
    if (name.size() >= 9 && name.compare(name.size() - 9, 9, "/data.pkl") == 0) {
      prefix = name.substr(0, name.size() - 8);  // "archive/"
      found = true;
      break;
    }
  }
  EMBER_CHECK(found, file.ctx, ": the zip has no <name>/data.pkl entry, so it is not a torch.save file");
  auto bo = entries.find(prefix + "byteorder");
  if (bo != entries.end())
    EMBER_CHECK(file.bytes_at(bo->second.data_offset, std::min<uint64_t>(bo->second.size, 16), "byteorder") == "little",
                file.ctx, ": the file was saved big-endian; Ember reads little-endian files");
  const ZipEntry& pkl = entries[prefix + "data.pkl"];
  std::string bytes = file.bytes_at(pkl.data_offset, pkl.size, "data.pkl");
  TorchHooks th(file.ctx);
  pickle::MemorySource src(bytes.data(), bytes.size());
  Ref top = pickle::unpickle(src, file.ctx, th.hooks(), limits.pickle);
  state_dict_of(file.ctx, top);  // fail early on what is not a state_dict
  for (auto& [key, s] : th.storages) {
    if (s->root || s->loaded) continue;
    auto it = entries.find(prefix + "data/" + key);
    EMBER_CHECK(it != entries.end(), file.ctx, ": storage '", key, "' has no entry ", prefix, "data/", key,
                " in the zip (truncated file?)");
    check_bytes(file.ctx, *s, it->second.size);
    s->bytes.resize(it->second.size);
    file.read_at(it->second.data_offset, s->bytes.data(), it->second.size, "storage '" + key + "'");
    s->loaded = true;
  }
  return collect(file.ctx, top, limits);
}

NamedTensors load_legacy(File& file, const PthLimits& limits) {
  FileSource src(file);
  pickle::Hooks none;
  Ref magic = pickle::unpickle(src, file.ctx, none, limits.pickle);
  static const char kMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  EMBER_CHECK(magic->kind == Kind::BigInt && magic->s == std::string(kMagic, 10), file.ctx,
              ": a pickle, but not one written by torch.save (no magic number)");
  Ref proto = pickle::unpickle(src, file.ctx, none, limits.pickle);
  EMBER_CHECK(proto->kind == Kind::Int && proto->i == 1001, file.ctx, ": legacy torch.save protocol ",
              proto->kind == Kind::Int ? std::to_string(proto->i) : "?", " is not supported (expected 1001)");
  Ref info = pickle::unpickle(src, file.ctx, none, limits.pickle);
  if (info->kind == Kind::Dict)
    for (auto& [k, v] : info->dict)
      if (k->kind == Kind::String && k->s == "little_endian")
        EMBER_CHECK(v->kind == Kind::Bool && v->i, file.ctx,
                    ": the file was saved big-endian; Ember reads little-endian files");
  TorchHooks th(file.ctx);
  Ref top = pickle::unpickle(src, file.ctx, th.hooks(), limits.pickle);
  state_dict_of(file.ctx, top);  // fail early on what is not a state_dict
  Ref keys = pickle::unpickle(src, file.ctx, none, limits.pickle);
  EMBER_CHECK(keys->kind == Kind::List, file.ctx, ": the storage key list is a ", pickle::kind_name(keys->kind));
  for (auto& k : keys->items) {
    EMBER_CHECK(k->kind == Kind::String, file.ctx, ": a storage key is a ", pickle::kind_name(k->kind));
    auto it = th.storages.find(k->s);
    EMBER_CHECK(it != th.storages.end() && !it->second->root, file.ctx, ": storage '", k->s,
                "' is listed but no tensor uses it (corrupt file?)");
    StorageRef& s = *it->second;
    uint64_t pos = src.pos(), isz = safetensors_dtype_size(s.dtype);
    std::string n = file.bytes_at(pos, 8, "the element count of storage '" + k->s + "'");
    uint64_t numel = get_le(n, 0, 8);
    EMBER_CHECK(numel == s.numel, file.ctx, ": storage '", k->s, "' holds ", numel, " elements but the pickle says ",
                s.numel);
    EMBER_CHECK(numel <= (file.size - pos - 8) / isz, file.ctx, ": storage '", k->s, "' (", numel, " elements of ",
                isz, " bytes at byte ", pos + 8, ") runs past the end of the ", file.size,
                "-byte file (truncated file?)");
    s.bytes.resize(numel * isz);
    file.read_at(pos + 8, s.bytes.data(), s.bytes.size(), "storage '" + k->s + "'");
    s.loaded = true;
    src.skip_to(pos + 8 + s.bytes.size());
  }
  return collect(file.ctx, top, limits);
}
}  // namespace

NamedTensors load_pth(const std::string& path, const PthLimits& limits) {
  File file(path);
  std::string head = file.bytes_at(0, std::min<uint64_t>(file.size, 4), "the file's first bytes");
  if (head.compare(0, 4, "PK\x03\x04") == 0) return load_zip(file, limits);
  if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80) return load_legacy(file, limits);
  EMBER_FAIL(file.ctx, ": not a torch.save file (neither a zip archive nor a pickle)");
}

}  // namespace nn
}  // namespace ember
