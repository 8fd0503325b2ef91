// datasets/Image.cpp: stb_image decoding, stb_image_write PNG output, batch grids.
//
// stb comes from Debian's libstb (compiled implementation in libstb.so/.a); the headers are
// included only here, so users of Image.h never see them.
#include "ember/datasets/Image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "ember/datasets/Files.h"

namespace fs = std::filesystem;

namespace ember {

namespace {
// "89 50 4e 47 0d 0a 1a 0a" for the first bytes of a file: helps to see what it really is.
std::string leading_bytes(const uint8_t* data, size_t size) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", data[i]);
    s += (i ? " " : "") + std::string(buf);
  }
  return s;
}

// One CSV field, quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string q = "\"";
  for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "no reason given";
}

// Debian's stb_image (v2.27) trusts a JPEG DHT segment's 16 code counts: a table with more than
// 256 codes writes past stbi__huffman::size[257] (heap corruption; found by fuzz/fuzz_image.cpp,
// fixed upstream in v2.28). Walk the JPEG's segments as stb does and refuse such a table before
// stb sees it. Like stb, DHT and DQT segments are read by their content (a table at a time, until
// the declared length is used up; stb stops at a segment whose tables overrun it), other segments
// by their declared length; between segments and in entropy-coded data, any FF xx (xx not 00, FF
// or RSTn) is the next marker.
void check_jpeg_huffman_tables(const std::string& name, const uint8_t* d, size_t size) {
  // SOI: stb takes any number of 0xFF fill bytes before the D8, as before every marker (an
  // image starting FF FF D8 got past a check that wanted FF D8; found by fuzz/fuzz_image.cpp).
  size_t p = 0;
  while (p < size && d[p] == 0xFF) ++p;
  if (p < 1 || p >= size || d[p] != 0xD8) return;  // not a JPEG
  p += 1;
  auto at = [&](size_t i) -> uint8_t { return i < size ? d[i] : 0; };  // stb reads 0 past the end
  // stb_image 2.27 also decodes with a Huffman table no DHT defined (uninitialised memory, read out
  // of bounds; found by fuzz/fuzz_image.cpp): each scan's tables must have been defined before it.
  bool defined[2][4] = {}, progressive = false;
  while (p + 4 <= size) {
    if (d[p] != 0xFF) {  // entropy-coded data or garbage: skip to the next marker
      ++p;
      continue;
    }
    uint8_t m = d[p + 1];
    if (m == 0x00 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {  // stuffing, fill, RSTn, TEM
      p += m == 0xFF ? 1 : 2;
      continue;
    }
    if (m == 0xD9) return;  // EOI
    int64_t len = (int64_t(d[p + 2]) << 8) | d[p + 3];  // includes its own 2 bytes
    if (m == 0xC2) progressive = true;
    if (m == 0xDA) {  // SOS: each component names its DC and AC tables, which must exist by now
      size_t ns = at(p + 4), after = p + 5 + 2 * ns;
      bool first_dc = at(after) == 0 && (at(after + 2) >> 4) == 0, ac = at(after) > 0;
      for (size_t i = 0; i < ns; ++i) {
        int td = at(p + 6 + 2 * i) >> 4, ta = at(p + 6 + 2 * i) & 15;
        bool need_dc = progressive ? first_dc : true, need_ac = progressive ? ac : true;
        EMBER_CHECK(!(need_dc && td <= 3 && !defined[0][td]) && !(need_ac && ta <= 3 && !defined[1][ta]), "image: ",
                    name, ": corrupt JPEG: the scan at byte ", p, " uses Huffman table ",
                    need_dc && td <= 3 && !defined[0][td] ? "DC " + std::to_string(td) : "AC " + std::to_string(ta),
                    ", which no DHT before it defines");
      }
    }
    if (m == 0xC4 || m == 0xDB) {  // DHT: [class/id][16 counts][values]...; DQT: [type/id][64 or 128]...
      int64_t left = len - 2;
      size_t q = p + 4;
      while (left > 0 && q < size) {
        int64_t n;
        if (m == 0xC4) {
          int64_t codes = 0;
          for (size_t i = 1; i <= 16; ++i) codes += at(q + i);
          EMBER_CHECK(codes <= 256, "image: ", name, ": corrupt JPEG: Huffman table (DHT at byte ", p,
                      ") declares ", codes, " codes, more than 256");
          if ((d[q] >> 4) <= 1 && (d[q] & 15) <= 3) defined[d[q] >> 4][d[q] & 15] = true;
          n = 17 + codes;
        } else {
          n = (d[q] >> 4) ? 129 : 65;
        }
        q += size_t(n);
        left -= n;
      }
      if (left != 0) return;  // stb refuses the file here
      p = q;
      continue;
    }
    p += 2 + size_t(len);
  }
}

// stb_image (v2.27) reads a PNM header's width, height and maxval into an int without an
// overflow check (signed overflow, undefined behaviour; found by fuzz/fuzz_image.cpp). Parse
// them as stb does (whitespace, '#' comments) and refuse a number of more than 9 digits, and a
// maxval over 255 (see below).
void check_pnm_header(const std::string& name, const uint8_t* d, size_t size) {
  if (size < 2 || d[0] != 'P' || (d[1] != '5' && d[1] != '6')) return;  // stb reads P5 and P6 only
  size_t p = 2;
  for (const char* what : {"width", "height", "maxval"}) {
    while (p < size) {  // stbi__pnm_skip_whitespace
      while (p < size && std::isspace(d[p])) ++p;
      if (p >= size || d[p] != '#') break;
      while (p < size && d[p] != '\n' && d[p] != '\r') ++p;
    }
    size_t digits = 0;
    int64_t value = 0;
    for (; p < size && std::isdigit(d[p]); ++p, ++digits)
      if (digits < 9) value = value * 10 + (d[p] - '0');
    EMBER_CHECK(digits <= 9, "image: ", name, ": corrupt PNM header: its ", what, " has ", digits,
                " digits (at most 9)");
    // 16-bit PNM: stb_image 2.27 converts the channels of such an image as if it were 8-bit and then
    // reads twice the buffer's size (heap overflow; found by fuzz/fuzz_image.cpp). Refused.
    EMBER_CHECK(std::string(what) != "maxval" || value <= 255, "image: ", name, ": 16-bit PNM (maxval ", value,
                ") is not supported; convert it to 8-bit (maxval 255) or PNG");
  }
}

// stb_image grows its buffer to a PNG IDAT chunk's declared length before reading it, so 40 bytes
// claiming a 1.3 GB chunk allocate 1.3 GB (found by fuzz/fuzz_image.cpp). Refuse a chunk that
// claims more bytes than the file has left.
void check_png_chunks(const std::string& name, const uint8_t* d, size_t size) {
  static const uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 8 || std::memcmp(d, kSig, 8) != 0) return;
  bool seen_idat = false;
  for (size_t p = 8; p + 8 <= size;) {
    uint64_t len = (uint64_t(d[p]) << 24) | (uint64_t(d[p + 1]) << 16) | (uint64_t(d[p + 2]) << 8) | d[p + 3];
    std::string type(reinterpret_cast<const char*>(d + p + 4), 4);
    EMBER_CHECK(len <= size - (p + 8), "image: ", name, ": corrupt PNG: chunk '", type, "' at byte ", p, " claims ",
                len, " bytes but only ", size - (p + 8), " are left (truncated file?)");
    if (type == "IEND") return;
    // stb_image 2.27 copies an empty first IDAT into its not yet allocated buffer, memcpy(NULL, .., 0),
    // which is undefined behaviour (fuzz finding 13). Such a chunk carries nothing: refused.
    EMBER_CHECK(type != "IDAT" || len > 0 || seen_idat, "image: ", name, ": corrupt PNG: empty IDAT chunk at byte ",
                p, " before any image data");
    seen_idat = seen_idat || type == "IDAT";
    p += 12 + size_t(len);
  }
}

