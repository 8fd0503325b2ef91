// datasets/ImageCache.cpp: building (parallel decode + resize), writing and mapping the image cache.
//
// Threading: open() starts `threads` workers that take input indices from one atomic counter; each
// decodes and resizes whole images into its own slot of a vector, so no lock is needed. The calling
// thread draws the progress bar until all are done, then writes the file in input order.
#include "ember/datasets/ImageCache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "ember/datasets/Image.h"
#include "ember/tensor/AtomicFile.h"

namespace fs = std::filesystem;

namespace ember {

namespace {
constexpr char kMagic[8] = {'E', 'M', 'B', 'I', 'M', 'G', 'C', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kAlign = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t presize;
  uint64_t count;        // cached items
  uint64_t n_files;      // input files
  uint64_t hash;         // of the input list
  uint64_t n_skipped;
  uint64_t data_offset;  // start of the pixel data
  uint64_t total_size;   // bytes in the whole file
};
static_assert(sizeof(Header) == 64, "cache header layout");

struct RawItem {
  uint64_t offset;
  uint32_t height, width, channels, source;
  int64_t label;
};
static_assert(sizeof(RawItem) == 32, "cache item layout");

std::atomic<int64_t> g_decoded{0};

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

// Path, size, mtime and label of every file, in order.
uint64_t list_hash(const LabelledFiles& files) {
  uint64_t h = kFnvBasis;
  for (size_t i = 0; i < files.files.size(); ++i) {
    const std::string& f = files.files[i];
    h = fnv1a(h, f.data(), f.size() + 1);  // with the terminating NUL
    struct stat st {};
    int64_t meta[3] = {-1, 0, 0};
    if (::stat(f.c_str(), &st) == 0) {
      meta[0] = static_cast<int64_t>(st.st_size);
      meta[1] = static_cast<int64_t>(st.st_mtim.tv_sec);
      meta[2] = static_cast<int64_t>(st.st_mtim.tv_nsec);
    }
    h = fnv1a(h, meta, sizeof meta);
    int64_t label = i < files.labels.size() ? files.labels[i] : -1;
    h = fnv1a(h, &label, sizeof label);
  }
  return h;
}

uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// ---------------------------------------------------------------------------
// PIL-style antialiased bilinear resize: output pixel i covers source [i*s, (i+1)*s); its taps
// are the source pixels within `support` of the centre, weighted by a triangle of width
// max(s, 1), normalised to sum 1.
struct Taps {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> w;  // [out, ksize]
};

Taps make_taps(int in, int out) {
  double scale = static_cast<double>(in) / out;
  double fscale = std::max(scale, 1.0);
  double support = fscale;  // triangle of radius 1, widened when shrinking
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out));
  t.count.resize(static_cast<size_t>(out));
  t.w.assign(static_cast<size_t>(out) * static_cast<size_t>(t.ksize), 0.f);
  for (int i = 0; i < out; ++i) {
    double center = (i + 0.5) * scale;
    int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    int hi = std::min(static_cast<int>(center + support + 0.5), in);
    hi = std::min(hi, lo + t.ksize);
    double total = 0;
    float* w = &t.w[static_cast<size_t>(i) * static_cast<size_t>(t.ksize)];
    for (int x = lo; x < hi; ++x) {
      double d = std::fabs((x - center + 0.5) / fscale);
      double v = d < 1.0 ? 1.0 - d : 0.0;
      w[x - lo] = static_cast<float>(v);
      total += v;
    }
    if (total > 0)
      for (int k = 0; k < hi - lo; ++k) w[k] = static_cast<float>(w[k] / total);
    t.first[static_cast<size_t>(i)] = lo;
    t.count[static_cast<size_t>(i)] = hi - lo;
  }
  return t;
}

// Draws "\r<what> [####....] done/total" on a terminal.
void draw_bar(std::FILE* out, const char* what, int64_t done, int64_t total, double seconds) {
  const int width = 30;
  auto filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
  std::string bar(static_cast<size_t>(filled), '#');
  bar += std::string(static_cast<size_t>(width - filled), '.');
  std::fprintf(out, "\r\033[K%s [%s] %lld/%lld %.1f s", what, bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total), seconds);
  std::fflush(out);
}

