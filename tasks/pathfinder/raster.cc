#include "tasks/pathfinder/raster.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace lra {
namespace generators {
namespace {

// Pillow's fixed-point precision for resampling coefficients (Resample.c, PRECISION_BITS).
constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's sinc_filter / lanczos_filter (Resample.c).
double Sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= kPi;
  return std::sin(x) / x;
}

double Lanczos(double x) {
  return (-3.0 <= x && x < 3.0) ? Sinc(x) * Sinc(x / 3.0) : 0.0;
}

// Pillow's ROUND_UP / ROUND_DOWN macros (libImaging/Draw.c): round half away from / towards 0.
int RoundUp(double f) {
  return static_cast<int>(f >= 0.0 ? std::floor(f + 0.5f) : -std::floor(std::fabs(f) + 0.5f));
}
int RoundDown(double f) {
  return static_cast<int>(f >= 0.0 ? std::ceil(f - 0.5f) : -std::ceil(std::fabs(f) - 0.5f));
}

}  // namespace

LanczosAxis::LanczosAxis(int in_size, int out_size) : out_size_(out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 3.0 * filterscale;
  ksize_ = static_cast<int>(std::ceil(support)) * 2 + 1;
  coeffs_.assign(static_cast<size_t>(out_size) * ksize_, 0);
  bounds_.resize(2 * out_size);
  std::vector<double> k(ksize_);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = Lanczos((x + xmin - center + 0.5) / filterscale);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      coeffs_[xx * ksize_ + x] = static_cast<int32_t>(
          w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    bounds_[2 * xx] = xmin;
    bounds_[2 * xx + 1] = xmax;
  }
}

void LanczosAxis::Apply(const uint8_t* in, int in_stride, uint8_t* out, int out_stride) const {
  for (int xx = 0; xx < out_size_; ++xx) {
    const int xmin = bounds_[2 * xx], xmax = bounds_[2 * xx + 1];
    const int32_t* k = &coeffs_[xx * ksize_];
    int64_t ss = int64_t{1} << (kPrecisionBits - 1);
    for (int x = 0; x < xmax; ++x) ss += static_cast<int64_t>(in[(x + xmin) * in_stride]) * k[x];
    const int64_t v = ss >> kPrecisionBits;
    out[xx * out_stride] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
  }
}

void LanczosResizer::Resize(const uint8_t* in, uint8_t* out, std::vector<uint8_t>* temp) const {
  temp->resize(static_cast<size_t>(in_) * out_);
  for (int y = 0; y < in_; ++y) axis_.Apply(in + y * in_, 1, temp->data() + y * out_, 1);
  for (int x = 0; x < out_; ++x) axis_.Apply(temp->data() + x, out_, out + x, out_);
}

void Canvas::Point(int x, int y) {
  if (x >= 0 && x < size_ && y >= 0 && y < size_) px_[y * size_ + x] = 255;
}

void Canvas::HLine(int x0, int y0, int x1) {
  if (y0 < 0 || y0 >= size_) return;
  if (x0 > x1) std::swap(x0, x1);
  if (x0 < 0) x0 = 0;
  else if (x0 >= size_) return;
  if (x1 < 0) return;
  if (x1 >= size_) x1 = size_ - 1;
  for (int x = x0; x <= x1; ++x) px_[y0 * size_ + x] = 255;
}

// width <= 1: Bresenham, the end point excluded (Pillow's line8/line32).
void Canvas::ThinLine(int x0, int y0, int x1, int y1) {
  int dx = x1 - x0, dy = y1 - y0;
  const int xs = dx < 0 ? -1 : 1, ys = dy < 0 ? -1 : 1;
  dx = std::abs(dx);
  dy = std::abs(dy);
  if (dx == 0) {
    for (int i = 0; i < dy; ++i, y0 += ys) Point(x0, y0);
  } else if (dy == 0) {
    for (int i = 0; i < dx; ++i, x0 += xs) Point(x0, y0);
  } else if (dx > dy) {
    const int n = dx;
    dy += dy;
    int e = dy - dx;
    dx += dx;
    for (int i = 0; i < n; ++i) {
      Point(x0, y0);
      if (e >= 0) {
        y0 += ys;
        e -= dx;
      }
      e += dy;
      x0 += xs;
    }
  } else {
    const int n = dy;
    dx += dx;
    int e = dx - dy;
    dy += dy;
    for (int i = 0; i < n; ++i) {
      Point(x0, y0);
      if (e >= 0) {
        x0 += xs;
        e -= dy;
      }
      e += dx;
      y0 += ys;
    }
  }
}

