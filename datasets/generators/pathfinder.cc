#include "datasets/generators/pathfinder.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status_macros.h"
#include "datasets/generators/atomic_file.h"
#include "datasets/generators/png_io.h"
#include "datasets/generators/python_random.h"

namespace lra {
namespace generators {
namespace {

constexpr double kPi = 3.141592653589793;

// ---------------------------------------------------------------------------------------------
// Image primitives, each a port of the library call the original makes.

// scipy.misc.bytescale (called by imresize and imsave): (x - min) * 255 / (max - min), clipped
// to 0..255, + 0.5, truncated. A constant image has max - min taken as 1.
template <typename T>
void Bytescale(const T* data, size_t n, uint8_t* out) {
  double lo = data[0], hi = data[0];
  for (size_t i = 1; i < n; ++i) {
    lo = std::min<double>(lo, data[i]);
    hi = std::max<double>(hi, data[i]);
  }
  const double scale = 255.0 / (hi - lo == 0 ? 1.0 : hi - lo);
  for (size_t i = 0; i < n; ++i) {
    const double v = std::min(255.0, std::max(0.0, (data[i] - lo) * scale));
    out[i] = static_cast<uint8_t>(v + 0.5);
  }
}

// Pillow's LANCZOS resampling of an 8-bit image (libImaging/Resample.c as of Pillow 5/6, which
// scipy.misc.imresize(..., interp='lanczos') calls): a separable filter sinc(x) sinc(x/3) on
// [-3, 3), stretched by the downscale factor, with 22-bit fixed-point coefficients; the
// horizontal pass runs first and is rounded and clipped to 8 bits before the vertical pass.
class LanczosAxis {
 public:
  LanczosAxis(int in_size, int out_size) : out_size_(out_size) {
    constexpr int kPrecisionBits = 32 - 8 - 2;
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

  // out[o * out_stride] = filtered in[i * in_stride] for o in 0..out_size.
  void Apply(const uint8_t* in, int in_stride, uint8_t* out, int out_stride) const {
    constexpr int kPrecisionBits = 32 - 8 - 2;
    for (int xx = 0; xx < out_size_; ++xx) {
      const int xmin = bounds_[2 * xx], xmax = bounds_[2 * xx + 1];
      const int32_t* k = &coeffs_[xx * ksize_];
      int64_t ss = int64_t{1} << (kPrecisionBits - 1);
      for (int x = 0; x < xmax; ++x) ss += static_cast<int64_t>(in[(x + xmin) * in_stride]) * k[x];
      const int64_t v = ss >> kPrecisionBits;
      out[xx * out_stride] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
  }

 private:
  static double Sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= kPi;
    return std::sin(x) / x;
  }
  static double Lanczos(double x) {
    return (-3.0 <= x && x < 3.0) ? Sinc(x) * Sinc(x / 3.0) : 0.0;
  }

  int out_size_;
  int ksize_;
  std::vector<int32_t> coeffs_;
  std::vector<int> bounds_;
};

// Square n x n -> m x m resize (all the original's resizes are square).
class LanczosResizer {
 public:
  LanczosResizer(int in_size, int out_size)
      : in_(in_size), out_(out_size), axis_(in_size, out_size) {}

  void Resize(const uint8_t* in, uint8_t* out, std::vector<uint8_t>* temp) const {
    temp->resize(static_cast<size_t>(in_) * out_);
    for (int y = 0; y < in_; ++y) axis_.Apply(in + y * in_, 1, temp->data() + y * out_, 1);
    for (int x = 0; x < out_; ++x) axis_.Apply(temp->data() + x, out_, out + x, out_);
  }

 private:
  int in_, out_;
  LanczosAxis axis_;
};

// Pillow's ROUND_UP / ROUND_DOWN macros (libImaging/Draw.c): round half away from / towards 0.
int RoundUp(double f) {
  return static_cast<int>(f >= 0.0 ? std::floor(f + 0.5f) : -std::floor(std::fabs(f) + 0.5f));
}
int RoundDown(double f) {
  return static_cast<int>(f >= 0.0 ? std::ceil(f - 0.5f) : -std::ceil(std::fabs(f) - 0.5f));
}

// A square canvas drawn with Pillow's ImageDraw.line semantics (Pillow 5/6 libImaging/Draw.c).
struct Canvas {
  int size;
  std::vector<uint8_t> px;  // 0 or 255: the original draws 'white' on an 'F' image.

  explicit Canvas(int n) : size(n), px(static_cast<size_t>(n) * n, 0) {}
  void Point(int x, int y) {
    if (x >= 0 && x < size && y >= 0 && y < size) px[y * size + x] = 255;
  }
  void HLine(int x0, int y0, int x1) {
    if (y0 < 0 || y0 >= size) return;
    if (x0 > x1) std::swap(x0, x1);
    if (x0 < 0) x0 = 0;
    else if (x0 >= size) return;
    if (x1 < 0) return;
    if (x1 >= size) x1 = size - 1;
    for (int x = x0; x <= x1; ++x) px[y0 * size + x] = 255;
  }

