#include "tasks/pathfinder/generator.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "gtest/gtest.h"

namespace lra {
namespace generators {
namespace {

PathfinderParams Params(int resolution, PathfinderDifficulty d = PathfinderDifficulty::kHard) {
  auto params = PathfinderParamsFor(resolution, d);
  EXPECT_TRUE(params.ok()) << params.status();
  return *params;
}

PathfinderImage Make(PathfinderGenerator* generator, uint64_t seed, int64_t index) {
  auto image = generator->Generate(seed, index);
  EXPECT_TRUE(image.ok()) << image.status();
  return *image;
}

std::string ReadBytes(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// google-research/long-range-arena@cd31e5c lra_benchmarks/data/pathfinder.py, Pathfinder32's
// docstring: distractor_length = cl // 3, num_distractor_snakes = 20 // distractor_length, so
// cl = 6 / 9 / 14 give 2 / 3 / 4 and 10 / 6 / 5; Pathfinder128 uses margins [2, 3];
// Pathfinder256 sets no padding, so it keeps snakes2_wrapper.Args' padding=22
// (drewlinsley/pathfinder@ab9c130 snakes2_wrapper.py line 10).
TEST(PathfinderTest, ParamsFollowTheReferenceTable) {
  const int expected_dl[3] = {2, 3, 4}, expected_nds[3] = {10, 6, 5};
  const PathfinderDifficulty ds[3] = {PathfinderDifficulty::kEasy,
                                      PathfinderDifficulty::kIntermediate,
                                      PathfinderDifficulty::kHard};
  for (int i = 0; i < 3; ++i) {
    const PathfinderParams p = Params(32, ds[i]);
    EXPECT_EQ(p.distractor_length, expected_dl[i]);
    EXPECT_EQ(p.num_distractor_snakes, expected_nds[i]);
    // The paddle width at the x2 antialias scale is drawn as a whole number of pixels.
    EXPECT_EQ(p.paddle_thickness * p.antialias_scale, 1.0);
  }
  EXPECT_EQ(Params(128).paddle_margin_list, (std::vector<int>{2, 3}));
  EXPECT_EQ(Params(256).padding, 22);
  EXPECT_EQ(Params(64).num_distractor_snakes, 22 / 4);
  EXPECT_FALSE(PathfinderParamsFor(48, PathfinderDifficulty::kHard).ok());
  EXPECT_EQ(*ParsePathfinderDifficulty("curv_contour_length_9"),
            PathfinderDifficulty::kIntermediate);
  EXPECT_FALSE(ParsePathfinderDifficulty("medium").ok());
  // The first metadata line of pathfinder32/curv_baseline: accumulate_meta's fields
  // (snakes2.py line 21) for image 0 of batch 0 with label 0 and margin 1.
  EXPECT_EQ(PathfinderMetadataLine(Params(32, PathfinderDifficulty::kEasy), 0, 0, 0, 1),
            "imgs/0 sample_0.png 0 0 1.0 6 2 2 0.5 1 1");
}

// Labels are a fair coin per image: over n = 1000 images the count of 1s is within 4 binomial
// standard deviations (4 * sqrt(n / 4) = 63) of n / 2.
TEST(PathfinderTest, LabelsAreBalanced) {
  PathfinderGenerator generator(Params(32));
  const int n = 1000;
  int ones = 0;
  for (int i = 0; i < n; ++i) ones += Make(&generator, 1, i).truth.label;
  EXPECT_NEAR(ones, n / 2, 4 * std::sqrt(n / 4.0));
}

// Every image is byte-scaled min..max (0 and 255 present). "Lit" counts any pixel > 0, which
// includes the faint Lanczos halo around each paddle: two 14-paddle snakes, five 4-paddle
// distractors and two markers light 0.425 of the 1024 pixels on average (measured, seed 2, 200
// images). The bounds (mean 0.3..0.55, each image 0.15..0.75) catch a missing layer (no
// distractors: about half the strokes) or a blown-up halo, not the sampling noise.
TEST(PathfinderTest, ImageStatistics) {
  PathfinderGenerator generator(Params(32));
  double mean_lit = 0;
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    const PathfinderImage image = Make(&generator, 2, i);
    ASSERT_EQ(image.pixels.size(), 32u * 32u);
    int lo = 255, hi = 0, lit = 0;
    for (uint8_t v : image.pixels) {
      lo = std::min<int>(lo, v);
      hi = std::max<int>(hi, v);
      lit += v > 0;
    }
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 255);
    const double fraction = lit / 1024.0;
    EXPECT_GT(fraction, 0.15) << "image " << i;
    EXPECT_LT(fraction, 0.75) << "image " << i;
    mean_lit += fraction / n;
  }
  std::printf("pf32-hard mean lit fraction over %d images: %.3f\n", n, mean_lit);
  EXPECT_GT(mean_lit, 0.3);
  EXPECT_LT(mean_lit, 0.55);
}

double Dist(PathfinderPoint a, PathfinderPoint b) { return std::hypot(a.y - b.y, a.x - b.x); }

// The ground truth: label 1 puts both markers on the two ends of one target contour, label 0 on
// ends of different contours. Each contour is a chain of contour_length + 1 points (origin tip,
// seed head, one head per added paddle). Consecutive heads are L + 2m apart up to the rounding
// of three coordinates (ceil/trunc, each < 1 per axis): at most L + 2m + 3 sqrt(2); the seed
// paddle's head is within L + sqrt(2) of its tail. The markers are drawn: their centre pixels
// are lit.
void CheckMarkers(const PathfinderParams& p, const PathfinderImage& image) {
  const PathfinderGroundTruth& t = image.truth;
  EXPECT_EQ(t.label == 1, t.origin_snake == t.terminal_snake);
  EXPECT_EQ(t.marker_origin, t.chains[t.origin_snake].front());
  EXPECT_EQ(t.marker_terminal, t.chains[t.terminal_snake].back());
  if (t.label == 0) {
    EXPECT_FALSE(t.marker_terminal == t.chains[t.origin_snake].back());
  }
  for (const auto& chain : t.chains) {
    ASSERT_EQ(chain.size(), static_cast<size_t>(p.contour_length + 1));
    EXPECT_LE(Dist(chain[0], chain[1]), p.paddle_length + std::sqrt(2.0) + 1e-9);
    for (size_t k = 2; k < chain.size(); ++k) {
      const double d = Dist(chain[k - 1], chain[k]);
      EXPECT_LE(d, p.paddle_length + 2 * t.margin + 3 * std::sqrt(2.0) + 1e-9);
      EXPECT_GT(d, 0);
    }
  }
  for (PathfinderPoint m : {t.marker_origin, t.marker_terminal}) {
    if (m.y >= 0 && m.y < image.size && m.x >= 0 && m.x < image.size) {
      EXPECT_GT(image.pixels[m.y * image.size + m.x], 0) << m.y << "," << m.x;
    }
  }
}

TEST(PathfinderTest, LabelOneMeansOneContourLabelZeroTwo) {
  const PathfinderParams p = Params(32);
  PathfinderGenerator generator(p);
  int seen[2] = {0, 0};
  for (int i = 0; i < 300; ++i) {
    const PathfinderImage image = Make(&generator, 3, i);
    ++seen[image.truth.label];
    CheckMarkers(p, image);
  }
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
}

TEST(PathfinderTest, OtherResolutionsAndDifficulties) {
  for (int resolution : {64, 128, 256}) {
    const PathfinderParams p = Params(resolution, PathfinderDifficulty::kEasy);
    PathfinderGenerator generator(p);
    for (int i = 0; i < 2; ++i) {
      const PathfinderImage image = Make(&generator, 4, i);
      ASSERT_EQ(image.size, resolution);
      EXPECT_EQ(*std::min_element(image.pixels.begin(), image.pixels.end()), 0);
      EXPECT_EQ(*std::max_element(image.pixels.begin(), image.pixels.end()), 255);
      CheckMarkers(p, image);
    }
  }
  const PathfinderParams p = Params(32, PathfinderDifficulty::kIntermediate);
  PathfinderGenerator generator(p);
  for (int i = 0; i < 20; ++i) CheckMarkers(p, Make(&generator, 5, i));
}

TEST(PathfinderTest, DeterministicPerSeedAndIndex) {
  PathfinderGenerator a(Params(32)), b(Params(32));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Make(&a, 6, i).pixels, Make(&b, 6, i).pixels);
  int differ = 0;
  for (int i = 0; i < 20; ++i) differ += Make(&a, 6, i).pixels != Make(&b, 7, i).pixels;
  EXPECT_EQ(differ, 20);
}

// The tree: imgs/<b>/sample_<i>.png read back with libpng equal the generator's pixels, the
// metadata files hold one line per image in order, and 1 or 2 threads write identical files.
TEST(PathfinderTest, WritesTheOriginalLayoutIndependentOfThreads) {
  const std::string root = std::string(getenv("TEST_TMPDIR")) + "/pf";
  PathfinderOptions options;
  options.num_images = 50;
  options.images_per_batch = 20;
  options.seed = 9;
  for (int threads : {1, 2}) {
    options.num_threads = threads;
    ASSERT_TRUE(WritePathfinderTree(options, absl::StrCat(root, threads)).ok());
  }
  const PathfinderParams p = Params(32);
  PathfinderGenerator generator(p);
  for (int b = 0; b < 3; ++b) {
    const std::string meta = ReadBytes(absl::StrCat(root, 1, "/metadata/", b, ".npy"));
    EXPECT_EQ(meta, ReadBytes(absl::StrCat(root, 2, "/metadata/", b, ".npy")));
    std::vector<std::string> lines = absl::StrSplit(meta, '\n');
    ASSERT_EQ(lines.back(), "");
    lines.pop_back();
    ASSERT_EQ(lines.size(), b < 2 ? 20u : 10u);
    for (size_t i = 0; i < lines.size(); ++i) {
      const int64_t global = b * 20 + i;
      const PathfinderImage image = Make(&generator, 9, global);
      EXPECT_EQ(lines[i], PathfinderMetadataLine(p, b, i, image.truth.label, image.truth.margin));
      const std::string path = absl::StrCat("/imgs/", b, "/sample_", i, ".png");
      auto read = tasks::DecodePng(ReadBytes(root + "1" + path), path);
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(read->width, 32);
      EXPECT_EQ(read->height, 32);
      EXPECT_EQ(read->channels, 1);
      EXPECT_EQ(read->pixels, image.pixels);
      EXPECT_EQ(ReadBytes(root + "1" + path), ReadBytes(root + "2" + path));
    }
  }
  EXPECT_FALSE(std::ifstream(root + "1/imgs/2/sample_10.png").good());
}

}  // namespace
}  // namespace generators
}  // namespace lra