// The pixel limit, before anything the size of the image is allocated.
void check_pixels(const std::string& name, const char* format, int64_t w, int64_t h);

// The size a PNG or BMP header declares, checked against the pixel limit before stb_image sees
// it: stb refuses a side over 2^24 itself but then, having tried every other format, reports
// "unknown image type", which hides the real cause.
void check_declared_pixels(const std::string& name, const uint8_t* d, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto be32 = [&](size_t i) { return (int64_t(d[i]) << 24) | (int64_t(d[i + 1]) << 16) | (int64_t(d[i + 2]) << 8) | d[i + 3]; };
  auto le32 = [&](size_t i) {
    const uint32_t u = uint32_t(d[i]) | (uint32_t(d[i + 1]) << 8) | (uint32_t(d[i + 2]) << 16) | (uint32_t(d[i + 3]) << 24);
    return static_cast<int64_t>(static_cast<int32_t>(u));
  };
  if (size >= 24 && std::memcmp(d, kPng, 8) == 0 && std::memcmp(d + 12, "IHDR", 4) == 0)
    check_pixels(name, "PNG ", be32(16), be32(20));
  else if (size >= 26 && d[0] == 'B' && d[1] == 'M')
    check_pixels(name, "BMP ", std::abs(le32(18)), std::abs(le32(22)));  // a negative height: top-down rows
}