  // width <= 1: Bresenham, the end point excluded (Pillow's line8/line32).
  void ThinLine(int x0, int y0, int x1, int y1) {
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

  struct Edge {
    int x0, y0, xmin, ymin, xmax, ymax;
    float dx;
  };
  static Edge MakeEdge(int x0, int y0, int x1, int y1) {
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
  void FillPolygon(const Edge* edges, int n) {
    std::vector<const Edge*> table;
    int ymin = size - 1, ymax = 0;
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
    if (ymax >= size) ymax = size - 1;
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

  // ImageDraw.line([(x0, y0), (x1, y1)], width=w) (ImagingDrawWideLine).
  void Line(int x0, int y0, int x1, int y1, int width) {
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
};

// A structuring element as offsets (dy, dx) from its anchor. cv2.dilate computes
// out(p) = max over offsets o of in(p + o), ignoring positions outside the image; the kernel
// is not reflected, which matters for the (asymmetric) seed-line kernel.
using Offsets = std::vector<std::pair<int, int>>;

// snakes.generate_dilation_struct(r): the disk x^2 + y^2 <= r^2, anchored at its centre.
Offsets DiskOffsets(int r) {
  Offsets out;
  for (int y = -r; y <= r; ++y) {
    for (int x = -r; x <= r; ++x) {
      if (x * x + y * y <= r * r) out.emplace_back(y, x);
    }
  }
  return out;
}

template <typename T>
void Dilate(const T* in, int n, const Offsets& offsets, T* out) {
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      T m = 0;
      for (const auto& [oy, ox] : offsets) {
        const int yy = y + oy, xx = x + ox;
        if (yy >= 0 && yy < n && xx >= 0 && xx < n) m = std::max(m, in[yy * n + xx]);
      }
      out[y * n + x] = m;
    }
  }
}

// snakes.translate_coord: ceil of the displaced coordinate.
PathfinderPoint Translate(PathfinderPoint p, double orientation, double dist) {
  return {static_cast<int>(std::ceil(p.y + dist * std::sin(orientation))),
          static_cast<int>(std::ceil(p.x + dist * std::cos(orientation)))};
}

double FlipByPi(double orientation) {
  return orientation < 0 ? orientation + kPi : orientation - kPi;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

absl::StatusOr<PathfinderDifficulty> ParsePathfinderDifficulty(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "easy" || n == "curv_baseline") return PathfinderDifficulty::kEasy;
  if (n == "intermediate" || n == "curv_contour_length_9") {
    return PathfinderDifficulty::kIntermediate;
  }
  if (n == "hard" || n == "curv_contour_length_14") return PathfinderDifficulty::kHard;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown Pathfinder difficulty '", name,
      "'; use easy, intermediate or hard (curv_baseline, curv_contour_length_9, "
      "curv_contour_length_14)"));
}

std::string PathfinderDifficultyFolder(PathfinderDifficulty difficulty) {
  switch (difficulty) {
    case PathfinderDifficulty::kEasy:
      return "curv_baseline";
    case PathfinderDifficulty::kIntermediate:
      return "curv_contour_length_9";
    case PathfinderDifficulty::kHard:
      return "curv_contour_length_14";
  }
  return "";
}

// LRA.md 2.1: curv_baseline has contour_length 6; the other two are named by theirs.
int PathfinderContourLength(PathfinderDifficulty difficulty) {
  switch (difficulty) {
    case PathfinderDifficulty::kEasy:
      return 6;
    case PathfinderDifficulty::kIntermediate:
      return 9;
    case PathfinderDifficulty::kHard:
      return 14;
  }
  return 14;
}

absl::StatusOr<PathfinderParams> PathfinderParamsFor(int resolution,
                                                     PathfinderDifficulty difficulty) {
  // All values: LRA.md section 2.1, the table of LRA's per-resolution overrides (quoted from the
  // docstrings of lra_benchmarks/data/pathfinder.py) over the defaults of snakes2_wrapper.Args.
  // The original ran under Python 2, so `cl / 3` and `N / dl` are integer divisions.
  PathfinderParams p;
  const int cl = PathfinderContourLength(difficulty);
  p.contour_length = cl;
  p.distractor_length = cl / 3;
  p.antialias_scale = 2;
  p.max_distractor_contour_retrial = 4;
  p.max_paddle_retrial = 2;
  p.paddle_contrast_list = {1.0};
  switch (resolution) {
    case 32:
      p.window = 32;
      p.padding = 1;
      p.paddle_margin_list = {1};
      p.paddle_length = 2;
      p.paddle_thickness = 0.5;
      p.paddle_thickness_text = "0.5";
      p.marker_radius = 1.5;
      p.seed_distance = 7;
      p.continuity = 1.0;
      p.continuity_text = "1.0";
      p.num_distractor_snakes = 20 / p.distractor_length;
      p.snake_contrast_list = {2.0};
      p.paddle_contrast_list = {0.75};
      break;
    case 64:
      p.window = 64;
      p.padding = 1;
      p.paddle_margin_list = {1};
      p.paddle_length = 5;
      p.paddle_thickness = 1;
      p.paddle_thickness_text = "1";
      p.marker_radius = 2.5;
      p.seed_distance = 12;
      p.continuity = 1.8;
      p.continuity_text = "1.8";
      p.num_distractor_snakes = 22 / p.distractor_length;
      p.snake_contrast_list = {0.8};
      break;
    case 128:
      p.window = 128;
      p.padding = 1;
      p.paddle_margin_list = {2, 3};
      p.paddle_length = 5;
      p.paddle_thickness = 1.5;
      p.paddle_thickness_text = "1.5";
      p.marker_radius = 3;
      p.seed_distance = 20;
      p.continuity = 1.8;
      p.continuity_text = "1.8";
      p.num_distractor_snakes = 35 / p.distractor_length;
      p.snake_contrast_list = {0.9};
      break;
    case 256:
      p.window = 256;
      p.padding = 22;
      p.paddle_margin_list = {3};
      p.paddle_length = 5;
      p.paddle_thickness = 2;
      p.paddle_thickness_text = "2";
      p.marker_radius = 5;
      p.seed_distance = 27;
      p.continuity = 1.8;
      p.continuity_text = "1.8";
      p.num_distractor_snakes = 30 / p.distractor_length;
      p.snake_contrast_list = {1.0};
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "Pathfinder resolution must be 32, 64, 128 or 256, got ", resolution));
  }
  return p;
}

std::string PathfinderMetadataLine(const PathfinderParams& params, int64_t batch,
                                   int64_t index_in_batch, int label, int margin) {
  // snakes2.accumulate_meta field order; every field is str() of the Python value (LRA.md 1.6).
  return absl::StrCat("imgs/", batch, " sample_", index_in_batch, ".png ", index_in_batch, " ",
                      label, " ", params.continuity_text, " ", params.contour_length, " ",
                      params.distractor_length, " ", params.paddle_length, " ",
                      params.paddle_thickness_text, " ", margin, " ",
                      params.paddle_contrast_list.size());
}

// ---------------------------------------------------------------------------------------------

class PathfinderGenerator::Impl {
 public:
  explicit Impl(const PathfinderParams& params)
      : p_(params),
        n_(params.window),
        circle_resizer_(params.window * params.antialias_scale, params.window) {}

