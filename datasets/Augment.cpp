// datasets/Augment.cpp: parameter draws, the fused coordinate map + bilinear sampler + lighting,
// and ImageBatchLoader (a DataLoader over an epoch-aware dataset, items built by a worker pool).
//
// Coordinate chain for output pixel (i, j), all in grid_sample's normalised [-1, 1] coordinates
// with align_corners=True (-1 and 1 are the centres of the first and last pixel):
//   p = (-1 + 2j/(S-1), -1 + 2i/(S-1))                       output grid, S = size
//   r = crop of the item_size square: corner + (p+1)/2 (cp-1) pixels, renormalised
//   a = F R Z r                                               flip, rotation, zoom (2x3 matrices)
//   q = H(a)                                                  perspective warp (homography)
//   q reflected into [-1, 1]                                  reflection padding
//   c = square offset + ((q+1)/2 (N-1) + 0.5) P/N - 0.5       pixel of the cached image
//   bilinear sample at c (edges clamped), then lighting.
#include "datasets/Augment.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "datasets/DataLoader.h"
#include "tensor/Random.h"

namespace ember {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr uint64_t kAugmentKey = 0x9E3779B97F4A7C15ULL;  // separates augmentation from shuffle draws

// Counter of draw k of item i in epoch e: distinct for e < 2^24, i < 2^35, k < 32.
double draw(uint64_t seed, uint64_t epoch, uint64_t item, unsigned k) {
  uint64_t counter = (epoch << 40) ^ (item << 5) ^ k;
  return philox::uniform(counter, seed ^ kAugmentKey);
}

// Solves the 8x8 system A x = b in place (partial pivoting); false when singular.
bool solve8(double a[8][8], double b[8]) {
  for (int c = 0; c < 8; ++c) {
    int piv = c;
    for (int r = c + 1; r < 8; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    if (std::fabs(a[piv][c]) < 1e-12) return false;
    if (piv != c) {
      for (int k = 0; k < 8; ++k) std::swap(a[c][k], a[piv][k]);
      std::swap(b[c], b[piv]);
    }
    for (int r = c + 1; r < 8; ++r) {
      double f = a[r][c] / a[c][c];
      for (int k = c; k < 8; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  for (int c = 7; c >= 0; --c) {
    double s = b[c];
    for (int k = c + 1; k < 8; ++k) s -= a[c][k] * b[k];
    b[c] = s / a[c][c];
  }
  return true;
}

// fastai's Warp: the homography taking the moved corners to the original ones (find_coeffs(orig,
// targ)), applied to the sampling coordinates. m is row-major 3x3 with m[8] = 1.
bool warp_homography(double wx, double wy, double m[9]) {
  const double orig[4][2] = {{-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
  const double targ[4][2] = {{-1 - wy, -1 - wx}, {-1 + wy, 1 + wx}, {1 + wy, -1 + wx}, {1 - wy, 1 - wx}};
  double a[8][8] = {}, b[8];
  for (int i = 0; i < 4; ++i) {
    double px = orig[i][0], py = orig[i][1], tx = targ[i][0], ty = targ[i][1];
    double r0[8] = {tx, ty, 1, 0, 0, 0, -px * tx, -px * ty};
    double r1[8] = {0, 0, 0, tx, ty, 1, -py * tx, -py * ty};
    std::copy(r0, r0 + 8, a[2 * i]);
    std::copy(r1, r1 + 8, a[2 * i + 1]);
    b[2 * i] = px;
    b[2 * i + 1] = py;
  }
  if (!solve8(a, b)) return false;
  std::copy(b, b + 8, m);
  m[8] = 1.0;
  return true;
}

// grid_sample's reflection with align_corners=True: mirror about -1 and 1.
inline double reflect(double v) {
  double u = std::fabs(v + 1.0);
  u = std::fmod(u, 4.0);
  if (u > 2.0) u = 4.0 - u;
  return u - 1.0;
}

inline float logit(float v) {
  v = std::min(std::max(v, 1e-7f), 1.0f - 1e-7f);
  return std::log(v / (1.0f - v));
}
}  // namespace

// ---------------------------------------------------------------------------
AugmentParams draw_augment(const AugmentOptions& opt, uint64_t seed, uint64_t epoch, uint64_t item) {
  auto u = [&](unsigned k) { return draw(seed, epoch, item, k); };
  AugmentParams p;
  if (opt.random_square) {
    p.square_x = u(0);
    p.square_y = u(1);
  }
  // RandomResizedCropGPU, ratio (1, 1): one attempt always fits.
  const int n = opt.item_size;
  double area = (opt.min_scale + (1.0 - opt.min_scale) * u(2)) * n * n;
  int cp = std::min(n, std::max(1, static_cast<int>(std::lround(std::sqrt(area)))));
  p.crop_size = cp;
  p.crop_left = std::min(n - cp, static_cast<int>(u(3) * (n - cp + 1)));
  p.crop_top = std::min(n - cp, static_cast<int>(u(4) * (n - cp + 1)));
  p.flip = u(5) < opt.p_flip;
  if (u(6) < opt.p_affine) p.rotate_deg = -opt.max_rotate + 2.0 * opt.max_rotate * u(7);
  if (u(8) < opt.p_affine) p.zoom = opt.min_zoom + (opt.max_zoom - opt.min_zoom) * u(9);
  p.zoom_x = u(10);
  p.zoom_y = u(11);
  if (u(12) < opt.p_affine) p.warp_x = -opt.max_warp + 2.0 * opt.max_warp * u(13);
  if (u(14) < opt.p_affine) p.warp_y = -opt.max_warp + 2.0 * opt.max_warp * u(15);
  double ml = opt.max_lighting;
  if (u(16) < opt.p_lighting) p.brightness = 0.5 * (1.0 - ml) + ml * u(17);
  if (u(18) < opt.p_lighting && ml > 0 && ml < 1) {
    double lo = std::log(1.0 - ml);
    p.contrast = std::exp(lo - 2.0 * lo * u(19));
  }
  return p;
}

void render_augmented(const uint8_t* src, int h, int w, const AugmentParams& p, const AugmentOptions& opt,
                      float* dst) {
  EMBER_CHECK(src && h > 0 && w > 0, "render_augmented: empty source image [", h, ", ", w, "]");
  EMBER_CHECK(opt.size >= 1 && opt.item_size >= 2, "render_augmented: size must be >= 1 and item_size >= 2,",
              " got ", opt.size, " and ", opt.item_size);
  const int s = opt.size, n = opt.item_size;
  const int side = std::min(h, w);  // Resize's square, in cached pixels
  const double ox = p.square_x * (w - side), oy = p.square_y * (h - side);
  const double pix = static_cast<double>(side) / n;  // cached pixels per item_size pixel
  const int cp = p.crop_size > 0 ? std::min(p.crop_size, n) : n;
  const int left = p.crop_size > 0 ? p.crop_left : 0, top = p.crop_size > 0 ? p.crop_top : 0;

  // A = Flip @ Rotate @ Zoom (fastai multiplies them in that order).
  double th = p.rotate_deg * kPi / 180.0, c = std::cos(th), sn = std::sin(th);
  double fl = p.flip ? -1.0 : 1.0;
  double zs = 1.0 / p.zoom;
  double zcx = (1.0 - zs) * (2.0 * p.zoom_x - 1.0), zcy = (1.0 - zs) * (2.0 * p.zoom_y - 1.0);
  // R Z = [[c, sn], [-sn, c]] [[zs, 0, zcx], [0, zs, zcy]]
  double rz[2][3] = {{c * zs, sn * zs, c * zcx + sn * zcy}, {-sn * zs, c * zs, -sn * zcx + c * zcy}};
  double a[2][3] = {{fl * rz[0][0], fl * rz[0][1], fl * rz[0][2]}, {rz[1][0], rz[1][1], rz[1][2]}};
  double hm[9];
  bool warp = (p.warp_x != 0.0 || p.warp_y != 0.0) && warp_homography(p.warp_x, p.warp_y, hm);
  const bool light = p.brightness != 0.5 || p.contrast != 1.0;
  const float lb = logit(static_cast<float>(p.brightness)), lc = static_cast<float>(p.contrast);

  const size_t plane = static_cast<size_t>(s) * s;
  const double step = s > 1 ? 2.0 / (s - 1) : 0.0;
  for (int i = 0; i < s; ++i) {
    double py = s > 1 ? -1.0 + step * i : 0.0;
    double ry = -1.0 + 2.0 * (top + (py + 1.0) * 0.5 * (cp - 1)) / (n - 1);
    for (int j = 0; j < s; ++j) {
      double px = s > 1 ? -1.0 + step * j : 0.0;
      double rx = -1.0 + 2.0 * (left + (px + 1.0) * 0.5 * (cp - 1)) / (n - 1);
      double qx = a[0][0] * rx + a[0][1] * ry + a[0][2];
      double qy = a[1][0] * rx + a[1][1] * ry + a[1][2];
      if (warp) {
        double zx = hm[0] * qx + hm[1] * qy + hm[2];
        double zy = hm[3] * qx + hm[4] * qy + hm[5];
        double zz = hm[6] * qx + hm[7] * qy + hm[8];
        if (zz != 0.0) {
          qx = zx / zz;
          qy = zy / zz;
        }
      }
      qx = reflect(qx);
      qy = reflect(qy);
      double cx = ox + ((qx + 1.0) * 0.5 * (n - 1) + 0.5) * pix - 0.5;
      double cy = oy + ((qy + 1.0) * 0.5 * (n - 1) + 0.5) * pix - 0.5;
      cx = std::min(std::max(cx, 0.0), static_cast<double>(w - 1));
      cy = std::min(std::max(cy, 0.0), static_cast<double>(h - 1));
      int x0 = static_cast<int>(cx), y0 = static_cast<int>(cy);
      int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
      float fx = static_cast<float>(cx - x0), fy = static_cast<float>(cy - y0);
      const uint8_t* p00 = src + (static_cast<size_t>(y0) * w + x0) * 3;
      const uint8_t* p01 = src + (static_cast<size_t>(y0) * w + x1) * 3;
      const uint8_t* p10 = src + (static_cast<size_t>(y1) * w + x0) * 3;
      const uint8_t* p11 = src + (static_cast<size_t>(y1) * w + x1) * 3;
      size_t o = static_cast<size_t>(i) * s + j;
      for (int k = 0; k < 3; ++k) {
        float top_v = p00[k] + (p01[k] - p00[k]) * fx;
        float bot_v = p10[k] + (p11[k] - p10[k]) * fx;
        float v = (top_v + (bot_v - top_v) * fy) * (1.0f / 255.0f);
        if (light) v = 1.0f / (1.0f + std::exp(-(logit(v) + lb) * lc));
        dst[k * plane + o] = v;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// WorkerPool: run(n, fn) calls fn(0..n-1) on the calling thread and `threads - 1` helpers.
namespace {
class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int t = 1; t < threads; ++t) helpers_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : helpers_) t.join();
  }
  int threads() const { return static_cast<int>(helpers_.size()) + 1; }

  void run(int64_t n, const std::function<void(int64_t)>& fn) {
    std::lock_guard<std::mutex> one_at_a_time(run_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      next_ = 0;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work(fn, n);
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return active_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(const std::function<void(int64_t)>& fn, int64_t n) {
    for (int64_t i; (i = next_.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }
  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && fn_ != nullptr); });
      if (stop_) return;
      seen = generation_;
      const std::function<void(int64_t)>* fn = fn_;
      int64_t n = n_;
      ++active_;
      lock.unlock();
      work(*fn, n);
      lock.lock();
      if (--active_ == 0) idle_.notify_all();
    }
  }

  std::vector<std::thread> helpers_;
  std::mutex run_mu_, mu_;
  std::condition_variable wake_, idle_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  uint64_t generation_ = 0;
  int active_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// The Dataset the DataLoader prefetches from: position -> this epoch's item -> rendered image.
class EpochImages : public Dataset {
 public:
  EpochImages(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items, const ImageLoaderOptions& opt,
              int threads)
      : cache_(std::move(cache)), items_(std::move(items)), opt_(opt), pool_(threads) {}

  int64_t size() const override { return static_cast<int64_t>(items_.size()); }
  Example get(int64_t pos) const override {
    Example e = get_batch({pos});
    return {e.x.squeeze(0), e.y.squeeze(0)};
  }
  Example get_batch(const std::vector<int64_t>& positions) const override {
    std::vector<int64_t> ids;
    ids.reserve(positions.size());
    for (int64_t p : positions) ids.push_back(order_[static_cast<size_t>(p)]);
    return render(epoch_, ids);
  }

  // Only while no DataLoader is reading (ImageBatchLoader makes a new one per epoch).
  void set_epoch(int epoch) {
    epoch_ = epoch;
    order_ = order(epoch);
  }
  std::vector<int64_t> order(int epoch) const {
    if (!opt_.train) return items_;
    std::vector<int64_t> perm = permutation(size(), opt_.seed, static_cast<uint64_t>(epoch) << 32);
    std::vector<int64_t> out(items_.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = items_[static_cast<size_t>(perm[i])];
    return out;
  }

  // x f32 [B, 3, S, S], y i64 [B] for cache items `ids` in `epoch`.
  Example render(int epoch, const std::vector<int64_t>& ids) const {
    const int s = opt_.aug.size;
    const auto b = static_cast<int64_t>(ids.size());
    Tensor x = empty({b, 3, s, s}, DType::f32);
    Tensor y = empty({b}, DType::i64);
    float* xp = x.data<float>();
    int64_t* yp = y.data<int64_t>();
    const size_t per = static_cast<size_t>(3) * s * s;
    pool_.run(b, [&](int64_t k) {
      int64_t id = ids[static_cast<size_t>(k)];
      AugmentParams p;
      if (opt_.train) p = draw_augment(opt_.aug, opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(id));
      render_augmented(cache_->pixels(id), cache_->height(id), cache_->width(id), p, opt_.aug,
                       xp + per * static_cast<size_t>(k));
      yp[k] = cache_->label(id);
    });
    return {x, y};
  }
  int threads() const { return pool_.threads(); }

 private:
  std::shared_ptr<const ImageCache> cache_;
  std::vector<int64_t> items_;
  ImageLoaderOptions opt_;
  mutable WorkerPool pool_;
  int epoch_ = 0;
  std::vector<int64_t> order_;
};
}  // namespace

struct ImageBatchLoader::Impl {
  ImageLoaderOptions opt;
  std::shared_ptr<EpochImages> data;
  std::unique_ptr<DataLoader> loader;
  bool running = false;
};

ImageBatchLoader::ImageBatchLoader(std::shared_ptr<const ImageCache> cache, std::vector<int64_t> items,
                                   ImageLoaderOptions opt)
    : impl_(std::make_unique<Impl>()) {
  EMBER_CHECK(cache != nullptr, "ImageBatchLoader: null cache");
  EMBER_CHECK(opt.batch_size >= 1, "ImageBatchLoader: batch_size must be >= 1, got ", opt.batch_size);
  EMBER_CHECK(opt.prefetch >= 0, "ImageBatchLoader: prefetch must be >= 0, got ", opt.prefetch);
  EMBER_CHECK(opt.aug.size >= 1 && opt.aug.item_size >= 2, "ImageBatchLoader: aug.size must be >= 1 and ",
              "aug.item_size >= 2, got ", opt.aug.size, " and ", opt.aug.item_size);
  EMBER_CHECK(opt.aug.min_scale > 0 && opt.aug.min_scale <= 1, "ImageBatchLoader: aug.min_scale must be in ",
              "(0, 1], got ", opt.aug.min_scale);
  for (int64_t i : items)
    EMBER_CHECK(i >= 0 && i < cache->size(), "ImageBatchLoader: item ", i, " out of range for the cache ",
                cache->path(), " (", cache->size(), " images)");
  int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  impl_->opt = opt;
  impl_->data = std::make_shared<EpochImages>(std::move(cache), std::move(items), opt, std::max(threads, 1));
}

ImageBatchLoader::~ImageBatchLoader() = default;  // the DataLoader stops its thread first

size_t ImageBatchLoader::size() const {
  int64_t n = impl_->data->size(), bs = impl_->opt.batch_size;
  return static_cast<size_t>(impl_->opt.train ? n / bs : (n + bs - 1) / bs);
}

int64_t ImageBatchLoader::n_items() const {
  return impl_->opt.train ? static_cast<int64_t>(size()) * impl_->opt.batch_size : impl_->data->size();
}

void ImageBatchLoader::start_epoch(int epoch) {
  EMBER_CHECK(epoch >= 0, "ImageBatchLoader::start_epoch: epoch must be >= 0, got ", epoch);
  impl_->loader.reset();  // stops the previous epoch's prefetch thread
  impl_->data->set_epoch(epoch);
  DataLoaderOptions d;
  d.batch_size = impl_->opt.batch_size;
  d.shuffle = false;  // the dataset already visits this epoch's order
  d.drop_last = impl_->opt.train;
  d.to_float = false;
  d.prefetch = impl_->opt.prefetch;
  impl_->loader = std::make_unique<DataLoader>(impl_->data, d);
  impl_->running = true;
}

bool ImageBatchLoader::next(Tensor& x, Tensor& y) {
  if (!impl_->loader) start_epoch(0);
  if (!impl_->running) return false;
  Batch b;
  bool got = false;
  try {
    got = impl_->loader->next(b);
  } catch (...) {
    impl_->running = false;
    throw;
  }
  if (!got) {
    impl_->running = false;
    return false;
  }
  x = b.x;
  y = b.y;
  return true;
}

Example ImageBatchLoader::batch(int epoch, int64_t b) const {
  EMBER_CHECK(b >= 0 && b < static_cast<int64_t>(size()), "ImageBatchLoader::batch: batch ", b,
              " out of range (", size(), " batches per epoch)");
  std::vector<int64_t> order = impl_->data->order(epoch);
  int64_t bs = impl_->opt.batch_size, start = b * bs;
  int64_t stop = std::min<int64_t>(start + bs, static_cast<int64_t>(order.size()));
  std::vector<int64_t> ids(order.begin() + start, order.begin() + stop);
  return impl_->data->render(epoch, ids);
}

std::vector<int64_t> ImageBatchLoader::epoch_order(int epoch) const { return impl_->data->order(epoch); }
const ImageLoaderOptions& ImageBatchLoader::options() const { return impl_->opt; }
int ImageBatchLoader::threads() const { return impl_->data->threads(); }

}  // namespace ember