[[noreturn]] void decode_fail(const std::string& name, const uint8_t* data, size_t size) {
  EMBER_FAIL("image: ", name, ": cannot decode (stb_image: ", stb_reason(), "); the file has ",
             size, " bytes starting ", leading_bytes(data, size),
             "; supported: PNG, JPEG, BMP, GIF, TGA, PSD, PNM, HDR");
}
}  // namespace

// ---------------------------------------------------------------------------
// Decoding
namespace {
std::atomic<int64_t> g_max_pixels{kDefaultMaxImagePixels};
}
void set_max_image_pixels(int64_t n) {
  EMBER_CHECK(n > 0, "set_max_image_pixels: the limit must be positive, got ", n);
  g_max_pixels = n;
}
int64_t max_image_pixels() { return g_max_pixels; }

namespace {
void check_pixels(const std::string& name, const char* format, int64_t w, int64_t h) {
  EMBER_CHECK(w * h <= max_image_pixels(), "image: ", name, ": ", format, "header claims ", w, "x", h, " = ", w * h,
              " pixels, over the limit of ", max_image_pixels(),
              " (set_max_image_pixels); refusing to decode: the header is probably corrupt");
}
}  // namespace

ImageInfo image_info(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path, /*gunzip=*/false, "image");
  EMBER_CHECK(!bytes.empty(), "image: ", path, ": file is empty");
  EMBER_CHECK(bytes.size() <= size_t(INT_MAX), "image: ", path, ": file too large (", bytes.size(),
              " bytes)");
  ImageInfo info;
  check_jpeg_huffman_tables(path, bytes.data(), bytes.size());
  check_pnm_header(path, bytes.data(), bytes.size());
  check_png_chunks(path, bytes.data(), bytes.size());
  check_declared_pixels(path, bytes.data(), bytes.size());
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &info.width, &info.height,
                             &info.channels))
    decode_fail(path, bytes.data(), bytes.size());
  return info;
}

Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int channels) {
  EMBER_CHECK(channels >= 0 && channels <= 4, "image: ", name, ": channels must be 0 (as stored), 1, 2, ",
              "3 or 4; got ", channels);
  EMBER_CHECK(size > 0, "image: ", name, ": file is empty");
  EMBER_CHECK(size <= size_t(INT_MAX), "image: ", name, ": file too large (", size, " bytes)");
  int w = 0, h = 0, c = 0;
  check_jpeg_huffman_tables(name, data, size);  // before stb parses the header (info reads DHTs too)
  check_pnm_header(name, data, size);
  check_png_chunks(name, data, size);
  check_declared_pixels(name, data, size);
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c)) decode_fail(name, data, size);
  check_pixels(name, "", w, h);
  unsigned char* pixels = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &c, channels);
  if (!pixels) decode_fail(name, data, size);
  int out_c = channels ? channels : c;
  // The tensor adopts stb's buffer and frees it with stbi_image_free.
  return from_blob(pixels, {h, w, out_c}, DType::u8, [](void* p) { stbi_image_free(p); });
}