  absl::StatusOr<PathfinderImage> Generate(uint64_t seed, int64_t index);

 private:
  // A paddle rendered by snakes.draw_line_n_mask at the origin: the line and its dilated
  // collision mask on the (2R+1)^2 grid centred on the start point, R = L + ceil(t) + m. A pure
  // function of (orientation, margin), so it is cached.
  struct Stamp {
    int radius = 0;
    std::vector<uint8_t> line;  // imresize output, 0..255 (the original divides by 255).
    std::vector<uint8_t> mask;
    bool have_kernel = false;
    Offsets seed_kernel;  // The head-centred seed kernel built from this stamp (see SeedKernel).
  };
  // A stamp placed with its centre at `at`.
  struct Placed {
    const Stamp* stamp = nullptr;
    PathfinderPoint at;
  };

  struct Snake {
    Placed last_segment;
    PathfinderPoint pivot;
    double orientation = 0;
    std::vector<PathfinderPoint> chain;
  };

  const Stamp& GetStamp(double orientation, int margin);
  const Offsets& SeedKernel(double orientation, int margin);

  float At(const std::vector<float>& im, int y, int x) const { return im[y * n_ + x]; }
  bool InBounds(PathfinderPoint q) const { return q.y >= 0 && q.y < n_ && q.x >= 0 && q.x < n_; }

  // image = max(image, line * contrast / 255) over the stamp.
  void DrawLine(const Placed& placed, double contrast, std::vector<float>* image) const;
  // mask = max(mask, stamp mask / 255).
  void DrawMask(const Placed& placed, std::vector<float>* mask) const;
  // max(mask + stamp mask / 255) < 1.8 (extend_snake's collision test).
  bool Fits(const Placed& placed, const std::vector<float>& mask) const;

  // Tail sampling shared by initialize_two_seeds and seed_snake: the free pixels of `lined`
  // dilated by the seed kernel, in row-major order (np.nonzero). Returns the count.
  int AvailableTails(const std::vector<float>& lined, const Offsets& kernel,
                     std::vector<int>* tails) const;

  bool InitializeTwoSeeds(const std::vector<double>& mu, int margin, std::vector<float> images[2],
                          std::vector<float>* mask, Snake snakes[2]);
  bool ExtendSnake(Snake* snake, std::vector<float>* image, std::vector<float>* mask, int margin,
                   double contrast);
  bool TwoSnakes(int margin, std::vector<float> images[2], std::vector<float>* mask,
                 Snake snakes[2]);
  bool SeedSnake(std::vector<float>* image, const std::vector<float>& mask, int margin,
                 double contrast, Snake* snake);
  bool MakeSnake(std::vector<float>* image, std::vector<float>* mask, int margin);
  void DrawCircle(PathfinderPoint c, std::vector<uint8_t>* out);