Canvas::Edge Canvas::MakeEdge(int x0, int y0, int x1, int y1) {
  Edge e;
  e.xmin = std::min(x0, x1);
  e.xmax = std::max(x0, x1);
  e.ymin = std::min(y0, y1);
  e.ymax = std::max(y0, y1);
  e.dx = y0 == y1 ? 0.0f : static_cast<float>(x1 - x0) / (y1 - y0);
  e.x0 = x0;
  e.y0 = y0;
  return e;
}

// Pillow's polygon_generic scan-line fill.
void Canvas::FillPolygon(const Edge* edges, int n) {
  std::vector<const Edge*> table;
  int ymin = size_ - 1, ymax = 0;
  for (int i = 0; i < n; ++i) {
    const Edge& e = edges[i];
    if (e.ymin == e.ymax) {
      HLine(e.xmin, e.ymin, e.xmax);
      continue;
    }
    ymin = std::min(ymin, e.ymin);
    ymax = std::max(ymax, e.ymax);
    table.push_back(&e);
  }
  if (ymin < 0) ymin = 0;
  if (ymax >= size_) ymax = size_ - 1;
  std::vector<float> xx(2 * table.size() + 2);
  for (; ymin <= ymax; ++ymin) {
    int j = 0;
    for (const Edge* e : table) {
      if (ymin >= e->ymin && ymin <= e->ymax) xx[j++] = (ymin - e->y0) * e->dx + e->x0;
      if (ymin == e->ymax && ymin < ymax) {
        xx[j] = xx[j - 1];
        ++j;
      }
    }
    std::sort(xx.begin(), xx.begin() + j);
    for (int i = 1; i < j; i += 2) HLine(RoundUp(xx[i - 1]), ymin, RoundDown(xx[i]));
  }
}

void Canvas::Line(int x0, int y0, int x1, int y1, int width) {
  if (width <= 1) {
    ThinLine(x0, y0, x1, y1);
    return;
  }
  const int dx = x1 - x0, dy = y1 - y0;
  if (dx == 0 && dy == 0) {
    Point(x0, y0);
    return;
  }
  const double big = std::sqrt(static_cast<double>(dx * dx + dy * dy));
  const double small = (width - 1) / 2.0;
  const double ratio_max = RoundUp(small) / big;
  const double ratio_min = RoundDown(small) / big;
  const int dxmin = RoundDown(ratio_min * dy), dxmax = RoundDown(ratio_max * dy);
  const int dymin = RoundDown(ratio_min * dx), dymax = RoundDown(ratio_max * dx);
  const int v[4][2] = {{x0 - dxmin, y0 + dymax},
                       {x1 - dxmin, y1 + dymax},
                       {x1 + dxmax, y1 - dymin},
                       {x0 + dxmax, y0 - dymin}};
  Edge e[4];
  for (int i = 0; i < 4; ++i) {
    e[i] = MakeEdge(v[i][0], v[i][1], v[(i + 1) % 4][0], v[(i + 1) % 4][1]);
  }
  FillPolygon(e, 4);
}

Offsets DiskOffsets(int r) {
  Offsets out;
  for (int y = -r; y <= r; ++y) {
    for (int x = -r; x <= r; ++x) {
      if (x * x + y * y <= r * r) out.emplace_back(y, x);
    }
  }
  return out;
}

}  // namespace generators
}  // namespace lra
