// datasets/Augment.cpp: parameter draws, and the fused coordinate map + bilinear sampler + lighting.
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
#include "ember/datasets/Augment.h"

#include <algorithm>
#include <cmath>

#include "ember/tensor/Random.h"

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

}  // namespace ember