  const PathfinderParams p_;
  const int n_;
  PythonRandom* rng_ = nullptr;
  std::unordered_map<uint64_t, Stamp> stamps_;
  std::unordered_map<int, Offsets> disks_;
  std::unordered_map<int, std::unique_ptr<LanczosResizer>> stamp_resizers_;
  LanczosResizer circle_resizer_;
  std::vector<uint8_t> temp_;
  std::vector<int> tails_;
};

const PathfinderGenerator::Impl::Stamp& PathfinderGenerator::Impl::GetStamp(double orientation,
                                                                          int margin) {
  uint64_t bits;
  std::memcpy(&bits, &orientation, sizeof(bits));
  const uint64_t key = bits * 31 + static_cast<uint64_t>(margin);
  auto it = stamps_.find(key);
  if (it != stamps_.end()) return it->second;

  const int aa = p_.antialias_scale;
  const int R = p_.paddle_length + static_cast<int>(std::ceil(p_.paddle_thickness)) + margin;
  const int blown_size = R * 2 * aa + 1;
  const int blown_center = R * aa;
  const int width = static_cast<int>(std::lround(p_.paddle_thickness * aa));
  const PathfinderPoint head =
      Translate({blown_center, blown_center}, orientation, p_.paddle_length * aa);
  Canvas canvas(blown_size);
  canvas.Line(blown_center, blown_center, head.x, head.y, width);

  // The mask: the blown line dilated by the disk of radius m * aa, then resized like the line.
  auto& disk = disks_[margin * aa];
  if (disk.empty()) disk = DiskOffsets(margin * aa);
  std::vector<uint8_t> blown_mask(canvas.px.size());
  Dilate(canvas.px.data(), blown_size, disk, blown_mask.data());

  auto& resizer = stamp_resizers_[margin];
  if (resizer == nullptr) resizer = std::make_unique<LanczosResizer>(blown_size, 2 * R + 1);
  Stamp stamp;
  stamp.radius = R;
  stamp.line.resize((2 * R + 1) * (2 * R + 1));
  stamp.mask.resize(stamp.line.size());
  // imresize byte-scales first; a 0/255 image (the line always has a lit pixel and an unlit
  // one) maps to itself, so the byte-scale is the identity here.
  resizer->Resize(canvas.px.data(), stamp.line.data(), &temp_);
  resizer->Resize(blown_mask.data(), stamp.mask.data(), &temp_);
  return stamps_.emplace(key, std::move(stamp)).first->second;
}

// The seed kernel (initialize_two_seeds / seed_snake): draw_line_n_mask's mask for a paddle
// starting at struct_head = (L+m+1, L+m+1) of a (2(L+m)+1)^2 frame, cast to uint8, so only
// pixels whose resized value is exactly 255 (mask == 1.0) are in the kernel; cv2 anchors it at
// the frame centre (L+m, L+m).
const Offsets& PathfinderGenerator::Impl::SeedKernel(double orientation, int margin) {
  Stamp& stamp = const_cast<Stamp&>(GetStamp(orientation, margin));
  if (stamp.have_kernel) return stamp.seed_kernel;
  const int a = p_.paddle_length + margin;
  const int frame = 2 * a + 1;
  const int R = stamp.radius;
  const int side = 2 * R + 1;
  for (int i = 0; i < side; ++i) {
    for (int j = 0; j < side; ++j) {
      const int fy = a + 1 + i - R, fx = a + 1 + j - R;
      if (fy < 0 || fy >= frame || fx < 0 || fx >= frame) continue;
      if (stamp.mask[i * side + j] == 255) stamp.seed_kernel.emplace_back(fy - a, fx - a);
    }
  }
  // An empty kernel would make cv2 fall back to a 3x3 square; it does not occur for LRA's
  // constants (the dilated line always saturates), but keep the anchor so tails stay checked.
  if (stamp.seed_kernel.empty()) stamp.seed_kernel.emplace_back(0, 0);
  stamp.have_kernel = true;
  return stamp.seed_kernel;
}

void PathfinderGenerator::Impl::DrawLine(const Placed& placed, double contrast,
                                         std::vector<float>* image) const {
  const Stamp& s = *placed.stamp;
  const int side = 2 * s.radius + 1;
  for (int i = 0; i < side; ++i) {
    const int y = placed.at.y - s.radius + i;
    if (y < 0 || y >= n_) continue;
    for (int j = 0; j < side; ++j) {
      const int x = placed.at.x - s.radius + j;
      if (x < 0 || x >= n_) continue;
      const float v = static_cast<float>(s.line[i * side + j] / 255.0 * contrast);
      float& dst = (*image)[y * n_ + x];
      dst = std::max(dst, v);
    }
  }
}

void PathfinderGenerator::Impl::DrawMask(const Placed& placed, std::vector<float>* mask) const {
  if (placed.stamp == nullptr) return;
  const Stamp& s = *placed.stamp;
  const int side = 2 * s.radius + 1;
  for (int i = 0; i < side; ++i) {
    const int y = placed.at.y - s.radius + i;
    if (y < 0 || y >= n_) continue;
    for (int j = 0; j < side; ++j) {
      const int x = placed.at.x - s.radius + j;
      if (x < 0 || x >= n_) continue;
      float& dst = (*mask)[y * n_ + x];
      dst = std::max(dst, static_cast<float>(s.mask[i * side + j] / 255.0));
    }
  }
}

bool PathfinderGenerator::Impl::Fits(const Placed& placed, const std::vector<float>& mask) const {
  const Stamp& s = *placed.stamp;
  const int side = 2 * s.radius + 1;
  for (int i = 0; i < side; ++i) {
    const int y = placed.at.y - s.radius + i;
    if (y < 0 || y >= n_) continue;
    for (int j = 0; j < side; ++j) {
      const int x = placed.at.x - s.radius + j;
      if (x < 0 || x >= n_) continue;
      if (mask[y * n_ + x] + s.mask[i * side + j] / 255.0 >= 1.8) return false;
    }
  }
  return true;
}

int PathfinderGenerator::Impl::AvailableTails(const std::vector<float>& lined,
                                              const Offsets& kernel,
                                              std::vector<int>* tails) const {
  // find_available_coordinates(np.ceil(dilated - 0.3)): free iff the dilated value <= 0.3.
  tails->clear();
  for (int y = 0; y < n_; ++y) {
    for (int x = 0; x < n_; ++x) {
      bool free = true;
      for (const auto& [oy, ox] : kernel) {
        const int yy = y + oy, xx = x + ox;
        if (yy >= 0 && yy < n_ && xx >= 0 && xx < n_ && lined[yy * n_ + xx] > 0.3f) {
          free = false;
          break;
        }
      }
      if (free) tails->push_back(y * n_ + x);
    }
  }
  return static_cast<int>(tails->size());
}

// snakes2.initialize_two_seeds.
bool PathfinderGenerator::Impl::InitializeTwoSeeds(const std::vector<double>& mu, int margin,
                                                   std::vector<float> images[2],
                                                   std::vector<float>* mask, Snake snakes[2]) {
  const int L = p_.paddle_length;
  const size_t nn = static_cast<size_t>(n_) * n_;
  images[0].assign(nn, 0.f);
  images[1].assign(nn, 0.f);
  mask->assign(nn, 0.f);
  for (int y = 0; y < n_; ++y) {
    for (int x = 0; x < n_; ++x) {
      if (y < p_.padding || y >= n_ - p_.padding || x < p_.padding || x >= n_ - p_.padding) {
        (*mask)[y * n_ + x] = 1.f;
      }
    }
  }
  auto paddle_contrast = [&]() {
    // Only drawn when there is a choice (unlike in extend loops).
    const size_t k = p_.paddle_contrast_list.size();
    return p_.paddle_contrast_list[k > 1 ? rng_->RandBelow(k) : 0];
  };

  // First seed: a tail among the free pixels of the mask with a 2 * seed_distance border.
  const double contrast0 = paddle_contrast() * mu[0];
  std::vector<float> lined = *mask;
  const int border = 2 * p_.seed_distance;
  for (int y = 0; y < n_; ++y) {
    for (int x = 0; x < n_; ++x) {
      if (y < border || y >= n_ - border || x < border || x >= n_ - border) {
        lined[y * n_ + x] = 1.f;
      }
    }
  }
  double theta1 = 0;
  PathfinderPoint tail1, head1, pivot1;
  int trial = 0;
  for (; trial <= p_.max_paddle_retrial; ++trial) {
    theta1 = static_cast<double>(rng_->RandInt(-180, 179)) * kPi / 180;
    const double reversed = theta1 + kPi < kPi ? theta1 + kPi : theta1 - kPi;
    const int count = AvailableTails(lined, SeedKernel(theta1, margin), &tails_);
    if (count == 0) return false;
    const int t = tails_[rng_->RandBelow(count)];
    tail1 = {t / n_, t % n_};
    head1 = Translate(tail1, theta1, L);
    pivot1 = Translate(head1, reversed, L + margin);
    if (InBounds(head1) && InBounds(pivot1)) break;
  }
  if (trial > p_.max_paddle_retrial) return false;
  const Placed seg1{&GetStamp(theta1, margin), tail1};
  DrawLine(seg1, contrast0, &images[0]);

  // Second seed: seed_distance from the first tail at a random whole-degree angle.
  const double contrast1 = paddle_contrast() * mu[1];
  double theta2 = 0;
  PathfinderPoint tail2, head2, pivot2;
  for (trial = 0; trial <= p_.max_paddle_retrial; ++trial) {
    theta2 = static_cast<double>(rng_->RandInt(-180, 179)) * kPi / 180;
    const double reversed = theta2 + kPi < kPi ? theta2 + kPi : theta2 - kPi;
    const double angle = static_cast<double>(rng_->RandInt(0, 359)) * kPi / 180;
    // np.round rounds half to even, as nearbyint does in the default rounding mode.
    tail2 = {static_cast<int>(std::nearbyint(tail1.y + p_.seed_distance * std::sin(angle))),
             static_cast<int>(std::nearbyint(tail1.x + p_.seed_distance * std::cos(angle)))};
    head2 = Translate(tail2, theta2, L);
    pivot2 = Translate(head2, reversed, L + margin);
    if (InBounds(head2) && InBounds(pivot2)) break;
  }
  if (trial > p_.max_paddle_retrial) return false;
  const Placed seg2{&GetStamp(theta2, margin), tail2};
  DrawLine(seg2, contrast1, &images[1]);

  snakes[0] = Snake{seg1, pivot1, theta1, {tail1, head1}};
  snakes[1] = Snake{seg2, pivot2, theta2, {tail2, head2}};
  return true;
}

// snakes.extend_snake: one more paddle on the circle of radius L + m around the next pivot,
// weighted by continuity and by the free space in the margin-dilated mask.
bool PathfinderGenerator::Impl::ExtendSnake(Snake* snake, std::vector<float>* image,
                                            std::vector<float>* mask, int margin,
                                            double contrast) {
  const int L = p_.paddle_length;
  const PathfinderPoint pivot = Translate(snake->pivot, snake->orientation, L + 2 * margin);
  auto& disk = disks_[margin];
  if (disk.empty()) disk = DiskOffsets(margin);

  // get_coords_cmf: candidate heads one pixel of arc apart, truncated to int, in-bounds,
  // de-duplicated and sorted as np.unique(axis=0) does.
  const double r = L + margin;
  const double deg_per_pixel = 360.0 / (2 * r * kPi);
  const int num_samples = static_cast<int>(std::ceil(360.0 / deg_per_pixel));
  std::vector<PathfinderPoint> coords;
  coords.reserve(num_samples);
  for (int k = 0; k < num_samples; ++k) {
    const double rad = k * deg_per_pixel * kPi / 180;
    const double y = pivot.y + r * std::sin(rad);
    const double x = pivot.x + r * std::cos(rad);
    if (y >= n_ || y < 0 || x >= n_ || x < 0) continue;
    coords.push_back({static_cast<int>(y), static_cast<int>(x)});
  }
  if (coords.empty()) return false;
  std::sort(coords.begin(), coords.end(), [](const PathfinderPoint& a, const PathfinderPoint& b) {
    return a.y != b.y ? a.y < b.y : a.x < b.x;
  });
  coords.erase(std::unique(coords.begin(), coords.end()), coords.end());

  std::vector<double> orientations(coords.size()), cmf(coords.size());
  double total = 0;
  for (size_t i = 0; i < coords.size(); ++i) {
    const PathfinderPoint c = coords[i];
    orientations[i] = std::atan2(c.y - pivot.y, c.x - pivot.x);
    const double d = std::fabs(orientations[i] - snake->orientation);
    const double delta = std::min(std::min(d, 2 * kPi - d) * p_.continuity, 0.5 * kPi);
    const double w = std::pow(std::max(std::cos(delta), 0.0), 2);
    float dilated = 0;  // The mask dilated by the radius-m disk, at c only.
    for (const auto& [oy, ox] : disk) {
      const int yy = c.y + oy, xx = c.x + ox;
      if (yy >= 0 && yy < n_ && xx >= 0 && xx < n_) dilated = std::max(dilated, At(*mask, yy, xx));
    }
    cmf[i] = (1.0 - dilated) * w;
    total += cmf[i];
  }
  if (total < 1e-4) return false;  // Dead end.
  double acc = 0;
  for (double& v : cmf) {
    acc += v / total;
    v = acc;
  }

  for (int trial = 0; trial <= p_.max_paddle_retrial; ++trial) {
    const double u = rng_->Random();
    // np.argmax(cmf - u > 0): the first index past u, or 0 when there is none.
    size_t idx = 0;
    while (idx < cmf.size() && !(cmf[idx] - u > 0)) ++idx;
    if (idx == cmf.size()) idx = 0;
    const double orientation = orientations[idx];
    const PathfinderPoint head = coords[idx];
    const Placed segment{&GetStamp(FlipByPi(orientation), margin), head};
    if (Fits(segment, *mask)) {
      DrawLine(segment, contrast, image);
      // The mask lags one paddle so that a paddle never collides with its predecessor.
      DrawMask(snake->last_segment, mask);
      snake->last_segment = segment;
      snake->pivot = pivot;
      snake->orientation = orientation;
      snake->chain.push_back(head);
      return true;
    }
  }
  return false;
}

// snakes2.two_snakes.
bool PathfinderGenerator::Impl::TwoSnakes(int margin, std::vector<float> images[2],
                                          std::vector<float>* mask, Snake snakes[2]) {
  // Contrast means: a shuffled pick of two from snake_contrast_list * 2 (random.shuffle,
  // Fisher-Yates from the end).
  std::vector<double> mu = p_.snake_contrast_list;
  mu.insert(mu.end(), p_.snake_contrast_list.begin(), p_.snake_contrast_list.end());
  for (size_t i = mu.size() - 1; i > 0; --i) {
    std::swap(mu[i], mu[rng_->RandBelow(static_cast<uint32_t>(i + 1))]);
  }
  if (!InitializeTwoSeeds(mu, margin, images, mask, snakes)) return false;
  for (int s = 1; s < p_.contour_length; ++s) {
    const double contrast =
        p_.paddle_contrast_list[rng_->RandBelow(p_.paddle_contrast_list.size())];
    for (int k = 0; k < 2; ++k) {
      if (!ExtendSnake(&snakes[k], &images[k], mask, margin, contrast * mu[k])) return false;
    }
  }
  // As in the original, only the second snake's last paddle joins the mask.
  DrawMask(snakes[1].last_segment, mask);
  return true;
}

// snakes.seed_snake (distractors): like the first target seed, but only a 1-pixel border is
// blocked, and it gives up when under 1% of the undilated mask is free.
bool PathfinderGenerator::Impl::SeedSnake(std::vector<float>* image,
                                          const std::vector<float>& mask, int margin,
                                          double contrast, Snake* snake) {
  const int L = p_.paddle_length;
  std::vector<float> lined = mask;
  for (int i = 0; i < n_; ++i) {
    lined[i] = lined[(n_ - 1) * n_ + i] = lined[i * n_] = lined[i * n_ + n_ - 1] = 1.f;
  }
  int raw_free = 0;
  for (float v : mask) raw_free += v <= 0.3f;
  double theta = 0;
  PathfinderPoint tail, head, pivot;
  int trial = 0;
  for (; trial <= p_.max_paddle_retrial; ++trial) {
    theta = static_cast<double>(rng_->RandInt(-180, 179)) * kPi / 180;
    const double reversed = theta + kPi < kPi ? theta + kPi : theta - kPi;
    const Offsets& kernel = SeedKernel(theta, margin);
    // stop_with_availability = 0.01 (snakes2.from_wrapper).
    if (static_cast<double>(raw_free) / (n_ * n_) < 0.01) return false;
    const int count = AvailableTails(lined, kernel, &tails_);
    if (count == 0) return false;
    const int t = tails_[rng_->RandBelow(count)];
    tail = {t / n_, t % n_};
    head = Translate(tail, theta, L);
    pivot = Translate(head, reversed, L + margin);
    if (InBounds(head) && InBounds(pivot)) break;
  }
  if (trial > p_.max_paddle_retrial) return false;
  const Placed seg{&GetStamp(theta, margin), tail};
  DrawLine(seg, contrast, image);
  *snake = Snake{seg, pivot, theta, {tail, head}};
  return true;
}

// snakes.make_snake: a distractor of distractor_length paddles; on failure the image and mask
// are left as they were.
bool PathfinderGenerator::Impl::MakeSnake(std::vector<float>* image, std::vector<float>* mask,
                                          int margin) {
  const std::vector<double>& contrasts = p_.snake_contrast_list;
  std::vector<float> new_image = *image;
  std::vector<float> new_mask = *mask;
  double contrast = contrasts[rng_->RandBelow(contrasts.size())];
  Snake snake;
  if (!SeedSnake(&new_image, new_mask, margin, contrast, &snake)) return false;
  for (int s = 1; s < p_.distractor_length; ++s) {
    contrast = contrasts[rng_->RandBelow(contrasts.size())];
    if (!ExtendSnake(&snake, &new_image, &new_mask, margin, contrast)) return false;
  }
  DrawMask(snake.last_segment, &new_mask);
  *image = std::move(new_image);
  *mask = std::move(new_mask);
  return true;
}

// snakes2.draw_circle: a filled disk of radius marker_radius * aa at aa x resolution (pixel
// (i, j) is in iff (i - y aa)^2 + (j - x aa)^2 <= (r aa)^2), byte-scaled and Lanczos-resized.
void PathfinderGenerator::Impl::DrawCircle(PathfinderPoint c, std::vector<uint8_t>* out) {
  const int aa = p_.antialias_scale;
  const int big = n_ * aa;
  const double r2 = (p_.marker_radius * aa) * (p_.marker_radius * aa);
  std::vector<uint8_t> blown(static_cast<size_t>(big) * big, 0);
  bool any = false;
  for (int i = 0; i < big; ++i) {
    const double y = i - static_cast<double>(c.y) * aa;
    for (int j = 0; j < big; ++j) {
      const double x = j - static_cast<double>(c.x) * aa;
      if (x * x + y * y <= r2) {
        blown[static_cast<size_t>(i) * big + j] = 255;  // Byte-scaled 0/1 image.
        any = true;
      }
    }
  }
  out->assign(static_cast<size_t>(n_) * n_, 0);
  if (any) circle_resizer_.Resize(blown.data(), out->data(), &temp_);
}

absl::StatusOr<PathfinderImage> PathfinderGenerator::Impl::Generate(uint64_t seed,
                                                                   int64_t index) {
  const uint32_t key[4] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                           static_cast<uint32_t>(index),
                           static_cast<uint32_t>(static_cast<uint64_t>(index) >> 32)};
  PythonRandom rng(key);
  rng_ = &rng;
  PathfinderImage result;
  PathfinderGroundTruth& truth = result.truth;