struct Decoded {
  std::vector<uint8_t> pixels;
  uint32_t height = 0, width = 0;
  std::string error;  // empty when decoded
};

// Short side -> presize, aspect ratio kept (the long side rounded, at least 1). The resized image
// is bounded before it is allocated: aspect ratio at most max_aspect, pixels at most
// max_image_pixels().
Decoded decode_one(const std::string& file, int presize, int max_aspect) {
  Decoded d;
  try {
    Tensor img = read_image(file, 3);  // RGB whatever the file holds (grey, palette, RGBA)
    g_decoded.fetch_add(1);
    int h = static_cast<int>(img.size(0)), w = static_cast<int>(img.size(1));
    const int64_t lo = std::min(h, w), hi = std::max(h, w);
    EMBER_CHECK(lo > 0 && hi <= int64_t{max_aspect} * lo, "image: ", file, ": ", w, "x", h,
                " has an aspect ratio over the limit of ", max_aspect, ":1 (ImageCacheOptions::max_aspect)");
    const int64_t long_side = (hi * presize + lo - 1) / lo;
    EMBER_CHECK(long_side * presize <= max_image_pixels(), "image: ", file, ": resized to a short side of ", presize,
                " it would have ", long_side * presize, " pixels, over the limit of ", max_image_pixels(),
                " (set_max_image_pixels)");
    int oh, ow;
    if (h <= w) {
      oh = presize;
      ow = std::max(1, static_cast<int>(std::lround(static_cast<double>(w) * presize / h)));
    } else {
      ow = presize;
      oh = std::max(1, static_cast<int>(std::lround(static_cast<double>(h) * presize / w)));
    }
    d.pixels.resize(static_cast<size_t>(oh) * static_cast<size_t>(ow) * 3);
    resize_image_u8(img.data<uint8_t>(), h, w, 3, d.pixels.data(), oh, ow);
    d.height = static_cast<uint32_t>(oh);
    d.width = static_cast<uint32_t>(ow);
  } catch (const std::exception& e) {
    d.error = e.what();
    d.pixels.clear();
  }
  return d;
}

// Writes the cache file for the decoded images (skipping failed ones) via temp + rename.
void write_cache(const std::string& path, int presize, uint64_t hash, const LabelledFiles& files,
                 const std::vector<Decoded>& dec) {
  std::vector<RawItem> items;
  std::vector<uint64_t> skipped;
  uint64_t pix = 0;
  for (size_t i = 0; i < dec.size(); ++i) {
    if (!dec[i].error.empty()) {
      skipped.push_back(i);
      continue;
    }
    RawItem it{};
    it.offset = pix;
    it.height = dec[i].height;
    it.width = dec[i].width;
    it.channels = 3;
    it.source = static_cast<uint32_t>(i);
    it.label = i < files.labels.size() ? files.labels[i] : -1;
    items.push_back(it);
    pix += dec[i].pixels.size();
  }
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.presize = static_cast<uint32_t>(presize);
  h.count = items.size();
  h.n_files = dec.size();
  h.hash = hash;
  h.n_skipped = skipped.size();
  h.data_offset = align_up(sizeof(Header) + items.size() * sizeof(RawItem) + skipped.size() * sizeof(uint64_t));
  h.total_size = h.data_offset + pix;

  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  std::unique_ptr<AtomicFile> f;
  try {
    f = std::make_unique<AtomicFile>(path, "ImageCache::open");
  } catch (const Error& e) {
    EMBER_FAIL(e.what(), "; set EMBER_CACHE_DIR to a writable folder");
  }
  f->write(&h, sizeof h);
  f->write(items.data(), items.size() * sizeof(RawItem));
  f->write(skipped.data(), skipped.size() * sizeof(uint64_t));
  std::vector<uint8_t> pad(static_cast<size_t>(h.data_offset - sizeof h - items.size() * sizeof(RawItem) -
                                               skipped.size() * sizeof(uint64_t)),
                           0);
  f->write(pad.data(), pad.size());
  for (const Decoded& d : dec)
    if (d.error.empty()) f->write(d.pixels.data(), d.pixels.size());
  f->commit();
}

