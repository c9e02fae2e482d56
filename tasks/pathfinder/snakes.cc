// The snake generator of Pathfinder: PathfinderGenerator (tasks/pathfinder/generator.h), a
// step-for-step port of snakes2.py / snakes.py of drewlinsley/pathfinder@ab9c130 (the generator
// LRA's Pathfinder data came from: google-research/long-range-arena@cd31e5c
// lra_benchmarks/data/pathfinder.py and README.md, "Pathfinder"). Each function names the
// original function it ports; the pixels are drawn with the ports in raster.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tasks/common/python_random.h"
#include "tasks/pathfinder/generator.h"
#include "tasks/pathfinder/raster.h"

namespace lra {
namespace generators {
namespace {

// snakes.translate_coord: ceil of the displaced coordinate.
PathfinderPoint Translate(PathfinderPoint p, double orientation, double dist) {
  return {static_cast<int>(std::ceil(p.y + dist * std::sin(orientation))),
          static_cast<int>(std::ceil(p.x + dist * std::cos(orientation)))};
}

double FlipByPi(double orientation) {
  return orientation < 0 ? orientation + kPi : orientation - kPi;
}

}  // namespace

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

  // Calls visit(stamp_index, image_index) for each stamp pixel that falls inside the image, in
  // row-major order, until it returns false; returns false iff a call did.
  template <typename Visit>
  bool ForEachStampPixel(const Placed& placed, Visit visit) const {
    const Stamp& s = *placed.stamp;
    const int side = 2 * s.radius + 1;
    for (int i = 0; i < side; ++i) {
      const int y = placed.at.y - s.radius + i;
      if (y < 0 || y >= n_) continue;
      for (int j = 0; j < side; ++j) {
        const int x = placed.at.x - s.radius + j;
        if (x < 0 || x >= n_) continue;
        if (!visit(i * side + j, y * n_ + x)) return false;
      }
    }
    return true;
  }
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

  // A seed paddle: its angle, its tail (the snake's origin tip), its head, and the pivot of the
  // next extension.
  struct SeedPaddle {
    double theta = 0;
    PathfinderPoint tail, head, pivot;
  };
  // The seed loop shared by initialize_two_seeds (first seed) and seed_snake: up to
  // max_paddle_retrial + 1 whole-degree angles, each with a uniform tail among the free pixels
  // of `lined` dilated by the angle's seed kernel; false when no tail is free or no try lands
  // head and pivot in bounds. `too_full` (seed_snake's availability stop) gives up after the
  // first angle is drawn, where the original checks it.
  bool SampleSeed(const std::vector<float>& lined, int margin, bool too_full, SeedPaddle* seed);
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
  std::vector<uint8_t> blown_mask(canvas.pixels().size());
  Dilate(canvas.pixels().data(), blown_size, disk, blown_mask.data());

  auto& resizer = stamp_resizers_[margin];
  if (resizer == nullptr) resizer = std::make_unique<LanczosResizer>(blown_size, 2 * R + 1);
  Stamp stamp;
  stamp.radius = R;
  stamp.line.resize((2 * R + 1) * (2 * R + 1));
  stamp.mask.resize(stamp.line.size());
  // imresize byte-scales first; a 0/255 image (the line always has a lit pixel and an unlit
  // one) maps to itself, so the byte-scale is the identity here.
  resizer->Resize(canvas.pixels().data(), stamp.line.data(), &temp_);
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
  ForEachStampPixel(placed, [&](int stamp_index, int image_index) {
    const float v = static_cast<float>(placed.stamp->line[stamp_index] / 255.0 * contrast);
    float& dst = (*image)[image_index];
    dst = std::max(dst, v);
    return true;
  });
}

void PathfinderGenerator::Impl::DrawMask(const Placed& placed, std::vector<float>* mask) const {
  if (placed.stamp == nullptr) return;
  ForEachStampPixel(placed, [&](int stamp_index, int image_index) {
    float& dst = (*mask)[image_index];
    dst = std::max(dst, static_cast<float>(placed.stamp->mask[stamp_index] / 255.0));
    return true;
  });
}

bool PathfinderGenerator::Impl::Fits(const Placed& placed, const std::vector<float>& mask) const {
  return ForEachStampPixel(placed, [&](int stamp_index, int image_index) {
    return !(mask[image_index] + placed.stamp->mask[stamp_index] / 255.0 >= 1.8);
  });
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

bool PathfinderGenerator::Impl::SampleSeed(const std::vector<float>& lined, int margin,
                                           bool too_full, SeedPaddle* seed) {
  const int L = p_.paddle_length;
  for (int trial = 0; trial <= p_.max_paddle_retrial; ++trial) {
    const double theta = static_cast<double>(rng_->RandInt(-180, 179)) * kPi / 180;
    const double reversed = theta + kPi < kPi ? theta + kPi : theta - kPi;
    const Offsets& kernel = SeedKernel(theta, margin);
    if (too_full) return false;
    const int count = AvailableTails(lined, kernel, &tails_);
    if (count == 0) return false;
    const int t = tails_[rng_->RandBelow(count)];
    seed->theta = theta;
    seed->tail = {t / n_, t % n_};
    seed->head = Translate(seed->tail, theta, L);
    seed->pivot = Translate(seed->head, reversed, L + margin);
    if (InBounds(seed->head) && InBounds(seed->pivot)) return true;
  }
  return false;
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
  SeedPaddle first;
  if (!SampleSeed(lined, margin, /*too_full=*/false, &first)) return false;
  const double theta1 = first.theta;
  const PathfinderPoint tail1 = first.tail, head1 = first.head, pivot1 = first.pivot;
  const Placed seg1{&GetStamp(theta1, margin), tail1};
  DrawLine(seg1, contrast0, &images[0]);

  // Second seed: seed_distance from the first tail at a random whole-degree angle.
  const double contrast1 = paddle_contrast() * mu[1];
  double theta2 = 0;
  PathfinderPoint tail2, head2, pivot2;
  int trial = 0;
  for (; trial <= p_.max_paddle_retrial; ++trial) {
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
  std::vector<float> lined = mask;
  for (int i = 0; i < n_; ++i) {
    lined[i] = lined[(n_ - 1) * n_ + i] = lined[i * n_] = lined[i * n_ + n_ - 1] = 1.f;
  }
  int raw_free = 0;
  for (float v : mask) raw_free += v <= 0.3f;
  // stop_with_availability = 0.01 (snakes2.from_wrapper, snakes2.py lines 303 and 318).
  const bool too_full = static_cast<double>(raw_free) / (n_ * n_) < 0.01;
  SeedPaddle seed;
  if (!SampleSeed(lined, margin, too_full, &seed)) return false;
  const Placed seg{&GetStamp(seed.theta, margin), seed.tail};
  DrawLine(seg, contrast, image);
  *snake = Snake{seg, seed.pivot, seed.theta, {seed.tail, seed.head}};
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
  // use_single_paddles is False in the wrapper (drewlinsley/pathfinder@ab9c130
  // snakes2_wrapper.py line 76), so no single paddles.

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

  // scipy.misc.imsave byte-scales min..max (snakes2.py line 364).
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

}  // namespace generators
}  // namespace lra