Tensor read_image(const std::string& path, int channels) {
  EMBER_CHECK(channels >= 0 && channels <= 4, "image: ", path, ": channels must be 0 (as stored), 1, 2, ",
              "3 or 4; got ", channels);
  std::vector<uint8_t> bytes = read_file_bytes(path, /*gunzip=*/false, "image");
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

// ---------------------------------------------------------------------------
// Writing
namespace {
void append_bytes(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}
}  // namespace

void write_png(const std::string& path, const Tensor& image) {
  EMBER_CHECK(image.defined(), "write_png: ", path, ": undefined tensor");
  EMBER_CHECK(image.dtype() == DType::u8, "write_png: ", path, ": needs a u8 image, got ",
              dtype_name(image.dtype()), " ", fmt(image.shape()));
  EMBER_CHECK(image.dim() == 2 || (image.dim() == 3 && image.size(2) >= 1 && image.size(2) <= 4),
              "write_png: ", path, ": needs [H, W] or [H, W, C] with C in 1..4, got ",
              fmt(image.shape()));
  Tensor c = image.cpu().contiguous();
  int64_t h = c.size(0), w = c.size(1), ch = c.dim() == 3 ? c.size(2) : 1;
  EMBER_CHECK(h > 0 && w > 0 && h <= INT_MAX / 4 && w * ch <= INT_MAX, "write_png: ", path,
              ": bad image size ", fmt(image.shape()));
  std::vector<uint8_t> png;
  int ok = stbi_write_png_to_func(append_bytes, &png, static_cast<int>(w), static_cast<int>(h),
                                  static_cast<int>(ch), c.data<uint8_t>(),
                                  static_cast<int>(w * ch));
  EMBER_CHECK(ok && !png.empty(), "write_png: ", path, ": stb_image_write failed for ",
              fmt(image.shape()));
  write_file_atomic(path, png.data(), png.size(), "write_png");
}

// ---------------------------------------------------------------------------
// Grids
Tensor make_grid(const Tensor& images, int64_t ncol, int64_t pad, int64_t scale) {
  EMBER_CHECK(images.defined(), "make_grid: undefined tensor");
  EMBER_CHECK(ncol >= 1 && pad >= 0 && scale >= 1, "make_grid: need ncol >= 1, pad >= 0, scale >= 1; got ",
              ncol, ", ", pad, ", ", scale);
  EMBER_CHECK(images.dtype() == DType::u8 || is_floating(images.dtype()), "make_grid: images must be ",
              "u8 or float in [0, 1], got ", dtype_name(images.dtype()));
  // Bring every layout to [B, H, W, C].
  Tensor x = images.cpu();
  const Shape& s = x.shape();
  if (x.dim() == 2) {
    auto side = static_cast<int64_t>(std::llround(std::sqrt(double(s[1]))));
    EMBER_CHECK(side * side == s[1], "make_grid: [B, D] images need D to be a square (e.g. 784 = 28x28),",
                " got ", fmt(s));
    x = x.reshape({s[0], side, side, 1});
  } else if (x.dim() == 3) {
    x = x.unsqueeze(3);
  } else if (x.dim() == 4) {
    bool hwc = s[3] == 1 || s[3] == 3 || s[3] == 4;
    bool chw = s[1] == 1 || s[1] == 3;
    EMBER_CHECK(hwc || chw, "make_grid: 4-d images must be [B, H, W, C] or [B, C, H, W] with C 1, 3",
                " or 4; got ", fmt(s));
    if (!hwc) x = x.permute({0, 2, 3, 1});
  } else {
    EMBER_FAIL("make_grid: images must be [B, H, W], [B, H, W, C], [B, C, H, W] or [B, D]; got ",
               fmt(s));
  }
  int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  std::vector<uint8_t> pix(static_cast<size_t>(x.numel()));
  if (x.dtype() == DType::u8) {
    pix = x.contiguous().to_vector<uint8_t>();
  } else {
    std::vector<float> f = x.to(DType::f32).contiguous().to_vector<float>();
    for (size_t i = 0; i < f.size(); ++i) {
      float v = std::isfinite(f[i]) ? f[i] : 0.f;
      pix[i] = static_cast<uint8_t>(std::clamp(v * 255.f + 0.5f, 0.f, 255.f));
    }
  }
  int64_t cols = std::max<int64_t>(1, std::min(ncol, b));
  int64_t rows = b == 0 ? 1 : (b + cols - 1) / cols;
  int64_t ch = h * scale, cw = w * scale;
  int64_t gh = rows * (ch + pad) + pad, gw = cols * (cw + pad) + pad;
  Tensor grid = zeros({gh, gw, c}, DType::u8);
  uint8_t* g = grid.data<uint8_t>();
  if (c == 4)  // opaque padding
    for (int64_t i = 0; i < gh * gw; ++i) g[i * 4 + 3] = 255;
  for (int64_t n = 0; n < b; ++n) {
    int64_t y0 = pad + (n / cols) * (ch + pad), x0 = pad + (n % cols) * (cw + pad);
    for (int64_t y = 0; y < ch; ++y)
      for (int64_t xx = 0; xx < cw; ++xx)
        for (int64_t k = 0; k < c; ++k)
          g[((y0 + y) * gw + x0 + xx) * c + k] =
              pix[static_cast<size_t>(((n * h + y / scale) * w + xx / scale) * c + k)];
  }
  return grid;
}

std::string show_batch(const std::string& png_path, const Tensor& images, const Tensor& labels,
                       const ShowBatchOptions& opt) {
  EMBER_CHECK(images.defined() && images.dim() >= 2, "show_batch: ", png_path,
              ": images must be a batch [B, ...], got ",
              images.defined() ? fmt(images.shape()) : std::string("undefined"));
  int64_t b = images.size(0);
  std::vector<int64_t> lab;
  if (labels.defined()) {
    EMBER_CHECK(labels.dim() == 1 && labels.size(0) == b, "show_batch: ", png_path, ": labels ",
                fmt(labels.shape()), " do not match images ", fmt(images.shape()),
                " (need one label per image)");
    EMBER_CHECK(!is_floating(labels.dtype()), "show_batch: ", png_path,
                ": labels must be integers (i64 or u8), got ", dtype_name(labels.dtype()));
    lab = labels.cpu().to(DType::i64).contiguous().to_vector<int64_t>();
  }
  int64_t n = std::min(b, std::max<int64_t>(opt.max_images, 0));
  Tensor grid = make_grid(images.narrow(0, 0, n), opt.ncol, opt.pad, opt.scale);
  write_png(png_path, grid);

  int64_t cols = std::max<int64_t>(1, std::min(opt.ncol, n));
  std::ostringstream csv;
  csv << "index,row,col,label" << (opt.classes.empty() ? "" : ",class") << "\n";
  for (int64_t i = 0; i < n; ++i) {
    csv << i << "," << i / cols << "," << i % cols << ",";
    if (!lab.empty()) csv << lab[size_t(i)];
    if (!opt.classes.empty()) {
      csv << ",";
      if (!lab.empty()) {
        int64_t l = lab[size_t(i)];
        EMBER_CHECK(l >= 0 && l < int64_t(opt.classes.size()), "show_batch: ", png_path, ": label ", l,
                    " of image ", i, " has no name (", opt.classes.size(), " classes)");
        csv << csv_field(opt.classes[size_t(l)]);
      }
    }
    csv << "\n";
  }
  std::string csv_path = fs::path(png_path).replace_extension(".csv").string();
  std::string text = csv.str();
  write_file_atomic(csv_path, text.data(), text.size(), "show_batch");
  return csv_path;
}

}  // namespace ember