std::string mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}
}  // namespace

// ---------------------------------------------------------------------------
void resize_image_u8(const uint8_t* src, int h, int w, int c, uint8_t* dst, int out_h, int out_w) {
  EMBER_CHECK(h > 0 && w > 0 && c > 0 && out_h > 0 && out_w > 0, "resize_image_u8: bad sizes [", h, ", ", w,
              ", ", c, "] -> [", out_h, ", ", out_w, "]");
  Taps tx = make_taps(w, out_w), ty = make_taps(h, out_h);
  // Horizontal pass: [h, w, c] -> [h, out_w, c] in float.
  std::vector<float> mid(static_cast<size_t>(h) * out_w * c);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = src + static_cast<size_t>(y) * w * c;
    float* out = &mid[static_cast<size_t>(y) * out_w * c];
    for (int x = 0; x < out_w; ++x) {
      const float* wt = &tx.w[static_cast<size_t>(x) * tx.ksize];
      int first = tx.first[static_cast<size_t>(x)], n = tx.count[static_cast<size_t>(x)];
      for (int k = 0; k < c; ++k) {
        float s = 0.f;
        for (int t = 0; t < n; ++t) s += wt[t] * row[(first + t) * c + k];
        out[x * c + k] = s;
      }
    }
  }
  // Vertical pass: [h, out_w, c] -> [out_h, out_w, c] in u8.
  for (int y = 0; y < out_h; ++y) {
    const float* wt = &ty.w[static_cast<size_t>(y) * ty.ksize];
    int first = ty.first[static_cast<size_t>(y)], n = ty.count[static_cast<size_t>(y)];
    uint8_t* out = dst + static_cast<size_t>(y) * out_w * c;
    for (int i = 0; i < out_w * c; ++i) {
      float s = 0.f;
      for (int t = 0; t < n; ++t) s += wt[t] * mid[static_cast<size_t>(first + t) * out_w * c + i];
      out[i] = static_cast<uint8_t>(std::clamp(s + 0.5f, 0.f, 255.f));
    }
  }
}

std::string default_cache_path(const std::string& image_dir) {
  std::error_code ec;
  std::string abs = fs::absolute(image_dir, ec).lexically_normal().string();
  uint64_t h = fnv1a(kFnvBasis, abs.data(), abs.size());
  char name[40];
  std::snprintf(name, sizeof name, "images-%016llx.bin", static_cast<unsigned long long>(h));
  const char* env = std::getenv("EMBER_CACHE_DIR");
  if (env && *env) return (fs::path(env) / name).string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "ember" / name).string();
  return (fs::temp_directory_path() / "ember-cache" / name).string();
}

int64_t ImageCache::decode_count() { return g_decoded.load(); }

ImageCache::~ImageCache() {
  if (map_) ::munmap(map_, map_size_);
}

const ImageCache::Item& ImageCache::item(int64_t i) const {
  EMBER_CHECK(i >= 0 && i < size(), "ImageCache: item ", i, " out of range for ", path_, " (", size(),
              " images)");
  return items_[static_cast<size_t>(i)];
}

const uint8_t* ImageCache::pixels(int64_t i) const { return data_ + item(i).offset; }

Tensor ImageCache::image(int64_t i) const {
  const Item& it = item(i);
  Tensor t = empty({static_cast<int64_t>(it.height), static_cast<int64_t>(it.width), 3}, DType::u8);
  std::memcpy(t.data<uint8_t>(), data_ + it.offset, static_cast<size_t>(t.numel()));
  return t;
}

std::vector<int64_t> ImageCache::labels() const {
  std::vector<int64_t> out;
  out.reserve(items_.size());
  for (const Item& it : items_) out.push_back(it.label);
  return out;
}