  // snakes2.from_wrapper, per image.
  truth.label = static_cast<int>(rng.RandBelow(2));
  const int margin = p_.paddle_margin_list[rng.RandBelow(p_.paddle_margin_list.size())];
  truth.margin = margin;

  std::vector<float> images[2], mask;
  Snake snakes[2];
  // The original loops until two complete target snakes fit; a bound turns a pathological
  // parameter set into an error instead of a hang.
  constexpr int kMaxAttempts = 100000;
  bool ok = false;
  while (!ok && truth.two_snake_attempts < kMaxAttempts) {
    ++truth.two_snake_attempts;
    ok = TwoSnakes(margin, images, &mask, snakes);
  }
  if (!ok) {
    rng_ = nullptr;
    return absl::InternalError(absl::StrCat("Pathfinder image ", index, ": no two target snakes "
                                            "fit after ", kMaxAttempts, " attempts"));
  }
  std::vector<float> image(images[0].size());
  for (size_t i = 0; i < image.size(); ++i) image[i] = std::max(images[0][i], images[1][i]);

  // Distractor snakes (snakes.make_many_snakes with allow_incomplete=True).
  for (int s = 0; s < p_.num_distractor_snakes; ++s) {
    for (int attempt = 0; attempt <= p_.max_distractor_contour_retrial; ++attempt) {
      if (MakeSnake(&image, &mask, margin)) {
        ++truth.distractors_drawn;
        break;
      }
    }
  }
  // use_single_paddles is False in the wrapper LRA used (LRA.md 2.1), so no single paddles.

