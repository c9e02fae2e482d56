// Raster primitives of the Pathfinder generator (tasks/pathfinder/generator.h), each a port of
// the library call the original generator makes (drewlinsley/pathfinder at ab9c130, snakes.py
// and snakes2.py), so that paddles and markers come out pixel for pixel as the original drew
// them:
//   Canvas::Line         PIL ImageDraw.line (Pillow 5/6 src/libImaging/Draw.c)
//   DiskOffsets, Dilate  snakes.generate_dilation_struct + cv2.dilate (snakes.binary_dilate_custom)
//   LanczosResizer       scipy.misc.imresize(..., interp='lanczos') = Pillow's Image.resize
//                        with LANCZOS (src/libImaging/Resample.c)
//   Bytescale            scipy.misc.bytescale (called by imresize and imsave)
#ifndef LRA_TASKS_PATHFINDER_RASTER_H_
#define LRA_TASKS_PATHFINDER_RASTER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace lra {
namespace generators {

inline constexpr double kPi = 3.141592653589793;

// scipy.misc.bytescale: (x - min) * 255 / (max - min), clipped to 0..255, + 0.5, truncated. A
// constant image has max - min taken as 1.
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

// One axis of Pillow's LANCZOS resampling of an 8-bit image (libImaging/Resample.c as of Pillow
// 5/6, which scipy.misc.imresize(..., interp='lanczos') calls): a filter sinc(x) sinc(x/3) on
// [-3, 3), stretched by the downscale factor, with 22-bit fixed-point coefficients.
class LanczosAxis {
 public:
  LanczosAxis(int in_size, int out_size);
  // out[o * out_stride] = filtered in[i * in_stride] for o in 0..out_size, rounded and clipped
  // to 8 bits.
  void Apply(const uint8_t* in, int in_stride, uint8_t* out, int out_stride) const;

 private:
  int out_size_;
  int ksize_;
  std::vector<int32_t> coeffs_;
  std::vector<int> bounds_;
};

// Square n x n -> m x m resize (all the original's resizes are square): the horizontal pass
// first, rounded to 8 bits, then the vertical pass.
class LanczosResizer {
 public:
  LanczosResizer(int in_size, int out_size)
      : in_(in_size), out_(out_size), axis_(in_size, out_size) {}
  // `temp` is scratch space, kept by the caller to avoid an allocation per call.
  void Resize(const uint8_t* in, uint8_t* out, std::vector<uint8_t>* temp) const;

 private:
  int in_, out_;
  LanczosAxis axis_;
};

// A square canvas drawn with Pillow's ImageDraw.line semantics (Pillow 5/6 libImaging/Draw.c).
// Pixels are 0 or 255: the original draws 'white' on an 'F' image.
class Canvas {
 public:
  explicit Canvas(int n) : size_(n), px_(static_cast<size_t>(n) * n, 0) {}
  // ImageDraw.line([(x0, y0), (x1, y1)], width=w) (ImagingDrawWideLine): Bresenham without the
  // end point for width <= 1, else the 4-vertex polygon scan fill.
  void Line(int x0, int y0, int x1, int y1, int width);
  const std::vector<uint8_t>& pixels() const { return px_; }

 private:
  struct Edge {
    int x0, y0, xmin, ymin, xmax, ymax;
    float dx;
  };
  static Edge MakeEdge(int x0, int y0, int x1, int y1);
  void Point(int x, int y);
  void HLine(int x0, int y0, int x1);
  void ThinLine(int x0, int y0, int x1, int y1);
  void FillPolygon(const Edge* edges, int n);

  int size_;
  std::vector<uint8_t> px_;
};

// A structuring element as offsets (dy, dx) from its anchor. cv2.dilate computes
// out(p) = max over offsets o of in(p + o), ignoring positions outside the image; the kernel
// is not reflected, which matters for the (asymmetric) seed-line kernel.
using Offsets = std::vector<std::pair<int, int>>;

// snakes.generate_dilation_struct(r): the disk x^2 + y^2 <= r^2, anchored at its centre.
Offsets DiskOffsets(int r);

// cv2.dilate of the n x n image `in` by `offsets` into `out`.
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

}  // namespace generators
}  // namespace lra

#endif  // LRA_TASKS_PATHFINDER_RASTER_H_