// Every field read back is range-checked: the cache is a file on disk like any other input, and
// a damaged one is rebuilt (the caller names it), never trusted.
std::string ImageCache::map(const std::string& path, int presize, uint64_t hash, const LabelledFiles& files) {
  const uint64_t n_files = files.files.size();
  if (map_) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
  items_.clear();
  skipped_.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return detail::concat("cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Header))) {
    ::close(fd);
    return detail::concat("too short for a cache (", static_cast<long long>(st.st_size), " bytes)");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping stays valid
  if (m == MAP_FAILED) return detail::concat("mmap failed (", std::strerror(errno), ")");
  map_ = m;
  map_size_ = size;
  const auto* base = static_cast<const uint8_t*>(m);
  Header h{};
  std::memcpy(&h, base, sizeof h);
  auto fail = [&](std::string why) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    map_size_ = 0;
    items_.clear();
    skipped_.clear();
    return why;
  };
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return fail("not an Ember image cache (wrong magic)");
  if (h.version != kVersion)
    return fail(detail::concat("cache version ", h.version, ", this Ember writes ", kVersion));
  if (h.presize != static_cast<uint32_t>(presize))
    return fail(detail::concat("presize ", h.presize, " in the cache, ", presize, " asked"));
  if (h.n_files != n_files || h.hash != hash)
    return fail(detail::concat("made for another file list (", h.n_files, " files then, ", n_files,
                               " now, or files changed)"));
  if (h.total_size != size)
    return fail(detail::concat("truncated or padded: ", size, " bytes, the header says ", h.total_size));
  uint64_t table = sizeof(Header) + h.count * sizeof(RawItem) + h.n_skipped * sizeof(uint64_t);
  if (h.count > n_files || h.n_skipped > n_files || h.count + h.n_skipped != n_files || table > h.data_offset ||
      h.data_offset > size)
    return fail("corrupt item table");
  const uint64_t pix_size = size - h.data_offset;
  items_.resize(static_cast<size_t>(h.count));
  int64_t prev_source = -1;
  for (uint64_t i = 0; i < h.count; ++i) {
    RawItem r{};
    std::memcpy(&r, base + sizeof(Header) + i * sizeof(RawItem), sizeof r);
    const auto bad = [&](const char* what) { return fail(detail::concat("corrupt entry for item ", i, " (", what, ")")); };
    if (r.channels != 3 || r.height == 0 || r.width == 0 || std::min(r.height, r.width) != h.presize)
      return bad("size");
    if (r.offset > pix_size || r.height > (pix_size - r.offset) / r.width / 3) return bad("pixels past the end");
    if (r.source >= n_files || static_cast<int64_t>(r.source) <= prev_source) return bad("source file");
    const int64_t label = files.labels.empty() ? -1 : files.labels[r.source];
    if (r.label != label) return bad("label");
    prev_source = r.source;
    items_[static_cast<size_t>(i)] = {r.offset, r.height, r.width, r.channels, r.source, r.label};
  }
  int64_t prev_skipped = -1;
  for (uint64_t i = 0; i < h.n_skipped; ++i) {
    uint64_t s = 0;
    std::memcpy(&s, base + sizeof(Header) + h.count * sizeof(RawItem) + i * sizeof(uint64_t), sizeof s);
    if (s >= n_files || static_cast<int64_t>(s) <= prev_skipped)
      return fail(detail::concat("corrupt skip list (entry ", i, ")"));
    prev_skipped = static_cast<int64_t>(s);
    skipped_.push_back(static_cast<int64_t>(s));
  }
  data_ = base + h.data_offset;
  presize_ = presize;
  path_ = path;
  return "";
}