  // Markers: one on the origin tip of a random target snake, the other on the terminal tip of
  // the same snake (label 1) or of the other one (label 0).
  truth.origin_snake = static_cast<int>(rng.RandBelow(2));
  truth.terminal_snake = truth.label == 1 ? truth.origin_snake : 1 - truth.origin_snake;
  for (int k = 0; k < 2; ++k) truth.chains[k] = snakes[k].chain;
  truth.marker_origin = truth.chains[truth.origin_snake].front();
  truth.marker_terminal = truth.chains[truth.terminal_snake].back();
  std::vector<uint8_t> c1, c2;
  DrawCircle(truth.marker_origin, &c1);
  DrawCircle(truth.marker_terminal, &c2);
  for (size_t i = 0; i < image.size(); ++i) {
    image[i] = std::max(image[i], static_cast<float>(std::max(c1[i], c2[i]) / 255.0));
  }
  rng_ = nullptr;

  // scipy.misc.imsave byte-scales min..max (LRA.md 2.2 step 6).
  result.size = n_;
  result.pixels.resize(image.size());
  Bytescale(image.data(), image.size(), result.pixels.data());
  return result;
}

PathfinderGenerator::PathfinderGenerator(const PathfinderParams& params)
    : impl_(std::make_unique<Impl>(params)) {}
PathfinderGenerator::~PathfinderGenerator() = default;

absl::StatusOr<PathfinderImage> PathfinderGenerator::Generate(uint64_t seed, int64_t index) {
  return impl_->Generate(seed, index);
}

// ---------------------------------------------------------------------------------------------

absl::Status WritePathfinderTree(const PathfinderOptions& options, const std::string& dir) {
  LRA_ASSIGN_OR_RETURN(const PathfinderParams params,
                       PathfinderParamsFor(options.resolution, options.difficulty));
  if (options.num_images < 0) {
    return absl::InvalidArgumentError("Pathfinder num_images must be >= 0");
  }
  if (options.images_per_batch < 1) {
    return absl::InvalidArgumentError("Pathfinder images_per_batch must be >= 1");
  }
  const int64_t per_batch = options.images_per_batch;
  const int64_t num_batches = (options.num_images + per_batch - 1) / per_batch;
  LRA_RETURN_IF_ERROR(MakeDirs(dir + "/metadata"));
  for (int64_t b = 0; b < num_batches; ++b) {
    LRA_RETURN_IF_ERROR(MakeDirs(absl::StrCat(dir, "/imgs/", b)));
  }

  // Labels and margins for the metadata, filled by whichever thread made the image.
  std::vector<int8_t> labels(options.num_images), margins(options.num_images);
  std::mutex error_mutex;
  absl::Status first_error;
  std::atomic<bool> failed{false};
  std::atomic<int64_t> written{0};
  constexpr int64_t kProgressEvery = 256;
  const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    PathfinderGenerator generator(params);
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < options.num_images; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;
      if (options.cancelled && options.cancelled()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) first_error = absl::CancelledError("interrupted while generating");
        failed = true;
        continue;
      }
      absl::Status status;
      absl::StatusOr<PathfinderImage> image = generator.Generate(options.seed, i);
      if (!image.ok()) {
        status = image.status();
      } else {
        labels[i] = static_cast<int8_t>(image->truth.label);
        margins[i] = static_cast<int8_t>(image->truth.margin);
        status = WriteGrayPng(
            absl::StrCat(dir, "/imgs/", i / per_batch, "/sample_", i % per_batch, ".png"),
            image->pixels.data(), image->size, image->size);
      }
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) first_error = status;
        failed = true;
      }
      const int64_t done = written.fetch_add(1, std::memory_order_relaxed) + 1;
      if (options.progress && done % kProgressEvery == 0) {
        std::lock_guard<std::mutex> lock(error_mutex);
        options.progress(done);
      }
    }
  }
  LRA_RETURN_IF_ERROR(first_error);
  if (options.progress) options.progress(options.num_images);

  for (int64_t b = 0; b < num_batches; ++b) {
    std::string text;
    for (int64_t i = b * per_batch; i < std::min(options.num_images, (b + 1) * per_batch); ++i) {
      absl::StrAppend(&text,
                      PathfinderMetadataLine(params, b, i % per_batch, labels[i], margins[i]),
                      "\n");
    }
    LRA_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file,
                         AtomicFile::Open(absl::StrCat(dir, "/metadata/", b, ".npy")));
    LRA_RETURN_IF_ERROR(file->Write(text));
    LRA_RETURN_IF_ERROR(file->Commit());
  }
  return absl::OkStatus();
}

}  // namespace generators
}  // namespace lra