std::shared_ptr<ImageCache> ImageCache::open(const std::string& path, const LabelledFiles& files,
                                             const ImageCacheOptions& opt) {
  EMBER_CHECK(opt.presize >= 1 && opt.presize <= 65535, "ImageCache::open: ", path,
              ": presize must be in 1..65535, got ", opt.presize);
  EMBER_CHECK(files.labels.empty() || files.labels.size() == files.files.size(), "ImageCache::open: ", path,
              ": ", files.files.size(), " files but ", files.labels.size(), " labels");
  EMBER_CHECK(files.files.size() < (1ull << 32), "ImageCache::open: ", path, ": too many files (",
              files.files.size(), ")");
  std::shared_ptr<ImageCache> cache(new ImageCache());
  const uint64_t hash = list_hash(files);
  const uint64_t n = files.files.size();
  std::FILE* log = opt.log;

  std::error_code ec;
  std::string why = fs::exists(path, ec) ? cache->map(path, opt.presize, hash, files) : "missing";
  if (!why.empty()) {
    if (why != "missing" && log) std::fprintf(log, "ImageCache: %s: %s; rebuilding\n", path.c_str(), why.c_str());
    int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<uint64_t>(n, 1))));
    std::vector<Decoded> dec(static_cast<size_t>(n));
    std::atomic<int64_t> next{0}, done{0};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (int64_t i; (i = next.fetch_add(1)) < static_cast<int64_t>(n);) {
          dec[static_cast<size_t>(i)] = decode_one(files.files[static_cast<size_t>(i)], opt.presize, opt.max_aspect);
          done.fetch_add(1);
        }
      });
    bool tty = log && (opt.force_tty >= 0 ? opt.force_tty != 0 : isatty(fileno(log)) == 1);
    auto seconds = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    while (tty && done.load() < static_cast<int64_t>(n)) {
      draw_bar(log, "decoding images", done.load(), static_cast<int64_t>(n), seconds());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (std::thread& th : pool) th.join();
    if (tty) {
      draw_bar(log, "decoding images", static_cast<int64_t>(n), static_cast<int64_t>(n), seconds());
      std::fprintf(log, "\r\033[K");
    }
    std::string bad;
    int64_t n_bad = 0;
    for (size_t i = 0; i < dec.size(); ++i)
      if (!dec[i].error.empty()) {
        bad += detail::concat("\n  ", dec[i].error);
        ++n_bad;
      }
    EMBER_CHECK(!opt.strict || n_bad == 0, "ImageCache::open: ", n_bad, " of ", n,
                " files could not be decoded (strict mode; no cache written to ", path, "):", bad);
    write_cache(path, opt.presize, hash, files, dec);
    why = cache->map(path, opt.presize, hash, files);
    EMBER_INTERNAL_ASSERT(why.empty(), "ImageCache: the cache just written to ", path, " is unusable: ", why);
    cache->built_ = true;
    if (log) {
      double s = seconds();
      std::fprintf(log, "ImageCache: decoded %lld of %llu images to presize %d in %.1f s (%.0f images/s, %d threads) -> %s (%s)\n",
                   static_cast<long long>(cache->size()), static_cast<unsigned long long>(n), opt.presize, s,
                   static_cast<double>(n) / std::max(s, 1e-9), threads, path.c_str(), mb(cache->map_size_).c_str());
      if (n_bad)
        std::fprintf(log, "ImageCache: warning: skipped %lld of %llu files that could not be decoded:%s\n",
                     static_cast<long long>(n_bad), static_cast<unsigned long long>(n), bad.c_str());
      std::fflush(log);
    }
    return cache;
  }
  // A valid cache: report what it left out.
  if (!cache->skipped_.empty()) {
    std::string list;
    for (int64_t s : cache->skipped_) list += "\n  " + files.files[static_cast<size_t>(s)];
    EMBER_CHECK(!opt.strict, "ImageCache::open: ", cache->skipped_.size(), " of ", n,
                " files could not be decoded when the cache ", path, " was built (strict mode):", list);
    if (log) {
      std::fprintf(log, "ImageCache: warning: %s leaves out %lld of %llu files that could not be decoded:%s\n",
                   path.c_str(), static_cast<long long>(cache->skipped_.size()),
                   static_cast<unsigned long long>(n), list.c_str());
      std::fflush(log);
    }
  }
  return cache;
}

}  // namespace ember
